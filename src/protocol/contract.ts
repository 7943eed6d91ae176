/**
 * The op table of docs/protocol.md, generated from the registry: one row per op with its inputs
 * (dtypes, shapes, presence), its attrs (defaults and domains, a dialect's under its name) and its
 * outputs (dtype, shape, additions marked). `ohem-ref schema --update docs/protocol.md` rewrites
 * the part between the markers; a test fails when the file and the registry disagree.
 */
import { type AnyOpDef, type AttrDef, domainText } from '../ops/index.js';
import { REGISTRY } from '../mining/registry.js';

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

/** The generated table, markers included. */
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
