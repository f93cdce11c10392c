// The runtime under every kernel: tensor storage (reference-counted, from the buffer pool),
// the pipeline cache, uniform packing, dispatch (with grids split to fit the device's
// maxComputeWorkgroupsPerDimension), read-back with mapAsync, and the device's health (a lost
// device or a kernel that failed to compile turns into a typed error naming the cause).
//
// Kernel calls are encoded into one command encoder and submitted in batches (every
// SUBMIT_BATCH calls, and before anything that must see their results or could overtake them:
// a read, a sync, a queue.writeBuffer into a pooled storage buffer). Buffers freed meanwhile may
// be handed to later kernels of the same batch, which the encoder orders after the earlier reads;
// uniform and scratch buffers of a batch return to their pools only once it is submitted. Values
// only travel to the CPU in read().

import { BackendUnavailableError, DenoiseError, DisposedTensorError, InvalidArgumentError, type DType, type TypedArray } from '@denoise/core';
import type { Kernel, UniformField } from '../kernel.js';
import { BufferPool, BufferUsage, type BufferPoolStats } from './pool.js';

/** The device limits the backend plans with (the device's own, or lower ones passed in options). */
export interface WebGPULimits {
  readonly maxStorageBufferBindingSize: number;
  readonly maxBufferSize: number;
  readonly maxComputeWorkgroupStorageSize: number;
  readonly maxComputeWorkgroupsPerDimension: number;
  readonly maxComputeInvocationsPerWorkgroup: number;
  readonly maxStorageBuffersPerShaderStage: number;
}

export const LIMIT_NAMES: readonly (keyof WebGPULimits)[] = [
  'maxStorageBufferBindingSize', 'maxBufferSize', 'maxComputeWorkgroupStorageSize',
  'maxComputeWorkgroupsPerDimension', 'maxComputeInvocationsPerWorkgroup', 'maxStorageBuffersPerShaderStage',
];

export interface DeviceLostInfo {
  readonly reason: string;
  readonly message: string;
}

/** One GPU buffer shared by every handle that views it (reshape shares, never copies). */
export class GPUStorage {
  refs = 1;
  constructor(readonly buffer: GPUBuffer, readonly bytes: number) {}
}

/** The backend's DataHandle: a view of `size` 4-byte elements of a storage buffer. */
export class WebGPUHandle {
  constructor(public storage: GPUStorage | null, readonly size: number) {}
}

/** A buffer bound to a kernel: a tensor's handle, or a scratch buffer with its used size. */
export type BufferRef = WebGPUHandle | { readonly buffer: GPUBuffer; readonly size: number };

export interface Dispatch<P> {
  readonly kernel: Kernel<P>;
  readonly params: P;
  /** One per kernel binding, in order. */
  readonly buffers: readonly BufferRef[];
  readonly uniforms: Readonly<Record<string, number>>;
  /** A workgroup count (split over x, y, z as needed) or an explicit grid. */
  readonly workgroups: number | readonly [number, number, number];
}

/** Work for one submission: dispatches, and buffers to zero before the next step. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Step = Dispatch<any> | { readonly clear: GPUBuffer };

interface PipelineEntry {
  readonly pipeline: GPUComputePipeline;
  readonly layout: GPUBindGroupLayout;
  error: Error | null;
}

const COMPUTE_STAGE = 4; // GPUShaderStage.COMPUTE
/** Kernel calls per submission. */
const SUBMIT_BATCH = 16;
const MAP_READ_MODE = 1; // GPUMapMode.READ

export interface RuntimeOptions {
  readonly poolLimitBytes: number;
  /** Tiling of the GEMM kernels (matmul, conv2d and its gradients). */
  readonly gemmTile: 16 | 64;
  readonly onDeviceLost?: (info: DeviceLostInfo) => void;
}

export class Runtime {
  readonly pool: BufferPool;
  private readonly uniformPool: BufferPool;
  private readonly stagingPool: BufferPool;
  private readonly pipelines = new Map<string, PipelineEntry>();
  private readonly layouts = new Map<string, { group: GPUBindGroupLayout; pipeline: GPUPipelineLayout }>();
  private readonly pendingChecks = new Set<Promise<void>>();
  /** Kernels that failed to compile, then anything else the device reported, since the last flush. */
  private readonly compileErrors: Error[] = [];
  private readonly errors: Error[] = [];
  private liveBytes = 0;
  /** Storage of live tensors (destroyed with the backend even when the device is not ours). */
  private readonly live = new Set<GPUStorage>();
  private lostInfo: DeviceLostInfo | null = null;
  /** Encoded, not yet submitted work, and the buffers that return to their pools after it. */
  private pending: { encoder: GPUCommandEncoder; calls: number; uniforms: GPUBuffer[]; scratch: GPUBuffer[] } | null = null;
  private destroyed = false;
  /** Resolves once, when the device is lost (including by destroy()). */
  readonly lost: Promise<DeviceLostInfo>;
  readonly gemmTile: 16 | 64;

  constructor(readonly device: GPUDevice, readonly limits: WebGPULimits, options: RuntimeOptions) {
    this.gemmTile = options.gemmTile;
    this.pool = new BufferPool(device, options.poolLimitBytes, limits.maxBufferSize, undefined, undefined, () => this.flush());
    this.uniformPool = new BufferPool(device, 1 << 20, limits.maxBufferSize, BufferUsage.UNIFORM | BufferUsage.COPY_DST, 'denoise-uniforms');
    this.stagingPool = new BufferPool(device, 64 << 20, limits.maxBufferSize, BufferUsage.MAP_READ | BufferUsage.COPY_DST, 'denoise-staging');
    this.lost = device.lost.then((info) => {
      const lost = { reason: String(info.reason ?? 'unknown'), message: info.message ?? '' };
      this.lostInfo = lost;
      options.onDeviceLost?.(lost);
      return lost;
    });
    device.addEventListener?.('uncapturederror', (event) => {
      const error = (event as GPUUncapturedErrorEvent).error;
      this.errors.push(new DenoiseError(`webgpu: the device reported an error: ${error?.message ?? String(error)}`));
    });
  }

  // ---- health ----------------------------------------------------------------------------------

  /** Throws if the device can no longer run work. */
  check(op: string): void {
    if (this.destroyed) {
      throw new BackendUnavailableError(`webgpu: ${op}: the backend was destroyed; create a new one with createWebGPUBackend()`);
    }
    if (this.lostInfo) {
      const { reason, message } = this.lostInfo;
      const why = `the GPU device was lost (reason "${reason}"${message ? `: ${message}` : ''})`;
      throw new BackendUnavailableError(`webgpu: ${op}: ${why}; create a new backend with createWebGPUBackend()`, [{ name: 'webgpu', reason: why }]);
    }
  }

  /**
   * Waits for pipeline checks in flight and throws the first error reported since the last call:
   * a kernel that failed to compile before the device's follow-up errors about using it.
   */
  async flushErrors(): Promise<void> {
    while (this.pendingChecks.size > 0) await Promise.all([...this.pendingChecks]);
    const first = this.compileErrors[0] ?? this.errors[0];
    this.compileErrors.length = 0;
    this.errors.length = 0;
    if (first) throw first;
  }

  /** Waits until the GPU has finished everything submitted so far, then reports errors. */
  async sync(): Promise<void> {
    this.check('sync');
    this.flush();
    await this.device.queue.onSubmittedWorkDone();
    await this.flushErrors();
  }

  destroy(ownsDevice: boolean): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.pending = null;
    this.pool.drain();
    this.uniformPool.drain();
    this.stagingPool.drain();
    for (const s of this.live) s.buffer.destroy();
    this.live.clear();
    this.liveBytes = 0;
    this.pipelines.clear();
    if (ownsDevice) this.device.destroy();
  }

  // ---- storage ---------------------------------------------------------------------------------

  /** A new handle of `size` elements (4 bytes each, whatever the dtype). */
  alloc(size: number, op = 'alloc'): WebGPUHandle {
    this.check(op);
    const bytes = size * 4;
    if (bytes > this.limits.maxStorageBufferBindingSize) {
      throw new InvalidArgumentError(
        `webgpu: ${op}: a tensor of ${size} elements (${bytes} bytes) exceeds this device's maxStorageBufferBindingSize ` +
          `(${this.limits.maxStorageBufferBindingSize} bytes); split the work into smaller tensors`,
      );
    }
    const storage = new GPUStorage(this.pool.acquire(Math.max(bytes, 4)), bytes);
    this.liveBytes += bytes;
    this.live.add(storage);
    return new WebGPUHandle(storage, size);
  }

  /** A second handle on the same storage (reshape). */
  share(handle: WebGPUHandle, size: number): WebGPUHandle {
    const storage = this.storageOf(handle, 'reshape');
    storage.refs++;
    return new WebGPUHandle(storage, size);
  }

  release(handle: WebGPUHandle): void {
    const storage = handle.storage;
    if (!storage) return;
    handle.storage = null;
    if (--storage.refs > 0 || !this.live.delete(storage)) return;
    this.liveBytes -= storage.bytes;
    this.pool.release(storage.buffer);
  }

  /** A scratch buffer for one submission; give it back with `run(steps, [buffer])`. */
  scratch(bytes: number): { buffer: GPUBuffer; size: number } {
    const size = Math.max(Math.ceil(bytes / 4) * 4, 4);
    return { buffer: this.pool.acquire(size), size };
  }

  /** A scratch buffer holding `words` (host-computed tables such as resize taps). */
  scratchWith(words: Uint32Array): { buffer: GPUBuffer; size: number } {
    const s = this.scratch(words.byteLength);
    this.flush(); // the pooled buffer may still be read by unsubmitted work
    if (words.length > 0) this.device.queue.writeBuffer(s.buffer, 0, words.buffer, words.byteOffset, words.byteLength);
    return s;
  }

  storageOf(handle: unknown, op: string): GPUStorage {
    const storage = handle instanceof WebGPUHandle ? handle.storage : null;
    if (!storage) throw new DisposedTensorError(`webgpu: ${op}: a handle is disposed or does not belong to this backend`);
    return storage;
  }

  memory(): { bytes: number; buffers: number } {
    return { bytes: this.liveBytes, buffers: this.live.size };
  }

  poolStats(): BufferPoolStats {
    return this.pool.stats();
  }

  // ---- upload and read-back --------------------------------------------------------------------

  upload(values: TypedArray, dtype: DType): WebGPUHandle {
    const handle = this.alloc(values.length, 'upload');
    if (values.length === 0) return handle;
    const words =
      dtype === 'float32'
        ? values instanceof Float32Array ? values : Float32Array.from(values)
        : dtype === 'int32'
          ? values instanceof Int32Array ? values : Int32Array.from(values)
          : Uint32Array.from(values, (v) => (v !== 0 ? 1 : 0));
    this.flush(); // the pooled buffer may still be read by unsubmitted work
    this.device.queue.writeBuffer(handle.storage!.buffer, 0, words.buffer, words.byteOffset, words.byteLength);
    return handle;
  }

  async read(handle: WebGPUHandle, dtype: DType): Promise<TypedArray> {
    this.check('read');
    const storage = this.storageOf(handle, 'read');
    const bytes = handle.size * 4;
    let words = new ArrayBuffer(0);
    if (bytes > 0) {
      const staging = this.stagingPool.acquire(bytes);
      this.batch().encoder.copyBufferToBuffer(storage.buffer, 0, staging, 0, bytes);
      this.flush();
      try {
        await staging.mapAsync(MAP_READ_MODE, 0, bytes);
      } catch (e) {
        this.check('read');
        throw new DenoiseError(`webgpu: read: mapping the staging buffer failed: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
      }
      words = staging.getMappedRange(0, bytes).slice(0);
      staging.unmap();
      if (!this.destroyed) this.stagingPool.release(staging);
    }
    await this.flushErrors();
    switch (dtype) {
      case 'float32':
        return new Float32Array(words);
      case 'int32':
        return new Int32Array(words);
      case 'bool':
        return Uint8Array.from(new Uint32Array(words));
      default:
        throw new InvalidArgumentError(`webgpu: read: dtype ${JSON.stringify(dtype)} is not stored by this backend`);
    }
  }

  // ---- pipelines and dispatch ------------------------------------------------------------------

  /** The compiled pipeline for `kernel` at `params` (compiled on first use, then cached). */
  pipeline<P>(kernel: Kernel<P>, params: P): PipelineEntry {
    const key = `${kernel.name}|${kernel.cacheKey(params)}`;
    const cached = this.pipelines.get(key);
    if (cached) {
      if (cached.error) throw cached.error;
      return cached;
    }
    const hasUniforms = kernel.uniforms(params).length > 0;
    const layout = this.layoutFor(kernel, hasUniforms);
    let code: string;
    try {
      code = kernel.source(params);
    } catch (e) {
      throw new DenoiseError(`webgpu: kernel "${kernel.name}" (${key}): building its WGSL failed: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
    }
    this.device.pushErrorScope('validation');
    const module = this.device.createShaderModule({ code, label: kernel.name });
    const pipeline = this.device.createComputePipeline({ layout: layout.pipeline, compute: { module, entryPoint: 'main' }, label: key });
    const entry: PipelineEntry = { pipeline, layout: layout.group, error: null };
    const check = this.device.popErrorScope().then(
      (err) => {
        if (!err) return;
        entry.error = new DenoiseError(`webgpu: kernel "${kernel.name}" (${key}) failed to compile: ${err.message}`);
        this.compileErrors.push(entry.error);
      },
      () => undefined, // the device went away; check() reports that
    );
    const tracked = check.finally(() => this.pendingChecks.delete(tracked));
    this.pendingChecks.add(tracked);
    this.pipelines.set(key, entry);
    return entry;
  }

  /** Number of compiled pipelines. */
  get pipelineCount(): number {
    return this.pipelines.size;
  }

  private layoutFor<P>(kernel: Kernel<P>, hasUniforms: boolean): { group: GPUBindGroupLayout; pipeline: GPUPipelineLayout } {
    const key = `${kernel.name}|${hasUniforms}`;
    let layout = this.layouts.get(key);
    if (!layout) {
      const entries: GPUBindGroupLayoutEntry[] = kernel.bindings.map((b, i) => ({
        binding: i,
        visibility: COMPUTE_STAGE,
        buffer: { type: b.access === 'read' ? 'read-only-storage' : 'storage' },
      }));
      if (hasUniforms) entries.push({ binding: kernel.bindings.length, visibility: COMPUTE_STAGE, buffer: { type: 'uniform' } });
      const group = this.device.createBindGroupLayout({ entries, label: kernel.name });
      layout = { group, pipeline: this.device.createPipelineLayout({ bindGroupLayouts: [group], label: kernel.name }) };
      this.layouts.set(key, layout);
    }
    return layout;
  }

  /** Splits `count` workgroups over a grid whose sides fit maxComputeWorkgroupsPerDimension. */
  grid(count: number, name: string): [number, number, number] {
    const max = this.limits.maxComputeWorkgroupsPerDimension;
    if (count <= max) return [count, 1, 1];
    const y = Math.ceil(count / max);
    if (y <= max) return [Math.ceil(count / y), y, 1];
    const z = Math.ceil(count / (max * max));
    if (z > max) throw new InvalidArgumentError(`webgpu: kernel "${name}": ${count} workgroups do not fit a ${max}^3 grid`);
    return [max, max, z];
  }

  /** Encodes the steps of one kernel call; `scratch` buffers return to the pool once submitted. */
  run(steps: readonly Step[], scratch: ReadonlyArray<{ buffer: GPUBuffer }> = []): void {
    this.check(steps.length > 0 && 'kernel' in steps[0]! ? steps[0].kernel.name : 'run');
    const batch = this.batch();
    try {
      for (const step of steps) {
        if ('clear' in step) batch.encoder.clearBuffer(step.clear);
        else this.encode(batch.encoder, step, batch.uniforms);
      }
    } finally {
      for (const s of scratch) batch.scratch.push(s.buffer);
    }
    if (++batch.calls >= SUBMIT_BATCH) this.flush();
  }

  /** Submits the pending batch, if any. */
  flush(): void {
    const batch = this.pending;
    if (!batch) return;
    this.pending = null;
    try {
      this.device.queue.submit([batch.encoder.finish()]);
    } finally {
      for (const u of batch.uniforms) this.uniformPool.release(u);
      for (const s of batch.scratch) this.pool.release(s);
    }
  }

  private batch(): NonNullable<Runtime['pending']> {
    return (this.pending ??= { encoder: this.device.createCommandEncoder(), calls: 0, uniforms: [], scratch: [] });
  }

  private encode<P>(encoder: GPUCommandEncoder, d: Dispatch<P>, uniforms: GPUBuffer[]): void {
    const max = this.limits.maxComputeWorkgroupsPerDimension;
    const grid = typeof d.workgroups === 'number' ? this.grid(d.workgroups, d.kernel.name) : d.workgroups;
    if (grid[0] * grid[1] * grid[2] === 0) return;
    if (grid.some((g) => g > max)) {
      throw new InvalidArgumentError(`webgpu: kernel "${d.kernel.name}": grid ${grid.join('x')} exceeds maxComputeWorkgroupsPerDimension ${max}`);
    }
    const { pipeline, layout } = this.pipeline(d.kernel, d.params);
    const entries: GPUBindGroupEntry[] = d.buffers.map((ref, binding) => {
      if (ref instanceof WebGPUHandle) {
        const storage = this.storageOf(ref, d.kernel.name);
        return { binding, resource: { buffer: storage.buffer, size: Math.max(ref.size * 4, 4) } };
      }
      return { binding, resource: { buffer: ref.buffer, size: ref.size } };
    });
    const fields = d.kernel.uniforms(d.params);
    if (fields.length > 0) {
      const data = packUniforms(d.kernel.name, fields, d.uniforms);
      const buffer = this.uniformPool.acquire(data.byteLength);
      uniforms.push(buffer);
      this.device.queue.writeBuffer(buffer, 0, data);
      entries.push({ binding: d.buffers.length, resource: { buffer, size: data.byteLength } });
    }
    const bindGroup = this.device.createBindGroup({ layout, entries, label: d.kernel.name });
    const pass = encoder.beginComputePass({ label: d.kernel.name });
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(grid[0], grid[1], grid[2]);
    pass.end();
  }
}

/** A dispatch with one invocation per element of a `size`-element loop (u.size, elementwiseMain). */
export function perElement<P>(
  kernel: Kernel<P>,
  params: P,
  buffers: readonly BufferRef[],
  size: number,
  uniforms: Readonly<Record<string, number>> = {},
): Dispatch<P> {
  return { kernel, params, buffers, uniforms: { size, ...uniforms }, workgroups: Math.ceil(size / kernel.workgroupSize[0]) };
}

/** Four bytes per field in declaration order (a struct of scalars has no padding), 16-byte total. */
export function packUniforms(kernel: string, fields: readonly UniformField[], values: Readonly<Record<string, number>>): ArrayBuffer {
  const data = new ArrayBuffer(Math.max(16, Math.ceil((fields.length * 4) / 16) * 16));
  const view = new DataView(data);
  fields.forEach((f, i) => {
    const v = values[f.name];
    if (v === undefined) throw new DenoiseError(`webgpu: kernel "${kernel}": no value for uniform "${f.name}"`);
    if (f.type === 'f32') view.setFloat32(i * 4, v, true);
    else if (f.type === 'i32') view.setInt32(i * 4, v, true);
    else view.setUint32(i * 4, v >>> 0, true);
  });
  return data;
}
