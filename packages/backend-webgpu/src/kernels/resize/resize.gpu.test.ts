// resize and resizeGrad against the reference backend (gradients run resizeGrad): non-integer
// ratios up and down, align-corners, and a single output row.
import type { ConformanceCase } from '@denoise/core/testing';
import { randomFloat } from '@denoise/core/testing';
import * as op from '@denoise/core';
import { describeGpu, itMatchesReference } from '../../test-utils/gpu.js';

const f = randomFloat;

const CASES: ConformanceCase[] = [
  { name: 'nearest/up-non-integer', inputs: (g) => [f(g, [2, 3, 5, 7])], run: (x) => op.resize(x, { size: [12, 10], mode: 'nearest' }), grad: true },
  { name: 'nearest/down', inputs: (g) => [f(g, [1, 2, 11, 9])], run: (x) => op.resize(x, { size: [4, 5], mode: 'nearest' }), grad: true },
  { name: 'bilinear/up', inputs: (g) => [f(g, [1, 3, 6, 5])], run: (x) => op.resize(x, { size: [13, 11], mode: 'bilinear' }), grad: true },
  { name: 'bilinear/down', inputs: (g) => [f(g, [2, 2, 15, 12])], run: (x) => op.resize(x, { size: [4, 7], mode: 'bilinear' }), grad: true },
  { name: 'bilinear/align-corners', inputs: (g) => [f(g, [1, 2, 5, 6])], run: (x) => op.resize(x, { size: [9, 4], mode: 'bilinear', alignCorners: true }), grad: true },
  { name: 'bilinear/align-corners-single-row', inputs: (g) => [f(g, [1, 2, 5, 6])], run: (x) => op.resize(x, { size: [1, 8], mode: 'bilinear', alignCorners: true }), grad: true },
];

await describeGpu('resize kernels on webgpu', (backend) => itMatchesReference(backend, CASES));
