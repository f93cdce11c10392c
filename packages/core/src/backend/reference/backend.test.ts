import { describe, it, expect } from 'vitest';
import { createReferenceBackend } from './backend.js';
import { PRIMITIVE_NAMES } from '../types.js';
import { DenoiseError } from '../../errors/index.js';
import { info, readHandle, upload } from './test-helpers.js';

describe('reference backend object', () => {
  it('identifies itself and has every primitive and fused kernel', () => {
    const be = createReferenceBackend();
    expect(be.name).toBe('reference');
    expect(be.specVersion).toBe(1);
    expect(be.capabilities).toEqual({ dtypes: ['float32', 'float64', 'int32', 'bool'], syncRead: true });
    for (const name of PRIMITIVE_NAMES) expect(typeof be.kernels[name], name).toBe('function');
    for (const name of ['softmax', 'logSoftmax', 'layerNorm', 'groupNorm', 'attention'] as const) {
      expect(typeof be.fused?.[name], name).toBe('function');
    }
  });

  it('upload copies its input; readSync and read return copies of the stored dtype', async () => {
    const be = createReferenceBackend();
    const src = new Float32Array([1, 2, 3]);
    const h = be.upload(src, [3], 'float32');
    src[0] = 100;
    const a = be.readSync(h, 'float32');
    expect(a).toBeInstanceOf(Float32Array);
    expect(Array.from(a)).toEqual([1, 2, 3]);
    a[1] = 100;
    const b = await be.read(h, 'float32');
    expect(Array.from(b)).toEqual([1, 2, 3]);
    expect(be.readSync(be.upload(new Int32Array([1]), [1], 'int32'), 'int32')).toBeInstanceOf(Int32Array);
    expect(be.readSync(be.upload(new Uint8Array([1]), [1], 'bool'), 'bool')).toBeInstanceOf(Uint8Array);
    expect(be.readSync(be.upload(new Float64Array([1]), [], 'float64'), 'float64')).toBeInstanceOf(Float64Array);
  });

  it('float32 storage rounds uploaded and computed values to float32', () => {
    const be = createReferenceBackend();
    const t = upload(be, [0.1], [1], 'float32');
    expect(readHandle(be, t.handle, 'float32')).toEqual([Math.fround(0.1)]);
    const d = upload(be, [0.1], [1], 'float64');
    const c = be.kernels.cast(d, { shape: [1], dtype: 'float32' });
    expect(readHandle(be, c, 'float32')[0]).not.toBe(0.1);
  });

  it('memory counts bytes and buffers, survives double dispose and returns to zero', () => {
    const be = createReferenceBackend();
    expect(be.memory()).toEqual({ bytes: 0, buffers: 0 });
    const a = upload(be, [1, 2, 3, 4], [2, 2], 'float32'); // 16 bytes
    const b = upload(be, [1, 2], [2], 'float64'); // 16 bytes
    const c = upload(be, [1, 0, 1], [3], 'bool'); // 3 bytes
    expect(be.memory()).toEqual({ bytes: 35, buffers: 3 });
    const sum = be.kernels.binary(a, upload(be, [1, 1], [2], 'float32'), { op: 'add' }, { shape: [2, 2], dtype: 'float32' });
    const r = be.kernels.reshape(a, { shape: [4], dtype: 'float32' });
    const i = be.kernels.cast(c, { shape: [3], dtype: 'int32' });
    expect(be.memory()).toEqual({ bytes: 35 + 8 + 16 + 16 + 12, buffers: 7 });
    be.dispose(r);
    be.dispose(r);
    expect(be.memory()).toEqual({ bytes: 35 + 8 + 16 + 12, buffers: 6 });
    // the reshape's source is still readable after the reshape is gone
    expect(readHandle(be, a.handle, 'float32')).toEqual([1, 2, 3, 4]);
    for (const h of [a.handle, b.handle, c.handle, sum, i]) be.dispose(h);
    expect(be.memory().buffers).toBe(1); // the [1, 1] operand is still alive
  });

  it('every handle of a kernel-heavy session can be disposed back to zero', () => {
    const be = createReferenceBackend();
    const handles: object[] = [];
    const keep = <T extends object>(h: T): T => (handles.push(h), h);
    const x = info(keep(be.upload(new Float64Array(2 * 2 * 4 * 4).fill(0.5), [2, 2, 4, 4], 'float64')), [2, 2, 4, 4]);
    const w = info(keep(be.upload(new Float64Array(3 * 2 * 3 * 3).fill(0.1), [3, 2, 3, 3], 'float64')), [3, 2, 3, 3]);
    const attrs = { stride: [1, 1], padding: [1, 1, 1, 1], dilation: [1, 1], groups: 1 } as const;
    const y = info(keep(be.kernels.conv2d(x, w, attrs, { shape: [2, 3, 4, 4], dtype: 'float64' })), [2, 3, 4, 4]);
    keep(be.kernels.conv2dGradInput(y, w, attrs, { shape: [2, 2, 4, 4], dtype: 'float64' }));
    keep(be.kernels.conv2dGradFilter(x, y, attrs, { shape: [3, 2, 3, 3], dtype: 'float64' }));
    keep(be.kernels.resize(y, { mode: 'bilinear', size: [8, 8], alignCorners: false }, { shape: [2, 3, 8, 8], dtype: 'float64' }));
    keep(be.fused!.softmax!(y, { shape: [2, 3, 4, 4], dtype: 'float64' }));
    keep(be.kernels.fill({ value: 1 }, { shape: [5], dtype: 'int32' }));
    expect(be.memory().buffers).toBe(handles.length);
    for (const h of handles) be.dispose(h);
    expect(be.memory()).toEqual({ bytes: 0, buffers: 0 });
  });

  it('rejects disposed handles, wrong read dtypes and mismatched upload sizes with typed errors', async () => {
    const be = createReferenceBackend();
    const t = upload(be, [1, 2], [2]);
    expect(() => be.readSync(t.handle, 'float32')).toThrow(/float64/);
    be.dispose(t.handle);
    expect(() => be.readSync(t.handle, 'float64')).toThrow(DenoiseError);
    await expect(be.read(t.handle, 'float64')).rejects.toThrow(DenoiseError);
    expect(() => be.kernels.unary(t, { op: 'neg' }, { shape: [2], dtype: 'float64' })).toThrow(/disposed/);
    expect(() => be.upload(new Float64Array(3), [2, 2], 'float64')).toThrow(DenoiseError);
    expect(() => be.kernels.unary({ shape: [2], dtype: 'float64', handle: {} }, { op: 'neg' }, { shape: [2], dtype: 'float64' })).toThrow(DenoiseError);
  });
});
