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
import {
  roiAlignKernel,
  roiAlignBackwardKernel,
  cropAndResizeKernel,
  type RoiAlignJob,
  type RoiAlignOut,
  type RoiAlignBackwardJob,
  type CropAndResizeJob,
} from './roiAlign.js';
import * as E from 'fp-ts/lib/Either.js';

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
  /** RoIAlign forward (SPEC §13.2): top [R, C, PH, PW], and mmcv max's argmax. */
  readonly roiAlign: (job: RoiAlignJob) => Result<RoiAlignOut>;
  /** RoIAlign backward (SPEC §13.3): features_grad [N, C, H, W]. */
  readonly roiAlignBackward: (job: RoiAlignBackwardJob) => Result<Float32Array>;
  /** TF crop_and_resize (SPEC §13.6): crops [R, C, OH, OW]. */
  readonly cropAndResize: (job: CropAndResizeJob) => Result<Float32Array>;
}

export type KernelName = Exclude<keyof Kernels, 'name'>;
export const KERNEL_NAMES: readonly KernelName[] = ['roiPool', 'roiPoolBackward', 'linear', 'linearBackward', 'roiAlign', 'roiAlignBackward', 'cropAndResize'];

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
  roiAlign: (job: RoiAlignJob) => E.right(roiAlignKernel(job)),
  roiAlignBackward: (job: RoiAlignBackwardJob) => E.right(roiAlignBackwardKernel(job)),
  cropAndResize: (job: CropAndResizeJob) => E.right(cropAndResizeKernel(job)),
});
