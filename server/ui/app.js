/* clawmesh dashboard: one page over the /v1 API, with the token the user pastes.
 *
 * Rules this file keeps (docs/dashboard.md):
 * - Stored values are only ever text: every node is built with createElement and textContent,
 *   never innerHTML or anything else that parses markup. The server's CSP backs this with
 *   `require-trusted-types-for 'script'`, which makes such sinks throw in Chromium.
 * - The token lives in sessionStorage (this tab only), is sent only as an Authorization header
 *   to this origin, and is dropped on sign-out or on the first 401.
 * - No inline script or style anywhere (the CSP forbids both); state shows through classes and
 *   the hidden attribute.
 */
(() => {
	'use strict';

	const TOKEN_KEY = 'clawmesh.token';
	const PAGE = 50;           /* rows a listing asks for at a time */
	const STREAM_MAX = 200;    /* events the activity view keeps */
	const DIFF_TIMEOUT_MS = 1500;
	const REFUSED = 'The token was refused (unknown, expired or revoked). Sign in again.';

	let token = null;
	let me = null;             /* GET /v1/whoami */
	let leaveView = null;      /* the current view's clean-up (aborts its requests and stream) */
	let viewSeq = 0;           /* bumps on each navigation; a late answer for an old view is dropped */

	/* ---- DOM helpers: text only ---- */

	const $ = (sel, root = document) => root.querySelector(sel);

	/* el('td', {class: 'x', dataset: {key: k}}, 'text', child, …): strings become text nodes. */
	function el(tag, attrs, ...children) {
		const e = document.createElement(tag);
		for (const [k, v] of Object.entries(attrs || {})) {
			if (v === undefined || v === null || v === false)
				continue;
			if (k === 'class')
				e.className = v;
			else if (k === 'text')
				e.textContent = v;
			else if (k === 'dataset')
				Object.assign(e.dataset, v);
			else if (k.startsWith('on'))
				e.addEventListener(k.slice(2), v);
			else
				e.setAttribute(k, v === true ? '' : String(v));
		}
		append(e, children);
		return e;
	}

	function append(parent, children) {
		for (const c of children.flat(Infinity)) {
			if (c === undefined || c === null || c === false)
				continue;
			parent.append(c instanceof Node ? c : document.createTextNode(String(c)));
		}
		return parent;
	}

	function clear(node) {
		node.replaceChildren();
		return node;
	}

	function say(msg, kind = 'info') {
		const s = $('#status');
		s.className = 'status ' + kind;
		s.textContent = msg;
		if (msg && kind === 'info')
			setTimeout(() => { if (s.textContent === msg) s.textContent = ''; }, 6000);
	}

	/* ---- time and values ---- */

	function timeEl(iso) {
		if (!iso)
			return el('span', {class: 'muted'}, '—');
		const d = new Date(iso);
		return el('time', {datetime: iso, title: iso}, isNaN(d) ? iso : d.toLocaleString());
	}

	function ago(iso) {
		if (!iso)
			return 'never';
		const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
		if (s < 60) return s + ' s ago';
		if (s < 3600) return Math.round(s / 60) + ' min ago';
		if (s < 86400) return Math.round(s / 3600) + ' h ago';
		return Math.round(s / 86400) + ' d ago';
	}

	function pretty(v) {
		return typeof v === 'string' ? v : JSON.stringify(v, null, 2);
	}

	function preview(v, n = 120) {
		const t = typeof v === 'string' ? v : JSON.stringify(v);
		return t.length > n ? t.slice(0, n - 1) + '…' : t;
	}

	function bytes(n) {
		if (n < 1024) return n + ' B';
		if (n < 1048576) return (n / 1024).toFixed(1) + ' KiB';
		return (n / 1048576).toFixed(1) + ' MiB';
	}

	/* ---- the API ---- */

	class ApiError extends Error {
		constructor(status, body) {
			const e = (body && body.error) || {};
			super(e.message || ('HTTP ' + status));
			this.status = status;
			this.code = e.code || 'http_' + status;
		}
	}

	/* Path segments are encoded one by one: a key may hold ':' or '@'. */
	const seg = encodeURIComponent;

	async function api(path, {method = 'GET', signal, accept = 'application/json', query} = {}) {
		let url = '/v1' + path;
		if (query) {
			const q = new URLSearchParams();
			for (const [k, v] of Object.entries(query))
				for (const one of [].concat(v))
					if (one !== undefined && one !== null && one !== '')
						q.append(k, one);
			const s = q.toString();
			if (s)
				url += '?' + s;
		}
		const r = await fetch(url, {
			method, signal, cache: 'no-store', credentials: 'omit', referrerPolicy: 'no-referrer',
			headers: {Authorization: 'Bearer ' + token, Accept: accept},
		});
		if (r.status === 204)
			return null;
		const text = await r.text();
		let body = null;
		if (accept === 'application/json' || !r.ok) {
			try { body = JSON.parse(text); } catch (e) { body = null; }
		} else {
			body = text;
		}
		if (r.status === 401) {
			signOut(REFUSED, {keepHash: !me});
			throw new ApiError(401, body);
		}
		if (!r.ok) {
			const err = new ApiError(r.status, body);
			if (r.status === 429)
				err.message += ' Retry in ' + (r.headers.get('Retry-After') || 'a few') + ' s.';
			throw err;
		}
		return body;
	}

	/* A failure shown where the view's content would be; aborts are silent. */
	function failure(box, err, what) {
		if (err && err.name === 'AbortError')
			return;
		const msg = err instanceof ApiError && err.status === 403
			? 'This token may not read ' + what + '.'
			: 'Could not load ' + what + ': ' + (err && err.message ? err.message : String(err));
		append(box, [el('p', {class: 'error', role: 'alert'}, msg)]);
	}

	/* ---- sign-in ---- */

	async function signIn(candidate) {
		token = candidate;
		knownScopes = null; /* another token reads other scopes */
		me = await api('/whoami');
		sessionStorage.setItem(TOKEN_KEY, token);
		showChrome();
	}

	/* keepHash: a page not signed in yet keeps its deep link (#/memory?…) for after the sign-in.
	 * keepToken: the server could not be asked (429, 503, offline): the token stays for a reload. */
	function signOut(msg, {keepHash = false, keepToken = false} = {}) {
		if (leaveView) {
			leaveView();
			leaveView = null;
		}
		token = null;
		me = null;
		if (!keepToken)
			sessionStorage.removeItem(TOKEN_KEY);
		$('#nav').hidden = true;
		$('#who').hidden = true;
		$('#view').hidden = true;
		clear($('#view'));
		$('#view-login').hidden = false;
		$('#login-error').textContent = msg || '';
		if (!keepHash && location.hash && location.hash !== '#/')
			history.replaceState(null, '', '#/');
		$('#token').value = '';
		$('#token').focus();
	}

	function showChrome() {
		const label = me.label || me.token_id;
		const who = clear($('#who-label'));
		append(who, [
			el('span', {class: 'who-name'}, label),
			me.node ? el('span', {class: 'tag'}, 'node ' + me.node) : null,
			me.admin ? el('span', {class: 'tag admin'}, 'admin') : null,
		]);
		$('#who').hidden = false;
		$('#nav').hidden = false;
		for (const li of document.querySelectorAll('[data-admin]'))
			li.hidden = !me.admin;
		$('#view-login').hidden = true;
		$('#view').hidden = false;
	}

	/* ---- routing: #/view?param=… ---- */

	function parseHash() {
		const h = location.hash.replace(/^#\/?/, '');
		const i = h.indexOf('?');
		const name = (i < 0 ? h : h.slice(0, i)) || 'overview';
		const params = new URLSearchParams(i < 0 ? '' : h.slice(i + 1));
		return {name, params};
	}

	function link(view, params, ...children) {
		const q = new URLSearchParams();
		for (const [k, v] of Object.entries(params || {}))
			if (v !== undefined && v !== null && v !== '')
				q.set(k, v);
		const s = q.toString();
		return el('a', {href: '#/' + view + (s ? '?' + s : '')}, ...children);
	}

	function go(view, params) {
		const a = link(view, params);
		location.hash = a.getAttribute('href');
	}

	/* The filter form of a listing (id VIEW-filter): on submit, the view again with values(). */
	function filterForm(view, label, button, fields, values) {
		const form = el('form', {class: 'filters', id: view + '-filter', role: 'search', 'aria-label': label},
			fields, el('button', {type: 'submit'}, button));
		form.addEventListener('submit', (ev) => {
			ev.preventDefault();
			go(view, values());
		});
		return form;
	}

	const views = {};

	function route() {
		if (!token)
			return;
		const {name, params} = parseHash();
		const view = views[name] && (!views[name].admin || me.admin) ? views[name] : null;
		if (leaveView) {
			leaveView();
			leaveView = null;
		}
		const seq = ++viewSeq;
		const ctl = new AbortController();
		const cleanups = [() => ctl.abort()];
		const ctx = {
			params, signal: ctl.signal,
			alive: () => seq === viewSeq,
			onLeave: (f) => cleanups.push(f),
		};
		leaveView = () => cleanups.forEach((f) => f());
		for (const a of document.querySelectorAll('#nav a'))
			if (a.dataset.view === name)
				a.setAttribute('aria-current', 'page');
			else
				a.removeAttribute('aria-current');
		const box = clear($('#view'));
		if (!view) {
			document.title = 'Not found · clawmesh';
			append(box, [el('h2', {tabindex: '-1'}, 'Not found'), el('p', {}, 'No such view. '), link('overview', {}, 'Back to the overview')]);
			box.firstChild.focus({preventScroll: true});
			route.lastName = null;
			return;
		}
		const section = el('section', {id: 'view-' + name, 'aria-labelledby': 'h-' + name});
		box.append(section);
		document.title = view.title + ' · clawmesh';
		const heading = el('h2', {id: 'h-' + name, tabindex: '-1'}, view.title);
		section.append(heading);
		/* Focus goes where the user's action took effect, so that a screen reader says it: the
		 * heading of a view just opened, else (a filter or a detail in the same view, whose
		 * control was just replaced) the detail's heading once it is there, or the view's. */
		const sameView = route.lastName === name;
		const firstLoad = route.lastName === undefined; /* focus stays at the top: the skip link first */
		route.lastName = name;
		if (!sameView && !firstLoad)
			heading.focus({preventScroll: true});
		Promise.resolve(view.render(section, ctx)).catch((err) => {
			if (ctx.alive())
				failure(section, err, view.title.toLowerCase());
		}).finally(() => {
			if (!sameView || !ctx.alive())
				return;
			const detail = section.querySelector('.detail h3, .detail [role=alert]');
			(detail || heading).focus({preventScroll: !!detail});
			if (detail)
				detail.scrollIntoView({block: 'nearest'});
		});
	}

	/* A table (class grid): a caption for screen readers, a header row of columns, then rows. */
	function grid(attrs, caption, columns, rows) {
		return el('table', Object.assign({class: 'grid'}, attrs),
			el('caption', {class: 'sr-only'}, caption),
			el('thead', {}, el('tr', {}, columns.map((c) => el('th', {scope: 'col'}, c)))),
			el('tbody', {}, rows));
	}

	/* A row whose cells are labelled by their columns, which a phone shows in place of the header. */
	function gridRow(attrs, columns, cells) {
		return el('tr', attrs, cells.map((c, i) => el('td', {dataset: {label: columns[i]}}, c)));
	}

	/* A listing with a "Load more" button driven by next_cursor. fetchPage(cursor) → {items,
	 * next_cursor}; row(item) → a <tr>. */
	async function pagedTable(box, ctx, {caption, columns, fetchPage, row, empty}) {
		const table = grid({}, caption, columns, []);
		const tbody = table.tBodies[0];
		const more = el('button', {type: 'button', class: 'more', hidden: true}, 'Load more');
		const count = el('p', {class: 'count muted', 'aria-live': 'polite'});
		append(box, [count, el('div', {class: 'table-wrap'}, table), more]);
		let cursor = null;
		let shown = 0;
		async function load() {
			more.disabled = true;
			let page;
			try {
				page = await fetchPage(cursor);
			} finally {
				more.disabled = false; /* a failed page (429, 503) can be asked for again */
			}
			if (!ctx.alive())
				return;
			for (const it of page.items) {
				const tr = row(it);
				[...tr.children].forEach((td, i) => td.dataset.label = columns[i]);
				tbody.append(tr);
			}
			shown += page.items.length;
			cursor = page.next_cursor;
			more.hidden = !cursor;
			count.textContent = shown ? shown + (cursor ? '+' : '') + ' shown' : '';
			if (!shown)
				table.replaceWith(el('p', {class: 'empty'}, empty));
		}
		more.addEventListener('click', () => load().catch((err) => failure(box, err, caption.toLowerCase())));
		await load();
	}

	function tags(list) {
		if (!list || !list.length)
			return el('span', {class: 'muted'}, '—');
		return el('span', {class: 'tags'}, list.map((t) => el('span', {class: 'tag'}, t)));
	}

	function target(c) {
		if (c.kind === 'memory')
			return link('memory', {scope: c.scope, key: c.key}, c.scope + ' / ' + c.key);
		if (c.kind === 'skill')
			return link('skills', {scope: c.scope, name: c.name}, c.scope + ' / ' + c.name);
		return link('nodes', {id: c.id}, 'node ' + c.id);
	}

	/* ---- overview ---- */

	views.overview = {
		title: 'Overview',
		async render(box, ctx) {
			const s = await api('/stats', {signal: ctx.signal});
			if (!ctx.alive())
				return;
			const card = (label, value, sub) => el('div', {class: 'card'},
				el('p', {class: 'card-label'}, label), el('p', {class: 'card-value'}, String(value)),
				sub ? el('p', {class: 'card-sub muted'}, sub) : null);
			append(box, [
				el('div', {class: 'cards'},
					card('Nodes online', s.nodes.online + ' / ' + s.nodes.total),
					card('Memory entries', s.memory.entries, bytes(s.memory.bytes)),
					card('Skills', s.skills.count),
					card('Revision', s.revision, 'the mesh\'s change number')),
				el('h3', {}, 'Scopes'),
			]);
			const cols = ['Scope', 'Memory entries', 'Bytes', 'Skills'];
			if (!s.scopes.length)
				box.append(el('p', {class: 'empty'}, 'Nothing stored in the scopes this token reads.'));
			else
				box.append(el('div', {class: 'table-wrap'}, grid({}, 'Memory and skills by scope', cols,
					s.scopes.map((sc) => gridRow({}, cols, [
						link('memory', {scope: sc.scope}, sc.scope), String(sc.memory), bytes(sc.bytes),
						sc.skills ? link('skills', {scope: sc.scope}, String(sc.skills)) : '0'])))));
			box.append(el('h3', {}, 'Latest changes'));
			box.append(changeList(s.changes, 'overview-changes'));
		},
	};

	function changeItem(c) {
		return el('li', {class: 'change kind-' + c.kind, dataset: {revision: c.revision}},
			el('span', {class: 'rev'}, '#' + c.revision),
			el('span', {class: 'op op-' + c.op}, c.kind + ' ' + c.op),
			target(c),
			c.version ? el('span', {class: 'muted'}, ' v' + c.version) : null,
			el('span', {class: 'by muted'}, c.node ? 'by ' + c.node : 'by an admin'),
			timeEl(c.at));
	}

	function changeList(changes, id) {
		if (!changes.length)
			return el('p', {class: 'empty'}, 'No changes yet.');
		return el('ol', {class: 'changes', id}, changes.map(changeItem));
	}

	/* ---- nodes ---- */

	views.nodes = {
		title: 'Nodes',
		async render(box, ctx) {
			const p = ctx.params;
			box.append(filterForm('nodes', 'Filter nodes', 'Filter', [
				el('div', {class: 'field'}, el('label', {for: 'nodes-capability'}, 'Capability'),
					el('input', {id: 'nodes-capability', type: 'search', value: p.get('capability') || '', maxlength: 200})),
				el('div', {class: 'field check'}, el('input', {id: 'nodes-online', type: 'checkbox', checked: p.get('online') === 'true'}),
					el('label', {for: 'nodes-online'}, 'Online only')),
			], () => ({capability: $('#nodes-capability').value.trim(), online: $('#nodes-online').checked ? 'true' : ''})));
			if (p.get('id'))
				box.append(await detailOrFailure(api('/nodes/' + seg(p.get('id')), {signal: ctx.signal}).then(nodeDetail),
					'node ' + p.get('id')));
			if (!ctx.alive())
				return;
			await pagedTable(box, ctx, {
				caption: 'Nodes',
				columns: ['Node', 'State', 'Capabilities', 'Last seen', 'Skills'],
				empty: 'No node matches.',
				fetchPage: (cursor) => api('/nodes', {signal: ctx.signal,
					query: {capability: p.get('capability'), online: p.get('online'), limit: PAGE, cursor}}),
				row: (n) => el('tr', {dataset: {node: n.id}},
					el('td', {}, link('nodes', {id: n.id}, el('strong', {}, n.id)),
						n.name ? el('div', {}, n.name) : null,
						n.description ? el('div', {class: 'muted'}, n.description) : null),
					el('td', {}, onlineBadge(n.online)),
					el('td', {}, tags(n.capabilities)),
					el('td', {}, el('span', {title: n.last_seen || ''}, ago(n.last_seen))),
					el('td', {}, tags(n.skills))),
			});
		},
	};

	function onlineBadge(online) {
		return el('span', {class: 'state ' + (online ? 'online' : 'offline')}, online ? 'Online' : 'Offline');
	}

	function nodeDetail(n) {
		const rows = [
			['Name', n.name || '—'], ['Description', n.description || '—'], ['State', onlineBadge(n.online)],
			['Last seen', el('span', {}, ago(n.last_seen), ' (', timeEl(n.last_seen), ')')],
			['Capabilities', tags(n.capabilities)], ['Skills', tags(n.skills)],
			['Endpoint', n.endpoint || '—'], ['Registered', timeEl(n.created_at)],
			['Meta', n.meta ? el('pre', {class: 'value'}, pretty(n.meta)) : '—'],
		];
		return el('section', {class: 'detail', id: 'node-detail', 'aria-labelledby': 'node-title'},
			el('h3', {tabindex: '-1', id: 'node-title'}, 'Node ' + n.id),
			el('dl', {class: 'meta'}, rows.map(([k, v]) => [el('dt', {}, k), el('dd', {}, v)])),
			link('nodes', {}, 'Close'));
	}

	/* The detail panel a view opens above its listing, or why it cannot be shown (never written,
	 * not readable, the server refused): the listing below is shown either way. */
	async function detailOrFailure(promise, what) {
		try {
			return await promise;
		} catch (err) {
			if (err && err.name === 'AbortError')
				throw err;
			const box = el('section', {class: 'detail', 'aria-label': what});
			if (err instanceof ApiError && err.status === 404)
				box.append(el('p', {class: 'error', role: 'alert', tabindex: '-1'}, 'There is no ' + what + '.'));
			else
				failure(box, err, what);
			return box;
		}
	}

	/* ---- scopes the token can pick from ---- */

	let knownScopes = null;
	let scopesAt = 0;
	async function scopes(signal) {
		if (!knownScopes || Date.now() - scopesAt > 30000) { /* new scopes show within 30 s */
			scopesAt = Date.now();
			const s = await api('/stats', {signal});
			const set = new Set(s.scopes.map((x) => x.scope));
			for (const g of (me.grants || []))
				if (!g.scope.includes('*'))
					set.add(g.scope);
			knownScopes = [...set].sort();
		}
		return knownScopes;
	}

	/* The Scope and Search fields memory and skills share (ids NAME-scope, NAME-q), filled from the
	 * view's parameters; null when the view was left while the scopes loaded. */
	async function scopeAndSearch(ctx, name, hint) {
		const list = await scopes(ctx.signal);
		if (!ctx.alive())
			return null;
		const p = ctx.params;
		return [
			el('div', {class: 'field'}, el('label', {for: name + '-scope'}, 'Scope'), scopeSelect(name + '-scope', p.get('scope') || '', list)),
			el('div', {class: 'field grow'}, el('label', {for: name + '-q'}, 'Search'),
				el('input', {id: name + '-q', type: 'search', value: p.get('q') || '', maxlength: 256, placeholder: hint})),
		];
	}

	function scopeSelect(id, current, list) {
		const opts = [el('option', {value: ''}, 'All readable scopes')];
		const all = new Set(list);
		if (current)
			all.add(current);
		for (const s of [...all].sort())
			opts.push(el('option', {value: s, selected: s === current}, s));
		return el('select', {id}, opts);
	}

	/* ---- diff ---- */

	/* Line diff of two texts into a <pre>: removed lines in <del>, added in <ins>, each line with a
	 * visible − or + so colour is never the only signal. */
	function diffView(a, b, labels) {
		const pre = el('pre', {class: 'diff', tabindex: '0', 'aria-label': 'Changes from ' + labels[0] + ' to ' + labels[1]});
		if (typeof Diff === 'undefined' || !Diff.diffLines) {
			pre.textContent = 'The diff library did not load.';
			return pre;
		}
		const parts = Diff.diffLines(a, b, {timeout: DIFF_TIMEOUT_MS});
		if (!parts) {
			pre.textContent = 'These versions differ too much to compare here.';
			return pre;
		}
		let changed = 0;
		for (const part of parts) {
			const lines = part.value.replace(/\n$/, '').split('\n');
			for (const line of lines) {
				if (part.added) {
					changed++;
					pre.append(el('ins', {}, el('span', {class: 'mark'}, '+ '), line, '\n'));
				} else if (part.removed) {
					changed++;
					pre.append(el('del', {}, el('span', {class: 'mark'}, '− '), line, '\n'));
				} else {
					pre.append(el('span', {class: 'same'}, '  ' + line + '\n'));
				}
			}
		}
		if (!changed)
			pre.prepend(el('span', {class: 'muted'}, '(no difference)\n'));
		return pre;
	}

	/* A versions table with "from"/"to" radio buttons and the diff below it. versions: newest
	 * first, each {version, …}; text(v) → Promise of the text of version v. */
	function versionPicker(box, {name, versions, columns, cells, text}) {
		const out = el('div', {class: 'diff-out', 'aria-live': 'polite'});
		const radio = (kind, v, checked) => el('input', {
			type: 'radio', name: name + '-' + kind, value: v.version, checked,
			'aria-label': (kind === 'from' ? 'Compare from version ' : 'Compare to version ') + v.version,
		});
		const newest = versions[0] ? versions[0].version : null;
		const older = versions[1] ? versions[1].version : newest;
		const cols = ['From', 'To', ...columns];
		const table = grid({class: 'grid versions'}, 'Versions', cols, versions.map((v) => gridRow({dataset: {version: v.version}}, cols,
			[radio('from', v, v.version === older), radio('to', v, v.version === newest), ...cells(v)])));
		let seq = 0;
		async function show() {
			const from = Number(table.querySelector('input[name="' + name + '-from"]:checked').value);
			const to = Number(table.querySelector('input[name="' + name + '-to"]:checked').value);
			const mine = ++seq;
			clear(out).append(el('p', {class: 'muted'}, 'Comparing…'));
			try {
				const [a, b] = await Promise.all([text(from), text(to)]);
				if (mine !== seq)
					return;
				clear(out).append(el('h4', {}, 'Version ' + from + ' → version ' + to), diffView(a, b, ['version ' + from, 'version ' + to]));
			} catch (err) {
				if (mine === seq)
					failure(clear(out), err, 'that version');
			}
		}
		table.addEventListener('change', show);
		append(box, [el('div', {class: 'table-wrap'}, table), out]);
		if (versions.length > 1)
			show();
		else
			out.append(el('p', {class: 'muted'}, 'Only one version so far.'));
	}

	/* ---- memory ---- */

	views.memory = {
		title: 'Memory',
		async render(box, ctx) {
			const p = ctx.params;
			const fields = await scopeAndSearch(ctx, 'memory', 'words in keys, tags and values');
			if (!fields)
				return;
			box.append(filterForm('memory', 'Search memory', 'Search', [fields,
				el('div', {class: 'field'}, el('label', {for: 'memory-prefix'}, 'Key prefix'),
					el('input', {id: 'memory-prefix', type: 'text', value: p.get('prefix') || '', maxlength: 256, spellcheck: 'false', autocapitalize: 'off'})),
				el('div', {class: 'field'}, el('label', {for: 'memory-order'}, 'Order'),
					el('select', {id: 'memory-order'},
						el('option', {value: 'key', selected: p.get('order') !== 'recent'}, 'By key (relevance when searching)'),
						el('option', {value: 'recent', selected: p.get('order') === 'recent'}, 'Recent first'))),
			], () => ({
				scope: $('#memory-scope').value, q: $('#memory-q').value.trim(),
				prefix: $('#memory-prefix').value.trim(),
				order: $('#memory-order').value === 'recent' ? 'recent' : '',
			})));
			const key = p.get('key');
			if (key && p.get('scope'))
				box.append(await detailOrFailure(memoryDetail(ctx, p.get('scope'), key), p.get('scope') + ' / ' + key));
			if (!ctx.alive())
				return;
			await pagedTable(box, ctx, {
				caption: 'Memory entries',
				columns: ['Scope', 'Key', 'Value', 'Tags', 'Version', 'Updated'],
				empty: 'No entry matches.',
				fetchPage: (cursor) => api('/memory', {signal: ctx.signal, query: {
					scope: p.get('scope'), q: p.get('q'), prefix: p.get('prefix'),
					order: p.get('order'), limit: PAGE, cursor,
				}}),
				row: (m) => el('tr', {dataset: {scope: m.scope, key: m.key}},
					el('td', {}, m.scope),
					el('td', {}, link('memory', {scope: m.scope, key: m.key, q: p.get('q'), prefix: p.get('prefix'), order: p.get('order')}, m.key)),
					el('td', {}, el('span', {class: 'preview'}, preview(m.value))),
					el('td', {}, tags(m.tags)),
					el('td', {}, 'v' + m.version),
					el('td', {}, m.node ? m.node + ', ' : null, timeEl(m.updated_at))),
			});
		},
	};

	async function memoryDetail(ctx, scope, key) {
		const section = el('section', {class: 'detail', id: 'memory-entry', 'aria-labelledby': 'memory-entry-title'},
			el('h3', {tabindex: '-1', id: 'memory-entry-title'}, scope + ' / ' + key));
		const path = '/memory/' + seg(scope) + '/' + seg(key);
		let entry = null;
		try {
			entry = await api(path, {signal: ctx.signal});
		} catch (err) {
			if (!(err instanceof ApiError && err.status === 404))
				throw err;
		}
		if (entry) {
			append(section, [
				el('dl', {class: 'meta'},
					el('dt', {}, 'Version'), el('dd', {}, 'v' + entry.version + ' (revision ' + entry.revision + ')'),
					el('dt', {}, 'Written by'), el('dd', {}, entry.node || 'an admin token'),
					el('dt', {}, 'Updated'), el('dd', {}, timeEl(entry.updated_at)),
					el('dt', {}, 'Created'), el('dd', {}, timeEl(entry.created_at)),
					el('dt', {}, 'Expires'), el('dd', {}, entry.expires_at ? timeEl(entry.expires_at) : 'never'),
					el('dt', {}, 'Tags'), el('dd', {}, tags(entry.tags))),
				el('h4', {}, 'Value'),
				el('pre', {class: 'value', id: 'memory-value', tabindex: '0'}, pretty(entry.value)),
			]);
		} else {
			section.append(el('p', {class: 'muted'}, 'Deleted or expired; its history stays.'));
		}
		const hist = await api(path + '/history', {signal: ctx.signal, query: {limit: 100}});
		section.append(el('h4', {}, 'History'));
		const byVersion = new Map(hist.items.map((h) => [h.version, h]));
		versionPicker(section, {
			name: 'mem', versions: hist.items,
			columns: ['Version', 'Operation', 'By', 'When'],
			cells: (h) => ['v' + h.version, h.op, h.node || 'admin', timeEl(h.at)],
			text: async (v) => {
				const h = byVersion.get(v);
				return h.op === 'delete' ? '' : pretty(h.value) + '\n';
			},
		});
		if (hist.next_cursor)
			section.append(el('p', {class: 'muted'}, 'The 100 newest versions are shown.'));
		section.append(link('memory', {scope: ctx.params.get('scope'), q: ctx.params.get('q'), prefix: ctx.params.get('prefix'), order: ctx.params.get('order')}, 'Close'));
		return section;
	}

	/* ---- skills ---- */

	views.skills = {
		title: 'Skills',
		async render(box, ctx) {
			const p = ctx.params;
			const fields = await scopeAndSearch(ctx, 'skills', 'words in names, descriptions and content');
			if (!fields)
				return;
			box.append(filterForm('skills', 'Search skills', 'Search', fields,
				() => ({scope: $('#skills-scope').value, q: $('#skills-q').value.trim()})));
			if (p.get('name') && p.get('scope'))
				box.append(await detailOrFailure(skillDetail(ctx, p.get('scope'), p.get('name')), p.get('scope') + ' / ' + p.get('name')));
			if (!ctx.alive())
				return;
			await pagedTable(box, ctx, {
				caption: 'Skills',
				columns: ['Scope', 'Skill', 'Description', 'Version', 'Published by', 'Updated'],
				empty: 'No skill matches.',
				fetchPage: (cursor) => api('/skills', {signal: ctx.signal,
					query: {scope: p.get('scope'), q: p.get('q'), limit: PAGE, cursor}}),
				row: (s) => el('tr', {dataset: {scope: s.scope, name: s.name}},
					el('td', {}, s.scope),
					el('td', {}, link('skills', {scope: s.scope, name: s.name, q: p.get('q')}, s.name)),
					el('td', {}, s.description || ''),
					el('td', {}, 'v' + s.version),
					el('td', {}, s.node || 'admin'),
					el('td', {}, timeEl(s.updated_at))),
			});
		},
	};

	async function skillDetail(ctx, scope, name) {
		const path = '/skills/' + seg(scope) + '/' + seg(name);
		const section = el('section', {class: 'detail', id: 'skill-detail', 'aria-labelledby': 'skill-title'},
			el('h3', {tabindex: '-1', id: 'skill-title'}, scope + ' / ' + name));
		const versions = await api(path + '/versions', {signal: ctx.signal, query: {limit: 100}});
		const latest = versions.items[0];
		const contents = new Map();
		const content = (v) => {
			if (!contents.has(v))
				contents.set(v, api(path, {signal: ctx.signal, query: {version: v}}).then((s) => s.content));
			return contents.get(v);
		};
		if (latest) {
			const text = await content(latest.version);
			append(section, [
				el('dl', {class: 'meta'},
					el('dt', {}, 'Latest'), el('dd', {}, 'v' + latest.version + ', ' + bytes(latest.size)),
					el('dt', {}, 'Description'), el('dd', {}, latest.description || '—'),
					el('dt', {}, 'Published by'), el('dd', {}, latest.node || 'an admin token'),
					el('dt', {}, 'Updated'), el('dd', {}, timeEl(latest.updated_at)),
					el('dt', {}, 'SHA-256'), el('dd', {class: 'mono'}, latest.sha256),
					el('dt', {}, 'Tags'), el('dd', {}, tags(latest.tags))),
				el('h4', {}, 'SKILL.md (v' + latest.version + ')'),
				el('pre', {class: 'value', id: 'skill-content', tabindex: '0'}, text),
			]);
		}
		section.append(el('h4', {}, 'Versions'));
		versionPicker(section, {
			name: 'skill', versions: versions.items,
			columns: ['Version', 'Size', 'By', 'When'],
			cells: (v) => ['v' + v.version, bytes(v.size), v.node || 'admin', timeEl(v.updated_at)],
			text: content,
		});
		section.append(link('skills', {scope: ctx.params.get('scope'), q: ctx.params.get('q')}, 'Close'));
		return section;
	}

	/* ---- activity: the change feed as Server-Sent Events, read with fetch (EventSource cannot
	 * send an Authorization header) ---- */

	views.activity = {
		title: 'Activity',
		async render(box, ctx) {
			const state = el('p', {class: 'live', id: 'activity-state', role: 'status'}, 'Connecting…');
			const pause = el('button', {type: 'button', 'aria-pressed': 'false', id: 'activity-pause'}, 'Pause');
			const kind = el('select', {id: 'activity-kind'},
				el('option', {value: ''}, 'All'), el('option', {value: 'memory'}, 'Memory'),
				el('option', {value: 'skill'}, 'Skills'), el('option', {value: 'node'}, 'Nodes'));
			const listEl = el('ol', {class: 'changes', id: 'activity-list', 'aria-live': 'polite', 'aria-relevant': 'additions', 'aria-label': 'Changes, newest first'});
			append(box, [
				el('div', {class: 'filters'},
					el('div', {class: 'field narrow'}, el('label', {for: 'activity-kind'}, 'Show'), kind),
					pause, state),
				listEl,
			]);
			let paused = false;
			let held = [];
			const visible = (c) => !kind.value || c.kind === kind.value;
			const add = (c) => {
				const li = changeItem(c);
				li.hidden = !visible(c);
				listEl.prepend(li);
				while (listEl.children.length > STREAM_MAX)
					listEl.lastElementChild.remove();
			};
			kind.addEventListener('change', () => {
				for (const li of listEl.children)
					li.hidden = !!kind.value && !li.classList.contains('kind-' + kind.value);
			});
			pause.addEventListener('click', () => {
				paused = !paused;
				pause.setAttribute('aria-pressed', String(paused)); /* a toggle: its name stays "Pause" */
				if (!paused) {
					held.forEach(add);
					held = [];
				}
			});
			const s = await api('/stats', {signal: ctx.signal});
			if (!ctx.alive())
				return;
			s.changes.slice().reverse().forEach(add);
			const hold = (c) => {
				held.push(c);
				if (held.length > STREAM_MAX)
					held.shift();
			};
			follow(ctx, s.revision, (c) => paused ? hold(c) : add(c), (text, kind) => {
				state.textContent = text;
				state.className = 'live ' + kind;
			});
		},
	};

	/* Follows GET /v1/changes as an event stream from revision `since`; reconnects with
	 * Last-Event-ID after a drop, backing off up to 30 s. */
	function follow(ctx, since, onChange, onState) {
		let last = since;
		let delay = 1000;
		const BEHIND = 'Fell too far behind; reload the page to start again.';
		const run = async () => {
			while (ctx.alive() && !ctx.signal.aborted) {
				let wait = delay;
				try {
					const r = await fetch('/v1/changes?since=' + encodeURIComponent(last), {
						signal: ctx.signal, cache: 'no-store', credentials: 'omit',
						headers: {Authorization: 'Bearer ' + token, Accept: 'text/event-stream', 'Last-Event-ID': String(last)},
					});
					if (r.status === 401) {
						signOut(REFUSED);
						return;
					}
					if (r.status === 410) {
						onState(BEHIND, 'error');
						return;
					}
					if (r.status === 400 || r.status === 403) { /* asking again would get the same */
						const body = await r.json().catch(() => null);
						onState('The feed refused this view: ' + new ApiError(r.status, body).message, 'error');
						return;
					}
					if (r.status === 429) /* the server says when */
						wait = Math.max(1, Number(r.headers.get('Retry-After')) || 1) * 1000;
					if (!r.ok || !r.body)
						throw new Error('HTTP ' + r.status);
					onState('Live: connected', 'ok');
					delay = 1000;
					const end = await readEvents(r.body, (ev) => {
						if (ev.event === 'resync_required')
							return 'resync';
						if (ev.data) {
							let c;
							try {
								c = JSON.parse(ev.data);
							} catch (e) {
								return null; /* not a change: skipped, the stream goes on */
							}
							last = ev.id || c.revision;
							onChange(c);
						}
						return null;
					});
					if (end === 'resync') {
						onState(BEHIND, 'error');
						return;
					}
				} catch (err) {
					if (ctx.signal.aborted)
						return;
				}
				if (!ctx.alive())
					return;
				onState('Disconnected; reconnecting in ' + Math.round(wait / 1000) + ' s…', 'warn');
				await new Promise((res) => setTimeout(res, wait));
				delay = Math.min(delay * 2, 30000);
			}
		};
		run();
	}

	/* The text/event-stream format (WHATWG HTML, "Server-sent events"), event by event: fields
	 * up to a blank line; comment lines (":") ignored. onEvent may return a reason to stop. */
	async function readEvents(body, onEvent) {
		const reader = body.getReader();
		const dec = new TextDecoder();
		let buf = '';
		let ev = {data: '', id: '', event: ''};
		try {
			for (;;) {
				const {value, done} = await reader.read();
				if (done)
					return 'eof';
				buf += dec.decode(value, {stream: true});
				let nl;
				while ((nl = buf.search(/\r\n|\r|\n/)) >= 0) {
					/* A CR that ends what has come may be the first half of a CRLF: wait. */
					if (nl === buf.length - 1 && buf[nl] === '\r')
						break;
					const line = buf.slice(0, nl);
					buf = buf.slice(nl + (buf.startsWith('\r\n', nl) ? 2 : 1));
					if (line === '') {
						const stop = ev.data || ev.event ? onEvent(ev) : null;
						ev = {data: '', id: '', event: ''};
						if (stop)
							return stop;
						continue;
					}
					if (line.startsWith(':'))
						continue;
					const colon = line.indexOf(':');
					const field = colon < 0 ? line : line.slice(0, colon);
					let val = colon < 0 ? '' : line.slice(colon + 1);
					if (val.startsWith(' '))
						val = val.slice(1);
					if (field === 'data')
						ev.data += (ev.data ? '\n' : '') + val;
					else if (field === 'id')
						ev.id = val;
					else if (field === 'event')
						ev.event = val;
				}
				if (buf.length > 4 * 1048576)
					throw new Error('an event over 4 MiB');
			}
		} finally {
			reader.cancel().catch(() => {});
		}
	}

	/* ---- admin: tokens and the audit log ---- */

	function tokenState(t) {
		if (t.revoked_at)
			return el('span', {class: 'state offline'}, 'Revoked');
		if (t.expires_at && Date.parse(t.expires_at) <= Date.now())
			return el('span', {class: 'state offline'}, 'Expired');
		return el('span', {class: 'state online'}, 'Active');
	}

	views.tokens = {
		title: 'Tokens',
		admin: true,
		async render(box, ctx) {
			box.append(el('p', {class: 'muted'}, 'Secrets are never shown: the server keeps only their SHA-256.'));
			await pagedTable(box, ctx, {
				caption: 'Tokens',
				columns: ['Token', 'Node', 'Grants', 'State', 'Created', 'Expires', 'Last used', ''],
				empty: 'No tokens.',
				fetchPage: (cursor) => api('/tokens', {signal: ctx.signal, query: {limit: PAGE, cursor}}),
				row: (t) => el('tr', {dataset: {token: t.id}},
					el('td', {}, el('strong', {}, t.label || '(no label)'), el('div', {class: 'mono muted'}, t.id),
						t.admin ? el('span', {class: 'tag admin'}, 'admin') : null),
					el('td', {}, t.node || '—'),
					el('td', {}, t.admin ? 'everything' : tags(t.grants.map((g) => g.scope + ':' + g.access))),
					el('td', {}, tokenState(t)),
					el('td', {}, timeEl(t.created_at)),
					el('td', {}, t.expires_at ? timeEl(t.expires_at) : 'never'),
					el('td', {}, t.last_used_at ? el('span', {title: t.last_used_at}, ago(t.last_used_at)) : 'never'),
					el('td', {}, t.revoked_at ? null : el('button', {
						type: 'button', class: 'danger', 'aria-label': 'Revoke ' + (t.label || t.id),
						onclick: () => revoke(t, ctx),
					}, 'Revoke'))),
			});
		},
	};

	async function revoke(t, ctx) {
		const self = t.id === me.token_id;
		if (!confirm('Revoke the token "' + (t.label || t.id) + '"' + (self ? ' (the one you are signed in with)' : '') +
			'? Every node using it loses access at once.'))
			return;
		try {
			await api('/tokens/' + seg(t.id), {method: 'DELETE'});
		} catch (err) {
			say('Could not revoke: ' + err.message, 'error');
			return;
		}
		say('Revoked ' + (t.label || t.id) + '.');
		if (self)
			signOut('You revoked the token you were signed in with.');
		else if (ctx.alive())
			route();
	}

	views.audit = {
		title: 'Audit log',
		admin: true,
		async render(box, ctx) {
			const page = await api('/audit', {signal: ctx.signal, query: {limit: 200}});
			if (!ctx.alive())
				return;
			box.append(el('p', {class: 'muted'}, 'The latest ' + page.items.length + ' records, newest first: writes, token operations and refused requests.'));
			if (!page.items.length) {
				box.append(el('p', {class: 'empty'}, 'The audit log is empty.'));
				return;
			}
			const cols = ['When', 'Action', 'Target', 'Status', 'Token', 'Node', 'From'];
			box.append(el('div', {class: 'table-wrap'}, grid({id: 'audit-table'}, 'Audit log', cols,
				page.items.slice().reverse().map((a) => gridRow({dataset: {audit: a.id}}, cols, [
					timeEl(a.at), a.action, a.target || '—',
					el('span', {class: 'http s' + String(a.status)[0]}, String(a.status)),
					el('span', {class: 'mono'}, a.token_id || '—'), a.node || '—', a.remote_addr || '—',
				])))));
		},
	};

	/* ---- start ---- */

	function start() {
		$('#login').addEventListener('submit', async (ev) => {
			ev.preventDefault();
			const t = $('#token').value.trim().replace(/^Bearer\s+/i, ''); /* pasted from a curl line */
			$('#login-error').textContent = '';
			if (!/^cm_[A-Za-z0-9_-]{43}$/.test(t)) {
				$('#login-error').textContent = 'That is not a clawmesh token: cm_ followed by 43 letters, digits, - or _.';
				$('#token').focus();
				return;
			}
			const button = $('#login button');
			button.disabled = true;
			try {
				await signIn(t);
				$('#token').value = '';
				route.lastName = null;
				if (parseHash().name === 'overview' && location.hash !== '#/overview')
					history.replaceState(null, '', '#/overview');
				route();
			} catch (err) {
				if (err.status !== 401)
					$('#login-error').textContent = 'Could not sign in: ' + err.message;
				token = null;
			} finally {
				button.disabled = false;
			}
		});
		$('#logout').addEventListener('click', () => signOut('Signed out.'));
		/* The skip link moves focus without touching the hash, which names the view. */
		$('#skip').addEventListener('click', (ev) => {
			ev.preventDefault();
			$('#main').focus();
		});
		/* The link of the view already shown loads it again (no hashchange comes): a refresh. */
		$('#nav').addEventListener('click', (ev) => {
			const a = ev.target.closest('a[data-view]');
			if (a && a.getAttribute('href') === location.hash) {
				ev.preventDefault();
				route();
			}
		});
		window.addEventListener('hashchange', () => {
			if (location.hash === '' || location.hash.startsWith('#/')) /* '#main' & co. are not views */
				route();
		});
		const saved = sessionStorage.getItem(TOKEN_KEY);
		if (!saved) {
			signOut('', {keepHash: true});
			return;
		}
		signIn(saved).then(route, (err) => {
			if (err.status !== 401)
				signOut('Could not reach clawmesh: ' + err.message + ' Reload the page to try again.',
					{keepHash: true, keepToken: true});
		});
	}

	start();
})();
