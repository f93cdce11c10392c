// unary, binary, compare, where and cast against the reference backend beyond the conformance
// suite: wide ranges and the points where accuracy is hard (erf's tails, expm1 / log1p near 0,
// tanh / sigmoid saturation), round's exact halves, int32 floor division / modulo / power with
// negative operands, zero divisors and wraparound, rank-5 broadcasting, and casts of every pair.
import type { ConformanceCase } from '@denoise/core/testing';
import { randomBool, randomFloat, randomInt } from '@denoise/core/testing';
import * as op from '@denoise/core';
import type { Tensor, UnaryOp } from '@denoise/core';
import { expect, it } from 'vitest';
import { describeGpu, hostTensor, itMatchesReference, valuesOn } from '../../test-utils/gpu.js';

const unary = (name: UnaryOp, low: number, high: number, tol?: ConformanceCase['tol']): ConformanceCase => ({
  name: `unary/${name}[${low}, ${high}]`,
  inputs: (g) => [randomFloat(g, [4, 300], { low, high })],
  run: (x) => (op as unknown as Record<string, (t: Tensor) => Tensor>)[name]!(x),
  ...(tol ? { tol } : {}),
});

// 0.5 - 2^-25 and friends: exactly representable in float32, so both backends round the same value.
const justBelowHalf = 0.5 - 2 ** -25;

const CASES: ConformanceCase[] = [
  unary('erf', -6, 6, { atol: 1e-6, rtol: 1e-5 }),
  unary('erf', -0.01, 0.01, { atol: 1e-9, rtol: 1e-5 }),
  unary('expm1', -1e-3, 1e-3, { atol: 1e-12, rtol: 1e-5 }),
  unary('expm1', -12, 12, { atol: 1e-6, rtol: 1e-5 }),
  unary('log1p', -1e-3, 1e-3, { atol: 1e-12, rtol: 1e-5 }),
  unary('log1p', -0.99, 50, { atol: 1e-6, rtol: 1e-5 }),
  unary('tanh', -1e-3, 1e-3, { atol: 1e-12, rtol: 1e-5 }),
  unary('tanh', -20, 20),
  unary('sigmoid', -40, 40, { atol: 1e-12, rtol: 1e-4 }),
  unary('sin', -20, 20),
  unary('cos', -20, 20),
  unary('exp', -20, 20, { atol: 1e-6, rtol: 1e-5 }),
  unary('log', 1e-6, 1e6),
  unary('rsqrt', 1e-4, 1e4),
  {
    name: 'unary/round-half-to-even',
    inputs: () => [hostTensor([-3.5, -2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 3.5, justBelowHalf, -justBelowHalf, 1.5 + 2 ** -22, 8388609, -0.25, 2.75], [14])],
    run: (x) => op.round(x),
  },
  {
    name: 'unary/int32',
    inputs: (g) => [randomInt(g, [5, 40], -50, 50)],
    run: (x) => op.concat([op.neg(x), op.abs(x), op.sign(x), op.square(x), op.relu(x)], 0),
  },
  {
    name: 'binary/rank5-broadcast',
    inputs: (g) => [randomFloat(g, [2, 1, 3, 1, 4]), randomFloat(g, [1, 5, 1, 2, 1], { low: 0.5, high: 2 })],
    run: (a, b) => op.concat([op.add(a, b), op.mul(a, b), op.div(a, b), op.maximum(a, b)], 1),
    grad: true,
  },
  {
    name: 'binary/pow-negative-base',
    inputs: () => [hostTensor([-2, -1.5, -3, -0.5, 0, 2, 4], [7]), hostTensor([3, 2, -1, 4, 0, 0.5, -0.5], [7])],
    run: (a, b) => op.pow(a, b),
  },
  {
    name: 'binary/mod-signs',
    inputs: (g) => [randomFloat(g, [6, 50], { low: -30, high: 30 }), randomFloat(g, [1, 50], { low: -4, high: 4, avoid: [0], margin: 0.5 })],
    run: (a, b) => op.mod(a, b),
    tol: { atol: 1e-4, rtol: 1e-4 },
  },
  {
    name: 'binary/int32-div-mod-pow',
    inputs: () => [
      hostTensor([7, -7, 7, -7, 0, 5, -9, 2147483647, -2147483648, 3, -3, 13], [12], 'int'),
      hostTensor([2, 2, -2, -2, 3, 0, 0, 1, -1, 4, 5, 1], [12], 'int'),
    ],
    run: (a, b) => op.concat([op.div(a, b), op.mod(a, b), op.add(a, b), op.mul(a, op.add(b, 100000))], 0),
  },
  {
    name: 'binary/int32-pow',
    inputs: () => [hostTensor([2, -2, 3, -1, 1, 0, 7, 2, -1, 5], [10], 'int'), hostTensor([10, 3, 0, 5, 9, 3, 2, 31, -3, -1], [10], 'int')],
    run: (a, b) => op.pow(a, b),
  },
  {
    name: 'compare/int32-and-bool',
    inputs: (g) => [randomInt(g, [4, 30], -3, 3), randomInt(g, [30], -3, 3), randomBool(g, [4, 30]), randomBool(g, [30])],
    run: (a, b, p, q) => op.concat([op.less(a, b), op.greaterEqual(a, b), op.equal(p, q), op.notEqual(p, q)], 0),
  },
  {
    name: 'where/int32-and-bool-values',
    inputs: (g) => [randomBool(g, [3, 1, 20]), randomInt(g, [4, 20], -9, 9), randomInt(g, [3, 4, 1], -9, 9), randomBool(g, [20])],
    run: (c, a, b, p) => op.concat([op.cast(op.where(c, a, b), 'float32'), op.cast(op.where(c, p, op.logicalNot(p)), 'float32')], 1),
  },
  {
    name: 'cast/every-pair',
    inputs: () => [hostTensor([-2.75, -1.5, -0.5, 0, 0.25, 1, 2.5, 1e6 + 0.5, NaN], [9])],
    run: (x) => {
      const i = op.cast(x, 'int32');
      const b = op.cast(x, 'bool');
      return op.concat([op.cast(i, 'float32'), op.cast(b, 'float32'), op.cast(op.cast(i, 'bool'), 'float32'), op.cast(op.cast(b, 'int32'), 'float32')], 0);
    },
  },
];

await describeGpu('elementwise kernels on webgpu', (backend) => {
  itMatchesReference(backend, CASES);

  it('NaN: compares unordered, propagates through maximum / minimum / relu, casts to int32 0 and bool true', async () => {
    const a = [NaN, 1, NaN, 2, -1];
    const b = [1, NaN, NaN, 2, 3];
    const got = await valuesOn(backend(), () => {
      const x = op.tensor(a);
      const y = op.tensor(b);
      const flags = [op.equal, op.notEqual, op.less, op.lessEqual, op.greater, op.greaterEqual].map((f) => op.cast(f(x, y), 'float32'));
      const casts = [op.cast(op.cast(x, 'int32'), 'float32'), op.cast(op.cast(x, 'bool'), 'float32')];
      return op.concat([...flags, op.maximum(x, y), op.minimum(x, y), op.relu(x), ...casts], 0);
    });
    expect(got).toEqual([
      0, 0, 0, 1, 0, // equal
      1, 1, 1, 0, 1, // notEqual
      0, 0, 0, 0, 1, // less
      0, 0, 0, 1, 1, // lessEqual
      0, 0, 0, 0, 0, // greater
      0, 0, 0, 1, 0, // greaterEqual
      NaN, NaN, NaN, 2, 3, // maximum
      NaN, NaN, NaN, 2, -1, // minimum
      NaN, 1, NaN, 2, 0, // relu
      0, 1, 0, 2, -1, // int32
      1, 1, 1, 1, 1, // bool
    ]);
  });
});
