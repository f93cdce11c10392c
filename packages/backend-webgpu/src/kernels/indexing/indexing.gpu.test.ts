// gather and scatterAdd against the reference backend: middle axes, every dtype for gather,
// int32 updates, heavily repeated indices (long CSR segments), and scatterAdd's determinism
// (the same bits on every run, whatever order the atomics grouped the indices in).
import type { ConformanceCase } from '@denoise/core/testing';
import { randomBool, randomFloat, randomInt } from '@denoise/core/testing';
import * as op from '@denoise/core';
import { Generator } from '@denoise/core';
import { expect, it } from 'vitest';
import { describeGpu, itMatchesReference, valuesOn } from '../../test-utils/gpu.js';

const f = randomFloat;

const CASES: ConformanceCase[] = [
  { name: 'gather/axis2-rank4', inputs: (g) => [f(g, [2, 3, 8, 5]), randomInt(g, [3, 4], 0, 8)], run: (x, i) => op.gather(x, i, 2), grad: true },
  { name: 'gather/int32-and-bool', inputs: (g) => [randomInt(g, [9, 4], -50, 50), randomBool(g, [9, 4]), randomInt(g, [12], 0, 9)], run: (x, b, i) => op.concat([op.gather(x, i, 0), op.cast(op.gather(b, i, 0), 'int32')], 1) },
  { name: 'scatterAdd/many-repeats', inputs: (g) => [randomInt(g, [2000], 0, 13), f(g, [2, 2000, 3])], run: (i, u) => op.scatterAdd([2, 13, 3], i, u, 1), tol: { atol: 1e-4, rtol: 1e-4 } },
  { name: 'scatterAdd/axis0-int32', inputs: (g) => [randomInt(g, [50], 0, 6), randomInt(g, [50, 7], -20, 20)], run: (i, u) => op.scatterAdd([6, 7], i, u, 0) },
  { name: 'scatterAdd/unused-rows', inputs: (g) => [randomInt(g, [5], 3, 6), f(g, [5, 4])], run: (i, u) => op.scatterAdd([40, 4], i, u, 0), grad: true },
  { name: 'embedding/gather-grad', inputs: (g) => [f(g, [30, 6]), randomInt(g, [4, 25], 0, 30)], run: (w, i) => op.gather(w, i, 0), grad: true },
];

await describeGpu('indexing kernels on webgpu', (backend) => {
  itMatchesReference(backend, CASES);

  it('scatterAdd gives the same bits on every run', async () => {
    const gen = new Generator(7);
    const idx = Array.from(gen.randintArray(5000, 0, 4));
    const upd = Array.from(gen.uniformArray(5000, 'float64'), (v) => v * 2 - 1);
    const run = () => valuesOn(backend(), () => op.scatterAdd([4], op.tensor(idx, [5000], { dtype: 'int32' }), op.tensor(upd), 0));
    const first = await run();
    for (let r = 0; r < 3; r++) expect(await run()).toEqual(first);
  });
});
