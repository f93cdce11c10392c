// The fused kernels (softmax, logSoftmax, layerNorm, groupNorm, attention) against the reference
// backend. The conformance runner evaluates the forward pass with no tape, so these cases run
// the fused kernels themselves (gradients would run core's composites instead).
//
// Attention at 4,096 tokens (one head, D = 16): its 4,096 x 4,096 score matrix (64 MiB in
// float32) is over the default attentionScoresLimitBytes, so the flash kernel runs and never
// allocates it, checked on the buffer pool's peak. The smaller cases run on materialised scores
// (attention.gpu.test.ts forces each algorithm).
import type { ConformanceCase } from '@denoise/core/testing';
import { randomFloat } from '@denoise/core/testing';
import * as op from '@denoise/core';
import { engine, Generator, randn, type Tensor } from '@denoise/core';
import { expect, it } from 'vitest';
import { describeGpu, hostTensor, itMatchesReference } from '../../test-utils/gpu.js';

const f = randomFloat;

const CASES: ConformanceCase[] = [
  { name: 'softmax/long-rows', inputs: (g) => [f(g, [5, 1000], { low: -8, high: 8 })], run: (x) => op.softmax(x) },
  { name: 'softmax/many-short-rows', inputs: (g) => [f(g, [300, 3], { low: -8, high: 8 })], run: (x) => op.softmax(x) },
  { name: 'logSoftmax/long-rows', inputs: (g) => [f(g, [3, 517], { low: -20, high: 20 })], run: (x) => op.logSoftmax(x) },
  { name: 'layerNorm/wide', inputs: (g) => [f(g, [6, 333], { low: 1, high: 3 }), f(g, [333]), f(g, [333])], run: (x, a, b) => op.layerNorm(x, a, b), tol: { atol: 1e-4, rtol: 1e-4 } },
  { name: 'groupNorm/3d-spatial', inputs: (g) => [f(g, [2, 8, 3, 4, 5]), f(g, [8]), f(g, [8])], run: (x, a, b) => op.groupNorm(x, 4, a, b), tol: { atol: 1e-4, rtol: 1e-4 } },
  { name: 'groupNorm/one-group', inputs: (g) => [f(g, [3, 6, 7, 7], { low: -2, high: 5 }), f(g, [6]), f(g, [6])], run: (x, a, b) => op.groupNorm(x, 1, a, b), tol: { atol: 1e-4, rtol: 1e-4 } },
  {
    name: 'attention/plain-multi-tile',
    inputs: (g) => [f(g, [2, 3, 70, 8]), f(g, [2, 3, 150, 8]), f(g, [2, 3, 150, 8])],
    run: (q, k, v) => op.attention(q, k, v),
  },
  {
    name: 'attention/kv-broadcast-over-heads-dv-differs',
    inputs: (g) => [f(g, [2, 4, 9, 8]), f(g, [2, 1, 11, 8]), f(g, [2, 1, 11, 5])],
    run: (q, k, v) => op.attention(q, k, v, { scale: 0.7 }),
  },
  {
    name: 'attention/mask-broadcast',
    inputs: (g) => [f(g, [2, 2, 33, 16]), f(g, [2, 2, 40, 16]), f(g, [2, 2, 40, 16]), f(g, [33, 40], { low: -4, high: 0 })],
    run: (q, k, v, m) => op.attention(q, k, v, { mask: m }),
  },
  {
    name: 'attention/mask-per-head-with-minus-infinity',
    inputs: (g) => {
      const m = f(g, [1, 2, 6, 7], { low: -3, high: 0 });
      m.values.forEach((_, i) => (i % 3 === 1 ? (m.values[i] = -Infinity) : 0));
      return [f(g, [1, 2, 6, 4]), f(g, [1, 2, 7, 4]), f(g, [1, 2, 7, 4]), m];
    },
    run: (q, k, v, m) => op.attention(q, k, v, { mask: m }),
  },
  { name: 'attention/causal', inputs: (g) => [f(g, [1, 2, 37, 8]), f(g, [1, 2, 37, 8]), f(g, [1, 2, 37, 8])], run: (q, k, v) => op.attention(q, k, v, { causal: true }) },
  { name: 'attention/single-key', inputs: () => [hostTensor([0.5, -1, 2, 0.25], [1, 1, 2, 2]), hostTensor([1, 2], [1, 1, 1, 2]), hostTensor([3, -4, 5], [1, 1, 1, 3])], run: (q, k, v) => op.attention(q, k, v) },
];

/** Attention of one query row in float64, from host arrays (the test's own oracle at 4,096 tokens). */
function attentionRow(q: Float32Array, k: Float32Array, v: Float32Array, i: number, T: number, D: number, scale: number): number[] {
  const s = new Float64Array(T);
  let max = -Infinity;
  for (let j = 0; j < T; j++) {
    let dot = 0;
    for (let d = 0; d < D; d++) dot += q[i * D + d]! * k[j * D + d]!;
    s[j] = dot * scale;
    max = Math.max(max, s[j]!);
  }
  let sum = 0;
  const out = new Array<number>(D).fill(0);
  for (let j = 0; j < T; j++) {
    const w = Math.exp(s[j]! - max);
    sum += w;
    for (let d = 0; d < D; d++) out[d]! += w * v[j * D + d]!;
  }
  return out.map((o) => o / sum);
}

await describeGpu('fused kernels on webgpu', (backend) => {
  itMatchesReference(backend, CASES);

  it('attention at 4,096 tokens never allocates the score matrix and matches float64 rows', async () => {
    const b = backend();
    const T = 4096;
    const D = 16;
    const prev = engine.backend;
    engine.setBackend(b);
    try {
      const gen = new Generator(11);
      const [q, k, v] = [randn([1, 1, T, D], gen), randn([1, 1, T, D], gen), randn([1, 1, T, D], gen)] as [Tensor, Tensor, Tensor];
      const [qs, ks, vs] = (await Promise.all([q.data(), k.data(), v.data()])) as [Float32Array, Float32Array, Float32Array];
      b.resetPeak();
      const start = b.pool().allocatedBytes;
      const t0 = performance.now();
      const out = op.attention(q, k, v);
      const values = (await out.data()) as Float32Array;
      const ms = performance.now() - t0;
      const grew = b.pool().peakBytes - start;
      console.log(`attention T=${T} D=${D}: ${ms.toFixed(0)} ms on ${b.adapterInfo.description || 'the adapter'}; pool grew by ${grew} bytes (the score matrix would be ${T * T * 4})`);
      expect(grew).toBeLessThan(T * D * 4 * 4);
      for (const i of [0, 1, 777, 2048, 4095]) {
        const want = attentionRow(qs, ks, vs, i, T, D, 1 / Math.sqrt(D));
        want.forEach((w, d) => expect(Math.abs(values[i * D + d]! - w)).toBeLessThan(1e-5 + 1e-4 * Math.abs(w)));
      }
      for (const t of [q, k, v, out]) t.dispose();
    } finally {
      engine.setBackend(prev);
    }
  });
});
