import { describe, it, expect } from 'vitest';
import { createReferenceBackend } from './backend.js';
import { expectClose, randomValues, readHandle, upload } from './test-helpers.js';
import type { ReduceOp } from '../types.js';

const be = createReferenceBackend();
const k = be.kernels;

/** Independent reduction of a [2,3,4] array: visit every (i,j,l) and combine by key. */
function naiveReduce(x: number[], op: ReduceOp, axes: number[]): number[] {
  const shape = [2, 3, 4];
  const groups = new Map<string, number[]>();
  for (let i = 0; i < 2; i++) {
    for (let j = 0; j < 3; j++) {
      for (let l = 0; l < 4; l++) {
        const key = [i, j, l].filter((_, d) => !axes.includes(d)).join(',');
        const list = groups.get(key) ?? [];
        list.push(x[i * 12 + j * 4 + l]!);
        groups.set(key, list);
      }
    }
  }
  expect(shape.length).toBe(3);
  // Map keeps insertion order, which is row-major order of the kept axes.
  return [...groups.values()].map((vals) => {
    switch (op) {
      case 'sum': return vals.reduce((s, v) => s + v, 0);
      case 'prod': return vals.reduce((s, v) => s * v, 1);
      case 'max': return Math.max(...vals);
      case 'min': return Math.min(...vals);
    }
  });
}

describe('reference reduce', () => {
  const x = randomValues([2, 3, 4], 7);
  const axesCases: number[][] = [[0], [1], [2], [0, 2], [1, 2], [0, 1, 2]];
  for (const op of ['sum', 'max', 'min', 'prod'] as ReduceOp[]) {
    for (const axes of axesCases) {
      it(`${op} over [${axes}] of [2,3,4]`, () => {
        const outShape = [2, 3, 4].filter((_, d) => !axes.includes(d));
        const h = k.reduce(upload(be, x, [2, 3, 4]), { op, axes, keepDims: false }, { shape: outShape, dtype: 'float64' });
        expectClose(readHandle(be, h), naiveReduce(x, op, axes), 1e-14, 1e-13);
      });
    }
  }

  it('keepDims only changes the output shape', () => {
    const t = upload(be, x, [2, 3, 4]);
    const a = k.reduce(t, { op: 'sum', axes: [1], keepDims: true }, { shape: [2, 1, 4], dtype: 'float64' });
    const b = k.reduce(t, { op: 'sum', axes: [1], keepDims: false }, { shape: [2, 4], dtype: 'float64' });
    expect(readHandle(be, a)).toEqual(readHandle(be, b));
  });

  it('hand-computed sums of a [2,3] matrix', () => {
    const t = upload(be, [1, 2, 3, 4, 5, 6], [2, 3]);
    expect(readHandle(be, k.reduce(t, { op: 'sum', axes: [0], keepDims: false }, { shape: [3], dtype: 'float64' }))).toEqual([5, 7, 9]);
    expect(readHandle(be, k.reduce(t, { op: 'sum', axes: [1], keepDims: false }, { shape: [2], dtype: 'float64' }))).toEqual([6, 15]);
    expect(readHandle(be, k.reduce(t, { op: 'prod', axes: [0, 1], keepDims: false }, { shape: [], dtype: 'float64' }))).toEqual([720]);
  });

  it('sum of int32 and of bool gives int32', () => {
    const i = upload(be, [1, -2, 3, 2147483647, 1, 0], [2, 3], 'int32');
    const si = k.reduce(i, { op: 'sum', axes: [1], keepDims: false }, { shape: [2], dtype: 'int32' });
    expect(readHandle(be, si, 'int32')).toEqual([2, -2147483648]);
    const b = upload(be, [1, 0, 1, 1, 1, 0], [2, 3], 'bool');
    const sb = k.reduce(b, { op: 'sum', axes: [0, 1], keepDims: false }, { shape: [], dtype: 'int32' });
    expect(readHandle(be, sb, 'int32')).toEqual([4]);
    const mi = k.reduce(i, { op: 'max', axes: [0], keepDims: false }, { shape: [3], dtype: 'int32' });
    expect(readHandle(be, mi, 'int32')).toEqual([2147483647, 1, 3]);
  });

  it('max / min propagate NaN; float32 sums round once', () => {
    const t = upload(be, [1, NaN, 3, 4, 5, 6], [2, 3]);
    const m = readHandle(be, k.reduce(t, { op: 'max', axes: [1], keepDims: false }, { shape: [2], dtype: 'float64' }));
    expect(m[0]).toBeNaN();
    expect(m[1]).toBe(6);
    const n = readHandle(be, k.reduce(t, { op: 'min', axes: [1], keepDims: false }, { shape: [2], dtype: 'float64' }));
    expect(n[0]).toBeNaN();
    expect(n[1]).toBe(4);
    const f = upload(be, [0.1, 0.2, 0.3], [3], 'float32');
    const s = be.readSync(k.reduce(f, { op: 'sum', axes: [0], keepDims: false }, { shape: [], dtype: 'float32' }), 'float32');
    expect(s[0]).toBe(Math.fround(Math.fround(0.1) + Math.fround(0.2) + Math.fround(0.3)));
  });
});

describe('reference argmax', () => {
  it('first maximum on ties, along the last axis', () => {
    const t = upload(be, [1, 3, 3, 2, -1, -1, -5, -2], [2, 4]);
    expect(readHandle(be, k.argmax(t, { axis: 1 }, { shape: [2], dtype: 'int32' }), 'int32')).toEqual([1, 0]);
  });

  it('along axis 0 of [3,2] and the middle axis of [2,3,2]', () => {
    const t = upload(be, [1, 9, 7, 2, 7, 4], [3, 2]);
    expect(readHandle(be, k.argmax(t, { axis: 0 }, { shape: [2], dtype: 'int32' }), 'int32')).toEqual([1, 0]);
    const x = randomValues([2, 3, 2], 3);
    const r = readHandle(be, k.argmax(upload(be, x, [2, 3, 2]), { axis: 1 }, { shape: [2, 2], dtype: 'int32' }), 'int32');
    const expected: number[] = [];
    for (let i = 0; i < 2; i++) {
      for (let l = 0; l < 2; l++) {
        const col = [0, 1, 2].map((j) => x[i * 6 + j * 2 + l]!);
        expected.push(col.indexOf(Math.max(...col)));
      }
    }
    expect(r).toEqual(expected);
  });

  it('a NaN counts as the maximum (first NaN wins), like NumPy', () => {
    const t = upload(be, [1, NaN, 5, NaN, 9, 2, 3, 4], [2, 4]);
    expect(readHandle(be, k.argmax(t, { axis: 1 }, { shape: [2], dtype: 'int32' }), 'int32')).toEqual([1, 0]);
  });

  it('works on int32', () => {
    const t = upload(be, [4, -1, 8, 8], [4], 'int32');
    expect(readHandle(be, k.argmax(t, { axis: 0 }, { shape: [], dtype: 'int32' }), 'int32')).toEqual([2]);
  });
});
