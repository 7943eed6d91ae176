/**
 * The demo's random streams: one seed split into the independent Philox streams of the world, the
 * initial weights, the image order, the sampler and the dropout masks (src/core/prng.ts; `stream`
 * draws from one of them draw by draw). No Math.random anywhere.
 */
import * as E from 'fp-ts/lib/Either.js';
import { type Rng, type Result, seedRng, split } from '../core/index.js';

export { stream, type Stream } from '../core/index.js';

/** The demo's independent streams, all derived from one seed. */
export interface Streams {
  readonly world: Rng;
  readonly init: Rng;
  readonly order: Rng;
  readonly sampler: Rng;
  readonly dropout: Rng;
}

export const streamsFromSeed = (seed: number): Result<Streams> =>
  E.map((r: Rng) => {
    const [world, init, order, sampler, dropout] = split(r, 5);
    return { world, init, order, sampler, dropout };
  })(seedRng(seed));
