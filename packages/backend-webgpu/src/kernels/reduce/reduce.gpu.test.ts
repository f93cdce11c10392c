// reduce and argmax against the reference backend: both variants (one invocation per output for
// short reductions, one workgroup per output past 64 elements), non-adjacent axes of rank-5
// tensors, int32 and bool inputs, NaN propagation, and argmax's first-maximum rule on ties.
import type { ConformanceCase } from '@denoise/core/testing';
import { distinctFloat, randomBool, randomFloat, randomInt } from '@denoise/core/testing';
import * as op from '@denoise/core';
import { expect, it } from 'vitest';
import { describeGpu, hostTensor, itMatchesReference, valuesOn } from '../../test-utils/gpu.js';

const CASES: ConformanceCase[] = [
  { name: 'sum/short-many-outputs', inputs: (g) => [randomFloat(g, [40, 7, 30])], run: (x) => op.sum(x, [0, 2]), grad: true },
  { name: 'sum/long-workgroup', inputs: (g) => [randomFloat(g, [3, 700, 2])], run: (x) => op.sum(x, 1), grad: true, tol: { atol: 1e-4, rtol: 1e-4 } },
  { name: 'sum/all', inputs: (g) => [randomFloat(g, [60, 70])], run: (x) => op.sum(x), tol: { atol: 1e-4, rtol: 1e-4 } },
  { name: 'sum/rank5-axes-0-2-4', inputs: (g) => [randomFloat(g, [3, 2, 5, 4, 6])], run: (x) => op.sum(x, [0, 2, 4], true), grad: true },
  { name: 'mean/last', inputs: (g) => [randomFloat(g, [9, 130])], run: (x) => op.mean(x, -1), grad: true },
  { name: 'max/long', inputs: (g) => [distinctFloat(g, [5, 300])], run: (x) => op.max(x, 1), grad: true },
  { name: 'min/long-middle', inputs: (g) => [distinctFloat(g, [4, 100, 3])], run: (x) => op.min(x, 1), grad: true },
  { name: 'prod/long', inputs: (g) => [randomFloat(g, [3, 90], { low: 0.9, high: 1.1 })], run: (x) => op.prod(x, 1), tol: { atol: 1e-5, rtol: 1e-4 } },
  { name: 'sum/int32-long', inputs: (g) => [randomInt(g, [4, 500], -1000, 1000)], run: (x) => op.sum(x, 1) },
  { name: 'prod/int32-wraps', inputs: (g) => [randomInt(g, [3, 40], -9, 9)], run: (x) => op.prod(x, 1) },
  { name: 'max-min/int32', inputs: (g) => [randomInt(g, [6, 200], -99, 99)], run: (x) => op.concat([op.max(x, 1), op.min(x, 1)], 0) },
  { name: 'sum/bool', inputs: (g) => [randomBool(g, [5, 150])], run: (x) => op.concat([op.sum(x, 1), op.reshape(op.sum(x, [0, 1], true), [1])], 0) },
  { name: 'argmax/ties-first', inputs: (g) => [randomInt(g, [6, 9, 5], 0, 3)], run: (x) => op.argmax(op.cast(x, 'float32'), 1) },
  { name: 'argmax/ties-long', inputs: (g) => [randomInt(g, [4, 400], 0, 5)], run: (x) => op.argmax(op.cast(x, 'float32'), 1) },
  { name: 'argmax/int32', inputs: (g) => [randomInt(g, [7, 120], -50, 50)], run: (x) => op.argmax(x, 1) },
  { name: 'argmax/nan-wins', inputs: () => [hostTensor([1, 5, NaN, 5, 2, 9, 3, NaN], [2, 4])], run: (x) => op.argmax(x, 1) },
];

await describeGpu('reduce kernels on webgpu', (backend) => {
  itMatchesReference(backend, CASES);

  it('max / min propagate NaN in both variants', async () => {
    // Row 0 is short (one invocation per output), row 1 long (one workgroup per output).
    const short = [1, NaN, 3, -1];
    const long = Array.from({ length: 300 }, (_, i) => (i === 170 ? NaN : i));
    const got = await valuesOn(backend(), () => {
      const a = op.tensor(short, [1, 4]);
      const b = op.tensor(long, [1, 300]);
      return op.concat([op.max(a, 1), op.min(a, 1), op.max(b, 1), op.min(b, 1), op.max(op.tensor([2, 7, 1], [1, 3]), 1)], 0);
    });
    expect(got).toEqual([NaN, NaN, NaN, NaN, 7]);
  });
});
