// The @denoise Backend on raw WebGPU. Handles are views of pooled storage buffers (float32 as
// f32, int32 as i32, bool as one u32 per element); kernels are WGSL compute pipelines submitted
// as they are called; values reach the CPU only through read() (mapAsync), so readSync is not
// available and capabilities.syncRead is false: use `await tensor.data()`.

import { DenoiseError, InvalidArgumentError, type Backend, type DataHandle, type DType, type TypedArray } from '@denoise/core';
import { acquireDevice, effectiveLimits, type WebGPUBackendOptions } from './gpu.js';
import { attention, attentionOptions, type WebGPUAttentionOptions } from './kernels/fused/attention.js';
import { createFusedKernels, createPrimitiveKernels } from './kernels/index.js';
import type { BufferPoolStats } from './runtime/pool.js';
import { Runtime, WebGPUHandle, type DeviceLostInfo, type WebGPULimits } from './runtime/runtime.js';

const DTYPES: readonly DType[] = ['float32', 'int32', 'bool'];
const DEFAULT_POOL_LIMIT = 256 << 20;

export interface WebGPUAdapterInfo {
  readonly vendor: string;
  readonly architecture: string;
  readonly device: string;
  readonly description: string;
}

/** The WebGPU backend: a core Backend plus what a caller may want to know about the device. */
export interface WebGPUBackend extends Backend {
  readonly name: 'webgpu';
  readonly device: GPUDevice;
  /** The adapter's description (empty strings where the implementation hides them). */
  readonly adapterInfo: WebGPUAdapterInfo;
  /** The limits the kernels plan with. */
  readonly limits: WebGPULimits;
  /** The GEMM tiling in use (see WebGPUBackendOptions.gemmTile). */
  readonly gemmTile: 16 | 64;
  /** Resolves when the device is lost (also after destroy()); never rejects. */
  readonly lost: Promise<DeviceLostInfo>;
  /** Storage buffer pool counters (all buffers, in use and free). */
  pool(): BufferPoolStats;
  /** Destroys the free buffers of the pool (buffers of live tensors stay). */
  releasePool(): void;
  /** Restarts the pool's peak-bytes counter at the current allocation. */
  resetPeak(): void;
  /** Number of compiled pipelines (one per kernel and cache key). */
  pipelineCount(): number;
  /** Waits for all submitted GPU work; rejects with the first error the device reported since the last read or sync. */
  sync(): Promise<void>;
  /** Frees every buffer and, when the backend created the device, destroys it. Later calls throw. */
  destroy(): void;
}

function adapterInfoOf(adapter: GPUAdapter | null): WebGPUAdapterInfo {
  const info = (adapter as { info?: Partial<WebGPUAdapterInfo> } | null)?.info;
  return {
    vendor: info?.vendor ?? '',
    architecture: info?.architecture ?? '',
    device: info?.device ?? '',
    description: info?.description ?? '',
  };
}

/** lavapipe / llvmpipe, SwiftShader, WARP: adapters that run shaders on the CPU. */
function isSoftwareAdapter(info: WebGPUAdapterInfo, adapter: GPUAdapter | null): boolean {
  const fallback = (adapter as { info?: { isFallbackAdapter?: boolean }; isFallbackAdapter?: boolean } | null);
  if (fallback?.info?.isFallbackAdapter || fallback?.isFallbackAdapter) return true;
  return /software|llvmpipe|lavapipe|swiftshader|microsoft basic render/i.test(`${info.architecture} ${info.device} ${info.description}`);
}

function checkDType(op: string, dtype: DType): void {
  if (!DTYPES.includes(dtype)) {
    throw new InvalidArgumentError(
      `webgpu: ${op}: dtype ${JSON.stringify(dtype)} is not supported (supported: float32, int32, bool); cast to float32 first, or use the reference backend for float64`,
    );
  }
}

function handleOf(handle: DataHandle, op: string): WebGPUHandle {
  if (!(handle instanceof WebGPUHandle)) throw new DenoiseError(`webgpu: ${op}: the handle does not belong to a WebGPU backend`);
  return handle;
}

/**
 * Creates a WebGPU backend: on the given device, or on a device requested from the given
 * adapter, navigator.gpu, or (in Node) the `webgpu` package. Throws BackendUnavailableError
 * naming the cause when no adapter or device can be had.
 */
export async function createWebGPUBackend(options: WebGPUBackendOptions & WebGPUAttentionOptions = {}): Promise<WebGPUBackend> {
  attentionOptions(options, false); // validated before a device is requested
  const acquired = await acquireDevice(options);
  const { device, ownsDevice } = acquired;
  const limits = effectiveLimits(device, options.limits);
  const adapterInfo = adapterInfoOf(acquired.adapter);
  if (options.gemmTile !== undefined && options.gemmTile !== 16 && options.gemmTile !== 64) {
    throw new InvalidArgumentError(`createWebGPUBackend: gemmTile must be 16 or 64, got ${String(options.gemmTile)}`);
  }
  const software = isSoftwareAdapter(adapterInfo, acquired.adapter);
  const attentionOpts = attentionOptions(options, software);
  const rt = new Runtime(device, limits, {
    poolLimitBytes: options.poolLimitBytes ?? DEFAULT_POOL_LIMIT,
    gemmTile: options.gemmTile ?? (software ? 16 : 64),
    ...(options.onDeviceLost ? { onDeviceLost: options.onDeviceLost } : {}),
  });
  return {
    name: 'webgpu',
    specVersion: 1,
    capabilities: { dtypes: DTYPES, syncRead: false },
    kernels: createPrimitiveKernels(rt),
    fused: {
      ...createFusedKernels(rt),
      // By size: materialised scores on the GEMM kernels, or the flash kernel (kernels/fused/attention.ts).
      attention: (q, k, v, mask, attrs, out) => attention(rt, q, k, v, mask, attrs, out, attentionOpts),
    },
    device,
    adapterInfo,
    gemmTile: rt.gemmTile,
    limits,
    lost: rt.lost,
    upload(values: TypedArray, shape: readonly number[], dtype: DType): DataHandle {
      checkDType('upload', dtype);
      return rt.upload(values, dtype);
    },
    readSync(): TypedArray {
      throw new InvalidArgumentError('webgpu: readSync: a WebGPU backend reads asynchronously only; use await tensor.data()');
    },
    read(handle: DataHandle, dtype: DType): Promise<TypedArray> {
      try {
        checkDType('read', dtype);
        return rt.read(handleOf(handle, 'read'), dtype);
      } catch (e) {
        return Promise.reject(e);
      }
    },
    dispose(handle: DataHandle): void {
      if (handle instanceof WebGPUHandle) rt.release(handle);
    },
    memory: () => rt.memory(),
    pool: () => rt.poolStats(),
    releasePool: () => rt.pool.drain(),
    resetPeak: () => rt.pool.resetPeak(),
    pipelineCount: () => rt.pipelineCount,
    sync: () => rt.sync(),
    destroy(): void {
      rt.destroy(ownsDevice);
      acquired.release();
    },
  };
}
