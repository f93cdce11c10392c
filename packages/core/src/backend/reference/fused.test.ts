import { describe, it, expect } from 'vitest';
import { createReferenceBackend } from './backend.js';
import { expectClose, info, randomValues, readHandle, upload } from './test-helpers.js';
import type { TensorInfo } from '../types.js';

const be = createReferenceBackend();
const k = be.kernels;
const fused = be.fused!;

describe('reference fused softmax / logSoftmax', () => {
  const x = randomValues([3, 5], 71).map((v) => 4 * v);

  it('softmax matches exp(x) / sum exp(x) per row', () => {
    const r = readHandle(be, fused.softmax!(upload(be, x, [3, 5]), { shape: [3, 5], dtype: 'float64' }));
    const expected: number[] = [];
    for (let i = 0; i < 3; i++) {
      const row = x.slice(i * 5, i * 5 + 5).map(Math.exp);
      const s = row.reduce((a, b) => a + b, 0);
      expected.push(...row.map((e) => e / s));
    }
    expectClose(r, expected, 1e-15, 1e-14);
  });

  it('softmax is stable for large logits (shift invariance) and rows sum to 1', () => {
    const big = x.map((v) => v + 1000);
    const a = readHandle(be, fused.softmax!(upload(be, big, [3, 5]), { shape: [3, 5], dtype: 'float64' }));
    const b = readHandle(be, fused.softmax!(upload(be, x, [3, 5]), { shape: [3, 5], dtype: 'float64' }));
    expectClose(a, b, 1e-14, 1e-12);
    for (let i = 0; i < 3; i++) expect(a.slice(i * 5, i * 5 + 5).reduce((s, v) => s + v, 0)).toBeCloseTo(1, 14);
    const masked = readHandle(be, fused.softmax!(upload(be, [0, -Infinity, 0], [3]), { shape: [3], dtype: 'float64' }));
    expect(masked).toEqual([0.5, 0, 0.5]);
  });

  it('logSoftmax = log(softmax) and stays finite for large logits', () => {
    const ls = readHandle(be, fused.logSoftmax!(upload(be, x, [3, 5]), { shape: [3, 5], dtype: 'float64' }));
    const sm = readHandle(be, fused.softmax!(upload(be, x, [3, 5]), { shape: [3, 5], dtype: 'float64' }));
    expectClose(ls, sm.map(Math.log), 1e-13, 1e-13);
    const big = readHandle(be, fused.logSoftmax!(upload(be, [1000, 0, -1000], [3]), { shape: [3], dtype: 'float64' }));
    expectClose(big, [0, -1000, -2000], 1e-12);
  });

  it('hand-computed softmax of [0, ln 3] = [1/4, 3/4]', () => {
    const r = readHandle(be, fused.softmax!(upload(be, [0, Math.log(3)], [1, 2]), { shape: [1, 2], dtype: 'float64' }));
    expectClose(r, [0.25, 0.75], 1e-15);
  });
});

describe('reference fused layerNorm / groupNorm', () => {
  it('layerNorm over the last axis with biased variance and affine', () => {
    const shape = [2, 3, 6];
    const x = randomValues(shape, 81).map((v) => 3 * v + 1);
    const gamma = randomValues([6], 82);
    const beta = randomValues([6], 83);
    const eps = 1e-5;
    const r = readHandle(be, fused.layerNorm!(upload(be, x, shape), upload(be, gamma, [6]), upload(be, beta, [6]), { eps }, { shape, dtype: 'float64' }));
    const expected: number[] = [];
    for (let row = 0; row < 6; row++) {
      const v = x.slice(row * 6, row * 6 + 6);
      const mean = v.reduce((a, b) => a + b, 0) / 6;
      const variance = v.reduce((a, b) => a + b * b, 0) / 6 - mean * mean; // E[x^2] - E[x]^2
      v.forEach((xi, c) => expected.push(((xi - mean) / Math.sqrt(variance + eps)) * gamma[c]! + beta[c]!));
    }
    expectClose(r, expected, 1e-12, 1e-11);
  });

  it('hand-computed layerNorm of [1, 3] with eps 0: [-1, 1]', () => {
    const r = readHandle(be, fused.layerNorm!(upload(be, [1, 3], [2]), upload(be, [1, 1], [2]), upload(be, [0, 0], [2]), { eps: 0 }, { shape: [2], dtype: 'float64' }));
    expect(r).toEqual([-1, 1]);
  });

  it('groupNorm pools (C / groups) channels and all spatial positions', () => {
    const shape = [2, 6, 3, 2];
    const [N, C, S, G] = [2, 6, 6, 3];
    const x = randomValues(shape, 91).map((v) => 2 * v - 0.5);
    const gamma = randomValues([C], 92);
    const beta = randomValues([C], 93);
    const eps = 1e-6;
    const r = readHandle(be, fused.groupNorm!(upload(be, x, shape), upload(be, gamma, [C]), upload(be, beta, [C]), { groups: G, eps }, { shape, dtype: 'float64' }));
    const at = (n: number, c: number, s: number) => x[(n * C + c) * S + s]!;
    const expected = new Array<number>(x.length);
    for (let n = 0; n < N; n++) {
      for (let g = 0; g < G; g++) {
        const channels = [2 * g, 2 * g + 1];
        const vals = channels.flatMap((c) => Array.from({ length: S }, (_, s) => at(n, c, s)));
        const mean = vals.reduce((a, b) => a + b, 0) / vals.length;
        const variance = vals.reduce((a, b) => a + (b - mean) ** 2, 0) / vals.length;
        for (const c of channels) {
          for (let s = 0; s < S; s++) expected[(n * C + c) * S + s] = ((at(n, c, s) - mean) / Math.sqrt(variance + eps)) * gamma[c]! + beta[c]!;
        }
      }
    }
    expectClose(r, expected, 1e-12, 1e-11);
  });

  it('groupNorm with one group per sample equals layerNorm over (C*H*W) before the affine', () => {
    const shape = [2, 4, 5];
    const x = randomValues(shape, 95);
    const ones4 = upload(be, [1, 1, 1, 1], [4]);
    const zeros4 = upload(be, [0, 0, 0, 0], [4]);
    const g = readHandle(be, fused.groupNorm!(upload(be, x, shape), ones4, zeros4, { groups: 1, eps: 1e-5 }, { shape, dtype: 'float64' }));
    const ones20 = upload(be, new Array(20).fill(1), [20]);
    const zeros20 = upload(be, new Array(20).fill(0), [20]);
    const l = readHandle(be, fused.layerNorm!(upload(be, x, [2, 20]), ones20, zeros20, { eps: 1e-5 }, { shape: [2, 20], dtype: 'float64' }));
    expectClose(g, l, 1e-14, 1e-13);
  });
});

describe('reference fused attention', () => {
  /** softmax(q k^T * scale + mask) v composed from primitive kernels. */
  function composed(q: TensorInfo, kk: TensorInfo, v: TensorInfo, mask: TensorInfo | null, scale: number): number[] {
    const [B, H, Tq] = q.shape as [number, number, number, number];
    const Tk = kk.shape[2]!;
    const Dv = v.shape[3]!;
    const sShape = [B, H, Tq, Tk];
    const f64 = 'float64' as const;
    let s = info(k.matmul(q, kk, { transposeA: false, transposeB: true }, { shape: sShape, dtype: f64 }), sShape);
    s = info(k.binary(s, upload(be, [scale], []), { op: 'mul' }, { shape: sShape, dtype: f64 }), sShape);
    if (mask) s = info(k.binary(s, mask, { op: 'add' }, { shape: sShape, dtype: f64 }), sShape);
    const rowShape = [B, H, Tq, 1];
    const m = info(k.reduce(s, { op: 'max', axes: [3], keepDims: true }, { shape: rowShape, dtype: f64 }), rowShape);
    const e = info(k.unary(info(k.binary(s, m, { op: 'sub' }, { shape: sShape, dtype: f64 }), sShape), { op: 'exp' }, { shape: sShape, dtype: f64 }), sShape);
    const z = info(k.reduce(e, { op: 'sum', axes: [3], keepDims: true }, { shape: rowShape, dtype: f64 }), rowShape);
    const p = info(k.binary(e, z, { op: 'div' }, { shape: sShape, dtype: f64 }), sShape);
    return readHandle(be, k.matmul(p, v, { transposeA: false, transposeB: false }, { shape: [B, H, Tq, Dv], dtype: f64 }));
  }

  const [B, H, Tq, Tk, D, Dv] = [2, 3, 4, 5, 6, 7];
  const q = upload(be, randomValues([B, H, Tq, D], 101).map((v) => 3 * v), [B, H, Tq, D]);
  const kk = upload(be, randomValues([B, H, Tk, D], 102).map((v) => 3 * v), [B, H, Tk, D]);
  const v = upload(be, randomValues([B, H, Tk, Dv], 103), [B, H, Tk, Dv]);
  const out = { shape: [B, H, Tq, Dv], dtype: 'float64' as const };

  it('matches the composition without a mask', () => {
    const r = readHandle(be, fused.attention!(q, kk, v, null, { scale: 1 / Math.sqrt(D) }, out));
    expectClose(r, composed(q, kk, v, null, 1 / Math.sqrt(D)), 1e-14, 1e-12);
  });

  it('matches the composition with a [Tq, Tk] causal mask of -Infinity', () => {
    const maskValues: number[] = [];
    for (let i = 0; i < Tq; i++) for (let j = 0; j < Tk; j++) maskValues.push(j > i + 1 ? -Infinity : 0);
    const mask = upload(be, maskValues, [Tq, Tk]);
    const r = readHandle(be, fused.attention!(q, kk, v, mask, { scale: 0.5 }, out));
    expectClose(r, composed(q, kk, v, mask, 0.5), 1e-14, 1e-12);
    // the first query sees only keys 0 and 1
    const r0 = r.slice(0, Dv);
    expect(r0.every(Number.isFinite)).toBe(true);
  });

  it('matches the composition with a [B,1,1,Tk] additive padding mask and large logits', () => {
    const maskValues = [0, 0, -1e9, 0, -3, 0, -1e9, -1e9, 0, 2];
    const mask = upload(be, maskValues, [B, 1, 1, Tk]);
    const r = readHandle(be, fused.attention!(q, kk, v, mask, { scale: 10 }, out));
    expectClose(r, composed(q, kk, v, mask, 10), 1e-13, 1e-11);
  });

  it('one key: output is that value row', () => {
    const q1 = upload(be, [1, 2], [1, 1, 1, 2]);
    const k1 = upload(be, [3, 4], [1, 1, 1, 2]);
    const v1 = upload(be, [5, 6, 7], [1, 1, 1, 3]);
    expect(readHandle(be, fused.attention!(q1, k1, v1, null, { scale: 1 }, { shape: [1, 1, 1, 3], dtype: 'float64' }))).toEqual([5, 6, 7]);
  });
});
