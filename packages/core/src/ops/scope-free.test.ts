// Every op called outside any scope leaves exactly its results alive: composites free their
// intermediates themselves (a long loop without tidy() does not grow), with and without a tape.
import { describe, expect, it } from 'vitest';
import { engine } from '../engine/engine.js';
import { gradients } from '../autograd/index.js';
import { Tensor } from '../tensor/tensor.js';
import * as op from './index.js';

const t = (shape: number[], seed = 1) => op.tensor(Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => Math.sin(seed * 1.3 + i * 0.7)), shape);

const i32 = (v: number[]) => op.tensor(v, [v.length], { dtype: 'int32' });

// [name, the inputs (made before counting), the single op call(s) on them].
const CASES: [string, () => Tensor[], (...xs: Tensor[]) => Tensor | Tensor[]][] = [
  ['linear', () => [t([2, 4]), t([3, 4]), t([3])], (x, w, b) => op.linear(x!, w!, b)],
  ['softmax / logSoftmax', () => [t([2, 4])], (x) => [op.softmax(x!, -1), op.logSoftmax(x!, -1)]],
  ['layerNorm', () => [t([2, 4]), t([4]), t([4])], (x, g, b) => op.layerNorm(x!, g!, b!)],
  ['groupNorm', () => [t([1, 2, 2, 2]), t([2]), t([2])], (x, g, b) => op.groupNorm(x!, 2, g!, b!)],
  ['attention', () => [t([1, 1, 2, 4]), t([1, 1, 3, 4], 2), t([1, 1, 3, 4], 3)], (q, k, v) => op.attention(q!, k!, v!)],
  ['splitHeads / mergeHeads', () => [t([1, 2, 4]), t([1, 2, 2, 2])], (x, y) => [op.splitHeads(x!, 2), op.mergeHeads(y!)]],
  ['gelu / geluTanh / quickGelu / silu / geglu', () => [t([2, 4])], (x) => [op.gelu(x!), op.geluTanh(x!), op.quickGelu(x!), op.silu(x!), op.geglu(x!)]],
  ['crossEntropy', () => [t([2, 4]), i32([1, 3])], (x, y) => op.crossEntropy(x!, y!)],
  ['mse', () => [t([2, 4]), t([2, 4], 2)], (x, y) => op.mse(x!, y!)],
  ['mean / variance / logSumExp / argmax', () => [t([2, 4])], (x) => [op.mean(x!, 1), op.variance(x!, 1), op.logSumExp(x!, 1), op.argmax(x!, 1)]],
  ['matmul', () => [t([2, 4]), t([4, 3]), t([4])], (x, w, v) => [op.matmul(x!, w!), op.matmul(x!, v!), op.matmul(v!, w!)]],
  ['conv2d', () => [t([1, 2, 3, 3]), t([3, 2, 2, 2])], (x, w) => op.conv2d(x!, w!, { padding: 1, stride: 2 })],
  ['transpose / swapAxes', () => [t([2, 4])], (x) => [op.transpose(x!), op.swapAxes(x!, 0, 1)]],
  ['slice / sliceAxis', () => [t([2, 4])], (x) => [op.slice(x!, [0, 1], [1, 2]), op.sliceAxis(x!, 1, 1, 3)]],
  ['concat / stack / split', () => [t([2, 4])], (x) => [op.concat([x!, x!], 0), op.stack([x!, x!]), ...op.split(x!, 2, 1)]],
  ['pad / broadcastTo / tile', () => [t([2, 4])], (x) => [op.pad(x!, [[1, 0], [0, 2]]), op.broadcastTo(x!, [3, 2, 4]), op.tile(x!, [2, 1])]],
  ['expandDims / squeeze / flatten', () => [t([2, 4]), t([1, 2, 1])], (x, y) => [op.expandDims(x!, 0), op.squeeze(y!), op.flatten(x!)]],
  ['resize', () => [t([1, 1, 2, 4])], (x) => op.resize(x!, { size: [4, 8] })],
  ['gather / embedding / scatterAdd', () => [t([2, 4]), i32([1, 0, 1]), i32([2, 0])], (x, i, j) => [op.gather(x!, i!), op.embedding(x!, i!), op.scatterAdd([3, 4], j!, x!)]],
  ['clip / where', () => [t([2, 4]), op.tensor([1, 0], [2, 1], { dtype: 'bool' })], (x, c) => [op.clip(x!, -0.5, 0.5), op.where(c!, x!, 0)]],
  ['arange / zerosLike / onesLike / full', () => [t([2, 4])], (x) => [op.arange(0, 5), op.zerosLike(x!), op.onesLike(x!), op.full([2], 3)]],
];

describe('ops outside any scope', () => {
  for (const [name, inputs, run] of CASES) {
    it(`${name}: only the results stay alive`, () => {
      const xs = inputs();
      const before = engine.memory().numTensors;
      const out = [run(...xs)].flat();
      expect(engine.memory().numTensors - before, 'tensors alive after the call').toBe(out.length);
      for (const o of out) o.dispose();
      expect(engine.memory().numTensors).toBe(before);
      for (const x of xs) x.dispose();
    });
  }

  it('composites on a tape keep what the backward pass needs', () => {
    const x = t([2, 4]);
    const before = engine.memory().numTensors;
    const { value, grads } = gradients(() => op.sum(op.mul(op.layerNorm(op.gelu(x), t([4]), t([4])), op.softmax(op.clip(x, -0.5, 0.5), -1))), [x]);
    // Against central differences of the same function.
    const f = (v: number[]) => engine.tidy(() => op.sum(op.mul(op.layerNorm(op.gelu(op.tensor(v, [2, 4])), t([4]), t([4])), op.softmax(op.clip(op.tensor(v, [2, 4]), -0.5, 0.5), -1))).item());
    const x0 = Array.from(x.dataSync());
    const h = 1e-3;
    const numeric = x0.map((_, i) => (f(x0.map((v, j) => (j === i ? v + h : v))) - f(x0.map((v, j) => (j === i ? v - h : v)))) / (2 * h));
    Array.from(grads[0]!.dataSync()).forEach((g, i) => expect(g).toBeCloseTo(numeric[i]!, 2));
    for (const o of [value, ...grads]) o.dispose();
    expect(engine.memory().numTensors).toBe(before);
    x.dispose();
  });
});
