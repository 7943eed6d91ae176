/** ohem-ref: a golden reference of Online Hard Example Mining. See README.md and docs/semantics.md. */
export * from './core/index.js';
export * from './ops/index.js';
export * from './mining/index.js';
export * as protocol from './protocol/index.js';
export * from './gpu/index.js';
