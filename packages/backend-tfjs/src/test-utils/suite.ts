// The kernel test suite shared by the per-flavor test files (one flavor per file: tfjs keeps one
// global engine per process, and vitest runs each file in its own process).

import { createReferenceBackend, type Backend, type TensorInfo } from '@denoise/core';
import { describe, expect, it } from 'vitest';
import { handCases, referenceCases } from './cases.js';
import { compareValues, runKernel } from './harness.js';
import { Lcg, randFloat, type HostTensor } from './lcg.js';

export function kernelSuite(getBackend: () => Backend): void {
  const reference = createReferenceBackend();

  describe('kernels against the float64 reference backend', () => {
    for (const c of referenceCases()) {
      it(c.name, () => {
        const backend = getBackend();
        const got = runKernel(backend, c.call);
        const want = runKernel(reference, c.call);
        const r = compareValues(got, want, c.call.out.dtype, c.atol ?? 1e-5, c.rtol ?? 1e-4);
        expect(r.message).toBe('ok');
      });
    }
  });

  describe('kernels against hand-computed values', () => {
    for (const c of handCases()) {
      it(c.name, () => {
        const got = runKernel(getBackend(), c.call);
        const r = compareValues(got, c.want, c.call.out.dtype, c.atol ?? 1e-6, 1e-6);
        expect(r.message).toBe('ok');
      });
    }
  });

  describe('storage', () => {
    it('uploads copy the host array and reads return fresh arrays', () => {
      const b = getBackend();
      const values = Float32Array.from([1, 2, 3]);
      const h = b.upload(values, [3], 'float32');
      values[0] = 99;
      const r1 = b.readSync(h, 'float32');
      expect(Array.from(r1)).toEqual([1, 2, 3]);
      r1[1] = -5;
      expect(Array.from(b.readSync(h, 'float32'))).toEqual([1, 2, 3]);
      b.dispose(h);
    });

    it('round-trips int32 and bool, sync and async', async () => {
      const b = getBackend();
      const hi = b.upload(Int32Array.from([-5, 0, 2147483647]), [3], 'int32');
      const hb = b.upload(Uint8Array.from([1, 0, 1, 1]), [2, 2], 'bool');
      const ri = await b.read(hi, 'int32');
      expect(ri).toBeInstanceOf(Int32Array);
      expect(Array.from(ri)).toEqual([-5, 0, 2147483647]);
      const rb = b.readSync(hb, 'bool');
      expect(rb).toBeInstanceOf(Uint8Array);
      expect(Array.from(rb)).toEqual([1, 0, 1, 1]);
      b.dispose(hi);
      b.dispose(hb);
    });

    it('refuses float64 with an error naming the backend', () => {
      const b = getBackend();
      let error: unknown;
      try {
        b.upload(Float64Array.from([1, 2]), [2], 'float64');
      } catch (e) {
        error = e;
      }
      expect((error as { kind?: string }).kind).toBe('InvalidArgumentError');
      expect(String((error as Error).message)).toContain(b.name);
      expect(String((error as Error).message)).toContain('float64');
    });

    it('capabilities and identity', () => {
      const b = getBackend();
      expect(b.specVersion).toBe(1);
      expect([...b.capabilities.dtypes]).toEqual(['float32', 'int32', 'bool']);
      expect(b.capabilities.syncRead).toBe(true);
      expect(b.fused?.softmax).toBeTypeOf('function');
    });

    it('kernels leak nothing: live buffers return to the baseline', () => {
      const b = getBackend();
      runKernel(b, referenceCases()[0]!.call); // warm-up (tfjs may cache constants)
      const before = b.memory().buffers;
      for (const c of referenceCases()) runKernel(b, c.call);
      expect(b.memory().buffers).toBe(before);
    });

    it('a reused weight gives the same results and its cached forms are freed with it', () => {
      const b = getBackend();
      const g = new Lcg(99);
      const before = b.memory().buffers;
      const x = randFloat(g, [1, 3, 5, 5]);
      const w = randFloat(g, [4, 3, 3, 3]);
      const wm = randFloat(g, [6, 5]);
      const attrs = { stride: [1, 1], padding: [1, 1, 1, 1], dilation: [1, 1], groups: 1 };
      const conv = (bk: Backend, wh: TensorInfo, xh: TensorInfo) => bk.readSync(bk.kernels.conv2d(xh, wh, attrs as never, { shape: [1, 4, 5, 5], dtype: 'float32' }), 'float32');
      const gin = (bk: Backend, wh: TensorInfo, dyh: TensorInfo) => bk.readSync(bk.kernels.conv2dGradInput(dyh, wh, attrs as never, { shape: [1, 3, 5, 5], dtype: 'float32' }), 'float32');
      const mm = (bk: Backend, wh: TensorInfo, xh: TensorInfo) => bk.readSync(bk.kernels.matmul(xh, wh, { transposeA: false, transposeB: true }, { shape: [4, 6], dtype: 'float32' }), 'float32');
      const up = (bk: Backend, h: HostTensor): TensorInfo => ({ shape: h.shape, dtype: h.dtype, handle: bk.upload(h.values, h.shape, h.dtype) });
      const xi = up(b, x);
      const wi = up(b, w);
      const dyi = up(b, randFloat(g, [1, 4, 5, 5]));
      const mi = up(b, wm);
      const ai = up(b, randFloat(g, [4, 5]));
      const results: number[][] = [];
      for (let i = 0; i < 3; i++) results.push([...conv(b, wi, xi), ...gin(b, wi, dyi), ...mm(b, mi, ai)]);
      expect(results[1]).toEqual(results[0]);
      expect(results[2]).toEqual(results[0]);
      const refB = reference;
      const want = [...conv(refB, up(refB, w), up(refB, x))];
      expect(compareValues(results[2]!.slice(0, want.length), want, 'float32', 1e-5, 1e-4).message).toBe('ok');
      // The outputs above were read and never disposed: free everything but the outputs' count.
      for (const h of [xi, wi, dyi, mi, ai]) b.dispose(h.handle);
      // 9 kernel outputs (3 x conv, gradInput, matmul) are still live; the cached forms are not.
      expect(b.memory().buffers).toBe(before + 9);
    });

    it('a kernel never hands back an input handle (identity results are copies)', () => {
      const b = getBackend();
      const x = b.upload(Float32Array.from([1, 2, 3, 4]), [2, 2], 'float32');
      const info = { shape: [2, 2], dtype: 'float32' as const, handle: x };
      const same = b.kernels.reshape(info, { shape: [2, 2], dtype: 'float32' });
      const cast = b.kernels.cast(info, { shape: [2, 2], dtype: 'float32' });
      const tr = b.kernels.transpose(info, { perm: [0, 1] }, { shape: [2, 2], dtype: 'float32' });
      expect(same).not.toBe(x);
      b.dispose(x);
      expect(Array.from(b.readSync(same, 'float32'))).toEqual([1, 2, 3, 4]);
      expect(Array.from(b.readSync(cast, 'float32'))).toEqual([1, 2, 3, 4]);
      expect(Array.from(b.readSync(tr, 'float32'))).toEqual([1, 2, 3, 4]);
      b.dispose(same);
      b.dispose(cast);
      b.dispose(tr);
    });
  });
}
