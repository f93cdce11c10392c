// Every primitive's gradient rule against central finite differences in float64 on the
// reference backend (testing/gradcheck.ts), including double-backward rules for conv2d.
import { describe, expect, it } from 'vitest';
import { Generator } from '../random/philox.js';
import { gradcheck } from '../testing/gradcheck.js';
import { distinctFloat, randomBool, randomFloat, randomInt } from '../testing/host.js';
import type { Tensor } from '../tensor/tensor.js';
import * as op from '../ops/index.js';
import { UNARY_OPS, BINARY_OPS } from '../backend/types.js';
import { conv2dAttrs } from '../ops/linalg.js';

const gen = new Generator(7);
const fl = (shape: number[], o?: Parameters<typeof randomFloat>[2]) => randomFloat(gen, shape, o);
const ints = (shape: number[], lo: number, hi: number) => ({ ...randomInt(gen, shape, lo, hi), dtype: 'int32' as const });
const bools = (shape: number[]) => ({ ...randomBool(gen, shape), dtype: 'bool' as const });

function expectGrad(f: (...xs: Tensor[]) => Tensor, inputs: Parameters<typeof gradcheck>[1], options?: Parameters<typeof gradcheck>[2]) {
  const r = gradcheck(f, inputs, options);
  expect(r.worst, JSON.stringify(r.at)).toBeLessThanOrEqual(1);
}

describe('gradients of unary primitives', () => {
  const domain: Partial<Record<string, [number, number, number[]]>> = {
    log: [0.2, 3, []], sqrt: [0.2, 3, []], rsqrt: [0.3, 3, []], reciprocal: [0.3, 3, []], log1p: [-0.5, 2, []],
    abs: [-2, 2, [0]], relu: [-2, 2, [0]],
  };
  const piecewiseConstant = new Set(['sign', 'floor', 'ceil', 'round', 'logicalNot']);
  for (const name of UNARY_OPS) {
    if (piecewiseConstant.has(name)) continue;
    it(name, () => {
      const [lo, hi, avoid] = domain[name] ?? [-2, 2, []];
      expectGrad((x) => (op as unknown as Record<string, (t: Tensor) => Tensor>)[name]!(x), [fl([3, 5], { low: lo, high: hi, avoid, margin: 0.05 })]);
    });
  }
  it('piecewise-constant ops have zero gradient', () => {
    for (const name of ['sign', 'floor', 'ceil', 'round']) {
      expectGrad((x) => (op as unknown as Record<string, (t: Tensor) => Tensor>)[name]!(x), [fl([2, 4], { low: -3, high: 3, avoid: [-2.5, -2, -1.5, -1, -0.5, 0, 0.5, 1, 1.5, 2, 2.5], margin: 0.1 })]);
    }
  });
});

describe('gradients of binary primitives (with broadcasting)', () => {
  for (const name of BINARY_OPS) {
    if (name === 'logicalAnd' || name === 'logicalOr') continue;
    it(name, () => {
      const a = name === 'pow' ? fl([3, 1, 4], { low: 0.3, high: 2 }) : distinctFloat(gen, [3, 1, 4], 0.3, 2);
      const b = name === 'pow' ? fl([2, 4], { low: -1, high: 2 }) : name === 'mod' ? fl([2, 4], { low: 0.7, high: 1.3 }) : distinctFloat(gen, [2, 4], -1.7, 1.9);
      // Keep mod away from its jumps: a / b must not be near an integer.
      if (name === 'mod') for (let i = 0; i < a.values.length; i++) a.values[i] = 0.3 + 0.1 * i;
      expectGrad((x, y) => (op as unknown as Record<string, (p: Tensor, q: Tensor) => Tensor>)[name]!(x, y), [a, b]);
    });
  }
});

describe('gradients of the other primitives', () => {
  it('where', () => expectGrad((c, a, b) => op.where(c, a, b), [bools([3, 1]), fl([3, 4]), fl([4])]));
  it('reduce sum / max / min / prod', () => {
    expectGrad((x) => op.sum(x, [0, 2]), [fl([2, 3, 4])]);
    expectGrad((x) => op.max(x, 1, true), [distinctFloat(gen, [3, 5, 2])]);
    expectGrad((x) => op.min(x, [0, 2]), [distinctFloat(gen, [3, 5, 2])]);
    expectGrad((x) => op.prod(x, 1), [fl([3, 4], { low: 0.5, high: 1.5 })]);
  });
  it('matmul with every transpose combination and broadcast batch axes', () => {
    expectGrad((a, b) => op.matmul(a, b), [fl([2, 1, 3, 4]), fl([3, 4, 5])]);
    expectGrad((a, b) => op.matmul(a, b, { transposeA: true }), [fl([2, 4, 3]), fl([4, 5])]);
    expectGrad((a, b) => op.matmul(a, b, { transposeB: true }), [fl([3, 4]), fl([2, 5, 4])]);
    expectGrad((a, b) => op.matmul(a, b, { transposeA: true, transposeB: true }), [fl([2, 4, 3]), fl([2, 5, 4])]);
  });
  it('conv2d with stride, asymmetric padding, dilation and groups', () => {
    expectGrad((x, w) => op.conv2d(x, w, { stride: 2, padding: [1, 0, 2, 1] }), [fl([2, 2, 7, 6]), fl([3, 2, 3, 2])]);
    expectGrad((x, w) => op.conv2d(x, w, { dilation: 2, padding: 1 }), [fl([1, 2, 7, 7]), fl([2, 2, 3, 3])]);
    expectGrad((x, w) => op.conv2d(x, w, { groups: 2, padding: 1, stride: [1, 2] }), [fl([1, 4, 5, 6]), fl([6, 2, 3, 3])]);
  });
  it('conv2dGradInput and conv2dGradFilter (double backward)', () => {
    const { attrs, outShape } = conv2dAttrs('t', [1, 2, 6, 5], [3, 2, 3, 3], { stride: 2, padding: 1 });
    expectGrad((dy, w) => op.conv2dGradInput(dy, w, attrs, [1, 2, 6, 5]), [fl(outShape), fl([3, 2, 3, 3])]);
    expectGrad((x, dy) => op.conv2dGradFilter(x, dy, attrs, [3, 2, 3, 3]), [fl([1, 2, 6, 5]), fl(outShape)]);
  });
  it('gather and scatterAdd', () => {
    expectGrad((x, i) => op.gather(x, i, 1), [fl([3, 5, 2]), ints([2, 3], 0, 5)]);
    expectGrad((i, u) => op.scatterAdd([4, 3], i, u, 0), [ints([6], 0, 4), fl([6, 3])]);
  });
  it('reshape, transpose, slice, concat, pad, broadcastTo', () => {
    expectGrad((x) => op.reshape(x, [4, 6]), [fl([2, 3, 4])]);
    expectGrad((x) => op.transpose(x, [1, 2, 0]), [fl([2, 3, 4])]);
    expectGrad((x) => op.slice(x, [1, 0, 2], [2, 2, 2]), [fl([3, 3, 4])]);
    expectGrad((a, b) => op.concat([a, b], 2), [fl([2, 3, 1]), fl([2, 3, 4])]);
    expectGrad((x) => op.pad(x, [[1, 0], [2, 3]], -0.5), [fl([3, 2])]);
    expectGrad((x) => op.broadcastTo(x, [3, 2, 4]), [fl([2, 1])]);
  });
  it('resize nearest and bilinear, and its adjoint', () => {
    expectGrad((x) => op.resize(x, { scaleFactor: 2 }), [fl([1, 2, 3, 3])]);
    expectGrad((x) => op.resize(x, { size: [5, 7], mode: 'bilinear' }), [fl([1, 2, 3, 4])]);
    expectGrad((x) => op.resize(x, { size: [2, 3], mode: 'bilinear', alignCorners: true }), [fl([1, 1, 4, 5])]);
    expectGrad((dy) => op.resizeGrad(dy, { mode: 'bilinear', size: [5, 6], alignCorners: false }, [1, 2, 3, 4]), [fl([1, 2, 5, 6])]);
  });
  it('cast between float dtypes passes the gradient through', () => {
    expectGrad((x) => op.cast(op.cast(x, 'float32'), 'float64'), [fl([4])], { atol: 1e-3, rtol: 1e-3, eps: 1e-3 });
  });
});

describe('gradients of composites (through their primitive definitions)', () => {
  it('linear, norms, softmax family', () => {
    expectGrad((x, w, b) => op.linear(x, w, b), [fl([2, 3, 4]), fl([5, 4]), fl([5])]);
    expectGrad((x, g, b) => op.layerNorm(x, g, b), [fl([2, 6]), fl([6]), fl([6])]);
    expectGrad((x, g, b) => op.groupNorm(x, 2, g, b), [fl([2, 4, 2, 3]), fl([4]), fl([4])]);
    expectGrad((x) => op.softmax(x), [fl([3, 5], { low: -3, high: 3 })]);
    expectGrad((x) => op.logSoftmax(x), [fl([3, 5], { low: -3, high: 3 })]);
  });
  it('attention, activations and losses', () => {
    expectGrad((q, k, v) => op.attention(q, k, v, { causal: true }), [fl([1, 2, 3, 4]), fl([1, 2, 3, 4]), fl([1, 2, 3, 2])]);
    expectGrad((x) => op.gelu(x), [fl([7], { low: -3, high: 3 })]);
    expectGrad((x) => op.geluTanh(x), [fl([7], { low: -3, high: 3 })]);
    expectGrad((x) => op.silu(x), [fl([7], { low: -3, high: 3 })]);
    expectGrad((x) => op.geglu(x), [fl([2, 6], { low: -3, high: 3 })]);
    expectGrad((x, t) => op.crossEntropy(x, t, { ignoreIndex: 1 }), [fl([5, 4]), ints([5], 0, 4)]);
    expectGrad((a, b) => op.mse(a, b), [fl([3, 4]), fl([3, 4])]);
    expectGrad((x) => op.logSumExp(x, 1), [fl([3, 4])]);
    expectGrad((x) => op.variance(x, [0, 1]), [fl([3, 4])]);
  });
});
