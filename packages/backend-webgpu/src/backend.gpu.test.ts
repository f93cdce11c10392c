// The backend's runtime on a real adapter: storage accounting, the async-only read path, device
// limits (a lowered maxComputeWorkgroupsPerDimension forces split grids in every kind of
// dispatch; a lowered maxStorageBufferBindingSize refuses large tensors), a lost device, and a
// kernel whose WGSL does not compile.
import { BackendUnavailableError, DenoiseError, InvalidArgumentError, engine } from '@denoise/core';
import * as op from '@denoise/core';
import type { ConformanceCase } from '@denoise/core/testing';
import { randomFloat, randomInt } from '@denoise/core/testing';
import { describe, expect, it } from 'vitest';
import { createWebGPUBackend } from './index.js';
import { declarations, elementwiseMain, io, u32, type Kernel } from './kernel.js';
import { perElement, Runtime } from './runtime/runtime.js';
import { describeGpu, itMatchesReference, openTestBackend } from './test-utils/gpu.js';

const f = randomFloat;

await describeGpu('webgpu backend runtime', (backend) => {
  it('declares async-only reads and refuses float64', () => {
    const b = backend();
    expect(b.name).toBe('webgpu');
    expect(b.specVersion).toBe(1);
    expect(b.capabilities).toEqual({ dtypes: ['float32', 'int32', 'bool'], syncRead: false });
    const h = b.upload(Float32Array.of(1, 2), [2], 'float32');
    expect(() => b.readSync(h, 'float32')).toThrow(/await tensor.data\(\)/);
    b.dispose(h);
    expect(() => b.upload(Float64Array.of(1), [1], 'float64')).toThrow(InvalidArgumentError);
  });

  it('round-trips every dtype, and empty tensors', async () => {
    const b = backend();
    const cases = [
      [Float32Array.of(1.5, -2, 3e-8), 'float32'],
      [Int32Array.of(-7, 0, 2147483647), 'int32'],
      [Uint8Array.of(1, 0, 1, 1), 'bool'],
      [new Float32Array(0), 'float32'],
    ] as const;
    for (const [values, dtype] of cases) {
      const h = b.upload(values, [values.length], dtype);
      expect(await b.read(h, dtype)).toEqual(values);
      b.dispose(h);
    }
  });

  it('counts live storage in memory() and returns it on dispose', () => {
    const b = backend();
    const before = b.memory();
    const h = b.upload(new Float32Array(100), [100], 'float32');
    expect(b.memory()).toEqual({ bytes: before.bytes + 400, buffers: before.buffers + 1 });
    b.dispose(h);
    b.dispose(h); // a second dispose is harmless
    expect(b.memory()).toEqual(before);
  });

  it('on a device it was given, destroy() frees its buffers and leaves the device alone', async () => {
    const outer = backend();
    const inner = await createWebGPUBackend({ device: outer.device });
    inner.upload(Float32Array.of(1, 2, 3), [3], 'float32');
    expect(inner.memory().buffers).toBe(1);
    inner.destroy();
    expect(inner.memory()).toEqual({ bytes: 0, buffers: 0 });
    const h = outer.upload(Float32Array.of(4, 5), [2], 'float32');
    expect(Array.from(await outer.read(h, 'float32'))).toEqual([4, 5]);
    outer.dispose(h);
  });

  it('reports a kernel whose WGSL does not compile, naming the kernel', async () => {
    const b = backend();
    const broken: Kernel<Record<string, never>> = {
      name: 'brokenOnPurpose',
      workgroupSize: [64, 1, 1],
      bindings: io([], ['dst']),
      uniforms: () => [u32('size')],
      cacheKey: () => '',
      source: (p) => `${declarations(broken, p, { dst: 'f32' })}\n${elementwiseMain(64, '  dst[i] = undefined_symbol;')}`,
    };
    const rt = new Runtime(b.device, b.limits, { poolLimitBytes: 1 << 20, gemmTile: 16 });
    const out = rt.alloc(10);
    rt.run([perElement(broken, {}, [out], 10)]);
    await expect(rt.flushErrors()).rejects.toThrow(/kernel "brokenOnPurpose".*failed to compile.*undefined_symbol/s);
    expect(() => rt.run([perElement(broken, {}, [out], 10)])).toThrow(/brokenOnPurpose/);
    await rt.flushErrors().catch(() => undefined);
    rt.destroy(false);
  });
});

// Every dispatch shape under a tiny grid limit: elementwise (3-D grid), reductions (one
// workgroup per row), GEMM (tiles and batches in chunks), attention (query tiles and batches),
// scatterAdd's passes and the fused rows.
const SPLIT: ConformanceCase[] = [
  { name: 'elementwise/3d-grid', inputs: (g) => [f(g, [3, 1000]), f(g, [1000])], run: (a, b) => op.mul(op.add(a, b), a) },
  { name: 'reduce/rows', inputs: (g) => [f(g, [40, 100])], run: (x) => op.sum(x, 1), tol: { atol: 1e-4, rtol: 1e-4 } },
  { name: 'matmul/tiles-and-batches', inputs: (g) => [f(g, [9, 70, 20]), f(g, [9, 20, 75])], run: (a, b) => op.matmul(a, b) },
  { name: 'conv2d/tiles', inputs: (g) => [f(g, [1, 3, 5, 5]), f(g, [70, 3, 3, 3])], run: (x, w) => op.conv2d(x, w, { padding: 1 }) },
  { name: 'attention/query-tiles-and-batches', inputs: (g) => [f(g, [2, 5, 300, 4]), f(g, [2, 5, 20, 4]), f(g, [2, 5, 20, 4])], run: (q, k, v) => op.attention(q, k, v) },
  { name: 'scatterAdd', inputs: (g) => [randomInt(g, [900], 0, 300), f(g, [900, 2])], run: (i, u) => op.scatterAdd([300, 2], i, u, 0), tol: { atol: 1e-4, rtol: 1e-4 } },
  { name: 'softmax/rows', inputs: (g) => [f(g, [60, 5])], run: (x) => op.softmax(x) },
];

await describeGpu('dispatch splitting under maxComputeWorkgroupsPerDimension = 4', (backend) => {
  it('uses the lowered limit', () => expect(backend().limits.maxComputeWorkgroupsPerDimension).toBe(4));
  itMatchesReference(backend, SPLIT);
  it('refuses a grid beyond limit^3 workgroups with a clear error', () => {
    const b = backend();
    const prev = engine.backend;
    engine.setBackend(b);
    try {
      const x = op.tensor(new Float32Array(64 * 65));
      expect(() => op.exp(x)).toThrow(/65 workgroups do not fit a 4\^3 grid/);
      x.dispose();
    } finally {
      engine.setBackend(prev);
    }
  });
}, { limits: { maxComputeWorkgroupsPerDimension: 4 } });

// With no room in the pool every freed buffer is destroyed at once, while unsubmitted kernels of
// the current batch may still use it: the runtime must submit them first.
await describeGpu('an empty buffer pool', (backend) => {
  itMatchesReference(backend, [{ name: 'mlp-forward-backward', inputs: (g) => [f(g, [6, 5]), f(g, [4, 5])], run: (x, w) => op.gelu(op.linear(x, w)), grad: true }]);
  it('keeps nothing', () => expect(backend().pool().pooledBytes).toBe(0));
}, { poolLimitBytes: 0 });

await describeGpu('maxStorageBufferBindingSize', (backend) => {
  it('refuses a tensor larger than one binding may be, naming the limit', () => {
    expect(() => backend().upload(new Float32Array(300), [300], 'float32')).toThrow(/exceeds this device's maxStorageBufferBindingSize \(1024 bytes\)/);
    const h = backend().upload(new Float32Array(256), [256], 'float32');
    backend().dispose(h);
  });
}, { limits: { maxStorageBufferBindingSize: 1024 } });

const probe = await openTestBackend();
probe.backend?.destroy();

describe.skipIf(!probe.backend)('a lost device', () => {
  it('makes every later call throw BackendUnavailableError naming the reason', async () => {
    const reasons: string[] = [];
    const b = await createWebGPUBackend({ onDeviceLost: (info) => reasons.push(info.reason) });
    const h = b.upload(Float32Array.of(1, 2, 3), [3], 'float32');
    b.device.destroy();
    const info = await b.lost;
    expect(info.reason).toBe('destroyed');
    expect(reasons).toEqual(['destroyed']);
    expect(() => b.upload(Float32Array.of(1), [1], 'float32')).toThrow(BackendUnavailableError);
    expect(() => b.kernels.unary({ shape: [3], dtype: 'float32', handle: h }, { op: 'exp' }, { shape: [3], dtype: 'float32' })).toThrow(
      /webgpu: unary: the GPU device was lost \(reason "destroyed".*create a new backend/,
    );
    await expect(b.read(h, 'float32')).rejects.toThrow(BackendUnavailableError);
    b.destroy();
  });

  it('after destroy(), calls say the backend was destroyed', async () => {
    const b = await createWebGPUBackend();
    b.destroy();
    expect(() => b.upload(Float32Array.of(1), [1], 'float32')).toThrow(/backend was destroyed/);
    expect(DenoiseError.isInstance(await b.read({}, 'float32').catch((e) => e))).toBe(true);
  });
});
