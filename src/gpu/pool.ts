/**
 * Backends by their protocol names (`attrs.backend`: reference, gpujs-cpu, gpujs-webasm,
 * gpujs-headlessgl, gpujs-webgpu, auto), made on first use and kept until `destroy`: a server
 * holds one pool for its lifetime, so a GL context is opened, and `auto` measures, once.
 */
import * as E from 'fp-ts/lib/Either.js';
import { type Result, checkEnum, ohemError } from '../core/index.js';
import { createBackend, PROTOCOL_BACKENDS, type Backend, type ProtocolBackend } from './backend.js';

export interface BackendPool {
  /** The backend `name` names (a Left naming `attrs.backend` for an unknown or unavailable one). */
  resolve(name: unknown): Result<Backend>;
  /** Releases every backend made so far. */
  destroy(): Promise<void>;
}

/** `onCreate` hears of every backend the pool makes (a server logs `auto`'s choice on stderr). */
export const createBackendPool = (onCreate?: (name: ProtocolBackend, backend: Backend) => void): BackendPool => {
  const made = new Map<ProtocolBackend, Result<Backend>>();
  return {
    resolve(name) {
      const n = checkEnum<ProtocolBackend>('attrs.backend', name, Object.keys(PROTOCOL_BACKENDS) as ProtocolBackend[]);
      if (E.isLeft(n)) return n;
      let b = made.get(n.right);
      if (!b) {
        const r = createBackend({ mode: PROTOCOL_BACKENDS[n.right] });
        // The Left names the attr the request spelled, with createBackend's reason.
        b = E.isLeft(r) ? E.left(ohemError(r.left._tag, 'attrs.backend', `${n.right}: ${r.left.message.replace(/^backend: /, '')}`)) : r;
        made.set(n.right, b);
        if (E.isRight(b)) onCreate?.(n.right, b.right);
      }
      return b;
    },
    async destroy() {
      const all = [...made.values()];
      made.clear();
      await Promise.all(all.map((b) => (E.isRight(b) ? b.right.destroy() : undefined)));
    },
  };
};
