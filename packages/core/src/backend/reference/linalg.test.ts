import { describe, it, expect } from 'vitest';
import { createReferenceBackend } from './backend.js';
import { dot, expectClose, info, randomValues, readHandle, upload } from './test-helpers.js';
import type { Conv2dAttrs } from '../types.js';
import { convOutSize } from '../../tensor/shape.js';

const be = createReferenceBackend();
const k = be.kernels;

describe('reference matmul', () => {
  /** Rows of op(A) and columns of op(B) as plain arrays, then one dot product per entry. */
  function naiveMatmul(a: number[], aRows: number, aCols: number, tA: boolean, b: number[], bRows: number, bCols: number, tB: boolean): number[] {
    const at = (m: number[], cols: number, r: number, c: number) => m[r * cols + c]!;
    const M = tA ? aCols : aRows;
    const K = tA ? aRows : aCols;
    const N = tB ? bRows : bCols;
    const rowsA = Array.from({ length: M }, (_, i) => Array.from({ length: K }, (_, kk) => (tA ? at(a, aCols, kk, i) : at(a, aCols, i, kk))));
    const colsB = Array.from({ length: N }, (_, j) => Array.from({ length: K }, (_, kk) => (tB ? at(b, bCols, j, kk) : at(b, bCols, kk, j))));
    const out: number[] = [];
    for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) out.push(dot(rowsA[i]!, colsB[j]!));
    return out;
  }

  it('hand-computed 2x3 @ 3x2', () => {
    const a = upload(be, [1, 2, 3, 4, 5, 6], [2, 3]);
    const b = upload(be, [7, 8, 9, 10, 11, 12], [3, 2]);
    const h = k.matmul(a, b, { transposeA: false, transposeB: false }, { shape: [2, 2], dtype: 'float64' });
    expect(readHandle(be, h)).toEqual([58, 64, 139, 154]);
  });

  for (const tA of [false, true]) {
    for (const tB of [false, true]) {
      it(`batched with broadcast batch axes, transposeA=${tA} transposeB=${tB}`, () => {
        const [M, K, N] = [3, 4, 5];
        // a: [2, 1, M, K] (or [2, 1, K, M]); b: [3, K, N] (or [3, N, K]); out [2, 3, M, N]
        const aShape = [2, 1, ...(tA ? [K, M] : [M, K])];
        const bShape = [3, ...(tB ? [N, K] : [K, N])];
        const a = randomValues(aShape, 11);
        const b = randomValues(bShape, 12);
        const h = k.matmul(upload(be, a, aShape), upload(be, b, bShape), { transposeA: tA, transposeB: tB }, { shape: [2, 3, M, N], dtype: 'float64' });
        const expected: number[] = [];
        for (let i = 0; i < 2; i++) {
          for (let j = 0; j < 3; j++) {
            const am = a.slice(i * M * K, (i + 1) * M * K);
            const bm = b.slice(j * K * N, (j + 1) * K * N);
            expected.push(...naiveMatmul(am, tA ? K : M, tA ? M : K, tA, bm, tB ? N : K, tB ? K : N, tB));
          }
        }
        expectClose(readHandle(be, h), expected, 1e-14, 1e-13);
      });
    }
  }

  it('float32 output is the float64 result rounded once', () => {
    const a = randomValues([4, 6], 1).map(Math.fround);
    const b = randomValues([6, 3], 2).map(Math.fround);
    const h32 = k.matmul(upload(be, a, [4, 6], 'float32'), upload(be, b, [6, 3], 'float32'), { transposeA: false, transposeB: false }, { shape: [4, 3], dtype: 'float32' });
    expect(readHandle(be, h32, 'float32')).toEqual(naiveMatmul(a, 4, 6, false, b, 6, 3, false).map(Math.fround));
  });
});

/** Conv via explicit zero padding + im2col + per-group matrix product, independent of the kernel. */
function im2colConv(x: number[], xShape: number[], w: number[], wShape: number[], attrs: Conv2dAttrs): { values: number[]; shape: number[] } {
  const [N, Cin, H, W] = xShape as [number, number, number, number];
  const [Cout, cpg, kH, kW] = wShape as [number, number, number, number];
  const [pt, pb, pl, pr] = attrs.padding;
  const [sH, sW] = attrs.stride;
  const [dH, dW] = attrs.dilation;
  const outH = convOutSize(H, kH, sH, pt, pb, dH);
  const outW = convOutSize(W, kW, sW, pl, pr, dW);
  const Hp = H + pt + pb;
  const Wp = W + pl + pr;
  const opg = Cout / attrs.groups;
  const out = new Array<number>(N * Cout * outH * outW).fill(0);
  for (let n = 0; n < N; n++) {
    // explicitly padded image
    const padded = new Array<number>(Cin * Hp * Wp).fill(0);
    for (let c = 0; c < Cin; c++) for (let h = 0; h < H; h++) for (let ww = 0; ww < W; ww++) {
      padded[(c * Hp + h + pt) * Wp + ww + pl] = x[((n * Cin + c) * H + h) * W + ww]!;
    }
    for (let g = 0; g < attrs.groups; g++) {
      // columns: one patch vector (cpg * kH * kW) per output position
      const cols: number[][] = [];
      for (let oh = 0; oh < outH; oh++) for (let ow = 0; ow < outW; ow++) {
        const col: number[] = [];
        for (let c = 0; c < cpg; c++) for (let i = 0; i < kH; i++) for (let j = 0; j < kW; j++) {
          col.push(padded[((g * cpg + c) * Hp + oh * sH + i * dH) * Wp + ow * sW + j * dW]!);
        }
        cols.push(col);
      }
      for (let o = 0; o < opg; o++) {
        const co = g * opg + o;
        const filterRow = w.slice(co * cpg * kH * kW, (co + 1) * cpg * kH * kW);
        cols.forEach((col, p) => {
          out[(n * Cout + co) * outH * outW + p] = dot(filterRow, col);
        });
      }
    }
  }
  return { values: out, shape: [N, Cout, outH, outW] };
}

interface ConvCase {
  name: string;
  x: [number, number, number, number];
  w: [number, number, number, number];
  attrs: Conv2dAttrs;
}
const convCases: ConvCase[] = [
  { name: 'plain 3x3', x: [2, 3, 6, 5], w: [4, 3, 3, 3], attrs: { stride: [1, 1], padding: [0, 0, 0, 0], dilation: [1, 1], groups: 1 } },
  { name: 'padding 1, stride 2', x: [1, 2, 7, 7], w: [3, 2, 3, 3], attrs: { stride: [2, 2], padding: [1, 1, 1, 1], dilation: [1, 1], groups: 1 } },
  { name: 'stride 2 with a remainder (8 + 1 + 0 - 3 = 6 -> odd after the last tap)', x: [1, 2, 8, 9], w: [2, 2, 3, 2], attrs: { stride: [2, 3], padding: [1, 0, 0, 2], dilation: [1, 1], groups: 1 } },
  { name: 'dilation 2, asymmetric padding', x: [2, 2, 9, 8], w: [2, 2, 3, 3], attrs: { stride: [1, 1], padding: [2, 0, 1, 3], dilation: [2, 2], groups: 1 } },
  { name: 'groups 2, stride 2, dilation 2', x: [2, 4, 10, 9], w: [6, 2, 3, 2], attrs: { stride: [2, 2], padding: [1, 2, 0, 1], dilation: [2, 2], groups: 2 } },
  { name: 'depthwise (groups = Cin)', x: [1, 3, 5, 6], w: [3, 1, 3, 3], attrs: { stride: [1, 2], padding: [1, 1, 1, 1], dilation: [1, 1], groups: 3 } },
  { name: '1x1 kernel', x: [2, 3, 4, 4], w: [5, 3, 1, 1], attrs: { stride: [1, 1], padding: [0, 0, 0, 0], dilation: [1, 1], groups: 1 } },
];

function outShapeOf(c: ConvCase): number[] {
  const [pt, pb, pl, pr] = c.attrs.padding;
  return [
    c.x[0], c.w[0],
    convOutSize(c.x[2], c.w[2], c.attrs.stride[0], pt, pb, c.attrs.dilation[0]),
    convOutSize(c.x[3], c.w[3], c.attrs.stride[1], pl, pr, c.attrs.dilation[1]),
  ];
}

describe('reference conv2d', () => {
  it('hand-computed 2x2 filter on a 3x3 image', () => {
    const x = upload(be, [1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 1, 3, 3]);
    const w = upload(be, [1, 2, 3, 4], [1, 1, 2, 2]);
    const attrs: Conv2dAttrs = { stride: [1, 1], padding: [0, 0, 0, 0], dilation: [1, 1], groups: 1 };
    expect(readHandle(be, k.conv2d(x, w, attrs, { shape: [1, 1, 2, 2], dtype: 'float64' }))).toEqual([37, 47, 67, 77]);
  });

  it('hand-computed 3x3 box filter with padding 1 (neighbourhood sums)', () => {
    const x = upload(be, [1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 1, 3, 3]);
    const w = upload(be, new Array(9).fill(1), [1, 1, 3, 3]);
    const attrs: Conv2dAttrs = { stride: [1, 1], padding: [1, 1, 1, 1], dilation: [1, 1], groups: 1 };
    expect(readHandle(be, k.conv2d(x, w, attrs, { shape: [1, 1, 3, 3], dtype: 'float64' }))).toEqual([12, 21, 16, 27, 45, 33, 24, 39, 28]);
    // stride 2 picks the corners; asymmetric padding [0,1,0,1] shifts the window
    const s2: Conv2dAttrs = { stride: [2, 2], padding: [1, 1, 1, 1], dilation: [1, 1], groups: 1 };
    expect(readHandle(be, k.conv2d(x, w, s2, { shape: [1, 1, 2, 2], dtype: 'float64' }))).toEqual([12, 16, 24, 28]);
    const asym: Conv2dAttrs = { stride: [1, 1], padding: [0, 1, 0, 1], dilation: [1, 1], groups: 1 };
    expect(readHandle(be, k.conv2d(x, w, asym, { shape: [1, 1, 2, 2], dtype: 'float64' }))).toEqual([45, 33, 39, 28]);
  });

  for (const c of convCases) {
    it(`matches explicit padding + im2col: ${c.name}`, () => {
      const x = randomValues(c.x, 21);
      const w = randomValues(c.w, 22);
      const expected = im2colConv(x, c.x, w, c.w, c.attrs);
      const outShape = outShapeOf(c);
      expect(outShape).toEqual(expected.shape);
      const h = k.conv2d(upload(be, x, c.x), upload(be, w, c.w), c.attrs, { shape: outShape, dtype: 'float64' });
      expectClose(readHandle(be, h), expected.values, 1e-14, 1e-13);
    });

    it(`gradients are exact adjoints: ${c.name}`, () => {
      const xv = randomValues(c.x, 31);
      const wv = randomValues(c.w, 32);
      const outShape = outShapeOf(c);
      const dyv = randomValues(outShape, 33);
      const x = upload(be, xv, c.x);
      const w = upload(be, wv, c.w);
      const dy = upload(be, dyv, outShape);
      const y = readHandle(be, k.conv2d(x, w, c.attrs, { shape: outShape, dtype: 'float64' }));
      const dx = readHandle(be, k.conv2dGradInput(dy, w, c.attrs, { shape: c.x, dtype: 'float64' }));
      const dw = readHandle(be, k.conv2dGradFilter(x, dy, c.attrs, { shape: c.w, dtype: 'float64' }));
      const lhs = dot(y, dyv);
      expect(Math.abs(dot(xv, dx) - lhs)).toBeLessThan(1e-12 * (1 + Math.abs(lhs)));
      expect(Math.abs(dot(wv, dw) - lhs)).toBeLessThan(1e-12 * (1 + Math.abs(lhs)));
    });
  }

  it('gradients equal the conv of unit basis tensors entry by entry (groups 2, stride 2, dilation 2)', () => {
    const c = convCases[4]!;
    const outShape = outShapeOf(c);
    const xv = randomValues(c.x, 41);
    const wv = randomValues(c.w, 42);
    const dyv = randomValues(outShape, 43);
    const dy = upload(be, dyv, outShape);
    const dx = readHandle(be, k.conv2dGradInput(dy, upload(be, wv, c.w), c.attrs, { shape: c.x, dtype: 'float64' }));
    const dw = readHandle(be, k.conv2dGradFilter(upload(be, xv, c.x), dy, c.attrs, { shape: c.w, dtype: 'float64' }));
    // d<conv(x, w), dy>/dw[e] = <conv(x, unit_e), dy>
    for (let e = 0; e < wv.length; e++) {
      const unit = new Array<number>(wv.length).fill(0);
      unit[e] = 1;
      const y = im2colConv(xv, c.x, unit, c.w, c.attrs).values;
      expect(Math.abs(dw[e]! - dot(y, dyv))).toBeLessThan(1e-12);
    }
    for (let e = 0; e < xv.length; e += 7) {
      const unit = new Array<number>(xv.length).fill(0);
      unit[e] = 1;
      const y = im2colConv(unit, c.x, wv, c.w, c.attrs).values;
      expect(Math.abs(dx[e]! - dot(y, dyv))).toBeLessThan(1e-12);
    }
  });

  it('float32 conv equals the float64 conv rounded once', () => {
    const c = convCases[1]!;
    const x = randomValues(c.x, 51).map(Math.fround);
    const w = randomValues(c.w, 52).map(Math.fround);
    const outShape = outShapeOf(c);
    const h = k.conv2d(upload(be, x, c.x, 'float32'), upload(be, w, c.w, 'float32'), c.attrs, { shape: outShape, dtype: 'float32' });
    const h64 = k.conv2d(upload(be, x, c.x), upload(be, w, c.w), c.attrs, { shape: outShape, dtype: 'float64' });
    expect(readHandle(be, h, 'float32')).toEqual(readHandle(be, h64).map(Math.fround));
    const dy = info(h64, outShape);
    const gi = readHandle(be, k.conv2dGradInput(dy, upload(be, w, c.w), c.attrs, { shape: c.x, dtype: 'float64' }));
    expect(gi.length).toBe(c.x.reduce((a, b) => a * b, 1));
  });

  it('a [1,16,32,32] conv with 16 output channels (and both gradients) is fast', () => {
    const xs = [1, 16, 32, 32];
    const ws = [16, 16, 3, 3];
    const attrs: Conv2dAttrs = { stride: [1, 1], padding: [1, 1, 1, 1], dilation: [1, 1], groups: 1 };
    const x = upload(be, randomValues(xs, 1), xs, 'float32');
    const w = upload(be, randomValues(ws, 2), ws, 'float32');
    const start = performance.now();
    const y = k.conv2d(x, w, attrs, { shape: xs, dtype: 'float32' });
    const forwardMs = performance.now() - start;
    k.conv2dGradInput(info(y, xs, 'float32'), w, attrs, { shape: xs, dtype: 'float32' });
    k.conv2dGradFilter(x, info(y, xs, 'float32'), attrs, { shape: ws, dtype: 'float32' });
    const totalMs = performance.now() - start;
    expect(forwardMs).toBeLessThan(500);
    expect(totalMs).toBeLessThan(1500);
  });
});
