// 2-D convolution and its gradients. The contract's layout is NCHW / OIHW (PyTorch's); tfjs
// convolves NHWC / HWIO, so kernels transpose at the interface and work in NHWC inside.
//
// tfjs-backend-wasm traps avoided here:
//  - Conv2DBackpropFilter is not registered, and Conv2DBackpropInput runs ~10x slower than the
//    forward XNNPACK convolution. So conv2dGradInput is a forward convolution of the
//    (zero-inserted, padded) dy with the flipped, transposed filter, and conv2dGradFilter is
//    im2col taps + one matmul per filter tap: dw[:, :, kh, kw] = (x_tap(kh, kw) . dy)^T.
//  - StridedSlice is a slow generic loop, and every Slice of rank >= 5 falls back to a
//    per-element JavaScript loop (~500 ms for 0.5M elements), as does Concat along an inner
//    axis to a lesser degree. Taps are therefore windows of a flattened (phase of the) padded
//    input (see flatTaps), and per-tap results are stacked along axis 0.
// The same formulations run on every flavor (they need nothing but forward ops).

import type { Conv2dAttrs, PrimitiveKernels, TensorInfo } from '@denoise/core';
import type { TfTensor } from '../types.js';
import type { KernelContext } from './context.js';
import { matmul2d, matmulTensors } from './matmul.js';

type Pair = [number, number];
type Pads = [number, number, number, number];

const NCHW_TO_NHWC = [0, 2, 3, 1];
const NHWC_TO_NCHW = [0, 3, 1, 2];

/** Zero-pads (positive) or crops (negative) axes 1 and 2 of an NHWC tensor. */
function padOrCrop(ctx: KernelContext, x: TfTensor, [top, bottom, left, right]: Pads): TfTensor {
  const { tf } = ctx;
  if (top < 0 || bottom < 0 || left < 0 || right < 0) {
    const [n, h, w, c] = x.shape as [number, number, number, number];
    const t = Math.max(-top, 0);
    const l = Math.max(-left, 0);
    x = ctx.slice(x, [0, t, l, 0], [n, h - t - Math.max(-bottom, 0), w - l - Math.max(-right, 0), c]);
  }
  if (top > 0 || bottom > 0 || left > 0 || right > 0) {
    x = tf.pad(x, [[0, 0], [Math.max(top, 0), Math.max(bottom, 0)], [Math.max(left, 0), Math.max(right, 0)], [0, 0]]);
  }
  return x;
}

interface FlatTaps {
  /** Extent of the (phase) image the taps index: outputs live at [0, oH) x [0, oW) of it. */
  readonly hs: number;
  readonly ws: number;
  /** Columns of a tap: n * hs * ws. */
  readonly cols: number;
  /**
   * Tap (kh, kw) as a [C, n * hs * ws] matrix: column (b, i, j) holds the input pixel that filter
   * tap (kh, kw) meets for output (b, i, j), for i < oH and j < oW; other columns hold whatever
   * follows (they meet zeros of a dy padded to [hs, ws], or are sliced away).
   */
  tap(kh: number, kw: number): TfTensor;
}

/**
 * im2col without the im2col matrix. The padded input (for stride s: each of its s x s phases,
 * [n, hs, ws] images with hs = ceil(Hp / s)) is flattened to a [C, n * hs * ws] matrix with a
 * zero tail; the tap of filter tap (kh, kw) is then ONE contiguous column window of it, at offset
 * floor(kh * dh / s) * ws + floor(kw * dw / s). Only 2-D / 4-D slices, pads and transposes,
 * which are native (and fast) on tfjs-backend-wasm.
 */
function flatTaps(ctx: KernelContext, x: TfTensor, layout: 'NCHW' | 'NHWC', pads: Pads, kH: number, kW: number, stride: Pair, dilation: Pair): FlatTaps {
  const { tf } = ctx;
  const [sh, sw] = stride;
  const [dh, dw] = dilation;
  const n = x.shape[0]!;
  const c = layout === 'NCHW' ? x.shape[1]! : x.shape[3]!;
  const h = layout === 'NCHW' ? x.shape[2]! : x.shape[1]!;
  const w = layout === 'NCHW' ? x.shape[3]! : x.shape[2]!;
  const hp = h + pads[0] + pads[1];
  const wp = w + pads[2] + pads[3];
  const hs = Math.ceil(hp / sh);
  const ws = Math.ceil(wp / sw);
  const cols = n * hs * ws;
  const tail = Math.floor(((kH - 1) * dh) / sh) * ws + Math.floor(((kW - 1) * dw) / sw);
  const flat = (img: TfTensor /* [C, n, hs, ws] */) => {
    const m = tf.reshape(img, [c, cols]);
    return tail > 0 ? tf.pad(m, [[0, 0], [0, tail]]) : m;
  };
  const phases = new Map<number, TfTensor>();
  let phase: (a: number, b: number) => TfTensor;
  if (sh === 1 && sw === 1) {
    // [C, n, H, W] (a reshape when n = 1), padded.
    const cn = layout === 'NCHW' ? (n === 1 ? tf.reshape(x, [c, 1, h, w]) : tf.transpose(x, [1, 0, 2, 3])) : tf.transpose(x, [3, 0, 1, 2]);
    const img = tf.pad(cn, [[0, 0], [0, 0], [pads[0], pads[1]], [pads[2], pads[3]]]);
    const m = flat(img);
    phase = () => m;
  } else {
    // NHWC, padded to [n, hs * sh, ws * sw, C]; phase (a, b) = rows a::sh, cols b::sw, taken from
    // the view [n * hs, sh, ws, sw * C] by one 4-D slice (contiguous channel rows).
    const nhwc = layout === 'NCHW' ? tf.transpose(x, [0, 2, 3, 1]) : x;
    const xp = tf.pad(nhwc, [[0, 0], [pads[0], pads[1] + hs * sh - hp], [pads[2], pads[3] + ws * sw - wp], [0, 0]]);
    const view = tf.reshape(xp, [n * hs, sh, ws, sw * c]);
    phase = (a, b) => {
      const key = a * sw + b;
      let m = phases.get(key);
      if (!m) {
        const img = tf.reshape(ctx.slice(view, [0, a, 0, b * c], [n * hs, 1, ws, c]), [n, hs, ws, c]);
        m = flat(tf.transpose(img, [3, 0, 1, 2]));
        phases.set(key, m);
      }
      return m;
    };
  }
  return {
    hs,
    ws,
    cols,
    tap(kh, kw) {
      const h0 = kh * dh;
      const w0 = kw * dw;
      const offset = Math.floor(h0 / sh) * ws + Math.floor(w0 / sw);
      return ctx.slice(phase(h0 % sh, w0 % sw), [0, offset], [c, cols]);
    },
  };
}

function outSize(inSize: number, k: number, padSum: number, stride: number, dilation: number): number {
  return Math.floor((inSize + padSum - (k - 1) * dilation - 1) / stride) + 1;
}

/**
 * Grouped convolution in NHWC with zero padding pads = [top, bottom, left, right] (>= 0).
 * `w` is [kH, kW, Cin / groups, Cout] (output channel o belongs to group floor(o / (Cout / groups))).
 */
export function convNHWC(ctx: KernelContext, x: TfTensor, w: TfTensor, groups: number, pads: Pads, stride: Pair, dilation: Pair): TfTensor {
  const { tf } = ctx;
  const [n, h, wd, cin] = x.shape as [number, number, number, number];
  const [kH, kW, cinG, cout] = w.shape as [number, number, number, number];
  const coutG = cout / groups;
  const oH = outSize(h, kH, pads[0] + pads[1], stride[0], dilation[0]);
  const oW = outSize(wd, kW, pads[2] + pads[3], stride[1], dilation[1]);
  if (oH <= 0 || oW <= 0 || n === 0) return tf.zeros([n, Math.max(oH, 0), Math.max(oW, 0), cout]);

  if ((stride[0] > 1 || stride[1] > 1) && (dilation[0] > 1 || dilation[1] > 1)) {
    // tfjs takes strides > 1 or dilations > 1, not both: sum over taps of x_tap . w_tap.
    if (groups > 1) {
      const xs = tf.split(x, groups, 3);
      const ws = tf.split(w, groups, 3);
      return tf.concat(xs.map((xg, g) => convNHWC(ctx, xg, ws[g]!, 1, pads, stride, dilation)), 3);
    }
    // y[o, cols] = sum over taps of w_tap [cout, cin] . tap [cin, cols], then crop to oH x oW.
    const taps = flatTaps(ctx, x, 'NHWC', pads, kH, kW, stride, dilation);
    const wT = tf.transpose(tf.reshape(w, [kH * kW, cin, cout]), [0, 2, 1]); // [K, cout, cin]
    const wk = ctx.unstack(wT);
    let acc: TfTensor | null = null;
    for (let kh = 0; kh < kH; kh++) {
      for (let kw = 0; kw < kW; kw++) {
        const yk = matmul2d(ctx, wk[kh * kW + kw]!, taps.tap(kh, kw));
        acc = acc === null ? yk : tf.add(acc, yk);
      }
    }
    const y = ctx.slice(tf.reshape(acc!, [cout, n, taps.hs, taps.ws]), [0, 0, 0, 0], [cout, n, oH, oW]);
    return tf.transpose(y, [1, 2, 3, 0]);
  }

  // Padding: tfjs's explicit padding on wasm and cpu (no copy); a tf.pad elsewhere.
  let xin = x;
  let pad: 'valid' | [[number, number], [number, number], [number, number], [number, number]] = 'valid';
  if (pads.some((p) => p > 0)) {
    if (ctx.flavor === 'wasm' || ctx.flavor === 'cpu') pad = [[0, 0], [pads[0], pads[1]], [pads[2], pads[3]], [0, 0]];
    else xin = padOrCrop(ctx, x, pads);
  }
  if (groups === 1) {
    return tf.conv2d(xin as never, w as never, stride, pad, 'NHWC', dilation);
  }
  if (cinG === 1) {
    // Depthwise (channel multiplier coutG): tfjs's filter is [kH, kW, cin, multiplier] with output
    // channel i * multiplier + m, the same order as PyTorch's grouped weight.
    return tf.depthwiseConv2d(xin as never, tf.reshape(w, [kH, kW, cin, coutG]) as never, stride, pad, 'NHWC', dilation);
  }
  if (coutG === 1) {
    // One output channel per group (the transpose of a depthwise conv with a multiplier):
    // depthwise over every input channel, then sum each group's channels.
    const f = tf.reshape(tf.transpose(w, [0, 1, 3, 2]), [kH, kW, cin, 1]);
    const y = tf.depthwiseConv2d(xin as never, f as never, stride, pad, 'NHWC', dilation);
    return tf.reshape(tf.sum(tf.reshape(y, [n * oH * oW, groups, cinG]), 2), [n, oH, oW, groups]);
  }
  const xs = tf.split(xin, groups, 3);
  const ws = tf.split(w, groups, 3);
  return tf.concat(xs.map((xg, g) => tf.conv2d(xg as never, ws[g]! as never, stride, pad, 'NHWC', dilation)), 3);
}

function conv2dForward(ctx: KernelContext, x: TfTensor, wInfo: TensorInfo, attrs: Conv2dAttrs): TfTensor {
  const { tf } = ctx;
  const [t, b, l, r] = attrs.padding;
  const xh = tf.transpose(x, NCHW_TO_NHWC);
  // OIHW -> HWIO, cached on a reused weight (XNNPACK then also reuses its packed operator).
  const wh = ctx.derived(wInfo, 'conv2d.hwio', (w) => tf.transpose(w, [2, 3, 1, 0]));
  const y = convNHWC(ctx, xh, wh, attrs.groups, [t, b, l, r], [attrs.stride[0], attrs.stride[1]], [attrs.dilation[0], attrs.dilation[1]]);
  return tf.transpose(y, NHWC_TO_NCHW);
}

/**
 * dx for x of spatial size [H, W]: the correlation of dy, zero-inserted (stride) and padded by
 * (k - 1) * d - pad, with the spatially flipped filter whose in/out channels are swapped.
 */
function conv2dGradInput(ctx: KernelContext, dy: TfTensor, wInfo: TensorInfo, attrs: Conv2dAttrs, xShape: readonly number[]): TfTensor {
  const { tf } = ctx;
  const [n, , oH, oW] = dy.shape as [number, number, number, number];
  const [cout, cinG, kH, kW] = wInfo.shape as [number, number, number, number];
  const G = attrs.groups;
  const coutG = cout / G;
  const H = xShape[2]!;
  const W = xShape[3]!;
  const [sh, sw] = attrs.stride;
  const [dh, dw] = attrs.dilation;
  const [pt, , pl] = attrs.padding;
  let d = tf.transpose(dy, NCHW_TO_NHWC); // [n, oH, oW, cout]
  if (sh > 1 || sw > 1) {
    // Zero insertion: [n, oH, 1, oW, 1, c] padded to [n, oH, sh, oW, sw, c] -> [n, oH*sh, oW*sw, c].
    d = tf.reshape(d, [n, oH, 1, oW, 1, cout]);
    d = tf.pad(d, [[0, 0], [0, 0], [0, sh - 1], [0, 0], [0, sw - 1], [0, 0]]);
    d = tf.reshape(d, [n, oH * sh, oW * sw, cout]);
  }
  const top = (kH - 1) * dh - pt;
  const left = (kW - 1) * dw - pl;
  const bottom = H + (kH - 1) * dh - top - oH * sh;
  const right = W + (kW - 1) * dw - left - oW * sw;
  // Negative amounts crop; the rest is the convolution's own zero padding.
  d = padOrCrop(ctx, d, [Math.min(top, 0), Math.min(bottom, 0), Math.min(left, 0), Math.min(right, 0)]);
  const pads: Pads = [Math.max(top, 0), Math.max(bottom, 0), Math.max(left, 0), Math.max(right, 0)];
  // Filter: wT[kh', kw', o', g * cinG + i'] = w[g * coutG + o', i', kH-1-kh', kW-1-kw']. The
  // spatial flip is a gather along the flattened taps (tf.reverse is a slow loop on wasm).
  const wt = ctx.derived(wInfo, `conv2dGradInput.g${G}`, (w) => {
    const K = kH * kW;
    const taps = tf.transpose(tf.reshape(w, [cout, cinG, K]), [2, 0, 1]); // [K, cout, cinG]
    const flipped = tf.gather(taps, tf.tensor1d(Array.from({ length: K }, (_, k) => K - 1 - k), 'int32'), 0);
    if (G === 1) return tf.reshape(flipped, [kH, kW, cout, cinG]);
    return tf.reshape(tf.transpose(tf.reshape(flipped, [K, G, coutG, cinG]), [0, 2, 1, 3]), [kH, kW, coutG, G * cinG]);
  });
  const dx = convNHWC(ctx, d, wt, G, pads, [1, 1], [dh, dw]);
  return tf.transpose(dx, NHWC_TO_NCHW);
}

/**
 * dw[:, :, kh, kw] = sum over batch and output pixels of x_tap(kh, kw) x dy: per filter tap one
 * product tap [cin, cols] . dy [cols, cout] whose right operand is the same for every tap (so
 * XNNPACK packs it once), with dy zero-padded to the taps' [hs, ws] grid.
 */
function conv2dGradFilter(ctx: KernelContext, x: TfTensor, dy: TfTensor, attrs: Conv2dAttrs, wShape: readonly number[]): TfTensor {
  const { tf } = ctx;
  const [n, cin, ,] = x.shape as [number, number, number, number];
  const [, cout, oH, oW] = dy.shape as [number, number, number, number];
  const [, cinG, kH, kW] = wShape as [number, number, number, number];
  const G = attrs.groups;
  const coutG = cout / G;
  if (n * oH * oW === 0) return tf.zeros(wShape as number[]);
  const [t, b, l, r] = attrs.padding;
  const taps = flatTaps(ctx, x, 'NCHW', [t, b, l, r], kH, kW, [attrs.stride[0], attrs.stride[1]], [attrs.dilation[0], attrs.dilation[1]]);
  const { hs, ws, cols } = taps;
  const dyPad = tf.pad(dy, [[0, 0], [0, 0], [0, hs - oH], [0, ws - oW]]); // [n, cout, hs, ws]
  const perTap: TfTensor[] = [];
  if (G > 1 && cinG === 1) {
    // Depthwise: dw[i * m + j, 0, k] = sum over cols of tap_k[i, col] * dy[i * m + j, col].
    const m = coutG;
    const dyT = n === 1 ? tf.reshape(dyPad, [cin, m, cols]) : tf.reshape(tf.transpose(dyPad, [1, 0, 2, 3]), [cin, m, cols]);
    for (let kh = 0; kh < kH; kh++) {
      for (let kw = 0; kw < kW; kw++) {
        perTap.push(tf.reshape(tf.sum(tf.mul(tf.reshape(taps.tap(kh, kw), [cin, 1, cols]), dyT), 2), [cout]));
      }
    }
    return tf.reshape(tf.transpose(tf.stack(perTap), [1, 0]), [cout, 1, kH, kW]);
  }
  const dyP = tf.reshape(tf.transpose(dyPad, [0, 2, 3, 1]), [cols, cout]); // [cols, cout]
  const dyG = G === 1 ? dyP : tf.transpose(tf.reshape(dyP, [cols, G, coutG]), [1, 0, 2]); // [G, cols, coutG]
  for (let kh = 0; kh < kH; kh++) {
    for (let kw = 0; kw < kW; kw++) {
      const tk = taps.tap(kh, kw); // [cin, cols]
      if (G === 1) perTap.push(matmul2d(ctx, tk, dyP)); // [cin, cout]
      else perTap.push(matmulTensors(ctx, tf.reshape(tk, [G, cinG, cols]), dyG, false, false)); // [G, cinG, coutG]
    }
  }
  const K = kH * kW;
  if (G === 1) {
    // [K, cin, cout] -> [cout, cin, K]
    return tf.reshape(tf.transpose(tf.stack(perTap), [2, 1, 0]), [cout, cin, kH, kW]);
  }
  // [K, G, cinG, coutG] -> [G, coutG, cinG, K]
  const st = tf.reshape(tf.stack(perTap), [K, G, cinG, coutG]);
  return tf.reshape(tf.transpose(st, [1, 3, 2, 0]), [cout, cinG, kH, kW]);
}

export function convKernels(ctx: KernelContext): Pick<PrimitiveKernels, 'conv2d' | 'conv2dGradInput' | 'conv2dGradFilter'> {
  return {
    conv2d: (x, w, attrs, out) => ctx.run(out, () => conv2dForward(ctx, ctx.t(x), w, attrs)),
    conv2dGradInput: (dy, w, attrs, out) => ctx.run(out, () => conv2dGradInput(ctx, ctx.t(dy), w, attrs, out.shape)),
    conv2dGradFilter: (x, dy, attrs, out) => ctx.run(out, () => conv2dGradFilter(ctx, ctx.t(x), ctx.t(dy), attrs, out.shape)),
  };
}
