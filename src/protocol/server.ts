/**
 * `ohem-ref serve`: the JSON-lines server of PROTOCOL.md. One request per line in, one response
 * per line out, in order; logs on stderr; EOF ends it with exit 0. A bad line is answered with an
 * error object and never stops the server or disturbs the other answers.
 */
import * as E from 'fp-ts/lib/Either.js';
import * as readline from 'node:readline';
import { protocolCode, type Tensor } from '../core/index.js';
import { decodeTensor, encodeTensor, type Encoding } from './codec.js';
import { OPS, type OpEntry } from './ops.js';
import { createBackendPool, type BackendPool } from '../gpu/pool.js';

export const PROTOCOL_VERSION = 1;
export const SERVER_NAME = 'ohem-ref';
export const SERVER_VERSION = '0.1.0';

type Id = string | number | null;
type ErrorCode = 'bad_request' | 'unknown_op' | 'invalid_input' | 'unsupported' | 'internal';

const errorResponse = (id: Id, code: ErrorCode, message: string) => ({ id, error: { code, message } });

export interface ServeOptions {
  /** The op table (the reference's by default; tests may pass another). */
  readonly ops?: Readonly<Record<string, OpEntry>>;
  /**
   * The backends `attrs.backend` names (`serve` keeps one pool for its lifetime). Without one, a
   * request that names a backend gets a pool of its own, released after the answer.
   */
  readonly backends?: BackendPool;
}

/** Answers one request object (already parsed). Pure apart from the op it runs. */
export const handleRequest = (req: unknown, options: ServeOptions = {}): object => {
  const ops = options.ops ?? OPS;
  if (typeof req !== 'object' || req === null || Array.isArray(req))
    return errorResponse(null, 'bad_request', 'a request must be a JSON object with "op"');
  const r = req as Record<string, unknown>;
  const id: Id = typeof r.id === 'string' || typeof r.id === 'number' ? r.id : null;
  if (r.id !== undefined && id === null) return errorResponse(null, 'bad_request', '"id" must be a string or a number');
  if (typeof r.op !== 'string') return errorResponse(id, 'bad_request', 'the request lacks a string "op"');
  if (r.op === 'describe')
    return {
      id,
      outputs: {},
      info: { name: SERVER_NAME, version: SERVER_VERSION, protocol: PROTOCOL_VERSION, ops: ['describe', ...Object.keys(ops)] },
    };
  const op = ops[r.op];
  if (!op) return errorResponse(id, 'unknown_op', `op ${JSON.stringify(r.op)} is not one of: ${Object.keys(ops).join(', ')}`);
  const attrs = r.attrs ?? {};
  if (typeof attrs !== 'object' || attrs === null || Array.isArray(attrs))
    return errorResponse(id, 'bad_request', '"attrs" must be an object');
  const rawInputs = r.inputs ?? {};
  if (typeof rawInputs !== 'object' || rawInputs === null || Array.isArray(rawInputs))
    return errorResponse(id, 'bad_request', '"inputs" must be an object of tensors');
  const encoding: Encoding = r.encoding === 'b64' ? 'b64' : 'data';
  const inputs: Record<string, Tensor> = {};
  for (const [name, j] of Object.entries(rawInputs)) {
    const t = decodeTensor(name, j);
    if (E.isLeft(t)) return errorResponse(id, 'invalid_input', t.left.message);
    inputs[name] = t.right;
  }
  try {
    const a = attrs as Record<string, unknown>;
    const own = options.backends === undefined && a.backend !== undefined && a.backend !== null && a.backend !== 'reference';
    const backends = own ? createBackendPool() : options.backends;
    let out;
    try {
      out = op.run(inputs, a, { backends });
    } finally {
      if (own) void backends!.destroy();
    }
    if (E.isLeft(out)) return errorResponse(id, protocolCode(out.left), out.left.message);
    const outputs: Record<string, unknown> = {};
    for (const [name, t] of Object.entries(out.right)) outputs[name] = encodeTensor(t, encoding);
    return { id, outputs };
  } catch (e) {
    return errorResponse(id, 'internal', `${r.op} threw: ${(e as Error)?.message ?? String(e)}`);
  }
};

/** Answers one line of text with one line of JSON (no newline). */
export const handleLine = (line: string, options: ServeOptions = {}): string => {
  let req: unknown;
  try {
    req = JSON.parse(line);
  } catch (e) {
    return JSON.stringify(errorResponse(null, 'bad_request', `the line is not valid JSON: ${(e as Error).message}`));
  }
  try {
    return JSON.stringify(handleRequest(req, options));
  } catch (e) {
    return JSON.stringify(errorResponse(null, 'internal', `could not answer: ${(e as Error)?.message ?? String(e)}`));
  }
};

/** Serves stdin → stdout until EOF. Resolves when the input ends and every answer is written. */
export const serve = (
  input: NodeJS.ReadableStream = process.stdin,
  output: NodeJS.WritableStream = process.stdout,
  options: ServeOptions = {},
): Promise<void> =>
  new Promise((resolve) => {
    const rl = readline.createInterface({ input, crlfDelay: Infinity, terminal: false });
    // One pool for the server's life: a GL context opens, and `auto` measures, once.
    const backends =
      options.backends ??
      createBackendPool((name, b) => process.stderr.write(`ohem-ref serve: backend ${name} is ${b.name} on ${b.device}: ${b.reason}\n`));
    rl.on('line', (line) => {
      if (line.trim() === '') return;
      output.write(handleLine(line, { ...options, backends }) + '\n');
    });
    rl.on('close', () => {
      if (options.backends) resolve();
      else void backends.destroy().then(resolve, resolve);
    });
  });
