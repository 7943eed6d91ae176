/**
 * The registry is the contract: every place that names ops, attrs and defaults reads it, and this
 * file checks that each of them covers exactly the registry's ops — `describe`, the op table of
 * docs/protocol.md, conform's suites and generators, the golden set — that every def is
 * well-formed (defaults inside their own domains, docs sections that exist), and that the rules
 * every def gets for free hold for every op: an attr name the op does not define is invalid_input
 * naming it, and a null attr means the same as an absent one.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as E from 'fp-ts/lib/Either.js';
import fc from 'fast-check';
import { REGISTRY } from '../src/mining/registry.js';
import { KERNEL_NAMES, attrDefsFor, checkAttr, type AnyOpDef } from '../src/ops/index.js';
import { handleRequest, PROTOCOL_MINOR, PROTOCOL_VERSION } from '../src/protocol/server.js';
import { opTableMarkdown, TABLE_BEGIN, TABLE_END } from '../src/protocol/contract.js';
import { SUITES, SUITE_GAPS, suiteKeys } from '../src/conform/suites.js';
import { loadGolden } from '../src/conform/golden.js';
import { fcParams } from './support.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const read = (f: string) => readFileSync(ROOT + f, 'utf8');
const names = REGISTRY.names;
const sorted = (xs: readonly string[]) => [...xs].sort();

/** GitHub's heading anchors: lower case, punctuation other than - and _ dropped, spaces to hyphens. */
const slug = (heading: string) =>
  heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
const anchors = (file: string) => new Set(read(file).split('\n').filter((l) => /^#{1,6} /.test(l)).map((l) => slug(l.replace(/^#+ /, ''))));

test('the registry: unique names, kernels of the contract, defaults inside their own domains, every input, attr and output documented', () => {
  assert.equal(new Set(names).size, names.length, 'op names are unique');
  for (const d of REGISTRY.defs) {
    for (const k of d.kernels) assert.ok(KERNEL_NAMES.includes(k), `${d.name}: kernel ${k} is not one of the Kernels contract`);
    const attrs = [...d.attrs, ...(d.variants ?? []).flatMap((v) => Object.values(v.cases).flat())];
    for (const a of attrs) {
      assert.ok(a.doc.length > 5, `${d.name}.${a.name}: no doc`);
      if (a.default === undefined || a.default === null) continue;
      const c = checkAttr(a, a.default);
      assert.ok(E.isRight(c), `${d.name}.${a.name}: its default ${JSON.stringify(a.default)} is outside its own domain: ${E.isLeft(c) ? c.left.message : ''}`);
    }
    for (const v of d.variants ?? []) {
      const by = d.attrs.find((a) => a.name === v.by);
      assert.ok(by && by.domain.kind === 'enum', `${d.name}: variant attr ${v.by} is an enum of the op`);
      if (by?.domain.kind === 'enum') assert.deepEqual(sorted(Object.keys(v.cases)), sorted(by.domain.values), `${d.name}: a case for every ${v.by}`);
    }
    for (const i of d.inputs) assert.ok(i.doc.length > 3 && i.dtypes.length > 0, `${d.name}.${i.name}: no doc or dtype`);
    for (const o of d.outputs) assert.ok(o.tolerance.atol >= 0 && o.tolerance.rtol >= 0 && o.tolerance.note.length > 3, `${d.name}.${o.name}: no justified tolerance`);
  }
});

test('every def names a docs section that exists', () => {
  for (const d of REGISTRY.defs) {
    const [file, anchor] = d.doc.split('#');
    assert.ok(anchors(file).has(anchor), `${d.name}: ${d.doc} is not a heading of ${file}`);
  }
});

test('docs/protocol.md holds exactly the op table the registry generates (npm run docs)', () => {
  const text = read('docs/protocol.md');
  const b = text.indexOf(TABLE_BEGIN);
  const e = text.indexOf(TABLE_END);
  assert.ok(b >= 0 && e > b, 'docs/protocol.md has the generated table markers');
  assert.equal(text.slice(b, e + TABLE_END.length), opTableMarkdown(), 'docs/protocol.md and the registry disagree: run `npm run docs`');
  for (const n of names) assert.ok(text.includes(`| \`${n}\` v`), `the table has a row for ${n}`);
});

test('describe returns the schema of exactly the registry, protocol 1.1 and the limits', () => {
  const r = handleRequest({ id: 'd', op: 'describe' }) as { id: string; info: Record<string, unknown> };
  assert.equal(r.id, 'd');
  const info = r.info as { protocol: number; protocol_minor: number; ops: string[]; schema: Record<string, { attrs: unknown[]; inputs: unknown[]; outputs: unknown[] }>; limits: Record<string, number> };
  assert.equal(info.protocol, PROTOCOL_VERSION);
  assert.equal(info.protocol_minor, PROTOCOL_MINOR);
  assert.equal(info.protocol_minor, 1);
  assert.deepEqual(info.ops, ['describe', ...names]);
  assert.deepEqual(sorted(Object.keys(info.schema)), sorted(names));
  for (const d of REGISTRY.defs) {
    const s = info.schema[d.name];
    assert.equal(s.inputs.length, d.inputs.length, d.name);
    assert.equal(s.attrs.length, d.attrs.length, d.name);
    assert.equal(s.outputs.length, d.outputs.length, d.name);
  }
  for (const k of ['max_rank', 'max_elements', 'max_input_bytes', 'max_output_bytes', 'max_line_bytes']) assert.ok(info.limits[k] > 0, `limits.${k}`);
  // The schema is JSON: it round-trips.
  assert.deepEqual(JSON.parse(JSON.stringify(info.schema)), info.schema);
});

test("conform's suites and generators cover exactly the registry: every op, every dialect of ohem_select and ohem_step", () => {
  assert.deepEqual(SUITE_GAPS.missing, [], 'ops of the registry without a generator');
  assert.deepEqual(SUITE_GAPS.extra, [], 'generators without an op');
  const want = REGISTRY.defs.flatMap((d) => suiteKeys(d).map((k) => k.key));
  assert.deepEqual(SUITES.map((s) => s.key), want);
  assert.ok(want.includes('ohem_select/mmdet-ohem') && want.includes('ohem_step/ssd-hard-negative'));
  for (const s of SUITES) assert.deepEqual(sorted(Object.keys(s.tolerances)), sorted(s.def.outputs.map((o) => o.name)), `${s.key}: a tolerance for every output, from its def`);
});

test('the golden set covers exactly the registry, and spells out exactly the attrs of each case\'s op and dialect', () => {
  const g = loadGolden(ROOT + 'golden');
  assert.ok(!('error' in g), 'golden loads');
  if ('error' in g) return;
  assert.deepEqual(sorted([...new Set(g.cases.map((c) => c.op))]), sorted(names));
  for (const c of g.cases) {
    const d = REGISTRY.get(c.op)!;
    const defs = attrDefsFor(d, c.request.attrs);
    assert.deepEqual(sorted(Object.keys(c.request.attrs)), sorted(defs.filter((a) => a.default !== undefined || a.name in c.request.attrs).map((a) => a.name)), `${c.name}: the attrs of ${c.op}`);
  }
});

/** A request of `op` that the reference answers: its first golden case. */
const goldenRequest = (() => {
  const g = loadGolden(ROOT + 'golden');
  return (op: string) => ('error' in g ? undefined : g.cases.find((c) => c.op === op)?.request);
})();

test('for every op: an attr name it does not define is invalid_input naming attrs.<name>; a null attr is the absent attr', () => {
  const known = (d: AnyOpDef) => new Set([...d.attrs, ...(d.variants ?? []).flatMap((v) => Object.values(v.cases).flat())].map((a) => a.name));
  fc.assert(
    fc.property(fc.constantFrom(...REGISTRY.defs), fc.stringMatching(/^[a-z][a-z_]{0,12}$/), (d, name) => {
      fc.pre(!known(d).has(name) && name !== 'backend');
      const req = goldenRequest(d.name)!;
      const r = handleRequest({ id: 1, ...req, attrs: { ...req.attrs, [name]: 1 } }) as { error?: { code: string; message: string } };
      assert.equal(r.error?.code, 'invalid_input', `${d.name} with attrs.${name}: ${JSON.stringify(r)}`);
      assert.ok(r.error!.message.startsWith(`attrs.${name}:`), r.error!.message);
    }),
    fcParams(100),
  );
  for (const d of REGISTRY.defs) {
    const req = goldenRequest(d.name)!;
    const optional = d.attrs.filter((a) => a.default !== undefined && a.default !== null);
    if (optional.length === 0) continue;
    // Every optional attr of the op's own set to null: the answer equals the one with the attr absent.
    const nulls = Object.fromEntries(Object.entries(req.attrs).map(([k, v]) => [k, optional.some((a) => a.name === k && a.default === v) ? null : v]));
    const absent = Object.fromEntries(Object.entries(req.attrs).filter(([k]) => nulls[k] !== null));
    const a = handleRequest({ id: 1, ...req, attrs: nulls, encoding: 'b64' });
    const b = handleRequest({ id: 1, ...req, attrs: absent, encoding: 'b64' });
    assert.deepEqual(a, b, `${d.name}: null and absent attrs`);
    assert.ok(!('error' in (a as object)), `${d.name}: ${JSON.stringify(a).slice(0, 300)}`);
  }
});
