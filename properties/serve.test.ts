/**
 * `ohem-ref serve` as a process (PROTOCOL.md transport): JSON lines in and out, in order; a bad
 * line or a bad request gets an error object and the server goes on answering correctly.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { spawnPort } from '../src/protocol/client.js';
import { OPS } from '../src/protocol/ops.js';
import { fcParams } from './support.js';
import * as roi from '../src/conform/arbitraries/roiPool.js';
import * as nms from '../src/conform/arbitraries/nms.js';
import * as elementwise from '../src/conform/arbitraries/elementwise.js';
import * as lin from '../src/conform/arbitraries/linear.js';

const BIN = fileURLToPath(new URL('../bin/ohem-ref.mjs', import.meta.url));
const server = spawnPort(`${JSON.stringify(process.execPath)} ${JSON.stringify(BIN)} serve`, { timeoutMs: 30_000 });
after(() => server.close());

type Resp = Record<string, any>;
const ask = async (req: Record<string, unknown>): Promise<Resp> => {
  const o = await server.request(req);
  assert.equal(o.kind, 'ok', `server: ${JSON.stringify(o)}`);
  return (o as { response: Resp }).response;
};

/** A line written raw (not JSON-encoded by the client). */
const askRaw = async (line: string): Promise<Resp> => {
  const o = await server.requestLine(line);
  assert.equal(o.kind, 'ok');
  return (o as { response: Resp }).response;
};

const relu = { op: 'relu', inputs: { x: { dtype: 'float32', shape: [3], data: [-1.5, 0, 2.25] } } };

test('describe lists every op of PROTOCOL.md up to top_k and sgd_update, protocol 1', async () => {
  const r = await ask({ id: 'd', op: 'describe' });
  assert.equal(r.id, 'd');
  assert.equal(r.info.protocol, 1);
  for (const op of ['roi_pool', 'roi_pool_backward', 'linear', 'linear_backward', 'relu', 'relu_backward', 'dropout', 'dropout_backward', 'softmax', 'softmax_loss', 'smooth_l1_loss', 'nms', 'top_k', 'sgd_update'])
    assert.ok(r.info.ops.includes(op), `describe lacks ${op}`);
});

test('a request is answered with its id and the op result', async () => {
  const r = await ask({ id: 7, ...relu });
  assert.equal(r.id, 7);
  assert.deepEqual(r.outputs.y, { dtype: 'float32', shape: [3], data: [0, 0, 2.25] });
});

test('garbage lines get bad_request with id null, and the next request is still answered correctly', async () => {
  for (const garbage of ['this is not json', '{"id": 3, "inputs": {}}', '[1, 2, 3]', '{"id": {"x": 1}, "op": "relu"}', '{"op": 5}']) {
    const r = await askRaw(garbage);
    assert.equal(r.error?.code, 'bad_request', `for ${garbage}: ${JSON.stringify(r)}`);
    const ok = await ask({ id: 'after', ...relu });
    assert.equal(ok.id, 'after');
    assert.deepEqual(ok.outputs.y.data, [0, 0, 2.25]);
  }
});

test('an unknown op gets unknown_op; a bad tensor gets invalid_input; both name what is wrong', async () => {
  const u = await ask({ id: 1, op: 'roi_align_rotated' });
  assert.equal(u.error.code, 'unknown_op');
  assert.match(u.error.message, /roi_align_rotated/);
  const bad = await ask({ id: 2, op: 'relu', inputs: { x: { dtype: 'float32', shape: [2, 2], data: [1, 2, 3] } } });
  assert.equal(bad.error.code, 'invalid_input');
  assert.match(bad.error.message, /^x: .*3 values .*needs 4/);
  const nan = await ask({ id: 3, op: 'softmax', inputs: { x: { dtype: 'float32', shape: [1, 2], data: ['NaN', 1] } } });
  assert.equal(nan.error.code, 'invalid_input');
  assert.match(nan.error.message, /^x: /);
});

test('b64 tensors in, b64 out on request, exact bits both ways', async () => {
  const x = new Float32Array([-1.5, 0.1, 3.4028234663852886e38]);
  const r = await ask({ id: 'b', op: 'relu', encoding: 'b64', inputs: { x: { dtype: 'float32', shape: [3], b64: Buffer.from(x.buffer).toString('base64') } } });
  const y = new Float32Array(new Uint8Array(Buffer.from(r.outputs.y.b64, 'base64')).buffer);
  assert.deepEqual([...y], [0, Math.fround(0.1), 3.4028234663852886e38]);
});

// Generated malformed requests: a legal request from the differential arbitraries, corrupted in a
// way that every op's contract rejects. Each must get invalid_input (never internal, never a crash),
// and the server must answer the following legal request correctly.
const legal = fc.oneof(...[roi, nms, elementwise, lin].flatMap((m) => Object.values((m as any).requests as Record<string, fc.Arbitrary<any>>)));
const corruption = fc.constantFrom('drop-input', 'short-data', 'int32-fraction', 'string-value', 'negative-dim');

test('generated malformed requests get invalid_input naming the input, and the server goes on', async () => {
  await fc.assert(
    fc.asyncProperty(legal, corruption, fc.nat(), async (req, how, pick) => {
      const names = OPS.get(req.op)!.inputs.map((i) => i.name).filter((n) => n in req.inputs);
      const name = names[pick % names.length];
      const inputs = { ...req.inputs };
      const t = { ...inputs[name] };
      if (how === 'drop-input') delete inputs[name];
      else if (how === 'short-data') inputs[name] = { ...t, data: [...t.data, 0] };
      else if (how === 'int32-fraction') inputs[name] = { ...t, dtype: 'int32', data: t.data.map(() => 0.5) };
      else if (how === 'string-value') inputs[name] = { ...t, data: t.data.length ? ['one', ...t.data.slice(1)] : ['one'] };
      else inputs[name] = { ...t, shape: [-1, ...t.shape] };
      const r = await ask({ id: 'bad', op: req.op, attrs: req.attrs, inputs });
      assert.equal(r.error?.code, 'invalid_input', `${req.op} with ${how} of ${name}: ${JSON.stringify(r).slice(0, 300)}`);
      assert.ok(r.error.message.startsWith(`${name}:`), `message should name ${name}: ${r.error.message}`);
      const ok = await ask({ id: 'next', ...relu });
      assert.deepEqual(ok.outputs.y.data, [0, 0, 2.25]);
    }),
    fcParams(200),
  );
});

test('EOF ends the server with exit code 0', async () => {
  const s = spawnPort(`${JSON.stringify(process.execPath)} ${JSON.stringify(BIN)} serve`);
  const r = await s.request({ id: 1, ...relu });
  assert.equal(r.kind, 'ok');
  await s.close(10_000);
  const after = await s.request({ id: 2, ...relu });
  assert.equal(after.kind, 'exited');
  assert.equal((after as { code: number | null }).code, 0);
});
