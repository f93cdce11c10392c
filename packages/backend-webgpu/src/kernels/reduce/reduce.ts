// reduce (sum / max / min / prod over any sorted set of axes) and argmax. The input is seen as
// kept axes x reduced axes, each collapsed separately (strided.ts): output element o starts at
// the kept offset of o and visits every reduced offset. Two variants:
//   'thread'     one invocation per output, a sequential loop (short reductions, many outputs);
//   'workgroup'  one workgroup per output: each invocation accumulates a strided share, then a
//                tree reduction in workgroup memory (long reductions).
// Both are deterministic. max / min propagate NaN; argmax takes the first maximum, NaN counting
// as larger than everything (NumPy). bool input is read as int32 (its sum / max is int32).

import { sizeOf, stridesOf, type DType, type OutputInfo, type ReduceOp, type TensorInfo } from '@denoise/core';
import { declarations, elementwiseMain, io, type Kernel, NEG_INF, POS_INF, rowMain, storageType, u32 } from '../../kernel.js';
import type { Runtime, WebGPUHandle } from '../../runtime/runtime.js';
import { planStrided, stridedFields, stridedOffsets } from '../strided.js';
import { workgroupReduce } from '../workgroup.js';

const WG = 64;
/** Reductions longer than this use one workgroup per output. */
const WORKGROUP_THRESHOLD = 64;

export interface ReduceParams {
  readonly op: ReduceOp | 'argmax';
  readonly inDType: DType;
  /** The accumulator's dtype (float32 or int32). */
  readonly accDType: DType;
  readonly keptRank: number;
  readonly reducedRank: number;
  readonly variant: 'thread' | 'workgroup';
}

function identity(op: ReduceOp, acc: string): string {
  const float = acc === 'f32';
  switch (op) {
    case 'sum': return float ? '0.0' : '0';
    case 'prod': return float ? '1.0' : '1';
    case 'max': return float ? NEG_INF : 'i32(-2147483647 - 1)';
    case 'min': return float ? POS_INF : '2147483647';
  }
}

function combine(op: ReduceOp, acc: string): string {
  const nan = acc === 'f32' ? 'isNan_(a) || isNan_(b)' : 'false';
  switch (op) {
    case 'sum': return 'a + b';
    case 'prod': return 'a * b';
    case 'max': return `select(max(a, b), a + b, ${nan})`;
    case 'min': return `select(min(a, b), a + b, ${nan})`;
  }
}

/** WGSL helpers: `Acc`, `identity_()`, `combine_(a, b)`, `load_(offset)`. */
function accumulator(p: ReduceParams): string {
  const inT = storageType(p.inDType);
  if (p.op === 'argmax') {
    const isNan = inT === 'f32' ? (v: string) => `isNan_(${v})` : () => 'false';
    return `struct Acc { v: ${inT}, i: u32 }
fn identity_() -> Acc { return Acc(${inT}(0), 0xffffffffu); }
// b beats a: larger, or NaN over a number, or equal (or both NaN) with a smaller index.
fn combine_(a: Acc, b: Acc) -> Acc {
  if (a.i == 0xffffffffu) { return b; }
  if (b.i == 0xffffffffu) { return a; }
  let an = ${isNan('a.v')}; let bn = ${isNan('b.v')};
  let same = (a.v == b.v) || (an && bn);
  if ((!an && (b.v > a.v || bn)) || (same && b.i < a.i)) { return b; }
  return a;
}`;
  }
  const acc = storageType(p.accDType);
  const load = inT === acc ? 'xs[o]' : `${acc}(xs[o])`;
  return `alias Acc = ${acc};
fn identity_() -> Acc { return ${identity(p.op, acc)}; }
fn combine_(a: Acc, b: Acc) -> Acc { return ${combine(p.op, acc)}; }
fn load_(o: u32) -> Acc { return ${load}; }`;
}

/** The value reduced index r contributes (for argmax, with its index). */
function element(p: ReduceParams): string {
  return p.op === 'argmax' ? 'Acc(xs[k_x + r_x], r)' : 'load_(k_x + r_x)';
}

function result(p: ReduceParams, acc: string): string {
  return p.op === 'argmax' ? `i32(select(${acc}.i, 0u, ${acc}.i == 0xffffffffu))` : acc;
}

export const reduceKernel: Kernel<ReduceParams> = {
  name: 'reduce',
  workgroupSize: [WG, 1, 1],
  bindings: io(['xs'], ['dst']),
  uniforms: (p) => [u32(p.variant === 'thread' ? 'size' : 'rows'), u32('count'), ...stridedFields('k', p.keptRank, ['x']), ...stridedFields('r', p.reducedRank, ['x'])],
  cacheKey: (p) => `${p.op}:${p.inDType}:${p.accDType}:${p.keptRank}:${p.reducedRank}:${p.variant}`,
  source: (p) => {
    const outT = p.op === 'argmax' ? 'i32' : storageType(p.accDType);
    const head = `${declarations(reduceKernel, p, { xs: storageType(p.inDType), dst: outT })}\n${accumulator(p)}`;
    const visit = (from: string, step: string) => `  for (var r = ${from}; r < u.count; r += ${step}) {
${stridedOffsets('r', p.reducedRank, ['x'], 'r')}
    acc = combine_(acc, ${element(p)});
  }`;
    if (p.variant === 'thread') {
      return `${head}
${elementwiseMain(WG, `${stridedOffsets('k', p.keptRank, ['x'], 'i')}
  var acc = identity_();
${visit('0u', '1u')}
  dst[i] = ${result(p, 'acc')};`)}`;
    }
    return `${head}
${workgroupReduce('reduceAll_', 'Acc', WG, 'combine_(a, b)')}
${rowMain(WG, `${stridedOffsets('k', p.keptRank, ['x'], 'row')}
  var acc = identity_();
${visit('lid', `${WG}u`)}
  let total = reduceAll_(lid, acc);
  if (lid == 0u) { dst[row] = ${result(p, 'total')}; }`)}`;
  },
};

function run(rt: Runtime, x: TensorInfo, reduced: ReadonlySet<number>, op: ReduceParams['op'], out: OutputInfo): WebGPUHandle {
  const y = rt.alloc(sizeOf(out.shape), op);
  const xStrides = stridesOf(x.shape);
  const kept = { shape: [] as number[], strides: [] as number[] };
  const red = { shape: [] as number[], strides: [] as number[] };
  x.shape.forEach((n, d) => {
    const side = reduced.has(d) ? red : kept;
    side.shape.push(n);
    side.strides.push(xStrides[d]!);
  });
  const count = sizeOf(red.shape);
  if (y.size === 0) return y;
  const kPlan = planStrided('k', kept.shape, { x: { strides: kept.strides } });
  const rPlan = planStrided('r', red.shape, { x: { strides: red.strides } });
  const variant = count > WORKGROUP_THRESHOLD ? 'workgroup' : 'thread';
  const accDType: DType = op === 'argmax' ? 'int32' : out.dtype;
  rt.run([{
    kernel: reduceKernel,
    params: { op, inDType: x.dtype, accDType, keptRank: kPlan.rank, reducedRank: rPlan.rank, variant },
    buffers: [x.handle as WebGPUHandle, y],
    uniforms: { size: y.size, rows: y.size, count, ...kPlan.values, ...rPlan.values },
    workgroups: variant === 'thread' ? Math.ceil(y.size / WG) : y.size,
  }]);
  return y;
}

export function reduce(
  rt: Runtime,
  x: TensorInfo,
  attrs: { readonly op: ReduceOp; readonly axes: readonly number[]; readonly keepDims: boolean },
  out: OutputInfo,
): WebGPUHandle {
  return run(rt, x, new Set(attrs.axes), attrs.op, out);
}

export function argmax(rt: Runtime, x: TensorInfo, attrs: { readonly axis: number }, out: OutputInfo): WebGPUHandle {
  return run(rt, x, new Set([attrs.axis]), 'argmax', out);
}
