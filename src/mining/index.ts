export * from './hardness.js';
export * from './select.js';
export * from './head.js';
export * from './ohemStep.js';
export * from './train.js';
export * from './registry.js';
