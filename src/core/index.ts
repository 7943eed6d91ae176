export * from './errors.js';
export * from './float32.js';
export * from './tensor.js';
export * from './check.js';
export * from './prng.js';
