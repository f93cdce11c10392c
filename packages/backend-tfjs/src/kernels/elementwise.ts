// Elementwise kernels: unary, binary, compare, where, cast, fill.

import type { BinaryOp, CompareOp, DType, OutputInfo, PrimitiveKernels, TensorInfo, UnaryOp } from '@denoise/core';
import type { TfTensor } from '../types.js';
import type { KernelContext } from './context.js';

type TfDType = 'float32' | 'int32' | 'bool';

/** x != 0 as bool. (tf.cast(x, 'bool') on tfjs-backend-wasm copies low bytes: 0.5 -> 0, 256 -> 0.) */
export function toBool(ctx: KernelContext, x: TfTensor): TfTensor {
  const { tf } = ctx;
  if (x.dtype === 'bool') return x;
  return tf.notEqual(x, tf.scalar(0, x.dtype));
}

/** Casts with the contract's semantics: float -> int32 truncates, anything -> bool is x != 0. */
export function castTo(ctx: KernelContext, x: TfTensor, dtype: DType): TfTensor {
  if (x.dtype === dtype) return x;
  if (dtype === 'bool') return toBool(ctx, x);
  return ctx.tf.cast(x, dtype as TfDType);
}

function floatUnary(ctx: KernelContext, op: UnaryOp, x: TfTensor): TfTensor {
  const { tf } = ctx;
  switch (op) {
    case 'neg': return tf.neg(x);
    case 'abs': return tf.abs(x);
    case 'sign': return tf.sign(x);
    case 'exp': return tf.exp(x);
    case 'expm1': return tf.expm1(x);
    case 'log': return tf.log(x);
    case 'log1p': {
      if (!ctx.wasm) return tf.log1p(x);
      // tfjs-backend-wasm computes log(1 + x), which loses all precision for |x| < 1e-4.
      // Kahan's correction: with u = 1 + x (rounded), log1p(x) = log(u) * x / (u - 1).
      const u = tf.add(x, tf.scalar(1));
      const d = tf.sub(u, tf.scalar(1));
      return tf.where(tf.equal(d, tf.scalar(0)), x, tf.div(tf.mul(tf.log(u), x), d));
    }
    case 'sqrt': return tf.sqrt(x);
    case 'rsqrt': return tf.rsqrt(x);
    case 'square': return tf.square(x);
    case 'reciprocal': return tf.reciprocal(x);
    case 'sin': return tf.sin(x);
    case 'cos': return tf.cos(x);
    case 'tanh': return tf.tanh(x);
    case 'sigmoid': return tf.sigmoid(x);
    case 'relu': return tf.relu(x);
    case 'erf': return tf.erf(x);
    case 'floor': return tf.floor(x);
    case 'ceil': return tf.ceil(x);
    case 'round': return tf.round(x); // banker's rounding (half to even) in every tfjs backend
    case 'logicalNot': return tf.logicalNot(toBool(ctx, x));
  }
}

function unary(ctx: KernelContext, x: TensorInfo, op: UnaryOp, out: OutputInfo) {
  const { tf } = ctx;
  return ctx.run(out, () => {
    const t = ctx.t(x);
    if (op === 'logicalNot') return tf.logicalNot(toBool(ctx, t));
    if (t.dtype === 'float32') return floatUnary(ctx, op, t);
    // int32 / bool inputs: exact integer versions where they exist, else through float32.
    const i = t.dtype === 'bool' ? tf.cast(t, 'int32') : t;
    switch (op) {
      case 'neg': return tf.neg(i);
      case 'abs': return tf.abs(i);
      case 'sign': return tf.sign(i);
      case 'square': return tf.mul(i, i);
      case 'relu': return tf.maximum(i, tf.scalar(0, 'int32'));
      case 'floor': case 'ceil': case 'round': return i;
      default: return castTo(ctx, floatUnary(ctx, op, tf.cast(i, 'float32')), out.dtype);
    }
  });
}

function binary(ctx: KernelContext, a: TensorInfo, b: TensorInfo, op: BinaryOp, out: OutputInfo) {
  const { tf } = ctx;
  return ctx.run(out, () => {
    let x = ctx.t(a);
    let y = ctx.t(b);
    if (op === 'logicalAnd') return tf.logicalAnd(toBool(ctx, x), toBool(ctx, y));
    if (op === 'logicalOr') return tf.logicalOr(toBool(ctx, x), toBool(ctx, y));
    if (x.dtype === 'bool') x = tf.cast(x, 'int32');
    if (y.dtype === 'bool') y = tf.cast(y, 'int32');
    const isInt = x.dtype === 'int32' && y.dtype === 'int32';
    switch (op) {
      case 'add': return tf.add(x, y);
      case 'sub': return tf.sub(x, y);
      case 'mul': return tf.mul(x, y);
      case 'div': return isInt ? tf.floorDiv(x, y) : tf.div(x, y);
      case 'pow': return tf.pow(x, y);
      case 'maximum': return tf.maximum(x, y);
      case 'minimum': return tf.minimum(x, y);
      case 'mod': return tf.mod(x, y); // floored (sign of the divisor) in every tfjs backend
    }
  });
}

function compare(ctx: KernelContext, a: TensorInfo, b: TensorInfo, op: CompareOp, out: OutputInfo) {
  const { tf } = ctx;
  return ctx.run(out, () => {
    let x = ctx.t(a);
    let y = ctx.t(b);
    if (x.dtype === 'bool' && op !== 'equal' && op !== 'notEqual') {
      x = tf.cast(x, 'int32');
      y = tf.cast(y, 'int32');
    }
    switch (op) {
      case 'equal': return tf.equal(x, y);
      case 'notEqual': return tf.notEqual(x, y);
      case 'less': return tf.less(x, y);
      case 'lessEqual': return tf.lessEqual(x, y);
      case 'greater': return tf.greater(x, y);
      case 'greaterEqual': return tf.greaterEqual(x, y);
    }
  });
}

function where(ctx: KernelContext, cond: TensorInfo, a: TensorInfo, b: TensorInfo, out: OutputInfo) {
  const { tf } = ctx;
  return ctx.run(out, () => {
    const c = toBool(ctx, ctx.t(cond));
    const x = ctx.t(a);
    const y = ctx.t(b);
    // tfjs-backend-wasm's Select gives wrong results on bool operands: select on int32.
    if (out.dtype === 'bool') return toBool(ctx, tf.where(c, tf.cast(x, 'int32'), tf.cast(y, 'int32')));
    return tf.where(c, x, y);
  });
}

function cast(ctx: KernelContext, x: TensorInfo, out: OutputInfo) {
  return ctx.run(out, () => castTo(ctx, ctx.t(x), out.dtype));
}

function fill(ctx: KernelContext, value: number, out: OutputInfo) {
  const { tf } = ctx;
  return ctx.run(out, () => {
    const dtype = out.dtype as TfDType;
    const v = dtype === 'bool' ? (value !== 0 ? 1 : 0) : dtype === 'int32' ? Math.trunc(value) : value;
    return tf.fill(out.shape as number[], v, dtype);
  });
}

export function elementwiseKernels(ctx: KernelContext): Pick<PrimitiveKernels, 'unary' | 'binary' | 'compare' | 'where' | 'cast' | 'fill'> {
  return {
    unary: (x, attrs, out) => unary(ctx, x, attrs.op, out),
    binary: (a, b, attrs, out) => binary(ctx, a, b, attrs.op, out),
    compare: (a, b, attrs, out) => compare(ctx, a, b, attrs.op, out),
    where: (c, a, b, out) => where(ctx, c, a, b, out),
    cast: (x, out) => cast(ctx, x, out),
    fill: (attrs, out) => fill(ctx, attrs.value, out),
  };
}
