// Matrix product and 2-D convolution of the reference backend, the float64 oracle every other
// backend is tested against. Sums are accumulated in JS doubles and rounded once on store.
// conv2d, conv2dGradInput and conv2dGradFilter all walk the same set of (input, filter, output)
// taps in `convLoop`, so the two gradients are exact adjoints of the forward op.

import type { Conv2dAttrs, OutputInfo, TensorInfo } from '../types.js';
import type { TypedArray } from '../../tensor/dtype.js';
import type { Shape } from '../../tensor/shape.js';
import { dataOf, storeAs } from './storage.js';
import { broadcastIndexMap, sizeBetween } from './indexing.js';

export function matmul(
  a: TensorInfo,
  b: TensorInfo,
  attrs: { readonly transposeA: boolean; readonly transposeB: boolean },
  out: OutputInfo,
): TypedArray {
  const as = dataOf(a);
  const bs = dataOf(b);
  const rank = out.shape.length;
  const M = out.shape[rank - 2]!;
  const N = out.shape[rank - 1]!;
  const K = attrs.transposeA ? a.shape[a.shape.length - 2]! : a.shape[a.shape.length - 1]!;
  // Which matrix of a and of b each output matrix uses (batch axes broadcast).
  const batchShape = out.shape.slice(0, rank - 2);
  const aBatch = broadcastIndexMap(a.shape.slice(0, a.shape.length - 2), batchShape);
  const bBatch = broadcastIndexMap(b.shape.slice(0, b.shape.length - 2), batchShape);
  // Element (i, k) of op(a) and (k, j) of op(b) within one matrix.
  const aStrideI = attrs.transposeA ? 1 : K;
  const aStrideK = attrs.transposeA ? M : 1;
  const bStrideK = attrs.transposeB ? 1 : N;
  const bStrideJ = attrs.transposeB ? K : 1;

  const res = new Float64Array(aBatch.length * M * N);
  for (let batch = 0; batch < aBatch.length; batch++) {
    const aBase = aBatch[batch]! * M * K;
    const bBase = bBatch[batch]! * K * N;
    const oBase = batch * M * N;
    for (let i = 0; i < M; i++) {
      for (let j = 0; j < N; j++) {
        let sum = 0;
        for (let k = 0; k < K; k++) {
          sum += as[aBase + i * aStrideI + k * aStrideK]! * bs[bBase + k * bStrideK + j * bStrideJ]!;
        }
        res[oBase + i * N + j] = sum;
      }
    }
  }
  return storeAs(out.dtype, res);
}

/** The values as doubles (a copy unless already float64), so the conv loop sees one array type. */
function asFloat64(data: TypedArray): Float64Array {
  return data instanceof Float64Array ? data : Float64Array.from(data);
}

/** Which of the three tensors a conv loop accumulates into; the other two are read. */
type ConvTarget = 'y' | 'x' | 'w';

/**
 * Walks every product x[..] * w[..] that contributes to y[..] in the PyTorch cross-correlation
 *   y[n, co, oh, ow] = sum over ci in co's group, kh, kw of
 *     x[n, ci, oh*sH - padTop + kh*dH, ow*sW - padLeft + kw*dW] * w[co, ci - group start, kh, kw]
 * (taps in the zero padding are skipped), and accumulates that product into the `target` tensor:
 * 'y' is conv2d itself, 'x' its transpose (gradient w.r.t. the input: dx += dy * w) and 'w' the
 * gradient w.r.t. the filter (dw += x * dy). One loop for all three makes them exact adjoints.
 */
function convLoop(
  xShape: Shape,
  wShape: Shape,
  yShape: Shape,
  attrs: Conv2dAttrs,
  target: ConvTarget,
  x: Float64Array,
  w: Float64Array,
  y: Float64Array,
): void {
  const [N, Cin, H, W] = xShape as [number, number, number, number];
  const [Cout, cinPerGroup, kH, kW] = wShape as [number, number, number, number];
  const [, , outH, outW] = yShape as [number, number, number, number];
  const [sH, sW] = attrs.stride;
  const [padTop, , padLeft] = attrs.padding;
  const [dH, dW] = attrs.dilation;
  const coutPerGroup = Cout / attrs.groups;

  for (let n = 0; n < N; n++) {
    for (let co = 0; co < Cout; co++) {
      const group = Math.floor(co / coutPerGroup);
      for (let oh = 0; oh < outH; oh++) {
        for (let ow = 0; ow < outW; ow++) {
          const yi = ((n * Cout + co) * outH + oh) * outW + ow;
          let sum = 0; // conv2d's output value, accumulated in a register
          for (let cg = 0; cg < cinPerGroup; cg++) {
            const ci = group * cinPerGroup + cg;
            for (let kh = 0; kh < kH; kh++) {
              const ih = oh * sH - padTop + kh * dH;
              if (ih < 0 || ih >= H) continue;
              for (let kw = 0; kw < kW; kw++) {
                const iw = ow * sW - padLeft + kw * dW;
                if (iw < 0 || iw >= W) continue;
                const xi = ((n * Cin + ci) * H + ih) * W + iw;
                const wi = ((co * cinPerGroup + cg) * kH + kh) * kW + kw;
                if (target === 'y') sum += x[xi]! * w[wi]!;
                else if (target === 'x') x[xi] = x[xi]! + y[yi]! * w[wi]!;
                else w[wi] = w[wi]! + x[xi]! * y[yi]!;
              }
            }
          }
          if (target === 'y') y[yi] = sum;
        }
      }
    }
  }
}

export function conv2d(x: TensorInfo, w: TensorInfo, attrs: Conv2dAttrs, out: OutputInfo): TypedArray {
  const y = new Float64Array(sizeBetween(out.shape, 0));
  convLoop(x.shape, w.shape, out.shape, attrs, 'y', asFloat64(dataOf(x)), asFloat64(dataOf(w)), y);
  return storeAs(out.dtype, y);
}

/** dx = the transpose of conv2d applied to dy: dx[x tap] += dy[y] * w[w tap]. */
export function conv2dGradInput(dy: TensorInfo, w: TensorInfo, attrs: Conv2dAttrs, out: OutputInfo): TypedArray {
  const dx = new Float64Array(sizeBetween(out.shape, 0));
  convLoop(out.shape, w.shape, dy.shape, attrs, 'x', dx, asFloat64(dataOf(w)), asFloat64(dataOf(dy)));
  return storeAs(out.dtype, dx);
}

/** dw[w tap] += x[x tap] * dy[y]. */
export function conv2dGradFilter(x: TensorInfo, dy: TensorInfo, attrs: Conv2dAttrs, out: OutputInfo): TypedArray {
  const dw = new Float64Array(sizeBetween(out.shape, 0));
  convLoop(x.shape, out.shape, dy.shape, attrs, 'w', asFloat64(dataOf(x)), dw, asFloat64(dataOf(dy)));
  return storeAs(out.dtype, dw);
}
