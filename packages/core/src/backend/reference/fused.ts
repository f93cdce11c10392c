// Fused composite kernels of the reference backend, the float64 oracle every other backend is
// tested against: softmax, logSoftmax, layerNorm, groupNorm and attention. All statistics are
// computed in JS doubles (two-pass mean / biased variance, max-subtracted exponentials) and the
// result is rounded once on store.

import type { OutputInfo, TensorInfo } from '../types.js';
import type { TypedArray } from '../../tensor/dtype.js';
import { sizeOf } from '../../tensor/shape.js';
import { dataOf, storeAs } from './storage.js';
import { broadcastIndexMap, sizeBetween } from './indexing.js';

/** Length of the last axis (1 for a scalar). */
function lastAxis(shape: readonly number[]): number {
  return shape.length === 0 ? 1 : shape[shape.length - 1]!;
}

/** Softmax along the last axis: exp(x - max) / sum exp(x - max). */
export function softmax(x: TensorInfo, out: OutputInfo): TypedArray {
  const xs = dataOf(x);
  const L = lastAxis(x.shape);
  const res = new Float64Array(xs.length);
  for (let base = 0; base < xs.length; base += L) {
    let max = -Infinity;
    for (let j = 0; j < L; j++) max = Math.max(max, xs[base + j]!);
    let sum = 0;
    for (let j = 0; j < L; j++) {
      const e = Math.exp(xs[base + j]! - max);
      res[base + j] = e;
      sum += e;
    }
    for (let j = 0; j < L; j++) res[base + j] = res[base + j]! / sum;
  }
  return storeAs(out.dtype, res);
}

/** Log-softmax along the last axis: x - max - log(sum exp(x - max)). */
export function logSoftmax(x: TensorInfo, out: OutputInfo): TypedArray {
  const xs = dataOf(x);
  const L = lastAxis(x.shape);
  const res = new Float64Array(xs.length);
  for (let base = 0; base < xs.length; base += L) {
    let max = -Infinity;
    for (let j = 0; j < L; j++) max = Math.max(max, xs[base + j]!);
    let sum = 0;
    for (let j = 0; j < L; j++) sum += Math.exp(xs[base + j]! - max);
    const logSum = Math.log(sum);
    for (let j = 0; j < L; j++) res[base + j] = xs[base + j]! - max - logSum;
  }
  return storeAs(out.dtype, res);
}

/** Mean and biased variance of data[at(i)] for i < count (two passes). */
function meanVar(data: TypedArray, at: (i: number) => number, count: number): [number, number] {
  let sum = 0;
  for (let i = 0; i < count; i++) sum += data[at(i)]!;
  const mean = sum / count;
  let sq = 0;
  for (let i = 0; i < count; i++) {
    const d = data[at(i)]! - mean;
    sq += d * d;
  }
  return [mean, sq / count];
}

/** y = (x - mean) / sqrt(var + eps) * gamma + beta over the last axis (biased variance). */
export function layerNorm(x: TensorInfo, gamma: TensorInfo, beta: TensorInfo, attrs: { readonly eps: number }, out: OutputInfo): TypedArray {
  const xs = dataOf(x);
  const gs = dataOf(gamma);
  const bs = dataOf(beta);
  const C = lastAxis(x.shape);
  const res = new Float64Array(xs.length);
  for (let base = 0; base < xs.length; base += C) {
    const [mean, variance] = meanVar(xs, (i) => base + i, C);
    const inv = 1 / Math.sqrt(variance + attrs.eps);
    for (let c = 0; c < C; c++) res[base + c] = (xs[base + c]! - mean) * inv * gs[c]! + bs[c]!;
  }
  return storeAs(out.dtype, res);
}

/**
 * Group norm of x [N, C, ...spatial]: statistics over each group of C / groups channels and all
 * spatial positions (biased variance), then the per-channel affine gamma[c], beta[c].
 */
export function groupNorm(
  x: TensorInfo,
  gamma: TensorInfo,
  beta: TensorInfo,
  attrs: { readonly groups: number; readonly eps: number },
  out: OutputInfo,
): TypedArray {
  const xs = dataOf(x);
  const gs = dataOf(gamma);
  const bs = dataOf(beta);
  const N = x.shape[0]!;
  const C = x.shape[1]!;
  const S = sizeBetween(x.shape, 2);
  const perGroup = C / attrs.groups;
  const count = perGroup * S; // a group's channels are contiguous in memory
  const res = new Float64Array(xs.length);
  for (let n = 0; n < N; n++) {
    for (let g = 0; g < attrs.groups; g++) {
      const base = (n * C + g * perGroup) * S;
      const [mean, variance] = meanVar(xs, (i) => base + i, count);
      const inv = 1 / Math.sqrt(variance + attrs.eps);
      for (let cg = 0; cg < perGroup; cg++) {
        const c = g * perGroup + cg;
        for (let s = 0; s < S; s++) {
          const i = base + cg * S + s;
          res[i] = (xs[i]! - mean) * inv * gs[c]! + bs[c]!;
        }
      }
    }
  }
  return storeAs(out.dtype, res);
}

/**
 * softmax(q k^T * scale + mask) v, with q [..., Tq, D], k [..., Tk, D], v [..., Tk, Dv] (the
 * contract's [B, H, T, D]; leading axes broadcast like matmul's) and an optional additive mask
 * broadcastable to [..., Tq, Tk]. The softmax subtracts each row's maximum first.
 */
export function attention(
  q: TensorInfo,
  k: TensorInfo,
  v: TensorInfo,
  mask: TensorInfo | null,
  attrs: { readonly scale: number },
  out: OutputInfo,
): TypedArray {
  const qs = dataOf(q);
  const ks = dataOf(k);
  const vs = dataOf(v);
  const ms = mask ? dataOf(mask) : null;
  const rank = out.shape.length;
  const Tq = q.shape[q.shape.length - 2]!;
  const D = q.shape[q.shape.length - 1]!;
  const Tk = k.shape[k.shape.length - 2]!;
  const Dv = v.shape[v.shape.length - 1]!;
  const batchShape = out.shape.slice(0, rank - 2);
  const qBatch = broadcastIndexMap(q.shape.slice(0, q.shape.length - 2), batchShape);
  const kBatch = broadcastIndexMap(k.shape.slice(0, k.shape.length - 2), batchShape);
  const vBatch = broadcastIndexMap(v.shape.slice(0, v.shape.length - 2), batchShape);
  const maskMap = mask ? broadcastIndexMap(mask.shape, [...batchShape, Tq, Tk]) : null;

  const res = new Float64Array(sizeOf(out.shape));
  const scores = new Float64Array(Tk);
  for (let b = 0; b < qBatch.length; b++) {
    const qBase = qBatch[b]! * Tq * D;
    const kBase = kBatch[b]! * Tk * D;
    const vBase = vBatch[b]! * Tk * Dv;
    for (let i = 0; i < Tq; i++) {
      let max = -Infinity;
      for (let j = 0; j < Tk; j++) {
        let dot = 0;
        for (let d = 0; d < D; d++) dot += qs[qBase + i * D + d]! * ks[kBase + j * D + d]!;
        let s = dot * attrs.scale;
        if (ms && maskMap) s += ms[maskMap[(b * Tq + i) * Tk + j]!]!;
        scores[j] = s;
        max = Math.max(max, s);
      }
      let sum = 0;
      for (let j = 0; j < Tk; j++) {
        const e = Math.exp(scores[j]! - max);
        scores[j] = e;
        sum += e;
      }
      const oBase = (b * Tq + i) * Dv;
      for (let d = 0; d < Dv; d++) {
        let acc = 0;
        for (let j = 0; j < Tk; j++) acc += scores[j]! * vs[vBase + j * Dv + d]!;
        res[oBase + d] = acc / sum;
      }
    }
  }
  return storeAs(out.dtype, res);
}
