/**
 * `ohem-ref serve`: the JSON-lines server of docs/protocol.md. One request per line in, one
 * response per line out, in order; logs on stderr; EOF ends it with exit 0. A bad line is answered
 * with an error object and never stops the server or disturbs the other answers.
 *
 * Hostile input never crashes it (docs/protocol.md "Limits"): a line longer than the line limit is
 * skipped and answered `bad_request`; a tensor past the rank, element or byte limits is refused
 * before it is allocated; an op's outputs past the output budget are refused before they are
 * computed; an answer is written in pieces, so no output is ever one string too large to build;
 * every answer to a line that parsed as a JSON object carries its id. `internal` is a bug: the
 * last-resort catch below is there to keep serving, and the hostile-input tests fail if any input
 * reaches it.
 */
import * as E from 'fp-ts/lib/Either.js';
import { type Limits, type Tensor, DEFAULT_LIMITS, preview, protocolCode, MAX_RANK, MAX_ELEMENTS } from '../core/index.js';
import { schemaOf } from '../ops/index.js';
import { decodeInputs, encodeTensor, encodeTensorPieces, type Encoding } from './codec.js';
import { BACKEND_ATTR, OPS, runOp } from './ops.js';
import { createBackendPool, type BackendPool } from '../gpu/pool.js';
import { PROTOCOL_BACKENDS } from '../gpu/backend.js';

export const PROTOCOL_VERSION = 1;
export const PROTOCOL_MINOR = 1;
export const SERVER_NAME = 'ohem-ref';
export const SERVER_VERSION = '0.2.0';

/** The longest request line read (bytes). One JS string holds at most 2^29 − 24 characters. */
export const DEFAULT_MAX_LINE_BYTES = 500 * 2 ** 20;

type Id = string | number | null;
export type ErrorCode = 'bad_request' | 'unknown_op' | 'invalid_input' | 'unsupported' | 'internal';

export interface ServeOptions {
  /**
   * The backends `attrs.backend` names (`serve` keeps one pool for its lifetime). Without one, a
   * request that names a backend gets a pool of its own, released after the answer.
   */
  readonly backends?: BackendPool;
  /** Rank, element and byte budgets (docs/protocol.md "Limits"); the defaults of src/core/limits.ts. */
  readonly limits?: Limits;
  readonly maxLineBytes?: number;
}

/** An answer before it is encoded: tensors are kept as tensors until they are written. */
type Answer =
  | { readonly id: Id; readonly error: { readonly code: ErrorCode; readonly message: string } }
  | { readonly id: Id; readonly outputs: Readonly<Record<string, Tensor>>; readonly encoding: Encoding }
  | { readonly id: Id; readonly outputs: Record<string, never>; readonly info: object };

const failure = (id: Id, code: ErrorCode, message: string): Answer => ({ id, error: { code, message } });

const hasOwn = (o: object, k: string): boolean => Object.prototype.hasOwnProperty.call(o, k);

/** What `describe` says: the ops with their schema, the limits, the extensions (protocol 1.1). */
export const describeInfo = (limits: Limits = DEFAULT_LIMITS, maxLineBytes = DEFAULT_MAX_LINE_BYTES): object => ({
  name: SERVER_NAME,
  version: SERVER_VERSION,
  protocol: PROTOCOL_VERSION,
  protocol_minor: PROTOCOL_MINOR,
  ops: ['describe', ...OPS.names],
  schema: Object.fromEntries(
    OPS.defs.map((d) => [
      d.name,
      {
        ...schemaOf(d),
        ...(d.kernels.length
          ? { server_attrs: [{ name: BACKEND_ATTR, domain: Object.keys(PROTOCOL_BACKENDS), default: 'reference', doc: 'which kernels the reference runs (this server only; never sent to a port)' }] }
          : {}),
      },
    ]),
  ),
  limits: {
    max_rank: MAX_RANK,
    max_elements: MAX_ELEMENTS,
    max_input_bytes: limits.maxInputBytes,
    max_output_bytes: limits.maxOutputBytes,
    max_line_bytes: maxLineBytes,
  },
  extensions: ['encoding: "b64" on a request', 'attrs.backend (this server only)', 'ohem_select/ohem_step dialect, cls_loss, bbox_loss', 'describe.schema', 'describe.limits'],
});

/**
 * The raw text of the top-level "id" value of a line that parsed as a JSON object (so it is valid
 * JSON): a scan that skips strings and nested values. Used only to tell whether a numeric id
 * round-trips.
 */
const rawTopLevelId = (line: string): string | null => {
  let depth = 0;
  let i = 0;
  const n = line.length;
  const skipString = (): number => {
    let j = i + 1;
    while (j < n && line[j] !== '"') j += line[j] === '\\' ? 2 : 1;
    return j + 1;
  };
  while (i < n) {
    const c = line[i];
    if (c === '"') {
      const end = skipString();
      if (depth === 1 && line.slice(i, end) === '"id"') {
        let j = end;
        while (j < n && /\s/.test(line[j])) j++;
        if (line[j] === ':') {
          j++;
          while (j < n && /\s/.test(line[j])) j++;
          const m = /^-?[0-9][0-9.eE+-]*/.exec(line.slice(j, j + 400));
          return m ? m[0] : null;
        }
      }
      i = end;
      continue;
    }
    if (c === '{' || c === '[') depth++;
    else if (c === '}' || c === ']') depth--;
    i++;
  }
  return null;
};

/** The id of a request, or the reason it cannot be echoed faithfully (amendment 6 of protocol 1.1). */
const idOf = (r: Record<string, unknown>, line: string | null): { id: Id } | { bad: string } => {
  if (!hasOwn(r, 'id') || r.id === null) return { id: null };
  const id = r.id;
  if (typeof id === 'string') return { id };
  if (typeof id !== 'number') return { bad: `"id" must be a string or a number, got ${preview(id)}` };
  if (!Number.isFinite(id)) return { bad: '"id" is a number JSON cannot carry back (it overflows a double)' };
  const raw = line === null ? null : rawTopLevelId(line);
  if (raw !== null && /^-?[0-9]+$/.test(raw) && BigInt(raw) !== BigInt(id))
    return { bad: `"id" ${raw.length > 40 ? `${raw.slice(0, 40)}…` : raw} is an integer a double cannot hold exactly (it would come back as ${id}); use a string id` };
  return { id };
};

/** Answers one parsed request. Pure apart from the op it runs and the backends it may make. */
const answerOf = (req: unknown, line: string | null, options: ServeOptions): Answer => {
  if (typeof req !== 'object' || req === null || Array.isArray(req)) return failure(null, 'bad_request', `a request must be a JSON object with "op", got ${preview(req)}`);
  const r = req as Record<string, unknown>;
  const idc = idOf(r, line);
  if ('bad' in idc) return failure(null, 'bad_request', idc.bad);
  const id = idc.id;
  const op = hasOwn(r, 'op') ? r.op : undefined;
  if (typeof op !== 'string') return failure(id, 'bad_request', `the request lacks a string "op" (got ${preview(op)})`);
  const limits = options.limits ?? DEFAULT_LIMITS;
  if (op === 'describe') return { id, outputs: {}, info: describeInfo(limits, options.maxLineBytes) };
  const def = OPS.get(op);
  if (!def) return failure(id, 'unknown_op', `op ${preview(op)} is not one of: ${OPS.names.join(', ')}`);
  const attrs = hasOwn(r, 'attrs') && r.attrs !== null && r.attrs !== undefined ? r.attrs : {};
  if (typeof attrs !== 'object' || Array.isArray(attrs)) return failure(id, 'bad_request', `"attrs" must be an object, got ${preview(attrs)}`);
  const rawInputs = hasOwn(r, 'inputs') && r.inputs !== null && r.inputs !== undefined ? r.inputs : {};
  if (typeof rawInputs !== 'object' || Array.isArray(rawInputs)) return failure(id, 'bad_request', `"inputs" must be an object of tensors, got ${preview(rawInputs)}`);
  const enc = hasOwn(r, 'encoding') ? r.encoding : undefined;
  if (enc !== undefined && enc !== 'b64' && enc !== 'data') return failure(id, 'bad_request', `"encoding" must be "b64" or "data", got ${preview(enc)}`);
  const encoding: Encoding = enc === 'b64' ? 'b64' : 'data';
  const inputs = decodeInputs(rawInputs as Record<string, unknown>, limits.maxInputBytes);
  if (E.isLeft(inputs)) return failure(id, protocolCode(inputs.left), inputs.left.message);
  const a = attrs as Record<string, unknown>;
  const asks = hasOwn(a, BACKEND_ATTR) && a[BACKEND_ATTR] !== undefined && a[BACKEND_ATTR] !== null && a[BACKEND_ATTR] !== 'reference';
  const own = options.backends === undefined && asks && def.kernels.length > 0;
  const backends = own ? createBackendPool() : options.backends;
  try {
    const out = runOp(def, inputs.right, a, { backends, limits });
    if (E.isLeft(out)) return failure(id, protocolCode(out.left), out.left.message);
    return { id, outputs: out.right, encoding };
  } finally {
    if (own) void backends!.destroy();
  }
};

/** The answer as a JSON-ready object (the in-process form the conformance tools compare). */
const toObject = (a: Answer): object => {
  if ('error' in a || 'info' in a) return a;
  const outputs: Record<string, unknown> = {};
  for (const [name, t] of Object.entries(a.outputs)) outputs[name] = encodeTensor(t, a.encoding);
  return { id: a.id, outputs };
};

/** The answer as JSON text, in pieces (see encodeTensorPieces). */
function* toPieces(a: Answer): Generator<string> {
  if ('error' in a || 'info' in a) {
    yield JSON.stringify(a);
    return;
  }
  yield `{"id":${JSON.stringify(a.id)},"outputs":{`;
  let first = true;
  for (const [name, t] of Object.entries(a.outputs)) {
    yield `${first ? '' : ','}${JSON.stringify(name)}:`;
    first = false;
    yield* encodeTensorPieces(t, a.encoding);
  }
  yield '}}';
}

const lastResort = (e: unknown): Answer => failure(null, 'internal', `could not answer: ${preview((e as Error)?.message ?? String(e))}`);

/** Answers one request object (already parsed), as a JSON-ready object. */
export const handleRequest = (req: unknown, options: ServeOptions = {}): object => {
  try {
    return toObject(answerOf(req, null, options));
  } catch (e) {
    return toObject(lastResort(e));
  }
};

/** Answers one line of text with JSON text in pieces (no newline). */
export function* answerLine(line: string, options: ServeOptions = {}): Generator<string> {
  let req: unknown;
  try {
    req = JSON.parse(line);
  } catch (e) {
    yield JSON.stringify(failure(null, 'bad_request', `the line is not valid JSON: ${preview((e as Error).message)}`));
    return;
  }
  let a: Answer;
  try {
    a = answerOf(req, line, options);
  } catch (e) {
    a = lastResort(e);
    // The id, if one can be read: a bug must not also cost the caller its id.
    const id = typeof req === 'object' && req !== null && !Array.isArray(req) ? idOf(req as Record<string, unknown>, line) : null;
    if (id && 'id' in id) a = { ...a, id: id.id };
  }
  yield* toPieces(a);
}

/** Answers one line of text with one line of JSON (no newline). */
export const handleLine = (line: string, options: ServeOptions = {}): string => [...answerLine(line, options)].join('');

/**
 * The lines of a byte stream, as strings, each at most `maxBytes` long: a longer line is skipped
 * to its end and yielded as `null` (the server answers it bad_request). A trailing \r is dropped.
 */
export async function* boundedLines(input: AsyncIterable<Buffer | string>, maxBytes: number): AsyncGenerator<string | null> {
  let parts: Buffer[] = [];
  let length = 0;
  let skipping = false;
  for await (const chunk of input) {
    let buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    for (;;) {
      const nl = buf.indexOf(10);
      const piece = nl < 0 ? buf : buf.subarray(0, nl);
      if (!skipping) {
        if (length + piece.length > maxBytes) {
          skipping = true;
          parts = [];
          length = 0;
        } else {
          parts.push(piece);
          length += piece.length;
        }
      }
      if (nl < 0) break;
      if (skipping) yield null;
      else {
        let text = Buffer.concat(parts, length).toString('utf8');
        if (text.endsWith('\r')) text = text.slice(0, -1);
        yield text;
      }
      parts = [];
      length = 0;
      skipping = false;
      buf = buf.subarray(nl + 1);
    }
  }
  if (skipping) yield null;
  else if (length > 0) yield Buffer.concat(parts, length).toString('utf8');
}

const write = (out: NodeJS.WritableStream, s: string): Promise<void> | null =>
  out.write(s) ? null : new Promise((resolve) => out.once('drain', () => resolve()));

/** Serves stdin → stdout until EOF. Resolves when the input ends and every answer is written. */
export const serve = async (
  input: NodeJS.ReadableStream = process.stdin,
  output: NodeJS.WritableStream = process.stdout,
  options: ServeOptions = {},
): Promise<void> => {
  // One pool for the server's life: a GL context opens, and `auto` measures, once.
  const backends =
    options.backends ??
    createBackendPool((name, b) => process.stderr.write(`ohem-ref serve: backend ${name} is ${b.name} on ${b.device}: ${b.reason}\n`));
  const maxLine = options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
  try {
    for await (const line of boundedLines(input as AsyncIterable<Buffer>, maxLine)) {
      const pieces =
        line === null
          ? [JSON.stringify(failure(null, 'bad_request', `the line is longer than ${maxLine} bytes (describe: limits.max_line_bytes); it was skipped`))]
          : line.trim() === ''
            ? []
            : answerLine(line, { ...options, backends, maxLineBytes: maxLine });
      let wrote = false;
      for (const p of pieces) {
        wrote = true;
        const wait = write(output, p);
        if (wait) await wait;
      }
      if (wrote) {
        const wait = write(output, '\n');
        if (wait) await wait;
      }
    }
  } finally {
    if (!options.backends) await backends.destroy().catch(() => undefined);
  }
};
