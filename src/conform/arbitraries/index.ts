/**
 * The generators of legal requests, by suite key (an op of the registry, or `op/dialect`). The
 * suites (src/conform/suites.ts) pair each with its op's def; a test checks that they cover the
 * registry exactly.
 */
import type fc from 'fast-check';
import * as roi from './roiPool.js';
import * as nms from './nms.js';
import * as elementwise from './elementwise.js';
import * as lin from './linear.js';
import * as mining from './mining.js';
import * as step from './ohemStep.js';
import * as align from './roiAlign.js';

export interface Req {
  readonly op: string;
  readonly attrs: Record<string, unknown>;
  readonly inputs: Record<string, unknown>;
}

export const ARBITRARIES: Readonly<Record<string, fc.Arbitrary<Req>>> = Object.freeze({
  ...roi.requests,
  ...lin.requests,
  ...elementwise.requests,
  ...nms.requests,
  ...mining.requests,
  ...step.requests,
  ...align.requests,
} as Record<string, fc.Arbitrary<Req>>);

/** Suite keys that conform's structural reduction leaves alone (their generators say why). */
export const UNREDUCIBLE: ReadonlySet<string> = new Set(step.unreducible);
