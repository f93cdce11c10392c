// Layout kernels of the reference backend, the float64 oracle every other backend is tested
// against: reshape, transpose, slice, concat, pad, broadcastTo, gather and scatterAdd. They only
// move values (scatterAdd also adds, in doubles), so apart from scatterAdd they are exact.

import type { OutputInfo, TensorInfo } from '../types.js';
import { allocTypedArray, type DType, type TypedArray } from '../../tensor/dtype.js';
import { sizeOf, stridesOf } from '../../tensor/shape.js';
import { dataOf, storeAs } from './storage.js';
import { broadcastIndexMap, sizeBetween, stridedIndexMap } from './indexing.js';

/** Copies `src` through `map`: out[i] = src[map[i]]. */
function gatherByMap(src: TypedArray, map: Int32Array, dtype: DType): TypedArray {
  const res = allocTypedArray(dtype, map.length);
  for (let i = 0; i < map.length; i++) res[i] = src[map[i]!]!;
  return res;
}

/** A copy (storage is never shared, so memory accounting stays one buffer per handle). */
export function reshape(x: TensorInfo, out: OutputInfo): TypedArray {
  return dataOf(x).slice();
}

/** out axis i = x axis perm[i]. */
export function transpose(x: TensorInfo, attrs: { readonly perm: readonly number[] }, out: OutputInfo): TypedArray {
  const xStrides = stridesOf(x.shape);
  const strides = attrs.perm.map((p) => xStrides[p]!);
  return gatherByMap(dataOf(x), stridedIndexMap(out.shape, strides), out.dtype);
}

/** out[idx] = x[begin + idx]. */
export function slice(x: TensorInfo, attrs: { readonly begin: readonly number[] }, out: OutputInfo): TypedArray {
  const xStrides = stridesOf(x.shape);
  let base = 0;
  for (let d = 0; d < xStrides.length; d++) base += attrs.begin[d]! * xStrides[d]!;
  return gatherByMap(dataOf(x), stridedIndexMap(out.shape, xStrides, base), out.dtype);
}

export function concat(xs: readonly TensorInfo[], attrs: { readonly axis: number }, out: OutputInfo): TypedArray {
  const axis = attrs.axis;
  const outer = sizeBetween(out.shape, 0, axis);
  const inner = sizeBetween(out.shape, axis + 1);
  const outRow = out.shape[axis]! * inner; // values per outer index in the output
  const res = allocTypedArray(out.dtype, sizeOf(out.shape));
  let start = 0; // where this input's block begins inside each output row
  for (const x of xs) {
    const data = dataOf(x);
    const row = x.shape[axis]! * inner;
    for (let o = 0; o < outer; o++) {
      for (let i = 0; i < row; i++) res[o * outRow + start + i] = data[o * row + i]!;
    }
    start += row;
  }
  return res;
}

function constantOf(dtype: DType, value: number): number {
  if (dtype === 'bool') return value !== 0 ? 1 : 0;
  if (dtype === 'int32') return Math.trunc(value);
  return value;
}

export function pad(
  x: TensorInfo,
  attrs: { readonly pads: ReadonlyArray<readonly [number, number]>; readonly value: number },
  out: OutputInfo,
): TypedArray {
  const data = dataOf(x);
  const res = allocTypedArray(out.dtype, sizeOf(out.shape));
  res.fill(constantOf(out.dtype, attrs.value));
  // x[idx] lands at out[idx + before].
  const outStrides = stridesOf(out.shape);
  let base = 0;
  for (let d = 0; d < outStrides.length; d++) base += attrs.pads[d]![0] * outStrides[d]!;
  const map = stridedIndexMap(x.shape, outStrides, base);
  for (let i = 0; i < map.length; i++) res[map[i]!] = data[i]!;
  return res;
}

export function broadcastTo(x: TensorInfo, out: OutputInfo): TypedArray {
  return gatherByMap(dataOf(x), broadcastIndexMap(x.shape, out.shape), out.dtype);
}

/** out[o, j, i] = x[o, indices[j], i] with o over x.shape[:axis], j over indices, i over x.shape[axis+1:]. */
export function gather(x: TensorInfo, indices: TensorInfo, attrs: { readonly axis: number }, out: OutputInfo): TypedArray {
  const data = dataOf(x);
  const idx = dataOf(indices);
  const axis = attrs.axis;
  const outer = sizeBetween(x.shape, 0, axis);
  const len = x.shape[axis]!;
  const inner = sizeBetween(x.shape, axis + 1);
  const res = allocTypedArray(out.dtype, outer * idx.length * inner);
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < idx.length; j++) {
      const src = (o * len + idx[j]!) * inner;
      const dst = (o * idx.length + j) * inner;
      for (let i = 0; i < inner; i++) res[dst + i] = data[src + i]!;
    }
  }
  return res;
}

/** The adjoint of gather: out = 0; out[o, indices[j], i] += updates[o, j, i]. */
export function scatterAdd(indices: TensorInfo, updates: TensorInfo, attrs: { readonly axis: number }, out: OutputInfo): TypedArray {
  const idx = dataOf(indices);
  const upd = dataOf(updates);
  const axis = attrs.axis;
  const outer = sizeBetween(out.shape, 0, axis);
  const len = out.shape[axis]!;
  const inner = sizeBetween(out.shape, axis + 1);
  const acc = new Float64Array(sizeOf(out.shape));
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < idx.length; j++) {
      const dst = (o * len + idx[j]!) * inner;
      const src = (o * idx.length + j) * inner;
      for (let i = 0; i < inner; i++) acc[dst + i] = acc[dst + i]! + upd[src + i]!;
    }
  }
  return storeAs(out.dtype, acc);
}
