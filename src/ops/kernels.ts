/**
 * The kernel contract: every heavy kernel is `(job) => Result<outputs>` over validated, raw typed
 * arrays (the job types live beside each family's reference kernels). `Kernels` is the record a
 * backend supplies — the reference kernels here, gpu.js kernels from src/gpu, the worker pool —
 * and what the ops and the mining stage take as a parameter. A kernel never throws: a failure
 * (an engine that fell back to another mode, a destroyed backend) is a Left tagged `EngineError`.
 *
 * Like tfjs's kernel registry: one name per kernel, and every backend registers against it.
 */
import type { Result } from '../core/index.js';
import { roiPoolKernel, roiPoolBackwardKernel, type RoiPoolJob, type RoiPoolKernelOutputs, type RoiPoolBackwardJob } from './roiPool.js';
import { linearKernel, linearBackwardKernel, type LinearJob, type LinearBackwardJob, type LinearGrads } from './linear.js';

export interface Kernels {
  /** What runs, for reports: `reference`, `gpujs-webasm`, … */
  readonly name: string;
  /** RoI max pooling forward (SPEC §5.1). */
  readonly roiPool: (job: RoiPoolJob) => Result<RoiPoolKernelOutputs>;
  /** RoI max pooling backward (SPEC §5.2 gather, §5.3 scatter): features_grad [N, C, H, W]. */
  readonly roiPoolBackward: (job: RoiPoolBackwardJob) => Result<Float32Array>;
  /** y [R, M] = x [R, K]·wᵀ + b (SPEC §8.1). */
  readonly linear: (job: LinearJob) => Result<Float32Array>;
  /** dx = dy·W, dW = dyᵀ·x, db = Σ_r dy (SPEC §8.1). */
  readonly linearBackward: (job: LinearBackwardJob) => Result<LinearGrads>;
}

export type KernelName = Exclude<keyof Kernels, 'name'>;
export const KERNEL_NAMES: readonly KernelName[] = ['roiPool', 'roiPoolBackward', 'linear', 'linearBackward'];

/**
 * The reference kernels (plain TypeScript, one thread). Each entry defers to its family's kernel
 * at call time: the family files import this module's types, and this record must not read
 * their bindings while they are still loading.
 */
export const referenceKernels: Kernels = Object.freeze({
  name: 'reference',
  roiPool: (job: RoiPoolJob) => roiPoolKernel(job),
  roiPoolBackward: (job: RoiPoolBackwardJob) => roiPoolBackwardKernel(job),
  linear: (job: LinearJob) => linearKernel(job),
  linearBackward: (job: LinearBackwardJob) => linearBackwardKernel(job),
});
