#!/usr/bin/env node
// Checks recorded HTTP responses against openapi/openapi.yaml: status documented, required
// headers present and valid, content type declared, JSON bodies valid against their schemas.
// Usage: node check-responses.mjs <openapi.yaml> <records.ndjson>
//
// A record is one NDJSON line:
//   {"method":"GET","url":"/v1/tokens?limit=2","status":200,
//    "headers":{"content-type":"…","x-request-id":"…"},"body":"<raw body text>"}
// A sequential media type (application/x-ndjson: one JSON document per line, each ending in
// \n) is checked line by line against its media type's `x-item-schema`, OpenAPI 3.2's
// `itemSchema` under an extension name while the spec is 3.1.
// Header names are compared case-insensitively. The last line printed is always
// `contract: N passed, M failed`; the exit status is 1 if anything failed or nothing was recorded.

import { readFileSync } from 'node:fs';
import YAML from 'yaml';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';

const SPEC_ID = 'https://clawmesh.invalid/openapi.json';
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];
const MAX_SCHEMA_ERRORS = 5;

function usage() {
  console.error('usage: node check-responses.mjs <openapi.yaml> <records.ndjson>');
  process.exit(2);
}

// --- the spec -------------------------------------------------------------------------------

function escapePointer(seg) {
  return String(seg).replace(/~/g, '~0').replace(/\//g, '~1');
}

function pointerToUriFragment(ptr) {
  // Ajv decodes the fragment as a URI before reading it as a JSON pointer, so `{id}` and the
  // like must be percent-encoded.
  return ptr.split('/').map((s) => encodeURIComponent(s)).join('/');
}

function getPointer(doc, ptr) {
  if (ptr === '' || ptr === '#') return doc;
  let node = doc;
  for (const raw of ptr.replace(/^#/, '').split('/').slice(1)) {
    const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (node === null || typeof node !== 'object' || !(seg in node)) return undefined;
    node = node[seg];
  }
  return node;
}

class Spec {
  constructor(doc) {
    this.doc = doc;
    this.ajv = new Ajv2020({ strict: false, allErrors: true });
    addFormats(this.ajv);
    this.ajv.addSchema({ ...doc, $id: SPEC_ID });
    this.validators = new Map();
    this.templates = Object.keys(doc.paths || {}).map((tpl) => ({
      tpl,
      segs: tpl.split('/').map(segmentMatcher),
    }));
  }

  // Follows local `$ref`s of OpenAPI objects (responses, headers); returns { node, ptr }.
  deref(node, ptr) {
    for (let hops = 0; node && typeof node.$ref === 'string'; hops++) {
      if (!node.$ref.startsWith('#/') || hops > 20) throw new Error(`cannot follow $ref ${node.$ref}`);
      ptr = node.$ref.slice(1);
      node = getPointer(this.doc, ptr);
    }
    return { node, ptr };
  }

  // The Ajv validator for the schema at JSON pointer `ptr` in the spec; compiled once.
  validator(ptr) {
    let v = this.validators.get(ptr);
    if (!v) {
      v = this.ajv.compile({ $ref: `${SPEC_ID}#${pointerToUriFragment(ptr)}` });
      this.validators.set(ptr, v);
    }
    return v;
  }

  // The path template matching `path`, preferring literal segments over `{param}` ones.
  matchPath(path) {
    const segs = path.split('/');
    let best = null;
    for (const t of this.templates) {
      if (t.segs.length !== segs.length) continue;
      if (!t.segs.every((m, i) => m.test(segs[i]))) continue;
      const rank = t.segs.map((m) => (m.literal ? 0 : 1));
      if (!best || compareRanks(rank, best.rank) < 0) best = { tpl: t.tpl, rank };
    }
    return best && best.tpl;
  }

  // The operation documented for OPTIONS somewhere: the CORS preflight is answered on every
  // path but described once.
  sharedOptions() {
    for (const [tpl, item] of Object.entries(this.doc.paths || {})) {
      if (item && item.options) return { op: item.options, ptr: `/paths/${escapePointer(tpl)}/options` };
    }
    return null;
  }
}

function segmentMatcher(seg) {
  if (!/\{[^}]+\}/.test(seg)) return { literal: true, test: (s) => s === seg };
  const re = new RegExp(
    '^' + seg.split(/\{[^}]+\}/).map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('[^/]+') + '$',
  );
  return { literal: false, test: (s) => re.test(s) };
}

function compareRanks(a, b) {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return 0;
}

// --- one record -----------------------------------------------------------------------------

function headerValue(headers, name) {
  const want = name.toLowerCase();
  for (const [k, v] of Object.entries(headers || {})) {
    if (k.toLowerCase() === want) return Array.isArray(v) ? v.join(', ') : String(v);
  }
  return undefined;
}

function schemaTypes(spec, schema, ptr) {
  const { node } = spec.deref(schema, ptr);
  if (!node || node.type === undefined) return [];
  return Array.isArray(node.type) ? node.type : [node.type];
}

// A header arrives as text; read it as the type its schema asks for when it looks like one.
function coerceHeader(value, types) {
  if ((types.includes('integer') || types.includes('number')) && /^-?\d+(\.\d+)?$/.test(value.trim())) {
    return Number(value.trim());
  }
  if (types.includes('boolean') && /^(true|false)$/.test(value.trim())) return value.trim() === 'true';
  return value;
}

function formatAjvErrors(errors) {
  const lines = (errors || []).slice(0, MAX_SCHEMA_ERRORS).map((e) => {
    let msg = `${e.instancePath || '/'} ${e.message}`;
    if (e.params && e.params.additionalProperty) msg += ` (${e.params.additionalProperty})`;
    if (e.params && e.params.allowedValues) msg += ` (${e.params.allowedValues.join(', ')})`;
    if (e.params && e.params.allowedValue !== undefined) msg += ` (${JSON.stringify(e.params.allowedValue)})`;
    return msg;
  });
  const more = (errors || []).length - lines.length;
  return lines.join(', ') + (more > 0 ? ` (+${more} more)` : '');
}

function isJsonMediaType(mt) {
  return mt === 'application/json' || /^application\/[^;]+\+json$/.test(mt);
}

function isSequentialMediaType(mt) {
  return mt === 'application/x-ndjson' || mt === 'application/jsonl';
}

// Each line of an NDJSON body against the item schema at `ptr`; the first few failures only.
function checkLines(spec, body, ptr, fail) {
  if (body !== '' && !body.endsWith('\n')) fail.push('the last line does not end with \\n');
  const v = spec.validator(ptr);
  const lines = body.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  let reported = 0;
  for (let i = 0; i < lines.length && reported < MAX_SCHEMA_ERRORS; i++) {
    let data;
    try {
      data = JSON.parse(lines[i]);
    } catch (e) {
      fail.push(`line ${i + 1} is not JSON (${e.message})`);
      reported++;
      continue;
    }
    if (!v(data)) {
      fail.push(`line ${i + 1}: ${formatAjvErrors(v.errors)}`);
      reported++;
    }
  }
}

function mediaTypeMatches(declared, actual) {
  if (declared === actual || declared === '*/*') return true;
  const [dt, ds] = declared.split('/');
  const [at] = actual.split('/');
  return ds === '*' && dt === at;
}

// Checks `rec` against the response object at `respPtr`; pushes reasons onto `fail`.
function checkResponse(spec, rec, respPtr, isHead, fail) {
  const { node: resp, ptr } = spec.deref(getPointer(spec.doc, respPtr), respPtr);
  if (!resp) return fail.push(`response object ${respPtr} not found in the spec`);

  for (const [name, raw] of Object.entries(resp.headers || {})) {
    const hPtr0 = `${ptr}/headers/${escapePointer(name)}`;
    const { node: h, ptr: hPtr } = spec.deref(raw, hPtr0);
    if (!h) continue;
    const value = headerValue(rec.headers, name);
    if (value === undefined) {
      if (h.required === true) fail.push(`missing header ${name}`);
      continue;
    }
    if (h.schema) {
      const v = spec.validator(`${hPtr}/schema`);
      const typed = coerceHeader(value, schemaTypes(spec, h.schema, `${hPtr}/schema`));
      if (!v(typed)) fail.push(`header ${name}: ${JSON.stringify(value)}: ${formatAjvErrors(v.errors)}`);
    }
  }

  const body = rec.body == null ? '' : String(rec.body);
  const content = resp.content && Object.keys(resp.content).length ? resp.content : null;
  if (!content) {
    if (body !== '') fail.push(`body must be empty, got ${body.length} bytes`);
    return;
  }

  const ctHeader = headerValue(rec.headers, 'content-type');
  if (ctHeader === undefined) {
    if (!isHead || body !== '') fail.push(`missing header Content-Type (one of ${Object.keys(content).join(', ')})`);
    return;
  }
  const mt = ctHeader.split(';')[0].trim().toLowerCase();
  const declared = Object.keys(content).find((d) => mediaTypeMatches(d.toLowerCase(), mt));
  if (!declared) return fail.push(`content-type ${mt} is not one of ${Object.keys(content).join(', ')}`);

  if (isHead) {
    if (body !== '') fail.push(`HEAD response has a body (${body.length} bytes)`);
    return;
  }
  if (isSequentialMediaType(mt) && content[declared]['x-item-schema']) {
    return checkLines(spec, body, `${ptr}/content/${escapePointer(declared)}/x-item-schema`, fail);
  }
  if (!isJsonMediaType(mt) || !content[declared].schema) return;

  let data;
  try {
    data = JSON.parse(body);
  } catch (e) {
    return fail.push(`body is not JSON (${e.message})`);
  }
  const v = spec.validator(`${ptr}/content/${escapePointer(declared)}/schema`);
  if (!v(data)) fail.push(`body: ${formatAjvErrors(v.errors)}`);
}

// The response object for a route or method the spec does not have (404 / 405).
function fallbackResponsePtr(spec, status) {
  const name = status === 404 ? 'NotFound' : 'MethodNotAllowed';
  if (getPointer(spec.doc, `/components/responses/${name}`)) return `/components/responses/${name}`;
  return null;
}

function checkUnmatched(spec, rec, allowed, what, isHead, fail) {
  if (!allowed.includes(rec.status)) {
    return fail.push(`${what}: expected ${allowed.join(' or ')}, got ${rec.status}`);
  }
  // Whatever the spec says, a 405 names the methods that are taken and every reply has an id.
  const must = ['x-request-id'].concat(rec.status === 405 ? ['allow'] : []);
  const ptr = fallbackResponsePtr(spec, rec.status);
  if (ptr) checkResponse(spec, rec, ptr, isHead, fail);
  for (const name of must) {
    const said = fail.some((r) => r.toLowerCase() === `missing header ${name}`);
    if (!said && headerValue(rec.headers, name) === undefined) fail.push(`missing header ${name}`);
  }
  if (ptr) return;
  // No shared response in the spec: the body must at least be an Error.
  const body = rec.body == null ? '' : String(rec.body);
  if (isHead && body === '') return;
  try {
    const v = spec.validator('/components/schemas/Error');
    if (!v(JSON.parse(body))) fail.push(`body: ${formatAjvErrors(v.errors)}`);
  } catch (e) {
    fail.push(`body is not a JSON Error (${e.message})`);
  }
}

function checkRecord(spec, rec) {
  const fail = [];
  const method = String(rec.method || '').toUpperCase();
  const m = method.toLowerCase();
  const path = String(rec.url || '').replace(/[?#].*$/s, '');
  const tpl = spec.matchPath(path);
  const item = tpl ? spec.doc.paths[tpl] : null;
  const itemPtr = tpl ? `/paths/${escapePointer(tpl)}` : null;

  let op = null;
  let opPtr = null;
  let isHead = m === 'head';
  if (item && METHODS.includes(m) && item[m]) {
    op = item[m];
    opPtr = `${itemPtr}/${m}`;
    isHead = false; // HEAD has its own operation: take it at its word
  } else if (item && m === 'head' && item.get) {
    op = item.get;
    opPtr = `${itemPtr}/get`;
  } else if (m === 'options') {
    const shared = spec.sharedOptions();
    if (shared) ({ op, ptr: opPtr } = shared);
  }

  if (!op) {
    if (!item) checkUnmatched(spec, rec, [404, 405], `no path in the spec matches ${path}`, isHead, fail);
    else checkUnmatched(spec, rec, [405], `${tpl} has no ${method}`, isHead, fail);
    return fail;
  }

  const responses = op.responses || {};
  const code = String(rec.status);
  const key = [code, `${code[0]}XX`, `${code[0]}xx`, 'default'].find((k) => k in responses);
  if (!key) {
    // HEAD answered 405 where only GET is documented: HEAD is simply not taken here.
    if (m === 'head' && rec.status === 405) {
      checkUnmatched(spec, rec, [405], `${tpl} has no HEAD`, true, fail);
      return fail;
    }
    fail.push(`status ${code} is not documented for ${method === 'HEAD' ? 'GET (HEAD)' : method} ${tpl || path}`);
    return fail;
  }
  checkResponse(spec, rec, `${opPtr}/responses/${escapePointer(key)}`, isHead, fail);
  return fail;
}

// --- main -----------------------------------------------------------------------------------

function main() {
  const [specPath, recordsPath] = process.argv.slice(2);
  if (!specPath || !recordsPath) usage();

  let spec;
  try {
    spec = new Spec(YAML.parse(readFileSync(specPath, 'utf8')));
  } catch (e) {
    console.error(`contract: cannot load ${specPath}: ${e.message}`);
    console.log('contract: 0 passed, 1 failed');
    process.exit(1);
  }

  let text = '';
  try {
    text = readFileSync(recordsPath, 'utf8');
  } catch (e) {
    console.error(`contract: cannot read ${recordsPath}: ${e.message}`);
  }

  let passed = 0;
  let failed = 0;
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    let rec;
    try {
      rec = JSON.parse(line);
      if (!rec || typeof rec !== 'object' || typeof rec.method !== 'string' || typeof rec.url !== 'string' ||
          !Number.isInteger(rec.status)) {
        throw new Error('needs method, url and an integer status');
      }
    } catch (e) {
      failed++;
      console.log(`${recordsPath}:${i + 1}: not a record: ${e.message}`);
      return;
    }
    let reasons;
    try {
      reasons = checkRecord(spec, rec);
    } catch (e) {
      reasons = [`checker error: ${e.message}`];
    }
    if (reasons.length) {
      failed++;
      console.log(`${rec.method.toUpperCase()} ${rec.url} ${rec.status}: ${reasons.join('; ')}`);
    } else {
      passed++;
    }
  });

  if (passed + failed === 0) console.log(`contract: no records in ${recordsPath}; no test recorded anything`);
  console.log(`contract: ${passed} passed, ${failed} failed`);
  process.exit(failed > 0 || passed === 0 ? 1 : 0);
}

main();
