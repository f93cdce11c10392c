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

// Shared WGSL: the group of the current GEMM and im2col's element (channel ci of the group,
// tap kh, kw, output position n = (b, oh, ow)), zero in the padding.
const IM2COL = `var<private> g: u32;
fn setup_(batch: u32) { g = batch; }
fn im2col_(ci: u32, kh: u32, kw: u32, n: u32) -> f32 {
  let ow = n % u.outW;
  let t = n / u.outW;
  let oh = t % u.outH;
  let b = t / u.outH;
  let ih = i32(oh * u.sH + kh * u.dH) - i32(u.padT);
  let iw = i32(ow * u.sW + kw * u.dW) - i32(u.padL);
  if (ih < 0 || iw < 0 || ih >= i32(u.H) || iw >= i32(u.W)) { return 0.0; }
  return X[((b * u.Cin + g * u.cinG + ci) * u.H + u32(ih)) * u.W + u32(iw)];
}`;

// (c, kh, kw) from a flat filter-tap index k = (c * kH + kh) * kW + kw.
const TAP = (k: string) => `let kw = ${k} % u.kW; let kt = ${k} / u.kW; let kh = kt % u.kH; let c = kt / u.kH;`;

type ConvVariant = 'conv2d' | 'conv2dGradInput' | 'conv2dGradFilter';

const BODIES: Readonly<Record<ConvVariant, { bindings: readonly [string, string, string]; source: string }>> = {
  conv2d: {
    bindings: ['X', 'Wt', 'Y'],
    source: `${IM2COL}
fn loadA_(m: u32, k: u32) -> f32 { return Wt[(g * u.coutG + m) * u.K + k]; }
fn loadB_(k: u32, n: u32) -> f32 { ${TAP('k')} return im2col_(c, kh, kw, n); }
fn store_(m: u32, n: u32, v: f32) {
  let s = n % (u.outH * u.outW);
  let b = n / (u.outH * u.outW);
  Y[(b * u.Cout + g * u.coutG + m) * u.outH * u.outW + s] = v;
}`,
  },
  conv2dGradInput: {
    bindings: ['dY', 'Wt', 'dX'],
    source: `var<private> g: u32;
fn setup_(batch: u32) { g = batch; }
fn loadA_(m: u32, k: u32) -> f32 {
  ${TAP('k')}
  return Wt[(((g * u.coutG + c) * u.cinG + m) * u.kH + kh) * u.kW + kw];
}
fn loadB_(k: u32, n: u32) -> f32 {
  ${TAP('k')}
  let iw = n % u.W;
  let t = n / u.W;
  let ih = t % u.H;
  let b = t / u.H;
  let th = i32(ih + u.padT) - i32(kh * u.dH);
  let tw = i32(iw + u.padL) - i32(kw * u.dW);
  if (th < 0 || tw < 0) { return 0.0; }
  let oh = u32(th) / u.sH;
  let ow = u32(tw) / u.sW;
  if (oh * u.sH != u32(th) || ow * u.sW != u32(tw) || oh >= u.outH || ow >= u.outW) { return 0.0; }
  return dY[((b * u.Cout + g * u.coutG + c) * u.outH + oh) * u.outW + ow];
}
fn store_(m: u32, n: u32, v: f32) {
  let s = n % (u.H * u.W);
  let b = n / (u.H * u.W);
  dX[(b * u.Cin + g * u.cinG + m) * u.H * u.W + s] = v;
}`,
  },
  conv2dGradFilter: {
    bindings: ['X', 'dY', 'dW'],
    source: `${IM2COL}
fn loadA_(m: u32, k: u32) -> f32 {
  let s = k % (u.outH * u.outW);
  let b = k / (u.outH * u.outW);
  return dY[(b * u.Cout + g * u.coutG + m) * u.outH * u.outW + s];
}
fn loadB_(k: u32, n: u32) -> f32 { ${TAP('n')} return im2col_(c, kh, kw, k); }
fn store_(m: u32, n: u32, v: f32) { dW[(g * u.coutG + m) * u.N + n] = v; }`,
  },
};

export interface ConvParams {
  readonly tile: GemmTile;
}

function convKernel(variant: ConvVariant): Kernel<ConvParams> {
  const body = BODIES[variant];
  const [in0, in1, out] = body.bindings;
  const kernel: Kernel<ConvParams> = {
    name: variant,
    workgroupSize: [16, 16, 1],
    bindings: io([in0, in1], [out]),
    uniforms: () => [...GEMM_FIELDS, ...CONV_FIELDS],
    cacheKey: (p) => `${p.tile}`,
    source: (p) => `${declarations(kernel, p, { [in0]: 'f32', [in1]: 'f32', [out]: 'f32' })}
${body.source}
${gemmMain(p.tile)}`,
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
  rt.run(gemmDispatches(rt, { kernel, params: { tile: rt.gemmTile }, buffers: [a.handle as WebGPUHandle, b.handle as WebGPUHandle, y], uniforms: values }, M, N, K, groups));
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
