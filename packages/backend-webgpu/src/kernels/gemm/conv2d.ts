// conv2d and its two gradients as implicit GEMMs on the GEMM skeleton, one GEMM per group (the
// grid's z axis). With cinG = Cin / groups, coutG = Cout / groups, g the group:
//
//   conv2d            M = coutG  N = Nb*outH*outW  K = cinG*kH*kW
//                     A = w[g*coutG + m, k]  B = im2col(x)[k, n] (zero outside the padding)
//   conv2dGradInput   M = cinG   N = Nb*H*W        K = coutG*kH*kW
//                     A[ci, (co,kh,kw)] = w[g*coutG + co, ci, kh, kw]
//                     B[(co,kh,kw), (b,ih,iw)] = dy[b, g*coutG + co, oh, ow] where
//                     oh*sH = ih + padTop - kh*dH (and likewise for w), else 0
//   conv2dGradFilter  M = coutG  N = cinG*kH*kW    K = Nb*outH*outW
//                     A[co, (b,oh,ow)] = dy[b, g*coutG + co, oh, ow]   B = im2col(x)^T
//
// Nothing is materialised: the loaders index x, w and dy directly.

import { sizeOf, type Conv2dAttrs, type OutputInfo, type TensorInfo } from '@denoise/core';
import { declarations, io, type Kernel, u32 } from '../../kernel.js';
import type { Runtime, WebGPUHandle } from '../../runtime/runtime.js';
import { GEMM_FIELDS, gemmDispatches, gemmMain, type GemmTile } from './gemm.js';

const CONV_FIELDS = ['Nb', 'Cin', 'H', 'W', 'Cout', 'kH', 'kW', 'outH', 'outW', 'sH', 'sW', 'padT', 'padL', 'dH', 'dW', 'cinG', 'coutG'].map(u32);

// B is read through the skeleton's row interface (gemm.ts): each invocation decomposes its
// columns once, before the K loop, and each row index once per row, so the inner loads are
// additions, comparisons and a select. VU / VI / VB / VF are the skeleton's column-width aliases.

// (c, kh, kw) from a flat filter-tap index k = (c * kH + kh) * kW + kw (scalars or vectors).
const TAP = (k: string) => `let kw = ${k} % u.kW; let kt = ${k} / u.kW; let kh = kt % u.kH; let c = kt / u.kH;`;

// (b, y, x) from a flat position i = (b * H + y) * W + x over an H x W image.
const POSITION = (i: string, H: string, W: string, [b, y, x]: [string, string, string]) =>
  `let ${x} = ${i} % ${W}; let t = ${i} / ${W}; let ${y} = t % ${H}; let ${b} = t / ${H};`;

/** WGSL: `buf` at the addresses `i` (one per column), 0 where `ok` is false (`i` is 0 there). */
function gather(buf: string, tile: GemmTile): string {
  const value = tile === 64 ? `vec4<f32>(${buf}[i.x], ${buf}[i.y], ${buf}[i.z], ${buf}[i.w])` : `${buf}[i]`;
  return `fn gather_(i: VU, ok: VB) -> VF { return select(VF(0.0), ${value}, ok); }`;
}

const COLUMNS = `var<private> colBase: VU;
var<private> colH: VI;
var<private> colW: VI;
var<private> colOk: VB;`;

type ConvVariant = 'conv2d' | 'conv2dGradInput' | 'conv2dGradFilter';

const BODIES: Readonly<Record<ConvVariant, { bindings: readonly [string, string, string]; source: (p: ConvParams) => string }>> = {
  // Column n = (b, oh, ow): colBase = offset of (b, the group's first channel) in X, colH / colW =
  // the receptive field's top-left input row / column. Row k = (c, kh, kw).
  conv2d: {
    bindings: ['X', 'Wt', 'Y'],
    source: (p) => `var<private> g: u32;
fn setup_(batch: u32) { g = batch; }
fn loadA_(m: u32, k: u32) -> f32 { return Wt[(g * u.coutG + m) * u.K + k]; }
${COLUMNS}
${gather('X', p.tile)}
fn colsB_(n: VU) {
  ${POSITION('n', 'u.outH', 'u.outW', ['b', 'oh', 'ow'])}
  colBase = (b * u.Cin + g * u.cinG) * (u.H * u.W);
  colH = VI(oh * u.sH) - i32(u.padT);
  colW = VI(ow * u.sW) - i32(u.padL);
  colOk = n < VU(u.N);
}
fn rowB_(k: u32) -> VF {
  ${TAP('k')}
  let ih = colH + i32(kh * u.dH);
  let iw = colW + i32(kw * u.dW);
  let ok = colOk & (ih >= VI(0)) & (iw >= VI(0)) & (ih < VI(i32(u.H))) & (iw < VI(i32(u.W)));
  return gather_(select(VU(0u), colBase + c * (u.H * u.W) + VU(ih) * u.W + VU(iw), ok), ok);
}
fn store_(m: u32, n: u32, v: f32) {
  let s = n % (u.outH * u.outW);
  let b = n / (u.outH * u.outW);
  Y[(b * u.Cout + g * u.coutG + m) * u.outH * u.outW + s] = v;
}`,
  },
  // Column n = (b, ih, iw): colBase = offset of (b, the group's first channel) in dY, colH / colW
  // = ih + padT, iw + padL. Row k = (co, kh, kw): the output position oh with
  // oh * sH = ih + padT - kh * dH, if there is one (a division only for strides > 1).
  conv2dGradInput: {
    bindings: ['dY', 'Wt', 'dX'],
    source: (p) => `var<private> g: u32;
fn setup_(batch: u32) { g = batch; }
fn loadA_(m: u32, k: u32) -> f32 {
  let taps = u.kH * u.kW;
  let co = k / taps;
  return Wt[((g * u.coutG + co) * u.cinG + m) * taps + (k - co * taps)];
}
${COLUMNS}
${gather('dY', p.tile)}
fn colsB_(n: VU) {
  ${POSITION('n', 'u.H', 'u.W', ['b', 'ih', 'iw'])}
  colBase = (b * u.Cout + g * u.coutG) * (u.outH * u.outW);
  colH = VI(ih + u.padT);
  colW = VI(iw + u.padL);
  colOk = n < VU(u.N);
}
fn rowB_(k: u32) -> VF {
  ${TAP('k')}
  let th = colH - i32(kh * u.dH);
  let tw = colW - i32(kw * u.dW);
${p.unitStride
    ? `  let oh = VU(th);
  let ow = VU(tw);
  var ok = colOk;`
    : `  let oh = VU(th) / u.sH;
  let ow = VU(tw) / u.sW;
  var ok = colOk & (oh * u.sH == VU(th)) & (ow * u.sW == VU(tw));`}
  ok = ok & (th >= VI(0)) & (tw >= VI(0)) & (oh < VU(u.outH)) & (ow < VU(u.outW));
  return gather_(select(VU(0u), colBase + c * (u.outH * u.outW) + oh * u.outW + ow, ok), ok);
}
fn store_(m: u32, n: u32, v: f32) {
  let s = n % (u.H * u.W);
  let b = n / (u.H * u.W);
  dX[(b * u.Cin + g * u.cinG + m) * u.H * u.W + s] = v;
}`,
  },
  // Column n = (c, kh, kw), a filter tap: colBase = offset of channel g * cinG + c in one image of
  // X, colH / colW = kh * dH - padT, kw * dW - padL. Row k = (b, oh, ow).
  conv2dGradFilter: {
    bindings: ['X', 'dY', 'dW'],
    source: (p) => `var<private> g: u32;
fn setup_(batch: u32) { g = batch; }
fn loadA_(m: u32, k: u32) -> f32 {
  let s = k % (u.outH * u.outW);
  let b = k / (u.outH * u.outW);
  return dY[(b * u.Cout + g * u.coutG + m) * u.outH * u.outW + s];
}
${COLUMNS}
${gather('X', p.tile)}
fn colsB_(n: VU) {
  ${TAP('n')}
  colBase = (g * u.cinG + c) * (u.H * u.W);
  colH = VI(kh * u.dH) - i32(u.padT);
  colW = VI(kw * u.dW) - i32(u.padL);
  colOk = n < VU(u.N);
}
fn rowB_(k: u32) -> VF {
  ${POSITION('k', 'u.outH', 'u.outW', ['b', 'oh', 'ow'])}
  let ih = colH + i32(oh * u.sH);
  let iw = colW + i32(ow * u.sW);
  let ok = colOk & (ih >= VI(0)) & (iw >= VI(0)) & (ih < VI(i32(u.H))) & (iw < VI(i32(u.W)));
  return gather_(select(VU(0u), b * (u.Cin * u.H * u.W) + colBase + VU(ih) * u.W + VU(iw), ok), ok);
}
fn store_(m: u32, n: u32, v: f32) { dW[(g * u.coutG + m) * u.N + n] = v; }`,
  },
};

export interface ConvParams {
  readonly tile: GemmTile;
  /** conv2dGradInput only: stride 1 on both axes (no division by the stride). */
  readonly unitStride: boolean;
}

function convKernel(variant: ConvVariant): Kernel<ConvParams> {
  const body = BODIES[variant];
  const [in0, in1, out] = body.bindings;
  const kernel: Kernel<ConvParams> = {
    name: variant,
    workgroupSize: [16, 16, 1],
    bindings: io([in0, in1], [out]),
    uniforms: () => [...GEMM_FIELDS, ...CONV_FIELDS],
    cacheKey: (p) => `${p.tile}:${p.unitStride ? 's1' : 's'}`,
    source: (p) => `${declarations(kernel, p, { [in0]: 'f32', [in1]: 'f32', [out]: 'f32' })}
${body.source(p)}
${gemmMain(p.tile, { rowsB: true })}`,
  };
  return kernel;
}

export const conv2dKernel = convKernel('conv2d');
export const conv2dGradInputKernel = convKernel('conv2dGradInput');
export const conv2dGradFilterKernel = convKernel('conv2dGradFilter');

/** x, w and y shapes (NCHW, OIHW) -> the uniform values shared by the three kernels. */
function convUniforms(xShape: readonly number[], wShape: readonly number[], yShape: readonly number[], attrs: Conv2dAttrs) {
  const [Nb, Cin, H, W] = xShape as [number, number, number, number];
  const [Cout, cinG, kH, kW] = wShape as [number, number, number, number];
  const [, , outH, outW] = yShape as [number, number, number, number];
  return {
    Nb, Cin, H, W, Cout, kH, kW, outH, outW,
    sH: attrs.stride[0], sW: attrs.stride[1], padT: attrs.padding[0], padL: attrs.padding[2],
    dH: attrs.dilation[0], dW: attrs.dilation[1], cinG, coutG: Cout / attrs.groups,
  };
}

function runConv(rt: Runtime, kernel: Kernel<ConvParams>, a: TensorInfo, b: TensorInfo, out: OutputInfo, values: ReturnType<typeof convUniforms>, mnk: [number, number, number], groups: number): WebGPUHandle {
  const y = rt.alloc(sizeOf(out.shape), kernel.name);
  if (y.size === 0) return y;
  const [M, N, K] = mnk;
  const unitStride = kernel === conv2dGradInputKernel && values.sH === 1 && values.sW === 1;
  rt.run(gemmDispatches(rt, { kernel, params: { tile: rt.gemmTile, unitStride }, buffers: [a.handle as WebGPUHandle, b.handle as WebGPUHandle, y], uniforms: values }, M, N, K, groups));
  return y;
}

export function conv2d(rt: Runtime, x: TensorInfo, w: TensorInfo, attrs: Conv2dAttrs, out: OutputInfo): WebGPUHandle {
  const v = convUniforms(x.shape, w.shape, out.shape, attrs);
  return runConv(rt, conv2dKernel, x, w, out, v, [v.coutG, v.Nb * v.outH * v.outW, v.cinG * v.kH * v.kW], attrs.groups);
}

export function conv2dGradInput(rt: Runtime, dy: TensorInfo, w: TensorInfo, attrs: Conv2dAttrs, out: OutputInfo): WebGPUHandle {
  const v = convUniforms(out.shape, w.shape, dy.shape, attrs);
  return runConv(rt, conv2dGradInputKernel, dy, w, out, v, [v.cinG, v.Nb * v.H * v.W, v.coutG * v.kH * v.kW], attrs.groups);
}

export function conv2dGradFilter(rt: Runtime, x: TensorInfo, dy: TensorInfo, attrs: Conv2dAttrs, out: OutputInfo): WebGPUHandle {
  const v = convUniforms(x.shape, out.shape, dy.shape, attrs);
  return runConv(rt, conv2dGradFilterKernel, x, dy, out, v, [v.coutG, v.cinG * v.kH * v.kW, v.Nb * v.outH * v.outW], attrs.groups);
}
