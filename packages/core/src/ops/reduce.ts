// Reductions over axes: sum, mean, max, min, prod, argmax, and the numerically careful
// logSumExp, variance.

import type { ReduceOp } from '../backend/types.js';
import { engine, expectDType } from '../engine/engine.js';
import { normalizeAxes, normalizeAxis } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { cast, div, exp, log, sub, mul, add } from './elementwise.js';
import { reshape } from './layout.js';

export type Axes = number | readonly number[];

function reduce(op: ReduceOp, x: Tensor, axes: Axes | undefined, keepDims: boolean): Tensor {
  x._check(op);
  expectDType(op, 'x', x, op === 'sum' ? ['float32', 'float64', 'int32', 'bool'] : ['float32', 'float64', 'int32']);
  const ax = normalizeAxes(op, axes, x.rank);
  const dtype = x.dtype === 'bool' ? 'int32' : x.dtype;
  if (ax.length === 0) return cast(x, dtype);
  const shape = keepDims ? x.shape.map((d, i) => (ax.includes(i) ? 1 : d)) : x.shape.filter((_, i) => !ax.includes(i));
  return engine.runKernel('reduce', [x], { op, axes: ax, keepDims }, { shape, dtype }, op);
}

export const sum = (x: Tensor, axes?: Axes, keepDims = false) => reduce('sum', x, axes, keepDims);
export const max = (x: Tensor, axes?: Axes, keepDims = false) => reduce('max', x, axes, keepDims);
export const min = (x: Tensor, axes?: Axes, keepDims = false) => reduce('min', x, axes, keepDims);
export const prod = (x: Tensor, axes?: Axes, keepDims = false) => reduce('prod', x, axes, keepDims);

export function mean(x: Tensor, axes?: Axes, keepDims = false): Tensor {
  expectDType('mean', 'x', x, ['float32', 'float64']);
  const ax = normalizeAxes('mean', axes, x.rank);
  const count = ax.reduce((n, a) => n * (x.shape[a] as number), 1);
  return engine.tidy(() => div(sum(x, ax, keepDims), count));
}

/** Biased variance (divides by N), like PyTorch's normalisation layers. */
export function variance(x: Tensor, axes?: Axes, keepDims = false): Tensor {
  const ax = normalizeAxes('variance', axes, x.rank);
  return engine.tidy(() => {
    const d = sub(x, mean(x, ax, true));
    return mean(mul(d, d), ax, keepDims);
  });
}

/** log(sum(exp(x))) along axes, stable for large values. */
export function logSumExp(x: Tensor, axes?: Axes, keepDims = false): Tensor {
  const ax = normalizeAxes('logSumExp', axes, x.rank);
  return engine.tidy(() => {
    const m = engine.noGrad(() => max(x, ax, true));
    const out = add(log(sum(exp(sub(x, m)), ax, true)), m);
    return keepDims ? out : reshape(out, x.shape.filter((_, i) => !ax.includes(i)));
  });
}

/** Index of the largest entry along `axis` (the first on ties), int32. */
export function argmax(x: Tensor, axis = -1): Tensor {
  x._check('argmax');
  expectDType('argmax', 'x', x, ['float32', 'float64', 'int32']);
  const a = normalizeAxis('argmax', axis, x.rank);
  const shape = x.shape.filter((_, i) => i !== a);
  return engine.runKernel('argmax', [x], { axis: a }, { shape, dtype: 'int32' }, 'argmax');
}
