// @denoise/backend-webgpu: every @denoise/core primitive as a WGSL compute kernel on raw WebGPU,
// in browsers (navigator.gpu) and in Node (the optional `webgpu` package). This entry has no
// side effects: nothing touches the GPU until createWebGPUBackend() (or the registered factory)
// runs.

export { createWebGPUBackend } from './backend.js';
export type { WebGPUBackend, WebGPUAdapterInfo } from './backend.js';
export type { WebGPUBackendOptions } from './gpu.js';
export type { WebGPUAttentionOptions } from './kernels/fused/attention.js';
export { registerWebGPUBackend, WEBGPU_PRIORITY } from './register.js';
export { listKernels, KERNELS } from './kernels/index.js';
export type { Kernel, KernelInfo, KernelBinding, UniformField, ScalarType, StorageAccess } from './kernel.js';
export type { WebGPULimits, DeviceLostInfo } from './runtime/runtime.js';
export type { BufferPoolStats } from './runtime/pool.js';
