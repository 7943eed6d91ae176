/**
 * A deterministic JSON writer for the golden files: keys in insertion order (the writer of each
 * object fixes it), objects one key per line, arrays of numbers or strings on one line (a tensor's
 * data stays one line however long), two-space indent, a newline at the end. Numbers are written
 * by JSON.stringify (the shortest decimal that parses back to the same double), −0 as -0.0, so a
 * value read back is bit-identical.
 */
const isScalar = (v: unknown): boolean => v === null || typeof v !== 'object';

const write = (v: unknown, indent: string): string => {
  if (v === undefined) throw new Error('undefined has no JSON form');
  if (typeof v === 'number' && !Number.isFinite(v)) throw new Error(`${v} has no JSON form (non-finite values travel as strings)`);
  // JSON.stringify writes −0 as 0; "-0.0" is valid JSON and reads back as −0 (JS and Python alike)
  if (Object.is(v, -0)) return '-0.0';
  if (isScalar(v)) return JSON.stringify(v);
  const inner = indent + '  ';
  if (Array.isArray(v)) {
    if (v.length === 0) return '[]';
    if (v.every(isScalar)) return `[${v.map((x) => write(x, inner)).join(', ')}]`;
    return `[\n${v.map((x) => inner + write(x, inner)).join(',\n')}\n${indent}]`;
  }
  const entries = Object.entries(v as Record<string, unknown>).filter(([, x]) => x !== undefined);
  if (entries.length === 0) return '{}';
  return `{\n${entries.map(([k, x]) => `${inner}${JSON.stringify(k)}: ${write(x, inner)}`).join(',\n')}\n${indent}}`;
};

export const stableJson = (v: unknown): string => write(v, '') + '\n';
