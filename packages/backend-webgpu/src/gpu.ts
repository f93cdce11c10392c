// Where the GPU comes from: a device or adapter passed in, else `navigator.gpu` (browsers, and
// any runtime that provides it), else Node's `webgpu` package (Dawn), imported only here and only
// when needed. The device is requested with the adapter's own maxima for the limits the kernels
// plan with (the defaults are far lower: 128 MiB per binding), and the options may lower them
// further (tests use that to force split dispatches on any adapter).

import { BackendUnavailableError, InvalidArgumentError } from '@denoise/core';
import { LIMIT_NAMES, type DeviceLostInfo, type WebGPULimits } from './runtime/runtime.js';

export interface WebGPUBackendOptions {
  /** Use this device (the backend then never destroys it). */
  readonly device?: GPUDevice;
  /** Request the device from this adapter. */
  readonly adapter?: GPUAdapter;
  /** Passed to requestAdapter(). */
  readonly powerPreference?: GPUPowerPreference;
  /** The GPU object to request an adapter from (default: navigator.gpu, else the `webgpu` package in Node). */
  readonly gpu?: GPU;
  /** Lower limits than the device's (each is clamped to the device's own value). */
  readonly limits?: Partial<WebGPULimits>;
  /** Free storage buffers kept for reuse beyond this many bytes are destroyed (default 256 MiB). */
  readonly poolLimitBytes?: number;
  /** Called once if the device is lost (every later call on the backend throws BackendUnavailableError). */
  readonly onDeviceLost?: (info: DeviceLostInfo) => void;
  /** Node only: flags for the `webgpu` package's create(), e.g. ['adapter=llvmpipe']. */
  readonly dawnFlags?: readonly string[];
  /**
   * Tiling of matmul and the convolutions: 64 (64 x 64 tiles, 4 x 4 outputs per invocation) or
   * 16 (16 x 16 tiles, one output each). Default: 16 on software adapters (lavapipe,
   * SwiftShader), whose compilers are slow on the larger kernel, else 64.
   */
  readonly gemmTile?: 16 | 64;
  /** Loads a module by specifier (default: dynamic import()); injectable for tests and bundlers. */
  readonly importer?: (specifier: string) => Promise<unknown>;
}

export interface AcquiredDevice {
  readonly device: GPUDevice;
  readonly adapter: GPUAdapter | null;
  readonly ownsDevice: boolean;
  /** Call once the device is no longer used: lets go of Node's shared Dawn instance. */
  readonly release: () => void;
}

// Node: one Dawn instance per set of flags, shared by every backend of the process and dropped
// when the last of them is destroyed. Dawn must stay referenced while its devices live, and
// while referenced it keeps Node running; separate instances per backend also multiply Dawn's
// threads, which tear down racily at exit.
const dawnInstances = new Map<string, { gpu: Promise<GPU>; users: number }>();

function shareDawn(options: WebGPUBackendOptions): { gpu: Promise<GPU>; release: () => void } {
  const key = (options.dawnFlags ?? []).join('\n');
  let entry = dawnInstances.get(key);
  if (!entry) {
    entry = { gpu: loadDawn(options), users: 0 };
    dawnInstances.set(key, entry);
    entry.gpu.catch(() => dawnInstances.delete(key));
  }
  entry.users++;
  const shared = entry;
  let released = false;
  return {
    gpu: shared.gpu,
    release: () => {
      if (released) return;
      released = true;
      if (--shared.users === 0 && dawnInstances.get(key) === shared) dawnInstances.delete(key);
    },
  };
}

const defaultImporter = (specifier: string): Promise<unknown> => import(/* @vite-ignore */ specifier);

function isNode(): boolean {
  return typeof process !== 'undefined' && typeof process.versions?.node === 'string';
}

const NO_ADAPTER_NODE =
  'in Node the `webgpu` package (Dawn) needs a Vulkan (Linux), Metal (macOS) or D3D12 (Windows) driver; ' +
  "on Linux without a GPU install Mesa's lavapipe and export VK_ICD_FILENAMES " +
  '(see @denoise/backend-webgpu\'s README; scripts/webgpu-env.sh prints the line)';

/** The GPU object: options.gpu, navigator.gpu, or Node's `webgpu` package (shared). */
function obtainGPU(options: WebGPUBackendOptions): { gpu: Promise<GPU>; release: () => void } {
  const none = () => undefined;
  if (options.gpu) return { gpu: Promise.resolve(options.gpu), release: none };
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  if (nav?.gpu) return { gpu: Promise.resolve(nav.gpu), release: none };
  if (!isNode()) {
    const e = new BackendUnavailableError(
      'webgpu: this browser exposes no WebGPU (navigator.gpu is undefined); WebGPU needs a secure context (https or localhost) and a browser that ships it (Chrome / Edge 113+, Safari 26+, Firefox 141+)',
    );
    return { gpu: Promise.reject(e), release: none };
  }
  // An injected importer is a test or a bundler's loader: its instance is its own.
  return options.importer ? { gpu: loadDawn(options), release: none } : shareDawn(options);
}

async function loadDawn(options: WebGPUBackendOptions): Promise<GPU> {
  let mod: unknown;
  try {
    mod = await (options.importer ?? defaultImporter)('webgpu');
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    throw new BackendUnavailableError(`webgpu: the \`webgpu\` package (Dawn for Node) could not be loaded (${why}); install it with: npm install webgpu`, [], { cause: e });
  }
  const create = (mod as { create?: (flags: string[]) => GPU }).create;
  if (typeof create !== 'function') {
    throw new BackendUnavailableError('webgpu: the `webgpu` package does not export create(); reinstall it with: npm install webgpu');
  }
  return create([...(options.dawnFlags ?? [])]);
}

export async function acquireDevice(options: WebGPUBackendOptions): Promise<AcquiredDevice> {
  if (options.device) return { device: options.device, adapter: options.adapter ?? null, ownsDevice: false, release: () => undefined };
  if (options.adapter) return { ...(await requestDevice(options.adapter)), release: () => undefined };
  const { gpu, release } = obtainGPU(options);
  try {
    const adapter = await (await gpu).requestAdapter(options.powerPreference ? { powerPreference: options.powerPreference } : {});
    return { ...(await requestDevice(adapter)), release };
  } catch (e) {
    release();
    throw e;
  }
}

async function requestDevice(adapter: GPUAdapter | null): Promise<{ device: GPUDevice; adapter: GPUAdapter; ownsDevice: true }> {
  if (!adapter) {
    throw new BackendUnavailableError(
      `webgpu: no WebGPU adapter is available (requestAdapter() returned null); ${isNode() ? NO_ADAPTER_NODE : 'the browser found no usable GPU (a blocklisted driver?)'}`,
    );
  }
  const requiredLimits: Record<string, number> = {};
  for (const name of LIMIT_NAMES) {
    const v = adapter.limits[name];
    if (typeof v === 'number') requiredLimits[name] = v;
  }
  let device: GPUDevice;
  try {
    device = await adapter.requestDevice({ requiredLimits, label: 'denoise' });
  } catch (e) {
    throw new BackendUnavailableError(`webgpu: requestDevice() failed: ${e instanceof Error ? e.message : String(e)}`, [], { cause: e });
  }
  return { device, adapter, ownsDevice: true };
}

/** The device's limits, lowered where options ask for it. */
export function effectiveLimits(device: GPUDevice, lower: Partial<WebGPULimits> = {}): WebGPULimits {
  const limits = {} as Record<keyof WebGPULimits, number>;
  for (const name of LIMIT_NAMES) {
    const own = device.limits[name];
    const asked = lower[name];
    if (asked !== undefined && (!Number.isInteger(asked) || asked < 1)) {
      throw new InvalidArgumentError(`createWebGPUBackend: limits.${name} must be a positive integer, got ${String(asked)}`);
    }
    limits[name] = asked !== undefined ? Math.min(asked, own) : own;
  }
  return limits;
}
