// Spatial resize of NCHW tensors and its gradient, with PyTorch's index conventions:
//  - nearest: src = floor(dst * in / out), computed exactly (tf.image.resizeNearestNeighbor
//    computes it in float32 and is off by one row at some sizes, e.g. 6 -> 74 at row 37), so it
//    is a repeat (integer upscale) or a gather with indices computed here;
//  - bilinear: tf.image.resizeBilinear with halfPixelCenters = !alignCorners, which is
//    PyTorch's align_corners=False / True formula;
//  - gradients: tfjs's ResizeBilinearGrad ignores halfPixelCenters, so both gradients are built
//    from scatterAdd along each axis with the same indices and weights as the forward pass.

import type { PrimitiveKernels, ResizeAttrs } from '@denoise/core';
import type { TfTensor } from '../types.js';
import type { KernelContext } from './context.js';
import { scatterAddAlong } from './indexing.js';

function nearestIndices(inSize: number, outSize: number): Int32Array {
  const idx = new Int32Array(outSize);
  for (let d = 0; d < outSize; d++) idx[d] = Math.min(Math.floor((d * inSize) / outSize), inSize - 1);
  return idx;
}

/** Source rows lo / hi and weight lambda of hi for each output row (PyTorch's formula). */
function linearWeights(inSize: number, outSize: number, alignCorners: boolean) {
  const lo = new Int32Array(outSize);
  const hi = new Int32Array(outSize);
  const lam = new Float32Array(outSize);
  for (let d = 0; d < outSize; d++) {
    let src: number;
    if (alignCorners) src = outSize > 1 ? (d * (inSize - 1)) / (outSize - 1) : 0;
    else src = Math.max(((d + 0.5) * inSize) / outSize - 0.5, 0);
    const l = Math.min(Math.floor(src), inSize - 1);
    lo[d] = l;
    hi[d] = Math.min(l + 1, inSize - 1);
    lam[d] = src - l;
  }
  return { lo, hi, lam };
}

function axisShape(rank: number, axis: number, size: number): number[] {
  const s = new Array<number>(rank).fill(1);
  s[axis] = size;
  return s;
}

/** Nearest resize of one axis of x (in -> out). */
function nearestAxis(ctx: KernelContext, x: TfTensor, axis: number, outSize: number): TfTensor {
  const { tf } = ctx;
  const inSize = x.shape[axis]!;
  if (inSize === outSize) return x;
  if (outSize % inSize === 0) {
    const k = outSize / inSize;
    const s = x.shape.slice();
    const expanded = [...s.slice(0, axis + 1), 1, ...s.slice(axis + 1)];
    const tiled = [...s.slice(0, axis + 1), k, ...s.slice(axis + 1)];
    s[axis] = outSize;
    return tf.reshape(tf.broadcastTo(tf.reshape(x, expanded), tiled), s);
  }
  return tf.gather(x, tf.tensor1d(nearestIndices(inSize, outSize), 'int32'), axis);
}

/** Gradient of nearestAxis: dy (out along axis) -> dx (inSize along axis). */
function nearestAxisGrad(ctx: KernelContext, dy: TfTensor, axis: number, inSize: number): TfTensor {
  const { tf } = ctx;
  const outSize = dy.shape[axis]!;
  if (inSize === outSize) return dy;
  const s = dy.shape.slice();
  s[axis] = inSize;
  if (outSize % inSize === 0) {
    const k = outSize / inSize;
    const split = [...s.slice(0, axis + 1), k, ...s.slice(axis + 1)];
    return tf.sum(tf.reshape(dy, split), axis + 1);
  }
  return scatterAddAlong(ctx, tf.tensor1d(nearestIndices(inSize, outSize), 'int32'), dy, axis, s);
}

/** Gradient of linear interpolation along one axis. */
function linearAxisGrad(ctx: KernelContext, dy: TfTensor, axis: number, inSize: number, alignCorners: boolean): TfTensor {
  const { tf } = ctx;
  const outSize = dy.shape[axis]!;
  if (inSize === outSize) return dy;
  const { lo, hi, lam } = linearWeights(inSize, outSize, alignCorners);
  const l = tf.tensor(lam, axisShape(dy.rank, axis, outSize));
  const updates = tf.concat([tf.mul(dy, tf.sub(tf.scalar(1), l)), tf.mul(dy, l)], axis);
  const idx = new Int32Array(2 * outSize);
  idx.set(lo, 0);
  idx.set(hi, outSize);
  const s = dy.shape.slice();
  s[axis] = inSize;
  return scatterAddAlong(ctx, tf.tensor1d(idx, 'int32'), updates, axis, s);
}

function resizeForward(ctx: KernelContext, x: TfTensor, attrs: ResizeAttrs): TfTensor {
  const { tf } = ctx;
  const [outH, outW] = attrs.size;
  if (attrs.mode === 'nearest') return nearestAxis(ctx, nearestAxis(ctx, x, 2, outH), 3, outW);
  const xf = x.dtype === 'float32' ? x : tf.cast(x, 'float32');
  const nhwc = tf.transpose(xf, [0, 2, 3, 1]);
  const y = tf.image.resizeBilinear(nhwc as never, [outH, outW], attrs.alignCorners, !attrs.alignCorners);
  return tf.transpose(y, [0, 3, 1, 2]);
}

function resizeBackward(ctx: KernelContext, dy: TfTensor, attrs: ResizeAttrs, xShape: readonly number[]): TfTensor {
  const inH = xShape[2]!;
  const inW = xShape[3]!;
  if (attrs.mode === 'nearest') return nearestAxisGrad(ctx, nearestAxisGrad(ctx, dy, 3, inW), 2, inH);
  return linearAxisGrad(ctx, linearAxisGrad(ctx, dy, 3, inW, attrs.alignCorners), 2, inH, attrs.alignCorners);
}

export function resizeKernels(ctx: KernelContext): Pick<PrimitiveKernels, 'resize' | 'resizeGrad'> {
  return {
    resize: (x, attrs, out) => ctx.run(out, () => resizeForward(ctx, ctx.t(x), attrs)),
    resizeGrad: (dy, attrs, out) => ctx.run(out, () => resizeBackward(ctx, ctx.t(dy), attrs, out.shape)),
  };
}
