export * from './roiPool.js';
export * from './linear.js';
export { relu, reluBackward, dropout, dropoutBackward, softmax, DROPOUT_DEFAULTS, type DropoutAttrs } from './activations.js';
export * from './losses.js';
export * from './nms.js';
export * from './topK.js';
export * from './sgd.js';
