/**
 * Runs the demo's tasks (task.ts) inline or on worker threads. Each task's outcome is a pure
 * function of the task, so the results are the same whatever `jobs` is; only the clock differs.
 *
 * Scheduling keeps a worker on one seed while that seed has tasks (the world is built once per
 * worker and seed), starts an untouched seed next, and only then takes tasks of a seed another
 * worker is on. Within a seed the tasks come in the order given (the caller puts the costly ones
 * first).
 */
import { Worker } from 'node:worker_threads';
import * as E from 'fp-ts/lib/Either.js';
import { type OhemError, type Result, valueError } from '../core/index.js';
import { runTask, type TaskOutcome, type TaskSpec } from './task.js';

export interface PoolHooks {
  readonly now: () => number;
  /** Iterations done so far of task `id`. */
  readonly onProgress?: (id: number, iter: number) => void;
  readonly onDone?: (id: number, outcome: TaskOutcome) => void;
}

/** The worker thread: under tsx (a checkout) a bootstrap registers tsx first; built, the compiled file. */
const spawnWorker = (): Worker => {
  const self = import.meta.url;
  if (self.endsWith('.ts')) {
    const api = import.meta.resolve('tsx/esm/api');
    const target = new URL('./worker.ts', self).href;
    return new Worker(`import(${JSON.stringify(api)}).then((m) => { m.register(); return import(${JSON.stringify(target)}); });`, { eval: true });
  }
  return new Worker(new URL('./worker.js', self));
};

/** Runs every task; the outcomes in the tasks' order, or the first error. */
export const runTasks = async (tasks: readonly TaskSpec[], jobs: number, hooks: PoolHooks): Promise<Result<TaskOutcome[]>> => {
  const outcomes: TaskOutcome[] = new Array(tasks.length);
  if (jobs <= 1 || tasks.length <= 1) {
    for (const [id, task] of tasks.entries()) {
      const r = runTask(task, { now: hooks.now, onProgress: (iter) => hooks.onProgress?.(id, iter) });
      if (E.isLeft(r)) return r;
      outcomes[id] = r.right;
      hooks.onDone?.(id, r.right);
      // Let the event loop breathe between tasks (a TTY's redraws, signals).
      await new Promise((res) => setImmediate(res));
    }
    return E.right(outcomes);
  }
  // Queues per seed, seeds in order of first appearance.
  const queues = new Map<number, number[]>();
  for (const [id, t] of tasks.entries()) {
    const q = queues.get(t.seed) ?? [];
    q.push(id);
    queues.set(t.seed, q);
  }
  const started = new Set<number>();
  const next = (seed: number | null): number | undefined => {
    if (seed !== null && queues.get(seed)?.length) return queues.get(seed)!.shift();
    for (const [s, q] of queues)
      if (!started.has(s) && q.length) {
        started.add(s);
        return q.shift();
      }
    let best: number[] | undefined;
    for (const q of queues.values()) if (q.length && (!best || q.length > best.length)) best = q;
    return best?.shift();
  };
  const n = Math.min(jobs, tasks.length);
  return new Promise((resolve) => {
    const workers: Worker[] = [];
    let failed: OhemError | null = null;
    let remaining = tasks.length;
    const finish = (r: Result<TaskOutcome[]>) => {
      for (const w of workers) void w.terminate();
      resolve(r);
    };
    const feed = (w: Worker, seed: number | null) => {
      if (failed) return;
      const id = next(seed);
      if (id === undefined) {
        void w.terminate();
        return;
      }
      started.add(tasks[id].seed);
      w.postMessage({ id, task: tasks[id] });
    };
    for (let k = 0; k < n; k++) {
      const w = spawnWorker();
      workers.push(w);
      w.on('message', (m: { type: string; id: number; iter?: number; outcome?: TaskOutcome; error?: OhemError; message?: string; seed?: number | null }) => {
        if (failed) return;
        if (m.type === 'progress') hooks.onProgress?.(m.id, m.iter ?? 0);
        else if (m.type === 'done') {
          outcomes[m.id] = m.outcome!;
          hooks.onDone?.(m.id, m.outcome!);
          if (--remaining === 0) finish(E.right(outcomes));
          else feed(w, m.seed ?? null);
        } else {
          failed = m.type === 'error' ? m.error! : valueError('worker', `task ${m.id} (${tasks[m.id].sampler}, seed ${tasks[m.id].seed}) crashed: ${m.message}`);
          finish(E.left(failed));
        }
      });
      w.on('error', (e) => {
        if (failed) return;
        failed = valueError('worker', `a worker thread failed: ${(e as Error)?.stack ?? e}`);
        finish(E.left(failed));
      });
      feed(w, null);
    }
  });
};
