import { describe, it, expect } from 'vitest';
import { createReferenceBackend } from './backend.js';
import { dot, randomValues, read, readHandle, upload } from './test-helpers.js';

const be = createReferenceBackend();
const k = be.kernels;
const iota = (n: number) => Array.from({ length: n }, (_, i) => i);

describe('reference layout kernels', () => {
  it('reshape keeps the values and returns a new buffer', () => {
    const x = upload(be, iota(6), [2, 3]);
    const before = be.memory().buffers;
    const h = k.reshape(x, { shape: [3, 1, 2], dtype: 'float64' });
    expect(be.memory().buffers).toBe(before + 1);
    expect(readHandle(be, h)).toEqual(iota(6));
    expect(h).not.toBe(x.handle);
    be.dispose(h);
    expect(read(be, x)).toEqual(iota(6)); // disposing the reshape leaves the source alive
  });

  it('transpose of a [2,3] matrix and perm [2,0,1] of [2,3,4]', () => {
    const m = upload(be, [1, 2, 3, 4, 5, 6], [2, 3]);
    expect(readHandle(be, k.transpose(m, { perm: [1, 0] }, { shape: [3, 2], dtype: 'float64' }))).toEqual([1, 4, 2, 5, 3, 6]);
    const x = iota(24);
    const h = k.transpose(upload(be, x, [2, 3, 4]), { perm: [2, 0, 1] }, { shape: [4, 2, 3], dtype: 'float64' });
    const expected: number[] = [];
    for (let a = 0; a < 4; a++) for (let b = 0; b < 2; b++) for (let c = 0; c < 3; c++) expected.push(x[b * 12 + c * 4 + a]!);
    expect(readHandle(be, h)).toEqual(expected);
  });

  it('slice takes the block at begin with extent out.shape', () => {
    const x = iota(24); // [2,3,4], value = 12i + 4j + l
    const h = k.slice(upload(be, x, [2, 3, 4]), { begin: [1, 0, 2] }, { shape: [1, 3, 2], dtype: 'float64' });
    expect(readHandle(be, h)).toEqual([14, 15, 18, 19, 22, 23]);
    const i = k.slice(upload(be, [5, 6, 7], [3], 'int32'), { begin: [1] }, { shape: [2], dtype: 'int32' });
    expect(readHandle(be, i, 'int32')).toEqual([6, 7]);
  });

  it('concat along a middle axis and along axis 0', () => {
    const a = upload(be, [1, 2, 3, 4], [2, 1, 2]);
    const b = upload(be, [5, 6, 7, 8, 9, 10, 11, 12], [2, 2, 2]);
    const h = k.concat([a, b], { axis: 1 }, { shape: [2, 3, 2], dtype: 'float64' });
    expect(readHandle(be, h)).toEqual([1, 2, 5, 6, 7, 8, 3, 4, 9, 10, 11, 12]);
    const c = upload(be, [0, 0], [1, 2]);
    const h0 = k.concat([upload(be, [1, 2], [1, 2]), c, upload(be, [3, 4, 5, 6], [2, 2])], { axis: 0 }, { shape: [4, 2], dtype: 'float64' });
    expect(readHandle(be, h0)).toEqual([1, 2, 0, 0, 3, 4, 5, 6]);
    const last = k.concat([upload(be, [1, 2], [2, 1]), upload(be, [3, 4, 5, 6], [2, 2])], { axis: 1 }, { shape: [2, 3], dtype: 'float64' });
    expect(readHandle(be, last)).toEqual([1, 3, 4, 2, 5, 6]);
  });

  it('pad with a constant, per-axis before / after', () => {
    const x = upload(be, [1, 2, 3, 4], [2, 2]);
    const h = k.pad(x, { pads: [[1, 0], [0, 2]], value: -1 }, { shape: [3, 4], dtype: 'float64' });
    expect(readHandle(be, h)).toEqual([-1, -1, -1, -1, 1, 2, -1, -1, 3, 4, -1, -1]);
    const b = k.pad(upload(be, [1], [1], 'bool'), { pads: [[1, 1]], value: 0 }, { shape: [3], dtype: 'bool' });
    expect(readHandle(be, b, 'bool')).toEqual([0, 1, 0]);
    const f = k.pad(upload(be, [1], [1], 'float32'), { pads: [[0, 1]], value: 0.1 }, { shape: [2], dtype: 'float32' });
    expect(readHandle(be, f, 'float32')).toEqual([1, Math.fround(0.1)]);
  });

  it('broadcastTo [3,1] -> [2,3,4] and [] -> [2,2]', () => {
    const h = k.broadcastTo(upload(be, [1, 2, 3], [3, 1]), { shape: [2, 3, 4], dtype: 'float64' });
    const expected: number[] = [];
    for (let a = 0; a < 2; a++) for (let b = 0; b < 3; b++) for (let c = 0; c < 4; c++) expected.push(b + 1);
    expect(readHandle(be, h)).toEqual(expected);
    expect(readHandle(be, k.broadcastTo(upload(be, [7], []), { shape: [2, 2], dtype: 'float64' }))).toEqual([7, 7, 7, 7]);
  });

  it('gather along axis 1 with a [2,2] index tensor', () => {
    const x = iota(24); // [2,3,4]
    const idx = upload(be, [2, 0, 1, 2], [2, 2], 'int32');
    const h = k.gather(upload(be, x, [2, 3, 4]), idx, { axis: 1 }, { shape: [2, 2, 2, 4], dtype: 'float64' });
    const ids = [2, 0, 1, 2];
    const expected: number[] = [];
    for (let a = 0; a < 2; a++) for (const j of ids) for (let l = 0; l < 4; l++) expected.push(x[a * 12 + j * 4 + l]!);
    expect(readHandle(be, h)).toEqual(expected);
  });

  it('gather along axis 0 (embedding lookup) with repeats', () => {
    const table = upload(be, [10, 11, 20, 21, 30, 31], [3, 2]);
    const idx = upload(be, [2, 2, 0], [3], 'int32');
    expect(readHandle(be, k.gather(table, idx, { axis: 0 }, { shape: [3, 2], dtype: 'float64' }))).toEqual([30, 31, 30, 31, 10, 11]);
  });

  it('scatterAdd accumulates repeated indices', () => {
    const idx = upload(be, [2, 2, 0], [3], 'int32');
    const upd = upload(be, [1, 2, 3, 4, 5, 6], [3, 2]);
    const h = k.scatterAdd(idx, upd, { axis: 0 }, { shape: [4, 2], dtype: 'float64' });
    expect(readHandle(be, h)).toEqual([5, 6, 0, 0, 4, 6, 0, 0]);
  });

  it('scatterAdd is the adjoint of gather: <gather(x), u> = <x, scatterAdd(u)>', () => {
    const xShape = [3, 5, 2];
    const x = randomValues(xShape, 5);
    const ids = [4, 0, 4, 2, 1, 4];
    const idx = upload(be, ids, [2, 3], 'int32');
    const gShape = [3, 2, 3, 2];
    const u = randomValues(gShape, 6);
    const g = readHandle(be, k.gather(upload(be, x, xShape), idx, { axis: 1 }, { shape: gShape, dtype: 'float64' }));
    const s = readHandle(be, k.scatterAdd(idx, upload(be, u, gShape), { axis: 1 }, { shape: xShape, dtype: 'float64' }));
    expect(Math.abs(dot(g, u) - dot(x, s))).toBeLessThan(1e-13);
  });

  it('layout kernels keep int32 and bool dtypes', () => {
    const t = k.transpose(upload(be, [1, 0, 0, 1, 1, 0], [2, 3], 'bool'), { perm: [1, 0] }, { shape: [3, 2], dtype: 'bool' });
    expect(be.readSync(t, 'bool')).toEqual(new Uint8Array([1, 1, 0, 1, 0, 0]));
    const g = k.gather(upload(be, [5, 6, 7], [3], 'int32'), upload(be, [2, 0], [2], 'int32'), { axis: 0 }, { shape: [2], dtype: 'int32' });
    expect(be.readSync(g, 'int32')).toEqual(new Int32Array([7, 5]));
  });
});
