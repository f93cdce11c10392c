// Resize of NCHW images in the reference backend, the float64 oracle every other backend is
// tested against. Matches PyTorch's F.interpolate(mode='nearest' | 'bilinear', align_corners).
// Both resize and resizeGrad are driven by the same per-axis (index, weight) taps, so resizeGrad
// is the exact adjoint of resize.

import type { OutputInfo, ResizeAttrs, TensorInfo } from '../types.js';
import type { TypedArray } from '../../tensor/dtype.js';
import type { Shape } from '../../tensor/shape.js';
import { dataOf, storeAs } from './storage.js';
import { sizeBetween } from './indexing.js';

/** One source index along an axis and its interpolation weight. */
export interface ResizeTap {
  readonly index: number;
  readonly weight: number;
}

/**
 * For every output position along an axis of `inSize` resized to `outSize`, the source taps.
 * nearest: src = min(floor(dst * in / out), in - 1), one tap of weight 1 (computed exactly in
 *          integers; PyTorch multiplies by a float scale, which agrees except in rare ties).
 * bilinear, alignCorners false: src = max(0, (dst + 0.5) * in / out - 0.5).
 * bilinear, alignCorners true:  src = dst * (in - 1) / (out - 1), or 0 when out == 1.
 * Then i0 = floor(src), i1 = min(i0 + 1, in - 1), weights 1 - frac and frac (PyTorch's rule;
 * both taps are kept even when a weight is 0, so NaN / Inf neighbours propagate as in PyTorch).
 */
export function axisTaps(mode: ResizeAttrs['mode'], alignCorners: boolean, inSize: number, outSize: number): ResizeTap[][] {
  const taps: ResizeTap[][] = [];
  for (let dst = 0; dst < outSize; dst++) {
    if (mode === 'nearest') {
      taps.push([{ index: Math.min(Math.floor((dst * inSize) / outSize), inSize - 1), weight: 1 }]);
      continue;
    }
    let src: number;
    if (alignCorners) src = outSize > 1 ? (dst * (inSize - 1)) / (outSize - 1) : 0;
    else src = Math.max(0, ((dst + 0.5) * inSize) / outSize - 0.5);
    const i0 = Math.min(Math.floor(src), inSize - 1);
    const i1 = Math.min(i0 + 1, inSize - 1);
    const frac = src - i0;
    taps.push([{ index: i0, weight: 1 - frac }, { index: i1, weight: frac }]);
  }
  return taps;
}

/** Calls visit(inOffset, outOffset, weight) for every (input, output, weight) term of resize. */
function forEachResizeTap(
  inShape: Shape,
  outShape: Shape,
  attrs: ResizeAttrs,
  visit: (inOffset: number, outOffset: number, weight: number) => void,
): void {
  const planes = sizeBetween(inShape, 0, 2); // N * C
  const inH = inShape[2]!;
  const inW = inShape[3]!;
  const outH = outShape[2]!;
  const outW = outShape[3]!;
  const hTaps = axisTaps(attrs.mode, attrs.alignCorners, inH, outH);
  const wTaps = axisTaps(attrs.mode, attrs.alignCorners, inW, outW);
  for (let p = 0; p < planes; p++) {
    for (let oh = 0; oh < outH; oh++) {
      for (let ow = 0; ow < outW; ow++) {
        const outOffset = (p * outH + oh) * outW + ow;
        for (const th of hTaps[oh]!) {
          for (const tw of wTaps[ow]!) {
            visit((p * inH + th.index) * inW + tw.index, outOffset, th.weight * tw.weight);
          }
        }
      }
    }
  }
}

export function resize(x: TensorInfo, attrs: ResizeAttrs, out: OutputInfo): TypedArray {
  const xs = dataOf(x);
  const y = new Float64Array(sizeBetween(out.shape, 0));
  forEachResizeTap(x.shape, out.shape, attrs, (i, o, weight) => {
    y[o] = y[o]! + weight * xs[i]!;
  });
  return storeAs(out.dtype, y);
}

export function resizeGrad(dy: TensorInfo, attrs: ResizeAttrs, out: OutputInfo): TypedArray {
  const dys = dataOf(dy);
  const dx = new Float64Array(sizeBetween(out.shape, 0));
  forEachResizeTap(out.shape, dy.shape, attrs, (i, o, weight) => {
    dx[i] = dx[i]! + weight * dys[o]!;
  });
  return storeAs(out.dtype, dx);
}
