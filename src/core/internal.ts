/**
 * The vocabulary as the project's own modules see it: everything of the public `core`, plus the
 * two helpers that hand storage over without a copy. Never re-exported from a package entry.
 */
export * from './index.js';
export { adoptTensor, float32Data } from './tensor.js';
