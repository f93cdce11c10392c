// Index arithmetic of the reference backend (the float64 oracle every other backend is tested
// against). Every layout and broadcasting kernel reduces to one map from the flat indices of
// its output (or input) to flat offsets of another tensor, built here by a plain odometer.

import { sizeOf, stridesOf, type Shape } from '../../tensor/shape.js';

/**
 * map[i] = base + sum_d idx_d * strides[d], where idx is the row-major multi-index of flat
 * position i in `shape`.
 */
export function stridedIndexMap(shape: Shape, strides: readonly number[], base = 0): Int32Array {
  const rank = shape.length;
  const size = sizeOf(shape);
  const map = new Int32Array(size);
  const idx = new Array<number>(rank).fill(0);
  let offset = base;
  for (let i = 0; i < size; i++) {
    map[i] = offset;
    // advance the odometer: bump the last axis, carrying into earlier axes
    for (let d = rank - 1; d >= 0; d--) {
      const next = idx[d]! + 1;
      offset += strides[d]!;
      if (next < shape[d]!) {
        idx[d] = next;
        break;
      }
      offset -= strides[d]! * shape[d]!;
      idx[d] = 0;
    }
  }
  return map;
}

/**
 * Strides of a tensor of `inShape` seen through NumPy broadcasting as `outShape`: right-aligned,
 * 0 on the axes it lacks and on its size-1 axes.
 */
export function broadcastStrides(inShape: Shape, outShape: Shape): number[] {
  const lead = outShape.length - inShape.length;
  const inStrides = stridesOf(inShape);
  return outShape.map((_, i) => {
    const a = i - lead;
    if (a < 0 || inShape[a] === 1) return 0;
    return inStrides[a]!;
  });
}

/** For each flat index of `outShape`, the flat index of the broadcast input of `inShape`. */
export function broadcastIndexMap(inShape: Shape, outShape: Shape): Int32Array {
  return stridedIndexMap(outShape, broadcastStrides(inShape, outShape));
}

/** Product of shape[from:to]. */
export function sizeBetween(shape: Shape, from: number, to: number = shape.length): number {
  let n = 1;
  for (let i = from; i < to; i++) n *= shape[i]!;
  return n;
}
