export * from './codec.js';
export * from './ops.js';
export * from './server.js';
export * from './client.js';
