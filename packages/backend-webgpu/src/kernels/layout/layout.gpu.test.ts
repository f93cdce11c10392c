// The strided copy (transpose, slice, broadcastTo, concat, pad) and reshape against the
// reference backend, on every dtype (the copy moves raw 32-bit words), plus reshape's shared
// storage: a view costs no buffer and survives its source being freed.
import type { ConformanceCase } from '@denoise/core/testing';
import { randomBool, randomFloat, randomInt } from '@denoise/core/testing';
import * as op from '@denoise/core';
import { engine } from '@denoise/core';
import { expect, it } from 'vitest';
import { describeGpu, itMatchesReference } from '../../test-utils/gpu.js';

const f = randomFloat;

const CASES: ConformanceCase[] = [
  { name: 'transpose/rank5', inputs: (g) => [f(g, [2, 3, 4, 5, 6])], run: (x) => op.transpose(x, [4, 1, 3, 0, 2]), grad: true },
  { name: 'transpose/int32-last-two', inputs: (g) => [randomInt(g, [3, 17, 9], -99, 99)], run: (x) => op.transpose(x, [0, 2, 1]) },
  { name: 'slice/rank4-strided-block', inputs: (g) => [f(g, [3, 8, 7, 6])], run: (x) => op.slice(x, [1, 2, 0, 3], [2, 5, 7, 2]), grad: true },
  { name: 'slice/bool', inputs: (g) => [randomBool(g, [6, 10])], run: (x) => op.slice(x, [2, 3], [3, 5]) },
  { name: 'broadcastTo/middle-and-leading', inputs: (g) => [f(g, [5, 1, 3])], run: (x) => op.broadcastTo(x, [2, 5, 4, 3]), grad: true },
  { name: 'concat/axis0-and-last', inputs: (g) => [f(g, [2, 3, 4]), f(g, [1, 3, 4]), f(g, [3, 3, 4])], run: (a, b, c) => op.concat([op.concat([a, b, c], 0), op.concat([c, c], 0)], 2), grad: true },
  { name: 'concat/int32-and-bool', inputs: (g) => [randomInt(g, [2, 5], -9, 9), randomInt(g, [2, 3], -9, 9), randomBool(g, [2, 4])], run: (a, b, c) => op.concat([a, b, op.cast(c, 'int32')], 1) },
  { name: 'pad/int32', inputs: (g) => [randomInt(g, [3, 4], -9, 9)], run: (x) => op.pad(x, [[2, 1], [0, 3]], 7) },
  { name: 'pad/bool', inputs: (g) => [randomBool(g, [2, 3])], run: (x) => op.pad(x, [[1, 1], [1, 0]], 1) },
  { name: 'pad/rank4', inputs: (g) => [f(g, [2, 3, 4, 5])], run: (x) => op.pad(x, [[0, 0], [1, 2], [3, 0], [1, 1]], -0.25), grad: true },
];

await describeGpu('layout kernels on webgpu', (backend) => {
  itMatchesReference(backend, CASES);

  it('reshape shares storage: no new buffer, and the view outlives its source', async () => {
    const b = backend();
    const prev = engine.backend;
    engine.setBackend(b);
    try {
      const before = b.memory();
      const x = op.tensor([1, 2, 3, 4, 5, 6], [2, 3]);
      const y = op.reshape(x, [3, 2]);
      expect(b.memory()).toEqual({ bytes: before.bytes + 24, buffers: before.buffers + 1 });
      x.dispose();
      expect(Array.from(await y.data())).toEqual([1, 2, 3, 4, 5, 6]);
      y.dispose();
      expect(b.memory()).toEqual(before);
    } finally {
      engine.setBackend(prev);
    }
  });
});
