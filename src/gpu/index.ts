/**
 * gpu.js backends for the head's heavy ops (RoI pooling, the dense layers), proven equal to the
 * reference ops (properties/gpu.test.ts). gpu.js itself loads only inside `createBackend`.
 */
export {
  BACKEND_MODES,
  PROTOCOL_BACKENDS,
  EXPECTED_KERNEL_CLASS,
  createBackend,
  type Backend,
  type BackendMode,
  type BackendName,
  type BackendOptions,
  type ProbeResult,
  type ProtocolBackend,
  type RunningMode,
} from './backend.js';
export { DEFAULT_TILE_LIMIT, GPU_KERNEL_NAMES, type GpuMode, type GpuKernelName } from './kernels.js';
