// matmul and the convolutions (implicit GEMM) against the reference backend, with gradients
// (which run the transposed matmuls and both conv gradients): shapes that do not divide the
// tiles, broadcast batches, strides, dilations, asymmetric padding and groups. The hardware
// default tiling (64) runs on a second backend too: one forward matmul, and the convolutions
// with their gradients (their B operand is read four columns per invocation there, as vectors,
// one column with the 16 tiling), strided and with unit stride (conv2dGradInput's two variants).
import type { ConformanceCase } from '@denoise/core/testing';
import { randomFloat } from '@denoise/core/testing';
import * as op from '@denoise/core';
import { describeGpu, itMatchesReference } from '../../test-utils/gpu.js';

const f = randomFloat;

const MATMUL: ConformanceCase[] = [
  { name: 'matmul/batch-broadcast-weight', inputs: (g) => [f(g, [3, 37, 45]), f(g, [45, 29])], run: (a, b) => op.matmul(a, b), grad: true },
  { name: 'matmul/transposed-broadcast-batches', inputs: (g) => [f(g, [2, 1, 20, 17]), f(g, [3, 33, 20])], run: (a, b) => op.matmul(a, b, { transposeA: true, transposeB: true }), grad: true },
  { name: 'matmul/vector-rows', inputs: (g) => [f(g, [1, 130]), f(g, [130, 70])], run: (a, b) => op.matmul(a, b), tol: { atol: 1e-4, rtol: 1e-4 } },
];

const CONV: ConformanceCase[] = [
  { name: 'conv2d/stride3-dilation2-asym', inputs: (g) => [f(g, [2, 3, 13, 11]), f(g, [5, 3, 3, 2])], run: (x, w) => op.conv2d(x, w, { stride: [3, 2], dilation: [2, 1], padding: [2, 0, 1, 3] }), grad: true },
  { name: 'conv2d/groups4', inputs: (g) => [f(g, [1, 8, 9, 9]), f(g, [12, 2, 3, 3])], run: (x, w) => op.conv2d(x, w, { groups: 4, padding: 1 }), grad: true },
  { name: 'conv2d/wide-channels', inputs: (g) => [f(g, [2, 20, 6, 6]), f(g, [24, 20, 3, 3])], run: (x, w) => op.conv2d(x, w, { padding: 1 }), grad: true, tol: { atol: 1e-4, rtol: 1e-4 } },
];

await describeGpu('gemm kernels on webgpu (default tiling)', (backend) => itMatchesReference(backend, [...MATMUL, ...CONV]));

const TILE64: ConformanceCase[] = [
  { name: 'matmul/tile64', inputs: (g) => [f(g, [2, 70, 45]), f(g, [45, 67])], run: (a, b) => op.matmul(a, b) },
  // N = 2 * 5 * 7 = 70 output positions (columns 64..69 in a second, partial tile), groups 2.
  { name: 'conv2d/tile64-stride2-dilation2-groups', inputs: (g) => [f(g, [2, 4, 13, 11]), f(g, [6, 2, 3, 2])], run: (x, w) => op.conv2d(x, w, { stride: [2, 2], dilation: [2, 1], padding: [1, 0, 2, 1], groups: 2 }), grad: true },
  { name: 'conv2d/tile64-unit-stride', inputs: (g) => [f(g, [1, 5, 9, 10]), f(g, [7, 5, 3, 3])], run: (x, w) => op.conv2d(x, w, { padding: 1 }), grad: true },
];

await describeGpu('gemm kernels on webgpu (64 x 64 tiles)', (backend) => itMatchesReference(backend, TILE64), { gemmTile: 64 });
