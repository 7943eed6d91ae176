/**
 * The ops of ohem-ref (`ohem-ref/ops`): each a pure function `(inputs, attrs?, kernels?) =>
 * Either<OhemError, outputs>` derived from its `OpDef`, the defs themselves, and the kernel contract.
 */
export * from './def.js';
export * from './kernels.js';
export * from './registry.js';
export * from './roiPool.js';
export * from './linear.js';
export * from './activations.js';
export * from './losses.js';
export * from './nms.js';
export * from './topK.js';
export * from './sgd.js';
export * from './roiAlign.js';
