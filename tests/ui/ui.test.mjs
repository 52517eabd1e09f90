// Browser tests of the dashboard clawmeshd serves at /ui/: Debian's chromium (/usr/bin/chromium)
// driven by playwright-core (pinned by package-lock.json; Playwright never downloads a browser
// here). tests/ui/test_ui.sh makes the cluster, clawmeshd, the tokens and the seed data, then
// runs this with:
//   CM_UI_URL            clawmeshd's base URL (http://127.0.0.1:PORT), no trailing slash
//   CM_UI_TOKEN_ADMIN    an admin token
//   CM_UI_TOKEN_NODE     node `ceo`, mesh:rw (and node:ceo rw, implicit)
//   CM_UI_TOKEN_READ     project:*:r only
//   CM_UI_TAP_START      TAP points already printed by the caller (numbering continues; the
//                        caller prints the plan); unset: this prints its own plan
//   CM_UI_COUNT_FILE     where to write "POINTS FAILED" at the end, for the caller
//   CM_UI_CHROMIUM       the browser (default /usr/bin/chromium)
//   CM_UI_SCREENSHOTS    where PNGs go (default tests/ui/screenshots, ignored by git)
// Output is TAP, one point per check(). A check fails when its function throws, and also when the
// browser reported anything while it ran: a console error, an uncaught exception, a Content
// Security Policy violation, a dialog (alert() from injected markup), a 5xx from the server.
// A failing check saves a screenshot of the state it failed in (FAIL-<pass>-<name>.png).
// Every wait is bounded (STEP_MS each, CHECK_MS a check, RUN_MS the whole run) and the browser is
// closed on every path; the exit status is non-zero on any failure.
import { chromium } from 'playwright-core';
import { mkdirSync, readFileSync, readdirSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const STEP_MS = 10_000; // any one wait: navigation, locator, fetch
const CHECK_MS = 20_000; // one check() in all
const RUN_MS = 300_000; // the whole run, browser start included (it takes about 85 s)

const here = dirname(fileURLToPath(import.meta.url));
function need(name) {
	const v = process.env[name];
	if (!v) {
		console.log(`Bail out! ${name} is not set (tests/ui/test_ui.sh sets it)`);
		process.exit(2);
	}
	return v;
}
const BASE = need('CM_UI_URL').replace(/\/+$/, '');
const TOKENS = {
	admin: need('CM_UI_TOKEN_ADMIN'),
	node: need('CM_UI_TOKEN_NODE'),
	read: need('CM_UI_TOKEN_READ'),
};
const CHROMIUM = process.env.CM_UI_CHROMIUM || '/usr/bin/chromium';
const SHOTS = process.env.CM_UI_SCREENSHOTS || join(here, 'screenshots');
// The flags the issue fixes; the last two keep a headless run from phoning home.
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
	'--disable-component-update', '--no-first-run', '--disable-quic', '--disable-sync'];
const PASSES = [
	{ name: 'desktop', prefix: '', viewport: { width: 1280, height: 800 } },
	{ name: 'phone', prefix: 'phone-', viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true },
];

// ---- TAP --------------------------------------------------------------------------------------
const tapStart = Number(process.env.CM_UI_TAP_START || 0);
let points = 0;
let failed = 0;
let stopped = false; // past the run's deadline: nothing more is printed or counted
const say = (line) => stopped || process.stdout.write(line + '\n');
// Playwright's messages carry terminal colours: none in the TAP.
const comment = (text) => String(text).replace(/\x1b\[[0-9;]*m/g, '').split('\n').slice(0, 40)
	.forEach((l) => say('#   ' + l.slice(0, 400)));
// A name is one line, and a '#' in it would start a TAP directive.
const tapName = (name) => String(name).replace(/\s+/g, ' ').replace(/#/g, '\\#');
function tapOk(name) {
	if (stopped) return;
	points++;
	say(`ok ${tapStart + points} - ${tapName(name)}`);
}
function tapNotOk(name, why) {
	if (stopped) return;
	points++;
	failed++;
	say(`not ok ${tapStart + points} - ${tapName(name)}`);
	comment(why);
}

// ---- what the browser reports ------------------------------------------------------------------
// Everything the page reports while a check runs lands here; check() empties it before and reads
// it after. CSP violations come from a securitypolicyviolation listener installed before any page
// script (an init script runs outside the page's CSP), kept on window.__cmViolations for a test
// to read and sent here through a binding, so one that happens just before a navigation is not
// lost with the document.
let problems = [];
let expecting = null; // the running check's `expect`
const violationScript = () => {
	window.__cmViolations = [];
	document.addEventListener('securitypolicyviolation', (e) => {
		const v = `CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || 'inline'}` +
			(e.sourceFile ? ` at ${e.sourceFile}:${e.lineNumber}` : '');
		window.__cmViolations.push(v);
		if (window.__cmReport) window.__cmReport(v);
	});
};
function watch(page) {
	page.on('console', (m) => {
		const where = m.location()?.url || '';
		// The browser's own request for /favicon.ico is not the page's doing.
		if (/\/favicon\.ico$/.test(where)) return;
		if (m.type() === 'error' || /Content Security Policy|Trusted ?Type/i.test(m.text()))
			problems.push(`console.${m.type()}: ${m.text()}${where ? ` (${where})` : ''}`);
	});
	page.on('pageerror', (e) => problems.push(`uncaught: ${e.message}`));
	page.on('crash', () => problems.push('the page crashed'));
	// A dialog the running check expects (check's `expect` matches "dialog TYPE: MESSAGE") is
	// accepted; any other is dismissed and fails the check (alert() from injected markup).
	page.on('dialog', (d) => {
		const what = `dialog ${d.type()}: ${d.message()}`;
		problems.push(what);
		(expecting && expecting.test(what) ? d.accept() : d.dismiss()).catch(() => {});
	});
	page.on('response', (r) => {
		if (r.status() >= 500) problems.push(`${r.status()} from ${r.request().method()} ${r.url()}`);
	});
	page.on('requestfailed', (r) => {
		// A stream the page closes on navigation is not a failure; anything else is.
		const why = r.failure()?.errorText || '';
		if (!/ERR_ABORTED/.test(why)) problems.push(`request failed: ${r.method()} ${r.url()}: ${why}`);
	});
}

// ---- helpers for the checks ---------------------------------------------------------------------
let pass = PASSES[0];
let page = null;

async function bounded(promise, ms, what) {
	let timer;
	const limit = new Promise((_, reject) => {
		timer = setTimeout(() => reject(new Error(`${what}: still running after ${ms} ms`)), ms);
	});
	try {
		return await Promise.race([promise, limit]);
	} finally {
		clearTimeout(timer);
	}
}

const slug = (s) => s.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '').slice(0, 60);

// shot(name): a full-page PNG of the current page, tests/ui/screenshots/[phone-]<name>.png.
async function shot(name, p = page) {
	mkdirSync(SHOTS, { recursive: true });
	await p.screenshot({ path: join(SHOTS, `${pass.prefix}${name}.png`), fullPage: true, timeout: STEP_MS });
}

// check(name, fn, { expect }): one TAP point. fn(page) throws to fail. `expect`, a RegExp, names
// browser reports this check provokes on purpose: they do not fail it, and at least one must come
// (which also proves the reporting works); a dialog it matches ("dialog confirm: Revoke…") is
// accepted.
async function check(name, fn, { expect } = {}) {
	const full = `${pass.name}: ${name}`;
	problems = [];
	expecting = expect || null;
	let err = null;
	try {
		await bounded(Promise.resolve().then(() => fn(page)), CHECK_MS, full);
	} catch (e) {
		err = e;
	}
	// Violation events are queued tasks: give them a moment to arrive (all of them, where some
	// are expected, so that none spills into the next check).
	const t = Date.now();
	const settle = expect ? 400 : 150;
	while (Date.now() - t < 2000 && (Date.now() - t < settle || (expect && !problems.some((p) => expect.test(p)))))
		await new Promise((r) => setTimeout(r, 50));
	const reported = problems.filter((p) => !(expect && expect.test(p)));
	if (!err && expect && !problems.some((p) => expect.test(p)))
		err = new Error(`the browser reported nothing matching ${expect}`);
	if (!err && reported.length) err = new Error('the browser reported:\n' + reported.join('\n'));
	else if (err && reported.length) err.message += '\nthe browser reported:\n' + reported.join('\n');
	expecting = null;
	if (!err) return tapOk(full);
	let saved = '';
	try {
		await shot(`FAIL-${slug(name)}`);
		saved = `\nscreenshot: ${join(SHOTS, `${pass.prefix}FAIL-${slug(name)}.png`)}`;
	} catch (e) {
		saved = `\n(no screenshot: ${e.message.split('\n')[0]})`;
	}
	tapNotOk(full, (err.stack || String(err)).replace(/\n\s+at .*/g, '') + saved);
}

// open(page, path): page.goto(BASE + path), the response returned (null for a same-document hop).
function open(p, path = '/ui/') {
	return p.goto(BASE + path, { waitUntil: 'load', timeout: STEP_MS });
}

// gotoView(page, name): the dashboard's view NAME, `${BASE}/ui/#/${name}`.
// Already there, the page is loaded again: going to the same hash would change nothing.
async function gotoView(p, name) {
	const target = `${BASE}/ui/#/${name}`;
	if (p.url() === target) await p.reload({ waitUntil: 'load', timeout: STEP_MS });
	else await p.goto(target, { waitUntil: 'load', timeout: STEP_MS });
}

// signedOut(page): the sign-in form, any earlier sign-in in this tab dropped (a token from an
// earlier check would skip the form). Cleared from a page of this origin that runs no script
// (/healthz), so no sign-in still under way puts it back.
async function signedOut(p) {
	await open(p, '/healthz');
	await p.evaluate(() => sessionStorage.clear());
	await open(p, '/ui/');
}

// login(page, token): the sign-in form with TOKEN: the one field labelled "... token", Enter;
// done when that field is hidden (the page hides the form once the token is accepted). Any
// earlier sign-in in this tab is dropped first.
async function login(p, token) {
	await signedOut(p);
	const field = p.getByLabel(/token/i);
	await field.fill(token, { timeout: STEP_MS });
	await field.press('Enter', { timeout: STEP_MS });
	await field.waitFor({ state: 'hidden', timeout: STEP_MS });
}

// api(method, path, body, token): one request to clawmeshd with Node's fetch, as curl would:
// {status, headers, body (parsed JSON when it is JSON)}.
async function api(method, path, body, token = TOKENS.admin) {
	const headers = { authorization: `Bearer ${token}` };
	if (body !== undefined) headers['content-type'] = 'application/json';
	const r = await fetch(BASE + path, {
		method, headers, body: body === undefined ? undefined : JSON.stringify(body),
		signal: AbortSignal.timeout(STEP_MS),
	});
	const text = await r.text();
	let parsed = text;
	try {
		parsed = JSON.parse(text);
	} catch {
		// not JSON: kept as text
	}
	return { status: r.status, headers: r.headers, body: parsed };
}
const curlPut = (path, body, token) => api('PUT', path, body, token);

// waitFor(what, fn): polls fn() (truthy = done) up to STEP_MS; throws naming WHAT otherwise.
async function waitFor(what, fn, ms = STEP_MS) {
	const until = Date.now() + ms;
	for (;;) {
		const got = await fn();
		if (got) return got;
		if (Date.now() > until) throw new Error(`waited ${ms} ms for ${what}`);
		await new Promise((r) => setTimeout(r, 100));
	}
}

// a11y(page): what a screen reader would miss on the page as it is now, as a list of strings
// (empty: fine): no <main> landmark or more than one, a visible form control or button without
// an accessible name, an image without alt, a heading level skipped. Call it in each view test.
async function a11y(p) {
	return p.evaluate(() => {
		const out = [];
		const visible = (el) => el.getClientRects().length > 0 && getComputedStyle(el).visibility !== 'hidden';
		const mains = document.querySelectorAll('main, [role="main"]');
		if (mains.length !== 1) out.push(`${mains.length} main landmarks`);
		const named = (el) => {
			if ((el.getAttribute('aria-label') || '').trim()) return true;
			const by = el.getAttribute('aria-labelledby');
			if (by && by.split(/\s+/).some((id) => (document.getElementById(id)?.textContent || '').trim())) return true;
			if (el.labels && [...el.labels].some((l) => l.textContent.trim())) return true;
			if ((el.getAttribute('title') || '').trim()) return true;
			if (/^(BUTTON|A|SUMMARY)$/.test(el.tagName) || /^(button|link|tab|menuitem)$/.test(el.getAttribute('role') || ''))
				return !!(el.textContent.trim() || el.querySelector('img[alt]:not([alt=""])'));
			if (el.tagName === 'INPUT' && /^(submit|button|reset)$/.test(el.type)) return !!el.value.trim();
			return false;
		};
		const what = (el) => `<${el.tagName.toLowerCase()}${el.id ? ' id=' + el.id : ''}${el.className ? ' class="' + el.className + '"' : ''}>`;
		for (const el of document.querySelectorAll('input:not([type=hidden]), select, textarea, button, a[href], [role=button], [role=link], [role=tab]'))
			if (visible(el) && !named(el)) out.push(`no accessible name: ${what(el)}`);
		for (const img of document.querySelectorAll('img'))
			if (!img.hasAttribute('alt') && !img.getAttribute('aria-label')) out.push(`img without alt: ${img.src}`);
		let last = 0;
		for (const h of document.querySelectorAll('h1, h2, h3, h4, h5, h6')) {
			const level = Number(h.tagName[1]);
			if (visible(h) && level > last + 1) out.push(`heading level skipped: ${h.tagName} after h${last}`);
			if (visible(h)) last = level;
		}
		return out;
	});
}

function assert(cond, what) {
	if (!cond) throw new Error(what);
}

// noSideways(page): throws when the page is wider than the viewport (it would scroll sideways).
async function noSideways(p) {
	const [sw, w] = await p.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
	assert(sw <= w, `the page is ${sw} px wide in a ${w} px viewport: it scrolls sideways`);
}

// ---- harness checks: what holds whatever the page looks like -------------------------------------
async function harnessChecks() {
	let res = null;
	const uiResponses = [];
	const onResponse = (r) => {
		if (r.url().startsWith(BASE + '/ui/')) uiResponses.push(r);
	};
	page.on('response', onResponse);
	await check('/ui/ loads with status 200 and nothing reported', async (p) => {
		res = await open(p, '/ui/');
		assert(res, 'no response for /ui/');
		assert(res.status() === 200, `status ${res.status()}`);
		await p.waitForLoadState('load', { timeout: STEP_MS });
	});
	page.off('response', onResponse);
	const h = res ? res.headers() : {};
	const csp = h['content-security-policy'] || '';
	await check('Content-Security-Policy: present, no unsafe-inline or unsafe-eval, scripts from self', () => {
		assert(csp, 'no Content-Security-Policy header');
		assert(!/unsafe-inline/i.test(csp), `'unsafe-inline' in: ${csp}`);
		assert(!/unsafe-eval/i.test(csp), `'unsafe-eval' in: ${csp}`);
		assert(/(^|;)\s*(script-src|default-src)\s/i.test(csp), `no script-src or default-src in: ${csp}`);
		assert(/require-trusted-types-for\s+'script'/i.test(csp), `no require-trusted-types-for 'script' in: ${csp}`);
	});
	await check('X-Content-Type-Options: nosniff and a Referrer-Policy on every /ui/ response', () => {
		assert(uiResponses.length > 0, 'no /ui/ responses seen');
		for (const r of uiResponses) {
			const rh = r.headers();
			assert(rh['x-content-type-options'] === 'nosniff', `${r.url()}: X-Content-Type-Options ${rh['x-content-type-options']}`);
			assert(rh['referrer-policy'], `${r.url()}: no Referrer-Policy`);
			assert(r.status() === 200 || r.status() === 304, `${r.url()}: status ${r.status()}`);
		}
	});
	await check('document.body exists', async (p) => {
		assert(await p.evaluate(() => document.body instanceof HTMLBodyElement), 'no <body>');
	});
	await check('eval() is refused by the CSP', async (p) => {
		// In a task of the page's own: code evaluated through DevTools may eval whatever the CSP.
		const got = await p.evaluate(() => new Promise((resolve) => setTimeout(() => {
			try {
				eval('1');
				resolve('eval ran');
			} catch (e) {
				resolve(e.name);
			}
		})));
		assert(got === 'EvalError', `eval('1') gave: ${got}`);
	}, { expect: /unsafe-eval|script-src|evaluate a string|TrustedScript|require-trusted-types-for/i });
	await check('innerHTML with a string is refused (Trusted Types)', async (p) => {
		const got = await p.evaluate(() => new Promise((resolve) => setTimeout(() => {
			const before = document.body.innerHTML;
			try {
				document.body.innerHTML = '<b>x</b>';
				resolve(document.body.innerHTML === before ? 'no throw, body unchanged' : 'assigned');
			} catch (e) {
				resolve(e.name);
			}
		})));
		assert(got === 'TypeError', `document.body.innerHTML = '<b>x</b>' gave: ${got}`);
	}, { expect: /trusted|require-trusted-types-for/i });
	await check('nothing kept in localStorage or cookies', async (p) => {
		const n = await p.evaluate(() => localStorage.length);
		assert(n === 0, `${n} localStorage items`);
		const cookies = await p.context().cookies();
		assert(cookies.length === 0, `cookies: ${cookies.map((c) => c.name).join(', ')}`);
	});
	await check('the page as loaded: one main landmark, every control named', async (p) => {
		const missing = await a11y(p);
		assert(missing.length === 0, missing.join('\n'));
	});
	await check('no horizontal scrolling at this width', noSideways);
	await check('screenshot 00-login', async (p) => {
		await open(p, '/ui/');
		await shot('00-login');
	});
}

// ---- VIEW TESTS ---------------------------------------------------------------------------------
// The dashboard's own tests go here: log in (login(page, TOKENS.read)), each view (gotoView(page,
// 'nodes'), then shot('10-nodes')), the live stream (curlPut('/v1/memory/mesh/k', {value: 1},
// TOKENS.node), then waitFor(..., 2000)), the XSS case (the seeded project:alpha key xss.probe
// must show as text), and in each view `assert((await a11y(page)).length === 0, ...)`. Each
// check() is one TAP point; `pass.name` is 'desktop' or 'phone'.
// Seeded by test_ui.sh: node ceo (heartbeat: online, capabilities triage and reminders); mesh
// user.preferences (three versions), mesh team.notes; project:alpha plan.q3 and xss.probe;
// user:alice todo; skill mesh/triage (two versions, by ceo).
async function viewTests() {
	const TOKEN_RE = /cm_[A-Za-z0-9_-]{43}/;
	const rows = (p, sel) => p.locator(sel).count();
	const text = (p, sel) => p.locator(sel).first().innerText({ timeout: STEP_MS });
	// The keys of the memory listing's rows, in order.
	const memoryKeys = (p) => p.locator('#view-memory tbody tr').evaluateAll((t) => t.map((x) => x.dataset.key));
	// Elements made from stored markup (the seeded probes hold <img src=x …> and <script>).
	const madeFromMarkup = (p) => p.evaluate(() => document.querySelectorAll('#view img, #view script, img[src="x"]').length);
	// One view, waited for, checked for what a screen reader needs, photographed.
	async function view(p, name, ready, shotName) {
		await gotoView(p, name);
		await p.locator(ready).first().waitFor({ timeout: STEP_MS });
		const missing = await a11y(p);
		if (shotName) await shot(shotName);
		assert(missing.length === 0, missing.join('\n'));
		await noSideways(p);
	}

	// -- signing in ---------------------------------------------------------------------------
	await check('a malformed token is refused at the form, nothing stored', async (p) => {
		await signedOut(p);
		await p.getByLabel(/token/i).fill('not-a-token');
		await p.getByLabel(/token/i).press('Enter');
		await p.locator('#login-error').getByText(/not a clawmesh token/).waitFor();
		assert(await p.evaluate(() => sessionStorage.length) === 0, 'something was stored');
		await shot('01-login-malformed');
	});
	await check('an unknown token is refused by the server, the form stays', async (p) => {
		await p.getByLabel(/token/i).fill('cm_' + 'A'.repeat(43));
		await p.getByLabel(/token/i).press('Enter');
		await p.locator('#login-error').getByText(/refused/).waitFor();
		assert(await p.getByLabel(/token/i).isVisible(), 'the form went away');
		assert(await p.evaluate(() => sessionStorage.length) === 0, 'the refused token was stored');
	}, { expect: /401/ }); // the browser logs the refused whoami as a failed resource load
	await check('sign in with the project:* read-only token (pasted with its "Bearer "): no admin views offered', async (p) => {
		await login(p, `Bearer ${TOKENS.read}`);
		assert(await p.evaluate(() => sessionStorage.length) === 1, 'the token is not in sessionStorage');
		await p.locator('#who-label').getByText('ui test: read project:*').waitFor();
		assert(!(await p.getByRole('link', { name: 'Tokens' }).isVisible()), 'a Tokens link is shown');
		assert(!(await p.getByRole('link', { name: 'Audit log' }).isVisible()), 'an Audit log link is shown');
		await gotoView(p, 'tokens');
		await p.getByRole('heading', { name: 'Not found' }).waitFor();
		assert(await rows(p, '[data-token]') === 0, 'token rows shown to a non-admin');
	});
	await check('read-only token: memory shows project:alpha only, not mesh or user:alice', async (p) => {
		await view(p, 'memory', '#view-memory tbody tr', '12-memory-read-only');
		const keys = await p.locator('#view-memory tbody tr').evaluateAll((trs) => trs.map((t) => t.dataset.scope + '/' + t.dataset.key));
		assert(keys.includes('project:alpha/plan.q3') && keys.includes('project:alpha/xss.probe'), `shown: ${keys}`);
		assert(keys.every((k) => k.startsWith('project:')), `a scope this token may not read is shown: ${keys}`);
	});
	await check('stored markup shows as text, in the list and in the entry (xss.probe)', async (p) => {
		const stored = '<img src=x onerror=alert(1)><script>alert(2)</script>';
		await gotoView(p, 'memory?scope=project%3Aalpha&key=xss.probe');
		await p.locator('#memory-value').waitFor();
		assert(await p.locator('#memory-value').textContent() === stored, 'the value is not shown as its text');
		await p.locator('#view-memory tbody tr[data-key="xss.probe"] td').getByText(stored).waitFor();
		const made = await madeFromMarkup(p);
		assert(made === 0, `${made} elements were made from the value`);
		await shot('20-xss');
	});
	await check('read-only token: the live stream shows project:alpha writes, never mesh ones', async (p) => {
		await view(p, 'activity', '#activity-state.ok', null);
		const hidden = `hidden.${pass.name}.${Date.now()}`;
		const shown = `shown.${pass.name}.${Date.now()}`;
		let r = await curlPut(`/v1/memory/mesh/${hidden}`, { value: 1 }, TOKENS.node);
		assert(r.status === 201, `PUT mesh answered ${r.status}`);
		r = await curlPut(`/v1/memory/project:alpha/${shown}`, { value: 2 }, TOKENS.admin);
		assert(r.status === 201, `PUT project:alpha answered ${r.status}`);
		await p.locator('#activity-list').getByText(shown).waitFor({ timeout: 2000 });
		assert(await p.locator('#activity-list').getByText(hidden).count() === 0, 'a mesh write reached a project:* token');
	});

	// -- each view, as an admin ---------------------------------------------------------------
	await check('sign in as admin: every view offered', async (p) => {
		await login(p, TOKENS.admin);
		for (const name of ['Overview', 'Nodes', 'Memory', 'Skills', 'Activity', 'Tokens', 'Audit log'])
			assert(await p.getByRole('link', { name, exact: true }).isVisible(), `no ${name} link`);
	});
	await check('overview: nodes online, counts, every scope, latest changes', async (p) => {
		await view(p, 'overview', '#view-overview .cards', '10-overview');
		const cards = await text(p, '#view-overview .cards');
		assert(/Nodes online\s*1 \/ 1/.test(cards), `cards: ${cards}`);
		for (const sc of ['mesh', 'project:alpha', 'user:alice'])
			await p.locator('#view-overview table').getByRole('link', { name: sc, exact: true }).waitFor();
		assert(await rows(p, '#overview-changes li') > 0, 'no latest changes');
	});
	await check('nodes: ceo online with its capabilities and skills; detail; capability filter', async (p) => {
		await view(p, 'nodes', '#view-nodes tr[data-node="ceo"]', '11-nodes');
		const row = await text(p, '#view-nodes tr[data-node="ceo"]');
		for (const want of ['Online', 'triage', 'reminders', 'the chief of staff gateway'])
			assert(row.includes(want), `the ceo row lacks ${want}: ${row}`);
		await p.locator('#view-nodes tr[data-node="ceo"]').getByRole('link', { name: 'ceo' }).click();
		await p.locator('#node-detail').getByText('the chief of staff gateway').waitFor();
		await p.getByLabel('Capability').fill('nothing-has-this');
		await p.getByRole('button', { name: 'Filter' }).click();
		await p.getByText('No node matches.').waitFor();
		await p.getByLabel('Capability').fill('reminders');
		await p.getByRole('button', { name: 'Filter' }).click();
		await p.locator('#view-nodes tr[data-node="ceo"]').waitFor();
	});
	await check('memory: search, prefix filter, scope filter', async (p) => {
		await view(p, 'memory', '#view-memory tbody tr', '12-memory');
		await p.getByLabel('Search', { exact: true }).fill('Thursday');
		await p.getByRole('button', { name: 'Search' }).click();
		await waitFor('the search to leave only team.notes', async () => {
			const keys = await memoryKeys(p);
			return keys.length === 1 && keys[0] === 'team.notes';
		});
		await gotoView(p, 'memory?scope=mesh&prefix=user.');
		await waitFor('the prefix to leave only user.preferences', async () => {
			const keys = await memoryKeys(p);
			return keys.length === 1 && keys[0] === 'user.preferences';
		});
		assert(await p.getByLabel('Key prefix').inputValue() === 'user.', 'the prefix field does not show the filter');
		await gotoView(p, 'memory?scope=user%3Aalice');
		await p.locator('#view-memory tbody tr[data-key="todo"]').waitFor();
		assert(await rows(p, '#view-memory tbody tr') === 1, 'other scopes shown with scope=user:alice');
	});
	await check('memory: a refused filter and a missing entry are said in words, the page goes on', async (p) => {
		await gotoView(p, 'memory?prefix=' + encodeURIComponent('not a key prefix'));
		await p.locator('#view-memory [role=alert]').getByText(/prefix/).waitFor();
		await gotoView(p, 'memory?scope=mesh&key=never.written');
		await p.locator('#view-memory [role=alert]').getByText('There is no mesh / never.written.').waitFor();
		await p.locator('#view-memory tbody tr[data-key="user.preferences"]').waitFor(); // the listing still there
	}, { expect: /status of 40[04]/ }); // the browser logs the refused requests as failed loads
	await check('memory entry: value, history of three versions, diff between any two', async (p) => {
		await view(p, 'memory?scope=mesh&key=user.preferences', '#memory-entry pre.diff', '13-memory-history');
		assert((await p.locator('#memory-value').textContent()).includes('"friendly"'), 'not the latest value');
		assert(await rows(p, '#memory-entry tr[data-version]') === 3, 'not three versions');
		// The newest pair by default: v2 -> v3 changes the tone.
		await p.locator('#memory-entry h4').getByText('Version 2 → version 3').waitFor();
		const diff = p.locator('#memory-entry pre.diff');
		assert((await diff.locator('del').allTextContents()).join('').includes('"brief"'), 'v2 tone not shown removed');
		assert((await diff.locator('ins').allTextContents()).join('').includes('"friendly"'), 'v3 tone not shown added');
		// From v1: the lang line is added too.
		await p.getByLabel('Compare from version 1').check();
		await p.locator('#memory-entry h4').getByText('Version 1 → version 3').waitFor();
		assert((await diff.locator('ins').allTextContents()).join('').includes('"lang"'), 'v1 -> v3 does not add lang');
		await shot('14-memory-diff');
	});
	await check('skills: triage at v2; its versions and the diff between them; SKILL.md as text', async (p) => {
		await view(p, 'skills', '#view-skills tbody tr[data-name="triage"]', '15-skills');
		assert((await text(p, '#view-skills tbody tr[data-name="triage"]')).includes('v2'), 'not at v2');
		await p.locator('#view-skills tbody tr[data-name="triage"]').getByRole('link', { name: 'triage' }).click();
		await p.locator('#skill-detail pre.diff').waitFor();
		assert(await rows(p, '#skill-detail tr[data-version]') === 2, 'not two versions');
		assert((await p.locator('#skill-content').textContent()).includes('rank by urgency'), 'not the latest content');
		const diff = p.locator('#skill-detail pre.diff');
		assert((await diff.locator('del').allTextContents()).join('').includes('Read, label, archive.'), 'v1 line not removed');
		assert((await diff.locator('ins').allTextContents()).join('').includes('rank by urgency'), 'v2 line not added');
		await shot('16-skill-diff');
	});
	await check('activity: a write made with curl shows in the live stream within 2 s', async (p) => {
		await view(p, 'activity', '#activity-state.ok', null);
		const key = `live.${pass.name}.${Date.now()}`;
		const t = Date.now();
		const r = await curlPut(`/v1/memory/mesh/${key}`, { value: 'hello' }, TOKENS.node);
		assert(r.status === 201, `PUT answered ${r.status}`);
		await p.locator('#activity-list').getByText(key).waitFor({ timeout: 2000 });
		comment(`shown ${Date.now() - t} ms after the PUT was sent`);
		await shot('17-activity');
	});
	await check('tokens: every token listed, no secret anywhere on the page', async (p) => {
		await view(p, 'tokens', '#view-tokens tbody tr[data-token]', '18-tokens');
		const labels = await text(p, '#view-tokens tbody');
		for (const want of ['ui test: node ceo', 'ui test: read project:*'])
			assert(labels.includes(want), `no ${want}`);
		const html = await p.content();
		assert(!TOKEN_RE.test(html), 'a token secret is on the page');
		for (const t of Object.values(TOKENS))
			assert(!html.includes(t.slice(3)), 'a test token\'s secret is on the page');
	});
	await check('tokens: revoke one from the page (after a confirm)', async (p) => {
		const label = `ui test: throwaway ${pass.name} ${Date.now()}`;
		const made = await api('POST', '/v1/tokens', { label, grants: [{ scope: 'mesh', access: 'r' }] });
		assert(made.status === 201, `POST /v1/tokens answered ${made.status}`);
		// Already on the view: its link in the navigation loads it again.
		await p.getByRole('link', { name: 'Tokens', exact: true }).click();
		const row = p.locator(`#view-tokens tr[data-token="${made.body.id}"]`);
		await row.getByRole('button', { name: /Revoke/ }).click();
		await row.getByText('Revoked').waitFor();
		const got = await api('GET', `/v1/tokens/${made.body.id}`);
		assert(got.body.revoked_at, 'the server does not have it revoked');
		const whoami = await api('GET', '/v1/whoami', undefined, made.body.token);
		assert(whoami.status === 401, `the revoked token still answers ${whoami.status}`);
	}, { expect: /dialog confirm: Revoke/ });
	await check('audit log: the latest records, newest first, with the seeding writes', async (p) => {
		await view(p, 'audit', '#audit-table tbody tr', '19-audit');
		const body = await text(p, '#audit-table tbody');
		for (const action of ['memory.put', 'token.revoke', 'token.create'])
			assert(body.includes(action), `no ${action} record`);
		const ids = await p.locator('#audit-table tbody tr').evaluateAll((t) => t.map((x) => Number(x.dataset.audit)));
		assert(ids.every((v, i) => i === 0 || ids[i - 1] > v), 'not newest first');
	});
	await check('stored markup elsewhere (skill description and content, node meta, token label) stays text', async (p) => {
		const img = '<img src=x onerror=alert(5)>';
		const md = (extra) => `---\nname: xss-probe\ndescription: "${img}"\n---\n# Probe\n\n<script>alert(6)</script>${extra}\n`;
		for (const extra of ['', ' again']) {
			const r = await api('PUT', '/v1/skills/mesh/xss-probe', { content: md(extra) }, TOKENS.node);
			assert(r.status === 201 || r.status === 200, `PUT skill answered ${r.status}`);
		}
		let r = await api('PUT', '/v1/nodes/ceo', { name: 'CEO', description: 'the chief of staff gateway',
			capabilities: ['triage', 'reminders'], meta: { note: `${img}<script>alert(7)</script>` } }, TOKENS.node);
		assert(r.status === 200 || r.status === 201, `PUT node answered ${r.status}`);
		r = await api('POST', '/v1/tokens', { label: `ui test: ${img} ${pass.name}`, grants: [{ scope: 'mesh', access: 'r' }] });
		assert(r.status === 201, `POST token answered ${r.status}`);
		const none = async (where) => {
			const made = await madeFromMarkup(p);
			assert(made === 0, `${made} elements made from stored markup in ${where}`);
		};
		await gotoView(p, 'skills?scope=mesh&name=xss-probe');
		await p.locator('#skill-detail pre.diff').waitFor();
		await p.locator('#skill-detail dd').getByText(img).waitFor();
		assert((await p.locator('#skill-content').textContent()).includes('<script>alert(6)</script> again'), 'content not text');
		await none('the skill view');
		await gotoView(p, 'nodes?id=ceo');
		await p.locator('#node-detail pre').getByText('<script>alert(7)</script>').waitFor();
		await none('the node view');
		await gotoView(p, 'tokens');
		await p.locator('#view-tokens').getByText(`ui test: ${img} ${pass.name}`).waitFor();
		await none('the tokens view');
		await shot('21-xss-elsewhere');
	});
	await check('a 256-character key wraps: no sideways scrolling in the list or its entry', async (p) => {
		const key = 'long.' + 'k'.repeat(251);
		const r = await curlPut(`/v1/memory/mesh/${key}`, { value: 'x'.repeat(300) }, TOKENS.node);
		assert(r.status === 201 || r.status === 200, `PUT answered ${r.status}`);
		await gotoView(p, `memory?scope=mesh&key=${key}`);
		await p.locator('#memory-value').waitFor();
		await noSideways(p);
	});
	await check('Load more: the next page by cursor, until there is none', async (p) => {
		const ops = Array.from({ length: 60 }, (_, i) => ({ op: 'put', scope: 'user:bulk', key: `item.${String(i).padStart(2, '0')}`, value: i }));
		const r = await api('POST', '/v1/batch', { ops });
		assert(r.status === 200, `batch answered ${r.status}`);
		await gotoView(p, 'memory?scope=user%3Abulk');
		await waitFor('the first page (50)', async () => await rows(p, '#view-memory tbody tr') === 50);
		await p.getByRole('button', { name: 'Load more' }).click();
		await waitFor('all 60', async () => await rows(p, '#view-memory tbody tr') === 60);
		assert(!(await p.getByRole('button', { name: 'Load more' }).isVisible()), 'Load more still offered at the end');
		const keys = await memoryKeys(p);
		assert(new Set(keys).size === 60 && keys[0] === 'item.00' && keys[59] === 'item.59', 'a row repeated, missing or out of order');
	});
	await check('keyboard: the skip link focuses main and keeps the view; aria-current marks the view', async (p) => {
		await gotoView(p, 'nodes');
		await p.reload(); // as loaded: focus at the top of the page
		await p.locator('#view-nodes tbody tr').first().waitFor();
		await p.keyboard.press('Tab'); // the first stop of the page is the skip link
		assert(await p.evaluate(() => document.activeElement.id) === 'skip', 'Tab does not reach the skip link first');
		await p.keyboard.press('Enter');
		assert(await p.evaluate(() => document.activeElement.id) === 'main', 'the skip link does not focus main');
		assert(await p.locator('#view-nodes').isVisible(), 'the skip link left the view');
		const current = await p.locator('#nav a[aria-current="page"]').allTextContents();
		assert(current.length === 1 && current[0] === 'Nodes', `aria-current on: ${current}`);
	});
	await check('focus follows the action: an opened entry\'s heading, then the view heading after a search', async (p) => {
		await gotoView(p, 'memory?scope=mesh');
		await p.locator('#view-memory tbody tr[data-key="team.notes"]').waitFor();
		await p.locator('#view-memory tbody tr[data-key="team.notes"] a').press('Enter');
		await waitFor('focus on the entry heading', () => p.evaluate(() => document.activeElement.id === 'memory-entry-title'));
		await p.getByLabel('Search', { exact: true }).fill('Thursday');
		await p.getByLabel('Search', { exact: true }).press('Enter');
		await waitFor('focus on the view heading', () => p.evaluate(() => document.activeElement.id === 'h-memory'));
	});
	await check('activity: Pause holds new changes until Resume; the kind filter hides other kinds', async (p) => {
		await gotoView(p, 'activity');
		await p.locator('#activity-state.ok').waitFor();
		const pause = p.getByRole('button', { name: 'Pause' });
		await pause.click();
		assert(await pause.getAttribute('aria-pressed') === 'true', 'not pressed');
		const key = `held.${pass.name}.${Date.now()}`;
		await curlPut(`/v1/memory/mesh/${key}`, { value: 1 }, TOKENS.node);
		await p.waitForTimeout(800);
		assert(await p.locator('#activity-list').getByText(key).count() === 0, 'shown while paused');
		await pause.click();
		await p.locator('#activity-list').getByText(key).waitFor({ timeout: 2000 });
		await p.getByLabel('Show').selectOption('skill');
		assert(!(await p.locator('#activity-list').getByText(key).isVisible()), 'a memory change shown under Skills');
		await p.getByLabel('Show').selectOption('');
		await p.locator('#activity-list').getByText(key).waitFor();
	});
	await check('activity: CRLF events parsed; after the stream drops it resumes with Last-Event-ID, nothing missed', async (p) => {
		const stats = await api('GET', '/v1/stats');
		const rev = stats.body.revision;
		let calls = 0;
		let resumedWith = null;
		await p.route((u) => u.pathname === '/v1/changes', async (route) => {
			if (++calls === 1) { // the first stream: one event in CRLF lines, then it ends
				const ev = { revision: rev, kind: 'memory', op: 'put', scope: 'mesh', key: 'fake.crlf.event', version: 1, node: 'ceo', at: new Date().toISOString() };
				return route.fulfill({ status: 200, contentType: 'text/event-stream',
					body: `retry: 2000\r\n: test stream\r\n\r\nid: ${rev}\r\ndata: ${JSON.stringify(ev)}\r\n\r\n` });
			}
			resumedWith = route.request().headers()['last-event-id'];
			return route.continue();
		});
		try {
			await gotoView(p, 'activity');
			await p.locator('#activity-list').getByText('fake.crlf.event').waitFor();
			await waitFor('the reconnection', () => resumedWith !== null);
			assert(resumedWith === String(rev), `resumed with Last-Event-ID ${resumedWith}, not ${rev}`);
			await p.locator('#activity-state.ok').waitFor();
			const key = `after.drop.${pass.name}.${Date.now()}`;
			await curlPut(`/v1/memory/mesh/${key}`, { value: 1 }, TOKENS.node);
			await p.locator('#activity-list').getByText(key).waitFor({ timeout: 2000 });
		} finally {
			await p.unrouteAll({ behavior: 'ignoreErrors' }).catch(() => {});
		}
	});
	await check('activity: a resync (410, or event resync_required) stops the stream and says so', async (p) => {
		for (const answer of [
			{ status: 410, contentType: 'application/json', body: '{"error":{"code":"resync_required","message":"gone","request_id":"x"}}' },
			{ status: 200, contentType: 'text/event-stream', body: 'retry: 2000\n\nevent: resync_required\ndata: {"code":"resync_required"}\n\n' },
		]) {
			let calls = 0;
			await p.route((u) => u.pathname === '/v1/changes', (route) => (calls++, route.fulfill(answer)));
			try {
				await gotoView(p, 'overview');
				await gotoView(p, 'activity');
				await p.locator('#activity-state.error').getByText(/too far behind/).waitFor();
				await p.waitForTimeout(1500); // no reconnection after it
				assert(calls === 1, `${calls} requests for the feed`);
			} finally {
				await p.unrouteAll({ behavior: 'ignoreErrors' }).catch(() => {});
			}
		}
	}, { expect: /status of 410/ });
	await check('leaving the activity view closes its stream', async (p) => {
		const open = new Set();
		const on = (r) => r.url().includes('/v1/changes') && open.add(r);
		const off = (r) => open.delete(r);
		p.on('request', on);
		p.on('requestfinished', off);
		p.on('requestfailed', off);
		try {
			await gotoView(p, 'activity');
			await p.locator('#activity-state.ok').waitFor();
			assert(open.size === 1, `${open.size} streams open on the view`);
			await p.getByRole('link', { name: 'Nodes', exact: true }).click();
			await waitFor('the stream to close', () => open.size === 0, 3000);
		} finally {
			p.off('request', on);
			p.off('requestfinished', off);
			p.off('requestfailed', off);
		}
	});
	await check('a token revoked mid-session: the live stream ends and the page signs out', async (p) => {
		const made = await api('POST', '/v1/tokens', { label: `ui test: revoked live ${pass.name}`, grants: [{ scope: 'mesh', access: 'r' }] });
		assert(made.status === 201, `POST token answered ${made.status}`);
		await login(p, made.body.token);
		assert(!p.url().includes(made.body.token.slice(3)), 'the token is in the URL');
		await gotoView(p, 'activity');
		await p.locator('#activity-state.ok').waitFor();
		const r = await api('DELETE', `/v1/tokens/${made.body.id}`);
		assert(r.status === 204, `DELETE answered ${r.status}`);
		await curlPut(`/v1/memory/mesh/wake.${pass.name}.${Date.now()}`, { value: 1 }, TOKENS.node);
		await p.locator('#login-error').getByText(/refused/).waitFor();
		assert(await p.evaluate(() => sessionStorage.length) === 0, 'the revoked token is still stored');
		await login(p, TOKENS.admin);
	}, { expect: /status of 401/ });
	await check('sign out: the token leaves sessionStorage, the form comes back', async (p) => {
		await p.getByRole('button', { name: 'Sign out' }).click();
		await p.getByLabel(/token/i).waitFor();
		assert(await p.evaluate(() => sessionStorage.length) === 0, 'the token is still stored');
		assert(!(await p.locator('#nav').isVisible()), 'the views are still offered');
	});
}

// ---- axe-core: WCAG 2.1 A and AA, each view ------------------------------------------------------
// axe-core (pinned next to playwright-core) checks what a screen reader and a low-vision user meet:
// names, roles, landmarks, contrast, lists, tables. It is injected as a script, which the page's
// CSP forbids, so this pass runs in a context of its own with the CSP bypassed; everything else
// runs under the real CSP.
const AXE_SOURCE = (() => {
	try {
		return readFileSync(join(here, 'node_modules', 'axe-core', 'axe.min.js'), 'utf8');
	} catch {
		return null;
	}
})();
async function axeTests() {
	const scan = async (p) => {
		if (!(await p.evaluate(() => typeof window.axe === 'object'))) await p.addScriptTag({ content: AXE_SOURCE });
		const r = await p.evaluate(() => window.axe.run(document, {
			runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] },
		}));
		return r.violations.map((v) => `${v.id} (${v.impact}): ${v.help}: ` +
			v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', ') + (v.nodes.length > 3 ? ` and ${v.nodes.length - 3} more` : ''));
	};
	await check('axe-core: the sign-in form', async (p) => {
		await signedOut(p);
		await p.getByLabel(/token/i).waitFor();
		const v = await scan(p);
		assert(v.length === 0, v.join('\n'));
	});
	await login(page, TOKENS.admin);
	const views = [
		['overview', '#view-overview .cards'],
		['nodes?id=ceo', '#node-detail'],
		['memory?scope=mesh&key=user.preferences', '#memory-entry pre.diff'],
		['skills?scope=mesh&name=triage', '#skill-detail pre.diff'],
		['activity', '#activity-state.ok'],
		['tokens', '#view-tokens tbody tr'],
		['audit', '#audit-table tbody tr'],
	];
	for (const [hash, ready] of views) {
		await check(`axe-core: #/${hash}`, async (p) => {
			await gotoView(p, hash);
			await p.locator(ready).first().waitFor();
			await shot(slug(hash));
			const v = await scan(p);
			assert(v.length === 0, v.join('\n'));
		});
	}
}

// ---- the run ------------------------------------------------------------------------------------
async function main() {
	for (const f of (() => {
		try {
			return readdirSync(SHOTS);
		} catch {
			return [];
		}
	})()) if (f.endsWith('.png')) unlinkSync(join(SHOTS, f));

	let browser = null;
	const t0 = Date.now();
	const deadline = setTimeout(() => {
		tapNotOk(`the whole run within ${RUN_MS / 1000} s`, 'stopped here; the checks after this did not run');
		finish();
		stopped = true;
		const closing = browser ? browser.close().catch(() => {}) : Promise.resolve();
		bounded(closing, 5000, 'closing the browser').catch(() => {}).finally(() => process.exit(1));
	}, RUN_MS);
	try {
		const t = Date.now();
		try {
			browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, headless: true, timeout: 30_000 });
			tapOk(`chromium ${browser.version()} started (${Date.now() - t} ms)`);
		} catch (e) {
			tapNotOk(`chromium starts (${CHROMIUM})`, e.message);
			return;
		}
		// A pass: a fresh context (bounded waits, the browser's reports watched), closed after.
		const inContext = async (options, run) => {
			const context = await browser.newContext({ viewport: pass.viewport, serviceWorkers: 'block', ...options });
			context.setDefaultTimeout(STEP_MS);
			context.setDefaultNavigationTimeout(STEP_MS);
			await context.exposeBinding('__cmReport', (_src, v) => problems.push(String(v)));
			await context.addInitScript(violationScript);
			page = await context.newPage();
			watch(page);
			try {
				await run();
			} finally {
				await context.close().catch(() => {});
			}
		};
		for (const p of PASSES) {
			pass = p;
			await inContext({ isMobile: !!p.isMobile, hasTouch: !!p.hasTouch }, async () => {
				await harnessChecks();
				await viewTests();
			});
		}
		if (!AXE_SOURCE)
			tapNotOk('axe-core is installed (tests/ui/node_modules/axe-core)', 'npm ci did not install it');
		for (const scheme of AXE_SOURCE ? ['light', 'dark'] : []) { // contrast differs between the two
			pass = { name: `axe ${scheme}`, prefix: `axe-${scheme}-`, viewport: { width: 1280, height: 800 } };
			await inContext({ bypassCSP: true, colorScheme: scheme }, axeTests);
		}
	} catch (e) {
		tapNotOk('the run itself', e.stack || String(e));
	} finally {
		if (browser) await bounded(browser.close(), 10_000, 'closing the browser').catch((e) => comment(e.message));
		clearTimeout(deadline);
		say(`# ui.test.mjs: ${points} checks, ${failed} failed, ${((Date.now() - t0) / 1000).toFixed(1)} s`);
	}
}

// The count for test_ui.sh (which numbers on after us and prints the plan), or our own plan.
function finish() {
	if (process.env.CM_UI_COUNT_FILE) writeFileSync(process.env.CM_UI_COUNT_FILE, `${points} ${failed}\n`);
	if (!process.env.CM_UI_TAP_START) say(`1..${points}`);
	process.exitCode = failed ? 1 : 0;
}

await main();
finish();
