// unary: one invocation per element. float32 functions where WGSL's builtins are not accurate
// enough for the conformance tolerance (or not defined the way core defines them) are written
// out here:
//  - expm1 / log1p: a Taylor polynomial / the atanh series near 0, where exp(x) - 1 and
//    log(1 + x) lose every digit;
//  - tanh: from expm1(-2|x|), stable for large |x| and accurate near 0;
//  - sigmoid: the two-sided form that never overflows;
//  - erf: the all-positive Taylor series (|x| < 4, no cancellation; about 1e-7 absolute) and +-1
//    beyond, where erfc(4) = 1.5e-8 is below float32 resolution next to 1;
//  - round: half to even, spelled out rather than trusting the driver's RoundEven.
// int32 supports neg, abs, sign, square and relu (the op layer allows no other unary on int32).

import { sizeOf, type OutputInfo, type TensorInfo, type UnaryOp } from '@denoise/core';
import { declarations, elementwiseMain, io, type Kernel, storageType, u32 } from '../../kernel.js';
import { perElement, type Runtime, type WebGPUHandle } from '../../runtime/runtime.js';

const WG = 64;

export interface UnaryParams {
  readonly op: UnaryOp;
  readonly dtype: TensorInfo['dtype'];
}

const F32_HELPERS = `
fn expm1_(x: f32) -> f32 {
  if (abs(x) < 0.5) {
    // Taylor series to x^10 / 10!: relative error below 3e-10 on |x| < 0.5.
    var t = 1.0 / 3628800.0;
    t = fma(t, x, 1.0 / 362880.0);
    t = fma(t, x, 1.0 / 40320.0);
    t = fma(t, x, 1.0 / 5040.0);
    t = fma(t, x, 1.0 / 720.0);
    t = fma(t, x, 1.0 / 120.0);
    t = fma(t, x, 1.0 / 24.0);
    t = fma(t, x, 1.0 / 6.0);
    t = fma(t, x, 0.5);
    t = fma(t, x, 1.0);
    return t * x;
  }
  return exp(x) - 1.0;
}
fn log1p_(x: f32) -> f32 {
  if (abs(x) >= 0.5) { return log(1.0 + x); }
  // log1p(x) = 2 atanh(s) with s = x / (2 + x), |s| <= 1/3: the odd series to s^15 (relative
  // error below 1e-8), free of the cancellation in log(1 + x) and of the driver's log near 1.
  let s = x / (2.0 + x);
  let s2 = s * s;
  var t = 1.0 / 15.0;
  t = fma(t, s2, 1.0 / 13.0);
  t = fma(t, s2, 1.0 / 11.0);
  t = fma(t, s2, 1.0 / 9.0);
  t = fma(t, s2, 1.0 / 7.0);
  t = fma(t, s2, 1.0 / 5.0);
  t = fma(t, s2, 1.0 / 3.0);
  t = fma(t, s2, 1.0);
  return 2.0 * s * t;
}
fn tanh_(x: f32) -> f32 {
  let e = expm1_(-2.0 * abs(x));
  let t = -e / (2.0 + e);
  return select(t, -t, x < 0.0);
}
fn sigmoid_(x: f32) -> f32 {
  if (x >= 0.0) { return 1.0 / (1.0 + exp(-x)); }
  let e = exp(x);
  return e / (1.0 + e);
}
fn erf_(x: f32) -> f32 {
  let a = abs(x);
  if (a >= 4.0) { return sign(x); }
  // erf(a) = 2/sqrt(pi) e^{-a^2} sum_n (2a^2)^n a / (1*3*...*(2n+1)), all terms positive.
  let x2 = 2.0 * a * a;
  var term = a;
  var sum = a;
  for (var n = 1u; n < 120u; n++) {
    term *= x2 / f32(2u * n + 1u);
    sum += term;
    if (term <= sum * 1e-8) { break; }
  }
  let r = min(1.1283791670955126 * exp(-a * a) * sum, 1.0);
  return select(r, -r, x < 0.0);
}
fn round_(x: f32) -> f32 {
  let f = floor(x);
  let d = x - f;
  var r = f;
  if (d > 0.5 || (d == 0.5 && f - 2.0 * floor(f * 0.5) != 0.0)) { r = f + 1.0; }
  return select(r, x, abs(x) >= 8388608.0);
}`;

function floatExpr(op: UnaryOp): string {
  switch (op) {
    case 'neg': return '-x';
    case 'abs': return 'abs(x)';
    case 'sign': return 'sign(x)';
    case 'exp': return 'exp(x)';
    case 'expm1': return 'expm1_(x)';
    case 'log': return 'log(x)';
    case 'log1p': return 'log1p_(x)';
    case 'sqrt': return 'sqrt(x)';
    case 'rsqrt': return '1.0 / sqrt(x)';
    case 'square': return 'x * x';
    case 'reciprocal': return '1.0 / x';
    case 'sin': return 'sin(x)';
    case 'cos': return 'cos(x)';
    case 'tanh': return 'tanh_(x)';
    case 'sigmoid': return 'sigmoid_(x)';
    case 'relu': return 'select(0.0, x, x > 0.0 || isNan_(x))';
    case 'erf': return 'erf_(x)';
    case 'floor': return 'floor(x)';
    case 'ceil': return 'ceil(x)';
    case 'round': return 'round_(x)';
    case 'logicalNot': return 'select(0.0, 1.0, x == 0.0)';
  }
}

function intExpr(op: UnaryOp): string | null {
  switch (op) {
    case 'neg': return '0 - x';
    case 'abs': return 'select(x, 0 - x, x < 0)';
    case 'sign': return 'sign(x)';
    case 'square': return 'x * x';
    case 'relu': return 'max(x, 0)';
    case 'floor': case 'ceil': case 'round': return 'x';
    default: return null;
  }
}

/** WGSL `fn op_(x) -> T` for these params. */
function opFunction(p: UnaryParams): string {
  if (p.op === 'logicalNot' || p.dtype === 'bool') return 'fn op_(x: u32) -> u32 { return select(0u, 1u, x == 0u); }';
  if (p.dtype === 'float32') return `${F32_HELPERS}\nfn op_(x: f32) -> f32 { return ${floatExpr(p.op)}; }`;
  const int = intExpr(p.op);
  // Other ops on int32 are not reachable through the op layer: computed in float32.
  if (int === null) return `${F32_HELPERS}\nfn op_(xi: i32) -> i32 { let x = f32(xi); return i32(${floatExpr(p.op)}); }`;
  return `fn op_(x: i32) -> i32 { return ${int}; }`;
}

export const unaryKernel: Kernel<UnaryParams> = {
  name: 'unary',
  workgroupSize: [WG, 1, 1],
  bindings: io(['xs'], ['ys']),
  uniforms: () => [u32('size')],
  cacheKey: (p) => `${p.op}:${p.dtype}`,
  source: (p) => {
    const t = storageType(p.dtype);
    return `${declarations(unaryKernel, p, { xs: t, ys: t })}
${opFunction(p)}
${elementwiseMain(WG, '  ys[i] = op_(xs[i]);')}`;
  },
};

export function unary(rt: Runtime, x: TensorInfo, attrs: { readonly op: UnaryOp }, out: OutputInfo): WebGPUHandle {
  const y = rt.alloc(sizeOf(out.shape), 'unary');
  const params: UnaryParams = { op: attrs.op, dtype: attrs.op === 'logicalNot' ? 'bool' : out.dtype };
  rt.run([perElement(unaryKernel, params, [x.handle as WebGPUHandle, y], y.size)]);
  return y;
}
