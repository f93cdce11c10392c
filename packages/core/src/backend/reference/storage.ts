// Storage of the reference backend: the float64 oracle every other backend is tested against.
// A handle owns one typed array of its dtype (Float32Array for float32, so stored results are
// rounded exactly as a real float32 backend would store them). Kernels compute in JS doubles
// and only round when they write their output array.

import type { TensorInfo } from '../types.js';
import { allocTypedArray, type DType, type TypedArray } from '../../tensor/dtype.js';
import { sizeOf } from '../../tensor/shape.js';
import { DisposedTensorError, InvalidArgumentError, ShapeError, describe } from '../../errors/index.js';

/** The reference backend's handle: the tensor's values, row-major and contiguous. */
export class ReferenceHandle {
  disposed = false;
  constructor(readonly data: TypedArray) {}
}

/** The values behind a kernel input, checked against its declared size. */
export function dataOf(info: TensorInfo): TypedArray {
  const h = info.handle;
  if (!(h instanceof ReferenceHandle)) {
    throw new InvalidArgumentError('reference backend: got a handle that does not belong to a reference backend');
  }
  if (h.disposed) throw new DisposedTensorError('reference backend: a kernel input was already disposed');
  if (h.data.length !== sizeOf(info.shape)) {
    throw new ShapeError(`reference backend: a handle holds ${h.data.length} values but its shape ${describe(info.shape)} needs ${sizeOf(info.shape)}`);
  }
  return h.data;
}

/**
 * Stores doubles computed by a kernel into the typed array of `dtype`: float32 rounds, int32
 * wraps modulo 2^32 (ToInt32 truncates toward zero; NaN and infinities become 0), bool is
 * (v != 0) so NaN is true. float64 is returned as is.
 */
export function storeAs(dtype: DType, values: Float64Array): TypedArray {
  if (dtype === 'float64') return values;
  const out = allocTypedArray(dtype, values.length);
  if (dtype === 'bool') {
    for (let i = 0; i < values.length; i++) out[i] = values[i] !== 0 ? 1 : 0;
  } else {
    out.set(values);
  }
  return out;
}
