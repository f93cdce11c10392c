// Fused row kernels, one workgroup per row with workgroup tree reductions, each a single pass
// over the launch (the row is read from global memory once per statistic):
//   softmax / logSoftmax   rows of the last axis: max, then sum of exp(x - max), then write
//   layerNorm              rows of the last axis: mean, then biased variance (two-pass, as
//                          the reference), then (x - mean) / sqrt(var + eps) * gamma + beta
//   groupNorm              rows = (n, group): the group's channels are contiguous, C/groups * S
//                          values; gamma / beta indexed by channel

import { sizeOf, type OutputInfo, type TensorInfo } from '@denoise/core';
import { declarations, f32, io, type Kernel, NEG_INF, rowMain, u32 } from '../../kernel.js';
import type { Runtime, WebGPUHandle } from '../../runtime/runtime.js';
import { workgroupReduce } from '../workgroup.js';

const WG = 64;

/** Workgroup reductions `rowMax_` and `rowSum_` over the 64 invocations of a row. */
export const ROW_REDUCTIONS = `${workgroupReduce('rowMax_', 'f32', WG, 'max(a, b)')}
${workgroupReduce('rowSum_', 'f32', WG, 'a + b')}`;

/** Invocations per row of the row kernels (and of ROW_REDUCTIONS). */
export const ROW_WG = WG;

/**
 * WGSL (after ROW_REDUCTIONS, inside a row entry point with `lid`, `base` and u.len) that leaves,
 * in every invocation, the row's maximum `m` of `src[base + j]` and `s` = sum_j exp(src[base + j] - m).
 */
export function rowMaxSumExp(src: string, indent = '  '): string {
  return [
    `var m = ${NEG_INF};`,
    `for (var j = lid; j < u.len; j += ${WG}u) { m = max(m, ${src}[base + j]); }`,
    'm = rowMax_(lid, m);',
    'var s = 0.0;',
    `for (var j = lid; j < u.len; j += ${WG}u) { s += exp(${src}[base + j] - m); }`,
    's = rowSum_(lid, s);',
  ].map((line) => indent + line).join('\n');
}

export const softmaxKernel: Kernel<{ readonly log: boolean }> = {
  name: 'softmax',
  workgroupSize: [WG, 1, 1],
  bindings: io(['xs'], ['dst']),
  uniforms: () => [u32('rows'), u32('len')],
  cacheKey: (p) => (p.log ? 'log' : 'plain'),
  source: (p) => `${declarations(softmaxKernel, p, { xs: 'f32', dst: 'f32' })}
${ROW_REDUCTIONS}
${rowMain(WG, `  let base = row * u.len;
${rowMaxSumExp('xs')}
${p.log
    ? `  let shift = m + log(s);
  for (var j = lid; j < u.len; j += ${WG}u) { dst[base + j] = xs[base + j] - shift; }`
    : `  for (var j = lid; j < u.len; j += ${WG}u) { dst[base + j] = exp(xs[base + j] - m) / s; }`}`)}`,
};

export interface NormParams {
  readonly kind: 'layer' | 'group';
}

export const normKernel: Kernel<NormParams> = {
  name: 'norm',
  workgroupSize: [WG, 1, 1],
  bindings: io(['xs', 'gamma', 'beta'], ['dst']),
  uniforms: () => [u32('rows'), u32('len'), u32('groups'), u32('spatial'), f32('eps')],
  cacheKey: (p) => p.kind,
  source: (p) => `${declarations(normKernel, p, { xs: 'f32', gamma: 'f32', beta: 'f32', dst: 'f32' })}
${workgroupReduce('rowSum_', 'f32', WG, 'a + b')}
${rowMain(WG, `  let base = row * u.len;
  var s = 0.0;
  for (var j = lid; j < u.len; j += ${WG}u) { s += xs[base + j]; }
  let mean = rowSum_(lid, s) / f32(u.len);
  var q = 0.0;
  for (var j = lid; j < u.len; j += ${WG}u) { let d = xs[base + j] - mean; q += d * d; }
  let inv = 1.0 / sqrt(rowSum_(lid, q) / f32(u.len) + u.eps);
  for (var j = lid; j < u.len; j += ${WG}u) {
    let c = ${p.kind === 'layer' ? 'j' : '(row % u.groups) * (u.len / u.spatial) + j / u.spatial'};
    dst[base + j] = (xs[base + j] - mean) * inv * gamma[c] + beta[c];
  }`)}`,
};

function lastAxis(shape: readonly number[]): number {
  return shape.length === 0 ? 1 : shape[shape.length - 1]!;
}

function runSoftmax(rt: Runtime, x: TensorInfo, out: OutputInfo, log: boolean): WebGPUHandle {
  const y = rt.alloc(sizeOf(out.shape), log ? 'logSoftmax' : 'softmax');
  const len = lastAxis(x.shape);
  const rows = len === 0 ? 0 : y.size / len;
  rt.run([{ kernel: softmaxKernel, params: { log }, buffers: [x.handle as WebGPUHandle, y], uniforms: { rows, len }, workgroups: rows }]);
  return y;
}

export function softmax(rt: Runtime, x: TensorInfo, out: OutputInfo): WebGPUHandle {
  return runSoftmax(rt, x, out, false);
}

export function logSoftmax(rt: Runtime, x: TensorInfo, out: OutputInfo): WebGPUHandle {
  return runSoftmax(rt, x, out, true);
}

function runNorm(rt: Runtime, kind: NormParams['kind'], x: TensorInfo, gamma: TensorInfo, beta: TensorInfo, uniforms: { rows: number; len: number; groups: number; spatial: number; eps: number }, out: OutputInfo): WebGPUHandle {
  const y = rt.alloc(sizeOf(out.shape), `${kind}Norm`);
  if (y.size === 0) return y;
  rt.run([{
    kernel: normKernel,
    params: { kind },
    buffers: [x.handle as WebGPUHandle, gamma.handle as WebGPUHandle, beta.handle as WebGPUHandle, y],
    uniforms,
    workgroups: uniforms.rows,
  }]);
  return y;
}

export function layerNorm(rt: Runtime, x: TensorInfo, gamma: TensorInfo, beta: TensorInfo, attrs: { readonly eps: number }, out: OutputInfo): WebGPUHandle {
  const len = lastAxis(x.shape);
  return runNorm(rt, 'layer', x, gamma, beta, { rows: sizeOf(x.shape) / len, len, groups: 1, spatial: 1, eps: attrs.eps }, out);
}

export function groupNorm(
  rt: Runtime,
  x: TensorInfo,
  gamma: TensorInfo,
  beta: TensorInfo,
  attrs: { readonly groups: number; readonly eps: number },
  out: OutputInfo,
): WebGPUHandle {
  const [N, C] = x.shape as [number, number];
  const spatial = sizeOf(x.shape.slice(2));
  return runNorm(rt, 'group', x, gamma, beta, { rows: N * attrs.groups, len: (C / attrs.groups) * spatial, groups: attrs.groups, spatial, eps: attrs.eps }, out);
}
