// Elementwise ops: unary math, binary arithmetic with broadcasting, comparisons, where, cast.

import type { BinaryOp, CompareOp, UnaryOp } from '../backend/types.js';
import { DTypeError } from '../errors/index.js';
import { engine, expectDType } from '../engine/engine.js';
import { type DType, isFloatDType } from '../tensor/dtype.js';
import { broadcastShapes } from '../tensor/shape.js';
import { Tensor } from '../tensor/tensor.js';
import { type TensorLike, asTensor, resultDType } from './util.js';

/** Converts `x` to `dtype` (a no-op copy-free return when it already has it). */
export function cast(x: Tensor, dtype: DType): Tensor {
  x._check('cast');
  if (x.dtype === dtype) return x;
  return engine.runKernel('cast', [x], { dtype }, { shape: x.shape, dtype }, 'cast');
}

function unary(op: UnaryOp, x: Tensor, floatOnly: boolean): Tensor {
  x._check(op);
  if (op === 'logicalNot') expectDType(op, 'x', x, ['bool']);
  else if (floatOnly) expectDType(op, 'x', x, ['float32', 'float64']);
  else expectDType(op, 'x', x, ['float32', 'float64', 'int32']);
  return engine.runKernel('unary', [x], { op }, { shape: x.shape, dtype: x.dtype }, op);
}

export const neg = (x: Tensor) => unary('neg', x, false);
export const abs = (x: Tensor) => unary('abs', x, false);
export const sign = (x: Tensor) => unary('sign', x, false);
export const square = (x: Tensor) => unary('square', x, false);
export const exp = (x: Tensor) => unary('exp', x, true);
export const expm1 = (x: Tensor) => unary('expm1', x, true);
export const log = (x: Tensor) => unary('log', x, true);
export const log1p = (x: Tensor) => unary('log1p', x, true);
export const sqrt = (x: Tensor) => unary('sqrt', x, true);
export const rsqrt = (x: Tensor) => unary('rsqrt', x, true);
export const reciprocal = (x: Tensor) => unary('reciprocal', x, true);
export const sin = (x: Tensor) => unary('sin', x, true);
export const cos = (x: Tensor) => unary('cos', x, true);
export const tanh = (x: Tensor) => unary('tanh', x, true);
export const sigmoid = (x: Tensor) => unary('sigmoid', x, true);
export const relu = (x: Tensor) => unary('relu', x, false);
export const erf = (x: Tensor) => unary('erf', x, true);
export const floor = (x: Tensor) => unary('floor', x, true);
export const ceil = (x: Tensor) => unary('ceil', x, true);
/** Rounds half to even, like NumPy and PyTorch. */
export const round = (x: Tensor) => unary('round', x, true);
export const logicalNot = (x: Tensor) => unary('logicalNot', x, false);

function binary(op: BinaryOp, a: TensorLike, b: TensorLike): Tensor {
  let dtype = resultDType(a, b);
  const like = a instanceof Tensor ? a : b instanceof Tensor ? b : undefined;
  if (op === 'logicalAnd' || op === 'logicalOr') dtype = 'bool';
  else if (dtype === 'bool') dtype = 'int32';
  let ta = asTensor(op, 'a', a, dtype, like);
  let tb = asTensor(op, 'b', b, dtype, like);
  if (op === 'logicalAnd' || op === 'logicalOr') {
    expectDType(op, 'a', ta, ['bool']);
    expectDType(op, 'b', tb, ['bool']);
  }
  const shape = broadcastShapes(op, ta.shape, tb.shape);
  const ca = cast(ta, dtype);
  const cb = cast(tb, dtype);
  const out = engine.runKernel('binary', [ca, cb], { op }, { shape, dtype }, op);
  // Tensors made here (from number operands, or casts) are freed now rather than left to an
  // enclosing tidy(), so ops called outside any scope do not leak them (a tape that saved one
  // keeps it until the backward pass).
  freeTemporaries([a, b, out], [ta, tb, ca, cb]);
  return out;
}

/** Disposes the tensors among `made` that are not caller-owned (`given`). */
function freeTemporaries(given: readonly unknown[], made: readonly Tensor[]): void {
  for (const t of new Set(made)) if (!given.includes(t)) t.dispose();
}

export const add = (a: TensorLike, b: TensorLike) => binary('add', a, b);
export const sub = (a: TensorLike, b: TensorLike) => binary('sub', a, b);
export const mul = (a: TensorLike, b: TensorLike) => binary('mul', a, b);
/** True division on floats; floor division on int32. */
export const div = (a: TensorLike, b: TensorLike) => binary('div', a, b);
export const pow = (a: TensorLike, b: TensorLike) => binary('pow', a, b);
export const maximum = (a: TensorLike, b: TensorLike) => binary('maximum', a, b);
export const minimum = (a: TensorLike, b: TensorLike) => binary('minimum', a, b);
/** Floored modulo: the result has the divisor's sign, like Python. */
export const mod = (a: TensorLike, b: TensorLike) => binary('mod', a, b);
export const logicalAnd = (a: Tensor, b: Tensor) => binary('logicalAnd', a, b);
export const logicalOr = (a: Tensor, b: Tensor) => binary('logicalOr', a, b);

function compare(op: CompareOp, a: TensorLike, b: TensorLike): Tensor {
  const dtype = resultDType(a, b);
  const like = a instanceof Tensor ? a : b instanceof Tensor ? b : undefined;
  const ta = cast(asTensor(op, 'a', a, dtype, like), dtype);
  const tb = cast(asTensor(op, 'b', b, dtype, like), dtype);
  const shape = broadcastShapes(op, ta.shape, tb.shape);
  return engine.runKernel('compare', [ta, tb], { op }, { shape, dtype: 'bool' }, op);
}

export const equal = (a: TensorLike, b: TensorLike) => compare('equal', a, b);
export const notEqual = (a: TensorLike, b: TensorLike) => compare('notEqual', a, b);
export const less = (a: TensorLike, b: TensorLike) => compare('less', a, b);
export const lessEqual = (a: TensorLike, b: TensorLike) => compare('lessEqual', a, b);
export const greater = (a: TensorLike, b: TensorLike) => compare('greater', a, b);
export const greaterEqual = (a: TensorLike, b: TensorLike) => compare('greaterEqual', a, b);

/** cond ? a : b elementwise, with broadcasting of all three. */
export function where(cond: Tensor, a: TensorLike, b: TensorLike): Tensor {
  cond._check('where');
  if (cond.dtype !== 'bool') throw new DTypeError(`where: cond must have dtype bool, got ${cond.dtype}`);
  const dtype = resultDType(a, b);
  const like = a instanceof Tensor ? a : b instanceof Tensor ? b : cond;
  const ra = asTensor('where', 'a', a, dtype, like);
  const rb = asTensor('where', 'b', b, dtype, like);
  const ta = cast(ra, dtype);
  const tb = cast(rb, dtype);
  const shape = broadcastShapes('where', broadcastShapes('where', cond.shape, ta.shape), tb.shape);
  const out = engine.runKernel('where', [cond, ta, tb], {}, { shape, dtype }, 'where');
  freeTemporaries([a, b, out], [ra, rb, ta, tb]);
  return out;
}

/** Clamps into [lo, hi]. */
export function clip(x: Tensor, lo: number, hi: number): Tensor {
  const low = maximum(x, lo);
  const out = minimum(low, hi);
  low.dispose();
  return out;
}

export function isFloat(x: Tensor): boolean {
  return isFloatDType(x.dtype);
}
