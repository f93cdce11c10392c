import { describe, it, expect } from 'vitest';
import { createReferenceBackend } from './backend.js';
import { dot, expectClose, randomValues, readHandle, upload } from './test-helpers.js';
import type { ResizeAttrs } from '../types.js';

const be = createReferenceBackend();
const k = be.kernels;

function resize(values: number[], inShape: number[], attrs: ResizeAttrs): number[] {
  const out = [inShape[0]!, inShape[1]!, attrs.size[0], attrs.size[1]];
  return readHandle(be, k.resize(upload(be, values, inShape), attrs, { shape: out, dtype: 'float64' }));
}

describe('reference resize', () => {
  it('bilinear 2x2 -> 4x4, align_corners=False (PyTorch)', () => {
    const r = resize([1, 2, 3, 4], [1, 1, 2, 2], { mode: 'bilinear', size: [4, 4], alignCorners: false });
    expectClose(r, [
      1, 1.25, 1.75, 2,
      1.5, 1.75, 2.25, 2.5,
      2.5, 2.75, 3.25, 3.5,
      3, 3.25, 3.75, 4,
    ], 1e-15);
  });

  it('bilinear 2x2 -> 3x3, align_corners=True', () => {
    const r = resize([1, 2, 3, 4], [1, 1, 2, 2], { mode: 'bilinear', size: [3, 3], alignCorners: true });
    expectClose(r, [1, 1.5, 2, 2, 2.5, 3, 3, 3.5, 4], 1e-15);
  });

  it('bilinear 1x3 -> 1x5 (ratio 0.6), both conventions', () => {
    // false: src = (d + 0.5) * 0.6 - 0.5 = [-0.2 -> 0, 0.4, 1.0, 1.6, 2.2 -> clamp to the last pixel]
    expectClose(resize([0, 10, 20], [1, 1, 1, 3], { mode: 'bilinear', size: [1, 5], alignCorners: false }), [0, 4, 10, 16, 20], 1e-14);
    // true: src = d * 2 / 4
    expectClose(resize([0, 10, 20], [1, 1, 1, 3], { mode: 'bilinear', size: [1, 5], alignCorners: true }), [0, 5, 10, 15, 20], 1e-14);
    // out == 1 with align_corners reads the first pixel
    expectClose(resize([3, 10, 20], [1, 1, 1, 3], { mode: 'bilinear', size: [1, 1], alignCorners: true }), [3], 0);
  });

  it('bilinear 4 -> 2 downsample averages pixel pairs (align_corners=False)', () => {
    // src = (d + 0.5) * 2 - 0.5 = 0.5, 2.5
    expectClose(resize([1, 3, 5, 9], [1, 1, 1, 4], { mode: 'bilinear', size: [1, 2], alignCorners: false }), [2, 7], 1e-15);
  });

  it('nearest 2x upsampling repeats every pixel in a 2x2 block, per channel', () => {
    const r = resize([1, 2, 3, 4, 5, 6, 7, 8], [1, 2, 2, 2], { mode: 'nearest', size: [4, 4], alignCorners: false });
    expect(r).toEqual([
      1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4,
      5, 5, 6, 6, 5, 5, 6, 6, 7, 7, 8, 8, 7, 7, 8, 8,
    ]);
  });

  it('nearest uses floor(dst * in / out): 4 -> 2 and 3 -> 2 and 2 -> 3', () => {
    expect(resize([1, 2, 3, 4], [1, 1, 1, 4], { mode: 'nearest', size: [1, 2], alignCorners: false })).toEqual([1, 3]);
    expect(resize([1, 2, 3], [1, 1, 1, 3], { mode: 'nearest', size: [1, 2], alignCorners: false })).toEqual([1, 2]);
    expect(resize([1, 2], [1, 1, 1, 2], { mode: 'nearest', size: [1, 3], alignCorners: false })).toEqual([1, 1, 2]);
  });

  const cases: Array<[string, number[], ResizeAttrs]> = [
    ['bilinear up, odd sizes', [2, 3, 5, 3], { mode: 'bilinear', size: [7, 8], alignCorners: false }],
    ['bilinear down', [1, 2, 6, 7], { mode: 'bilinear', size: [4, 3], alignCorners: false }],
    ['bilinear align corners', [2, 1, 5, 4], { mode: 'bilinear', size: [9, 3], alignCorners: true }],
    ['bilinear align corners to size 1', [1, 2, 3, 4], { mode: 'bilinear', size: [1, 5], alignCorners: true }],
    ['nearest up', [2, 2, 3, 5], { mode: 'nearest', size: [7, 9], alignCorners: false }],
    ['nearest down', [1, 3, 8, 5], { mode: 'nearest', size: [3, 2], alignCorners: false }],
  ];
  for (const [name, inShape, attrs] of cases) {
    it(`resizeGrad is the exact adjoint of resize: ${name}`, () => {
      const outShape = [inShape[0]!, inShape[1]!, attrs.size[0], attrs.size[1]];
      const x = randomValues(inShape, 61);
      const dy = randomValues(outShape, 62);
      const y = readHandle(be, k.resize(upload(be, x, inShape), attrs, { shape: outShape, dtype: 'float64' }));
      const dx = readHandle(be, k.resizeGrad(upload(be, dy, outShape), attrs, { shape: inShape, dtype: 'float64' }));
      const lhs = dot(y, dy);
      expect(Math.abs(lhs - dot(x, dx))).toBeLessThan(1e-13 * (1 + Math.abs(lhs)));
    });
  }

  it('nearest 2x resizeGrad sums each 2x2 block', () => {
    const dy = Array.from({ length: 16 }, (_, i) => i);
    const dx = readHandle(be, k.resizeGrad(upload(be, dy, [1, 1, 4, 4]), { mode: 'nearest', size: [4, 4], alignCorners: false }, { shape: [1, 1, 2, 2], dtype: 'float64' }));
    expect(dx).toEqual([0 + 1 + 4 + 5, 2 + 3 + 6 + 7, 8 + 9 + 12 + 13, 10 + 11 + 14 + 15]);
  });

  it('float32 resize rounds once on store', () => {
    const h = k.resize(upload(be, [0.1, 0.2, 0.3, 0.4], [1, 1, 2, 2], 'float32'), { mode: 'bilinear', size: [4, 4], alignCorners: false }, { shape: [1, 1, 4, 4], dtype: 'float32' });
    const r = readHandle(be, h, 'float32');
    const [a, b] = [Math.fround(0.1), Math.fround(0.2)];
    expect(r[1]).toBe(Math.fround(0.75 * a + 0.25 * b));
  });
});
