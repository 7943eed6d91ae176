/**
 * The demo's worker thread: runs the tasks the pool (pool.ts) sends, one at a time, and answers
 * with progress, the outcome or the error. The world of the last seed stays cached (task.ts).
 */
import { parentPort } from 'node:worker_threads';
import * as E from 'fp-ts/lib/Either.js';
import { cachedSeed, runTask, type TaskSpec } from './task.js';

const port = parentPort;
if (port)
  port.on('message', (msg: { id: number; task: TaskSpec }) => {
    try {
      const r = runTask(msg.task, { now: () => performance.now(), onProgress: (iter) => port.postMessage({ type: 'progress', id: msg.id, iter }) });
      port.postMessage(E.isLeft(r) ? { type: 'error', id: msg.id, error: r.left, seed: cachedSeed() } : { type: 'done', id: msg.id, outcome: r.right, seed: cachedSeed() });
    } catch (e) {
      port.postMessage({ type: 'crash', id: msg.id, message: (e as Error)?.stack ?? String(e) });
    }
  });
