/**
 * The op table of docs/protocol.md, generated from the registry: one row per op with its inputs
 * (dtypes, shapes, presence), its attrs (defaults and domains, a dialect's under its name) and its
 * outputs (dtype, shape, additions marked). `ohem-ref schema --update docs/protocol.md` rewrites
 * the part between the markers; a test fails when the file and the registry disagree.
 */
import { type AnyOpDef, type AttrDef, domainText } from '../ops/index.js';
import { REGISTRY } from '../mining/registry.js';
import { PROFILES } from './profiles.js';

export const TABLE_BEGIN = '<!-- BEGIN OP TABLE: generated from the registry by `npm run docs`; do not edit by hand -->';
export const TABLE_END = '<!-- END OP TABLE -->';

const DT: Readonly<Record<string, string>> = { float32: 'f32', float64: 'f64', int32: 'i32' };

const shapeOf = (s: unknown): string => {
  if (Array.isArray(s)) return `[${s.join(', ')}]`;
  const o = s as { like?: string; any?: boolean; attr?: string };
  return o.like ? `shape of ${o.like}` : o.attr ? `attrs.${o.attr}` : 'any shape';
};

const cell = (s: string): string => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

const attrText = (a: AttrDef): string => {
  const dflt = a.default === undefined ? '**required**' : a.default === null ? 'absent' : `\`${JSON.stringify(a.default)}\``;
  return `\`${a.name}\` ${dflt} (${domainText(a.domain)})`;
};

const inputsText = (d: AnyOpDef): string =>
  d.inputs
    .map((i) => {
      const dt = i.dtypes.map((x) => DT[x]).join('/');
      const also = i.accepts?.length ? `; also ${i.accepts.map((x) => DT[x]).join('/')}` : '';
      const p = i.presence === undefined || i.presence === 'required' ? '' : typeof i.presence === 'string' ? ` (${i.presence})` : ` (${i.presence.doc})`;
      return `\`${i.name}\` ${dt} ${shapeOf(i.shape)}${also}${p}`;
    })
    .join('<br>');

const attrsText = (d: AnyOpDef): string => {
  const own = d.attrs.map(attrText);
  const variants = (d.variants ?? []).flatMap((v) =>
    Object.entries(v.cases).map(([value, list]) => `*${v.by} ${value}*: ${list.length ? list.map(attrText).join(', ') : 'none'}`),
  );
  return [...own, ...variants].join('<br>') || '—';
};

const outputsText = (d: AnyOpDef): string =>
  d.outputs
    .map((o) => `\`${o.name}\` ${DT[o.dtype]} ${o.bounded ? '≤ ' : ''}${shapeOf(o.shape)}${o.tolerance.atol === 0 && o.tolerance.rtol === 0 ? ' exact' : ''}${o.addition ? ' (addition)' : ''}${o.when ? ` (${o.when.doc})` : ''}`)
    .join('<br>');

const num = (x: number): string => (x === 0 ? '0' : Number(x.toPrecision(3)).toExponential().replace('e+0', '').replace(/e-?/, (m) => (m === 'e-' ? 'e-' : 'e')));

/** One row per output group of an op with the same tolerance: op, outputs, atol, rtol, why. */
const toleranceRows = (defs: readonly AnyOpDef[]): string[] =>
  defs.flatMap((d) => {
    const groups = new Map<string, { outs: string[]; atol: number; rtol: number; note: string }>();
    for (const o of d.outputs) {
      const key = `${o.tolerance.atol}|${o.tolerance.rtol}|${o.tolerance.note}`;
      const g = groups.get(key) ?? { outs: [], ...o.tolerance };
      g.outs.push(`\`${o.name}\``);
      groups.set(key, g);
    }
    return [...groups.values()].map((g) => `| \`${d.name}\` | ${g.outs.join(', ')} | ${num(g.atol)} | ${num(g.rtol)} | ${cell(g.note)} |`);
  });

/** One row per output with a precision model: op, outputs, the model and its bound. */
const precisionRows = (defs: readonly AnyOpDef[]): string[] =>
  defs.flatMap((d) => {
    const groups = new Map<string, { outs: string[]; model: string; note: string }>();
    for (const o of d.outputs) {
      if (!o.precision) continue;
      const key = `${o.precision.model}|${o.precision.note}`;
      const g = groups.get(key) ?? { outs: [], model: o.precision.model, note: o.precision.note };
      g.outs.push(`\`${o.name}\``);
      groups.set(key, g);
    }
    return [...groups.values()].map((g) => `| \`${d.name}\` | ${g.outs.join(', ')} | ${cell(g.model)} | ${cell(g.note)} |`);
  });

/** One row per convention: op, name, its values (the default, the original's, first) with what each means. */
const conventionRows = (defs: readonly AnyOpDef[]): string[] =>
  defs.flatMap((d) =>
    (d.conventions ?? []).map(
      (c) => `| \`${d.name}\` | \`${c.name}\` | ${cell(Object.entries(c.means ?? {}).map(([v, m]) => `\`${v}\`${v === c.default ? ' (default)' : ''}: ${m}`).join('<br>'))} |`,
    ),
  );

const profileRows = (): string[] =>
  PROFILES.map(
    (p) =>
      `| \`${p.name}\` | ${cell(p.doc)} | ${
        Object.entries(p.conventions)
          .map(([op, c]) => `\`${op}\`: ${Object.entries(c).map(([k, v]) => `${k} = ${String(v)}`).join(', ')}`)
          .join('<br>') || 'none (every convention at its default)'
      } |`,
  );

/** The generated tables (ops, tolerances, precision models, conventions, profiles), markers included. */
export const opTableMarkdown = (defs: readonly AnyOpDef[] = REGISTRY.defs): string => {
  const rows = defs.map((d) => `| \`${d.name}\` v${d.version} | ${cell(inputsText(d))} | ${cell(attrsText(d))} | ${cell(outputsText(d))} |`);
  return [
    TABLE_BEGIN,
    '',
    '| op | inputs | attrs: name, default (domain) | outputs |',
    '|---|---|---|---|',
    ...rows,
    '',
    `Kernels a backend can supply: ${defs.filter((d) => d.kernels.length).map((d) => `\`${d.name}\` (${d.kernels.join(', ')})`).join(', ')}.`,
    '',
    '### Tolerances',
    '',
    'Per output, |a − b| ≤ atol + rtol·|b| (atol = rtol = 0: exact), and the error analysis that justifies it.',
    '',
    '| op | outputs | atol | rtol | why |',
    '|---|---|---|---|---|',
    ...toleranceRows(defs),
    '',
    '### Precision models',
    '',
    'The second, wider bound of a float output that a port computing in plain float32 may use (a GEMM accumulating in float32, exp of x − max rounded in float32). A difference beyond the tolerance but within tolerance + bound is conform\'s verdict `precision`: reported, not failed (`--strict` fails it). u = 2⁻²⁴.',
    '',
    '| op | outputs | model | bound per element |',
    '|---|---|---|---|',
    ...precisionRows(defs),
    '',
    '### Conventions (the reference only)',
    '',
    'Attrs of the reference alone that switch a choice the original makes silently to what another library does. The server accepts them; a port never receives them; golden requests never carry them. conform\'s attribution runs the reference under each other value, and its profiles set them.',
    '',
    '| op | convention | values |',
    '|---|---|---|',
    ...conventionRows(defs),
    '',
    '### Profiles',
    '',
    '`ohem-ref conform --profile NAME` judges a port against the reference run under these conventions.',
    '',
    '| profile | what | conventions |',
    '|---|---|---|',
    ...profileRows(),
    '',
    TABLE_END,
  ].join('\n');
};

/** `text` with its generated table replaced by the registry's; null when the markers are missing. */
export const withOpTable = (text: string): string | null => {
  const b = text.indexOf(TABLE_BEGIN);
  const e = text.indexOf(TABLE_END);
  if (b < 0 || e < b) return null;
  return text.slice(0, b) + opTableMarkdown() + text.slice(e + TABLE_END.length);
};
