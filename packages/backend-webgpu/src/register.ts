// Registration with @denoise/core's backend registry, e.g.
//   import { registerBackend, setBackend } from '@denoise/core';
//   import { registerWebGPUBackend } from '@denoise/backend-webgpu';
//   registerWebGPUBackend(registerBackend);
//   await setBackend('webgpu');
// Registering requests no adapter and imports nothing: the factory does, on first resolution.

import type { Backend } from '@denoise/core';
import { createWebGPUBackend } from './backend.js';
import type { WebGPUBackendOptions } from './gpu.js';
import type { WebGPUAttentionOptions } from './kernels/fused/attention.js';

/**
 * Priority among core's registered backends: above tfjs-node (30), below tfjs-node-gpu (40). A
 * real GPU through WebGPU beats native TensorFlow on the CPU, while CUDA TensorFlow stays first
 * where it is installed (it is faster on the same card, and a software WebGPU adapter such as
 * lavapipe would otherwise win over it).
 */
export const WEBGPU_PRIORITY = 35;

let defaultFactory: (() => Promise<Backend>) | null = null;

/** Calls `register` (core's registerBackend) for the 'webgpu' backend. Loads nothing. */
export function registerWebGPUBackend(
  register: (name: 'webgpu', factory: () => Promise<Backend>, priority: number) => void,
  options?: WebGPUBackendOptions & WebGPUAttentionOptions,
): void {
  // The same function when no options are given, so registering twice is harmless in core.
  const factory = options !== undefined ? () => createWebGPUBackend(options) : (defaultFactory ??= () => createWebGPUBackend());
  register('webgpu', factory, WEBGPU_PRIORITY);
}
