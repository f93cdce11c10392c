// 2-D convolution and its gradients. The contract's layout is NCHW / OIHW (PyTorch's); tfjs
// convolves NHWC / HWIO, so kernels transpose at the interface and work in NHWC inside.
//
// tfjs-backend-wasm: Conv2DBackpropFilter is not registered and Conv2DBackpropInput runs ~8x
// slower than the forward XNNPACK convolution, so
//  - conv2dGradInput is a forward convolution of the (zero-inserted, padded) dy with the flipped,
//    transposed filter, and
//  - conv2dGradFilter is im2col (strided slices of the padded input) + one matmul per chunk.
// The same formulations run on every flavor (they need nothing but forward ops).

import type { Conv2dAttrs, PrimitiveKernels } from '@denoise/core';
import type { TfTensor } from '../types.js';
import type { KernelContext } from './context.js';
import { matmulTensors } from './matmul.js';

type Pair = [number, number];

/** Elements of im2col patches (and partial products) materialised at once by conv2dGradFilter. */
const IM2COL_BUDGET = 1 << 24;

const NCHW_TO_NHWC = [0, 2, 3, 1];
const NHWC_TO_NCHW = [0, 3, 1, 2];

/** Zero-pads (positive) or crops (negative) axes 1 and 2 of an NHWC tensor. */
function padOrCrop(ctx: KernelContext, x: TfTensor, top: number, bottom: number, left: number, right: number): TfTensor {
  const { tf } = ctx;
  if (top > 0 || bottom > 0 || left > 0 || right > 0) {
    x = tf.pad(x, [[0, 0], [Math.max(top, 0), Math.max(bottom, 0)], [Math.max(left, 0), Math.max(right, 0)], [0, 0]]);
  }
  if (top < 0 || bottom < 0 || left < 0 || right < 0) {
    const [n, h, w, c] = x.shape as [number, number, number, number];
    const t = Math.max(-top, 0);
    const l = Math.max(-left, 0);
    x = tf.slice(x, [0, t, l, 0], [n, h - t - Math.max(-bottom, 0), w - l - Math.max(-right, 0), c]);
  }
  return x;
}

/**
 * im2col: [N, oH, oW, kH * kW * C] patches of an already padded NHWC input; the last axis is
 * ordered (kh, kw, c).
 */
function im2col(ctx: KernelContext, xp: TfTensor, kH: number, kW: number, oH: number, oW: number, stride: Pair, dilation: Pair): TfTensor {
  const { tf } = ctx;
  const [n, , , c] = xp.shape as [number, number, number, number];
  const cols: TfTensor[] = [];
  for (let kh = 0; kh < kH; kh++) {
    for (let kw = 0; kw < kW; kw++) {
      const h0 = kh * dilation[0];
      const w0 = kw * dilation[1];
      if (stride[0] === 1 && stride[1] === 1) {
        cols.push(tf.slice(xp, [0, h0, w0, 0], [n, oH, oW, c]));
      } else {
        cols.push(tf.stridedSlice(xp, [0, h0, w0, 0], [n, h0 + (oH - 1) * stride[0] + 1, w0 + (oW - 1) * stride[1] + 1, c], [1, stride[0], stride[1], 1]));
      }
    }
  }
  return cols.length === 1 ? cols[0]! : tf.concat(cols, 3);
}

/**
 * Grouped convolution in NHWC of an already padded input. `w` is [kH, kW, Cin / groups, Cout]
 * (output channel o belongs to group floor(o / (Cout / groups))).
 */
export function convNHWC(ctx: KernelContext, xp: TfTensor, w: TfTensor, groups: number, stride: Pair, dilation: Pair): TfTensor {
  const { tf } = ctx;
  const [n, h, wd, cin] = xp.shape as [number, number, number, number];
  const [kH, kW, cinG, cout] = w.shape as [number, number, number, number];
  const coutG = cout / groups;
  const oH = Math.floor((h - (kH - 1) * dilation[0] - 1) / stride[0]) + 1;
  const oW = Math.floor((wd - (kW - 1) * dilation[1] - 1) / stride[1]) + 1;
  if (oH <= 0 || oW <= 0 || n === 0) return tf.zeros([n, Math.max(oH, 0), Math.max(oW, 0), cout]);
  const stridedAndDilated = (stride[0] > 1 || stride[1] > 1) && (dilation[0] > 1 || dilation[1] > 1);

  if (stridedAndDilated) {
    // tfjs accepts strides > 1 or dilations > 1, not both: im2col + matmul, per group.
    const patches = im2col(ctx, xp, kH, kW, oH, oW, stride, dilation); // [n, oH, oW, K * cin]
    const K = kH * kW;
    const p = tf.reshape(patches, [n * oH * oW, K, groups, cinG]);
    const pg = tf.reshape(tf.transpose(p, [2, 0, 1, 3]), [groups, n * oH * oW, K * cinG]);
    const wg = tf.transpose(tf.reshape(w, [K * cinG, groups, coutG]), [1, 0, 2]); // [G, K * cinG, coutG]
    const r = matmulTensors(ctx, pg, wg, false, false); // [G, P, coutG]
    return tf.reshape(tf.transpose(r, [1, 0, 2]), [n, oH, oW, cout]);
  }
  if (groups === 1) {
    return tf.conv2d(xp as never, w as never, stride, 'valid', 'NHWC', dilation);
  }
  if (cinG === 1) {
    // Depthwise (channel multiplier coutG): tfjs's filter is [kH, kW, cin, multiplier] with output
    // channel i * multiplier + m, the same order as PyTorch's grouped weight.
    return tf.depthwiseConv2d(xp as never, tf.reshape(w, [kH, kW, cin, coutG]) as never, stride, 'valid', 'NHWC', dilation);
  }
  if (coutG === 1) {
    // One output channel per group (the transpose of a depthwise conv with a multiplier):
    // depthwise over every input channel, then sum each group's channels.
    const f = tf.reshape(tf.transpose(w, [0, 1, 3, 2]), [kH, kW, cin, 1]);
    const y = tf.depthwiseConv2d(xp as never, f as never, stride, 'valid', 'NHWC', dilation);
    return tf.sum(tf.reshape(y, [n, oH, oW, groups, cinG]), 4);
  }
  const xs = tf.split(xp, groups, 3);
  const ws = tf.split(w, groups, 3);
  return tf.concat(xs.map((xg, g) => tf.conv2d(xg as never, ws[g]! as never, stride, 'valid', 'NHWC', dilation)), 3);
}

/** OIHW [Cout, Cin/G, kH, kW] -> HWIO [kH, kW, Cin/G, Cout]. */
function oihwToHwio(ctx: KernelContext, w: TfTensor): TfTensor {
  return ctx.tf.transpose(w, [2, 3, 1, 0]);
}

function conv2dForward(ctx: KernelContext, x: TfTensor, w: TfTensor, attrs: Conv2dAttrs): TfTensor {
  const { tf } = ctx;
  const [t, b, l, r] = attrs.padding;
  const xh = padOrCrop(ctx, tf.transpose(x, NCHW_TO_NHWC), t, b, l, r);
  const y = convNHWC(ctx, xh, oihwToHwio(ctx, w), attrs.groups, [attrs.stride[0], attrs.stride[1]], [attrs.dilation[0], attrs.dilation[1]]);
  return tf.transpose(y, NHWC_TO_NCHW);
}

/**
 * dx for x of spatial size [H, W]: the correlation of dy, zero-inserted (stride) and padded by
 * (k - 1) * d - pad, with the spatially flipped filter whose in/out channels are swapped.
 */
function conv2dGradInput(ctx: KernelContext, dy: TfTensor, w: TfTensor, attrs: Conv2dAttrs, xShape: readonly number[]): TfTensor {
  const { tf } = ctx;
  const [n, , oH, oW] = dy.shape as [number, number, number, number];
  const [cout, cinG, kH, kW] = w.shape as [number, number, number, number];
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
  const Lh = oH * sh;
  const Lw = oW * sw;
  const top = (kH - 1) * dh - pt;
  const left = (kW - 1) * dw - pl;
  const bottom = H + (kH - 1) * dh - top - Lh;
  const right = W + (kW - 1) * dw - left - Lw;
  d = padOrCrop(ctx, d, top, bottom, left, right);
  // Filter: wT[kh', kw', o', g * cinG + i'] = w[g * coutG + o', i', kH-1-kh', kW-1-kw'].
  const wf = tf.reverse(w, [2, 3]);
  const wt = tf.reshape(tf.transpose(tf.reshape(wf, [G, coutG, cinG, kH, kW]), [3, 4, 1, 0, 2]), [kH, kW, coutG, G * cinG]);
  const dx = convNHWC(ctx, d, wt, G, [1, 1], [dh, dw]);
  return tf.transpose(dx, NHWC_TO_NCHW);
}

/**
 * dw = sum over batch and output pixels of dy (x) im2col(x): per chunk of rows, one product
 * [G, coutG, P] x [G, P, K * cinG] (a depthwise filter is reduced elementwise instead).
 */
function conv2dGradFilter(ctx: KernelContext, x: TfTensor, dy: TfTensor, attrs: Conv2dAttrs, wShape: readonly number[]): TfTensor {
  const { tf } = ctx;
  const [n, cin, ,] = x.shape as [number, number, number, number];
  const [, cout, oH, oW] = dy.shape as [number, number, number, number];
  const [, cinG, kH, kW] = wShape as [number, number, number, number];
  const G = attrs.groups;
  const coutG = cout / G;
  const K = kH * kW;
  const stride: Pair = [attrs.stride[0], attrs.stride[1]];
  const dilation: Pair = [attrs.dilation[0], attrs.dilation[1]];
  const [t, b, l, r] = attrs.padding;
  if (n === 0 || oH === 0 || oW === 0) return tf.zeros(wShape as number[]);
  const xp = padOrCrop(ctx, tf.transpose(x, NCHW_TO_NHWC), t, b, l, r); // [n, Hp, Wp, cin]
  const dyh = tf.transpose(dy, NCHW_TO_NHWC); // [n, oH, oW, cout]
  const depthwise = cinG === 1 && G > 1;

  // Chunks of whole images, or of output rows of one image, so that the patches of a chunk stay
  // within the budget.
  const perRow = oW * K * cin + (depthwise ? oW * K * cout : 0);
  const rowsPerChunk = Math.max(1, Math.floor(IM2COL_BUDGET / Math.max(perRow, 1)));
  const chunks: Array<{ n0: number; nn: number; r0: number; rr: number }> = [];
  if (rowsPerChunk >= oH) {
    const imgs = Math.max(1, Math.floor(rowsPerChunk / oH));
    for (let n0 = 0; n0 < n; n0 += imgs) chunks.push({ n0, nn: Math.min(imgs, n - n0), r0: 0, rr: oH });
  } else {
    for (let n0 = 0; n0 < n; n0++) for (let r0 = 0; r0 < oH; r0 += rowsPerChunk) chunks.push({ n0, nn: 1, r0, rr: Math.min(rowsPerChunk, oH - r0) });
  }

  let acc: TfTensor | null = null;
  for (const c of chunks) {
    const part = tf.tidy(() => {
      const rowsIn = (c.rr - 1) * stride[0] + (kH - 1) * dilation[0] + 1;
      const xc = tf.slice(xp, [c.n0, c.r0 * stride[0], 0, 0], [c.nn, rowsIn, xp.shape[2]!, cin]);
      const dc = tf.slice(dyh, [c.n0, c.r0, 0, 0], [c.nn, c.rr, oW, cout]);
      const P = c.nn * c.rr * oW;
      const patches = im2col(ctx, xc, kH, kW, c.rr, oW, stride, dilation); // [nn, rr, oW, K * cin]
      if (depthwise) {
        // dw[i * coutG + m, 0, k] = sum_P patches[P, k, i] * dy[P, i, m]
        const p = tf.reshape(patches, [P, K, cin, 1]);
        const d2 = tf.reshape(dc, [P, 1, cin, coutG]);
        return tf.sum(tf.mul(p, d2), 0); // [K, cin, coutG]
      }
      if (G === 1) {
        const dT = tf.transpose(tf.reshape(dc, [P, cout])); // [cout, P]
        return matmulTensors(ctx, dT, tf.reshape(patches, [P, K * cin]), false, false); // [cout, K * cin]
      }
      const p = tf.transpose(tf.reshape(patches, [P, K, G, cinG]), [2, 0, 1, 3]); // [G, P, K, cinG]
      const d2 = tf.transpose(tf.reshape(dc, [P, G, coutG]), [1, 2, 0]); // [G, coutG, P]
      return matmulTensors(ctx, d2, tf.reshape(p, [G, P, K * cinG]), false, false); // [G, coutG, K * cinG]
    });
    if (acc === null) {
      acc = part;
    } else {
      const prev: TfTensor = acc;
      acc = tf.add(prev, part);
      prev.dispose();
      part.dispose();
    }
  }
  const sum = acc!;
  if (depthwise) {
    // [K, cin, coutG] -> [cin * coutG, 1, kH, kW]
    return tf.reshape(tf.transpose(sum, [1, 2, 0]), [cout, 1, kH, kW]);
  }
  // [G, coutG, K * cinG] (or [cout, K * cin]) -> [cout, kH, kW, cinG] -> OIHW
  return tf.transpose(tf.reshape(sum, [cout, kH, kW, cinG]), [0, 3, 1, 2]);
}

export function convKernels(ctx: KernelContext): Pick<PrimitiveKernels, 'conv2d' | 'conv2dGradInput' | 'conv2dGradFilter'> {
  return {
    conv2d: (x, w, attrs, out) => ctx.run(out, () => conv2dForward(ctx, ctx.t(x), ctx.t(w), attrs)),
    conv2dGradInput: (dy, w, attrs, out) => ctx.run(out, () => conv2dGradInput(ctx, ctx.t(dy), ctx.t(w), attrs, out.shape)),
    conv2dGradFilter: (x, dy, attrs, out) => ctx.run(out, () => conv2dGradFilter(ctx, ctx.t(x), ctx.t(dy), attrs, out.shape)),
  };
}
