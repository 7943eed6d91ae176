/**
 * The vocabulary of ohem-ref. Adding an op? Read /work/main/CONTRIBUTING.md first: it fixes the API
 * shape of every op, the test conventions (properties/support.ts) and the differential arbitraries.
 */
export * from './errors.js';
export * from './float32.js';
export * from './tensor.js';
export * from './check.js';
export * from './prng.js';
