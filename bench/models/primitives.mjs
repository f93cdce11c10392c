// The foundation's primitive workloads, shared by bench/primitives.mjs (every eager backend) and
// bench/graph.mjs (compiled through the onnx backend): shapes for timing, reduced shapes for the
// correctness check, FLOPs (multiply-adds x2), and the computation written with core ops.

import { Generator, attention, conv2d, matmul, randn, vjp } from '@denoise/core';

export const WORKLOADS = [
  {
    name: 'matmul_1024',
    flops: 2 * 1024 ** 3,
    shapes: { a: [1024, 1024], b: [1024, 1024] },
    small: { a: [96, 80], b: [80, 72] },
    run: ({ a, b }) => [matmul(a, b)],
  },
  {
    name: 'conv3x3_fwd',
    flops: 2 * 1 * 128 * 64 * 64 * 128 * 9,
    shapes: { x: [1, 128, 64, 64], w: [128, 128, 3, 3] },
    small: { x: [1, 8, 12, 12], w: [8, 8, 3, 3] },
    run: ({ x, w }) => [conv2d(x, w, { padding: 1 })],
  },
  {
    name: 'conv3x3_fwd_bwd',
    flops: 3 * 2 * 1 * 128 * 64 * 64 * 128 * 9,
    shapes: { x: [1, 128, 64, 64], w: [128, 128, 3, 3], g: [1, 128, 64, 64] },
    small: { x: [1, 8, 12, 12], w: [8, 8, 3, 3], g: [1, 8, 12, 12] },
    run: ({ x, w, g }) => {
      const { value, grads } = vjp(() => conv2d(x, w, { padding: 1 }), [x, w], g);
      return [value, ...grads];
    },
  },
  {
    name: 'attention_2x8x1024x64',
    flops: 4 * 2 * 8 * 1024 * 1024 * 64,
    shapes: { q: [2, 8, 1024, 64], k: [2, 8, 1024, 64], v: [2, 8, 1024, 64] },
    small: { q: [1, 2, 40, 16], k: [1, 2, 40, 16], v: [1, 2, 40, 16] },
    run: ({ q, k, v }) => [attention(q, k, v)],
  },
];

export function makeInputs(shapes, backend, seed) {
  const gen = new Generator(seed);
  return Object.fromEntries(Object.entries(shapes).map(([k, s]) => [k, randn(s, gen, { backend })]));
}
