// binary, compare and where: one invocation per output element; each input is read through its
// NumPy-broadcast strides (strided.ts collapses the shapes first, so equal shapes are rank 1).
//
// Semantics that differ from WGSL's operators, as core defines them:
//  - int32 div is floor division and mod the floored modulo; division by zero gives 0 (the
//    reference stores NaN / infinity into int32 as 0), where WGSL would return the dividend;
//  - int32 pow is exact square-and-multiply with wraparound (negative exponents truncate 1/b^e);
//  - float pow is real power: a negative base with an integer exponent keeps its sign, x^0 = 1;
//  - float mod takes the sign of the divisor (WGSL's % takes the dividend's).

import { sizeOf, type BinaryOp, type CompareOp, type DType, type OutputInfo, type TensorInfo } from '@denoise/core';
import { declarations, elementwiseMain, io, type Kernel, NAN, storageType, u32 } from '../../kernel.js';
import { perElement, type Runtime, type WebGPUHandle } from '../../runtime/runtime.js';
import { broadcastStrides, planStrided, stridedFields, stridedOffsets } from '../strided.js';

const WG = 64;

const FLOAT_HELPERS = `
fn pow_(a: f32, b: f32) -> f32 {
  if (b == 0.0) { return 1.0; }
  let r = pow(abs(a), b);
  if (a >= 0.0) { return r; }
  if (floor(b) != b) { return ${NAN}; }
  let odd = b - 2.0 * floor(b * 0.5) != 0.0;
  return select(r, -r, odd);
}
fn mod_(a: f32, b: f32) -> f32 {
  let r = a % b;
  if (r != 0.0 && ((r < 0.0) != (b < 0.0))) { return r + b; }
  return r;
}
fn nan_(a: f32, b: f32) -> bool { return isNan_(a) || isNan_(b); }`;

const INT_HELPERS = `
fn div_(a: i32, b: i32) -> i32 {
  if (b == 0) { return 0; }
  let q = a / b;
  if (q * b != a && ((a < 0) != (b < 0))) { return q - 1; }
  return q;
}
fn mod_(a: i32, b: i32) -> i32 {
  if (b == 0) { return 0; }
  let r = a % b;
  if (r != 0 && ((r < 0) != (b < 0))) { return r + b; }
  return r;
}
fn pow_(a: i32, e: i32) -> i32 {
  if (e < 0) {
    if (a == 1) { return 1; }
    if (a == -1) { return select(1, -1, (e & 1) != 0); }
    return 0;
  }
  var result = 1;
  var base = a;
  var k = u32(e);
  while (k > 0u) {
    if ((k & 1u) != 0u) { result *= base; }
    base *= base;
    k = k >> 1u;
  }
  return result;
}`;

function floatBinary(op: BinaryOp): string {
  switch (op) {
    case 'add': return 'a + b';
    case 'sub': return 'a - b';
    case 'mul': return 'a * b';
    case 'div': return 'a / b';
    case 'pow': return 'pow_(a, b)';
    case 'maximum': return 'select(max(a, b), a + b, nan_(a, b))';
    case 'minimum': return 'select(min(a, b), a + b, nan_(a, b))';
    case 'mod': return 'mod_(a, b)';
    case 'logicalAnd': return 'select(0.0, 1.0, a != 0.0 && b != 0.0)';
    case 'logicalOr': return 'select(0.0, 1.0, a != 0.0 || b != 0.0)';
  }
}

function intBinary(op: BinaryOp): string {
  switch (op) {
    case 'add': return 'a + b';
    case 'sub': return 'a - b';
    case 'mul': return 'a * b';
    case 'div': return 'div_(a, b)';
    case 'pow': return 'pow_(a, b)';
    case 'maximum': return 'max(a, b)';
    case 'minimum': return 'min(a, b)';
    case 'mod': return 'mod_(a, b)';
    case 'logicalAnd': return 'select(0, 1, a != 0 && b != 0)';
    case 'logicalOr': return 'select(0, 1, a != 0 || b != 0)';
  }
}

const COMPARE: Readonly<Record<CompareOp, string>> = {
  equal: '==', notEqual: '!=', less: '<', lessEqual: '<=', greater: '>', greaterEqual: '>=',
};

export interface BinaryParams {
  /** A BinaryOp, or a CompareOp for the compare kernel. */
  readonly op: BinaryOp | CompareOp;
  /** The inputs' dtype. */
  readonly dtype: DType;
  readonly rank: number;
}

function expression(kind: 'binary' | 'compare', p: BinaryParams): { helpers: string; expr: string } {
  if (kind === 'compare') {
    // Spelled out for NaN (unordered: only notEqual holds), which drivers may assume away.
    const cmp = `a ${COMPARE[p.op as CompareOp]} b`;
    if (p.dtype !== 'float32') return { helpers: '', expr: `select(0u, 1u, ${cmp})` };
    const nan = 'isNan_(a) || isNan_(b)';
    return { helpers: '', expr: p.op === 'notEqual' ? `select(0u, 1u, ${cmp} || ${nan})` : `select(0u, 1u, ${cmp} && !(${nan}))` };
  }
  const op = p.op as BinaryOp;
  if (op === 'logicalAnd' || op === 'logicalOr' || p.dtype === 'bool') {
    return { helpers: '', expr: `select(0u, 1u, ${op === 'logicalOr' ? '(a | b)' : '(a & b)'} != 0u)` };
  }
  return p.dtype === 'int32' ? { helpers: INT_HELPERS, expr: intBinary(op) } : { helpers: FLOAT_HELPERS, expr: floatBinary(op) };
}

function broadcastKernel(kind: 'binary' | 'compare'): Kernel<BinaryParams> {
  const kernel: Kernel<BinaryParams> = {
    name: kind,
    workgroupSize: [WG, 1, 1],
    bindings: io(['lhs', 'rhs'], ['dst']),
    uniforms: (p) => [u32('size'), ...stridedFields('o', p.rank, ['a', 'b'])],
    cacheKey: (p) => `${p.op}:${p.dtype}:${p.rank}`,
    source: (p) => {
      const t = storageType(p.dtype);
      const outType = kind === 'compare' ? 'u32' : t;
      const { helpers, expr } = expression(kind, p);
      return `${declarations(kernel, p, { lhs: t, rhs: t, dst: outType })}
${helpers}
fn op_(a: ${t}, b: ${t}) -> ${outType} { return ${expr}; }
${elementwiseMain(WG, `${stridedOffsets('o', p.rank, ['a', 'b'], 'i')}
  dst[i] = op_(lhs[o_a], rhs[o_b]);`)}`;
    },
  };
  return kernel;
}

export const binaryKernel = broadcastKernel('binary');
export const compareKernel = broadcastKernel('compare');

function runBroadcast(rt: Runtime, kernel: Kernel<BinaryParams>, op: BinaryOp | CompareOp, a: TensorInfo, b: TensorInfo, out: OutputInfo): WebGPUHandle {
  const y = rt.alloc(sizeOf(out.shape), kernel.name);
  const plan = planStrided('o', out.shape, { a: { strides: broadcastStrides(a.shape, out.shape) }, b: { strides: broadcastStrides(b.shape, out.shape) } });
  rt.run([perElement(kernel, { op, dtype: a.dtype, rank: plan.rank }, [a.handle as WebGPUHandle, b.handle as WebGPUHandle, y], y.size, plan.values)]);
  return y;
}

export function binary(rt: Runtime, a: TensorInfo, b: TensorInfo, attrs: { readonly op: BinaryOp }, out: OutputInfo): WebGPUHandle {
  return runBroadcast(rt, binaryKernel, attrs.op, a, b, out);
}

export function compare(rt: Runtime, a: TensorInfo, b: TensorInfo, attrs: { readonly op: CompareOp }, out: OutputInfo): WebGPUHandle {
  return runBroadcast(rt, compareKernel, attrs.op, a, b, out);
}

export interface WhereParams {
  readonly rank: number;
}

/** where moves raw 32-bit words: one pipeline per rank serves every dtype. */
export const whereKernel: Kernel<WhereParams> = {
  name: 'where',
  workgroupSize: [WG, 1, 1],
  bindings: io(['cond', 'lhs', 'rhs'], ['dst']),
  uniforms: (p) => [u32('size'), ...stridedFields('o', p.rank, ['c', 'a', 'b'])],
  cacheKey: (p) => `${p.rank}`,
  source: (p) => `${declarations(whereKernel, p)}
${elementwiseMain(WG, `${stridedOffsets('o', p.rank, ['c', 'a', 'b'], 'i')}
  dst[i] = select(rhs[o_b], lhs[o_a], cond[o_c] != 0u);`)}`,
};

export function where(rt: Runtime, cond: TensorInfo, a: TensorInfo, b: TensorInfo, out: OutputInfo): WebGPUHandle {
  const y = rt.alloc(sizeOf(out.shape), 'where');
  const views = {
    c: { strides: broadcastStrides(cond.shape, out.shape) },
    a: { strides: broadcastStrides(a.shape, out.shape) },
    b: { strides: broadcastStrides(b.shape, out.shape) },
  };
  const plan = planStrided('o', out.shape, views);
  const buffers = [cond, a, b].map((t) => t.handle as WebGPUHandle);
  rt.run([perElement(whereKernel, { rank: plan.rank }, [...buffers, y], y.size, plan.values)]);
  return y;
}
