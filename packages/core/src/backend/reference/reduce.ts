// Reductions of the reference backend, the float64 oracle every other backend is tested against:
// sum / max / min / prod over a set of axes, and argmax along one axis. Accumulation is in JS
// doubles (exact Math.imul products for int32 prod); the result is rounded once on store.

import type { OutputInfo, ReduceOp, TensorInfo } from '../types.js';
import { allocTypedArray, type TypedArray } from '../../tensor/dtype.js';
import { sizeOf, stridesOf } from '../../tensor/shape.js';
import { dataOf, storeAs } from './storage.js';
import { sizeBetween, stridedIndexMap } from './indexing.js';

export function reduce(
  x: TensorInfo,
  attrs: { readonly op: ReduceOp; readonly axes: readonly number[]; readonly keepDims: boolean },
  out: OutputInfo,
): TypedArray {
  const xs = dataOf(x);
  const reduced = new Set(attrs.axes);
  // Output flat index of each input element: the kept axes, row-major (keepDims only adds 1s).
  const keptShape = x.shape.filter((_, i) => !reduced.has(i));
  const keptStrides = stridesOf(keptShape);
  const toOut: number[] = [];
  let k = 0;
  for (let i = 0; i < x.shape.length; i++) toOut.push(reduced.has(i) ? 0 : keptStrides[k++]!);
  const outIndex = stridedIndexMap(x.shape, toOut);

  const n = sizeOf(keptShape);
  const acc = new Float64Array(n);
  const op = attrs.op;
  const intProd = op === 'prod' && out.dtype === 'int32';
  acc.fill(op === 'sum' ? 0 : op === 'prod' ? 1 : op === 'max' ? -Infinity : Infinity);
  for (let i = 0; i < xs.length; i++) {
    const o = outIndex[i]!;
    const v = xs[i]!;
    const a = acc[o]!;
    switch (op) {
      case 'sum': acc[o] = a + v; break;
      case 'prod': acc[o] = intProd ? Math.imul(a, v) : a * v; break;
      // NaN propagates (NumPy / PyTorch): once a NaN is seen it stays.
      case 'max': if (v > a || Number.isNaN(v)) acc[o] = Number.isNaN(a) ? a : v; break;
      case 'min': if (v < a || Number.isNaN(v)) acc[o] = Number.isNaN(a) ? a : v; break;
    }
  }
  return storeAs(out.dtype, acc);
}

/** Index of the first maximum along `axis`; a NaN counts as larger than everything (NumPy). */
export function argmax(x: TensorInfo, attrs: { readonly axis: number }, out: OutputInfo): TypedArray {
  const xs = dataOf(x);
  const axis = attrs.axis;
  const outer = sizeBetween(x.shape, 0, axis);
  const len = x.shape[axis]!;
  const inner = sizeBetween(x.shape, axis + 1);
  const res = allocTypedArray(out.dtype, outer * inner);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const base = o * len * inner + i;
      let best = 0;
      let bestValue = xs[base]!;
      for (let j = 1; j < len && !Number.isNaN(bestValue); j++) {
        const v = xs[base + j * inner]!;
        if (v > bestValue || Number.isNaN(v)) {
          best = j;
          bestValue = v;
        }
      }
      res[o * inner + i] = best;
    }
  }
  return res;
}
