// The reference backend: plain JS loops in float64, the oracle every other backend is tested
// against. It stores float32 tensors in Float32Array (so results round exactly as a float32
// backend stores them), float64 in Float64Array, int32 in Int32Array and bool in Uint8Array.
// Kernels compute in doubles and round once on store. Handles never share storage, so every
// live handle is exactly one counted buffer.

import type { Backend, BackendMemory, DataHandle, FusedKernels, PrimitiveKernels } from '../types.js';
import { DisposedTensorError, DTypeError, InvalidArgumentError, ShapeError, describe } from '../../errors/index.js';
import { dtypeOfTypedArray, toTypedArray, type DType, type TypedArray } from '../../tensor/dtype.js';
import { sizeOf } from '../../tensor/shape.js';
import { ReferenceHandle } from './storage.js';
import * as elementwise from './elementwise.js';
import * as reduction from './reduce.js';
import * as linalg from './linalg.js';
import * as layout from './layout.js';
import * as resizing from './resize.js';
import * as fusedOps from './fused.js';

export { ReferenceHandle } from './storage.js';

export function createReferenceBackend(): Backend {
  let liveBytes = 0;
  let liveBuffers = 0;

  /** Wraps freshly computed values in a handle and counts its buffer. */
  function own(data: TypedArray): DataHandle {
    liveBytes += data.byteLength;
    liveBuffers += 1;
    return new ReferenceHandle(data);
  }

  function handleOf(handle: DataHandle): ReferenceHandle {
    if (!(handle instanceof ReferenceHandle)) {
      throw new InvalidArgumentError('reference backend: got a handle that does not belong to a reference backend');
    }
    return handle;
  }

  function readCopy(handle: DataHandle, dtype: DType): TypedArray {
    const h = handleOf(handle);
    if (h.disposed) throw new DisposedTensorError('reference backend: read of a disposed handle');
    const stored = dtypeOfTypedArray(h.data);
    if (stored !== dtype) throw new DTypeError(`reference backend: handle holds ${stored}, read as ${dtype}`);
    return h.data.slice();
  }

  const kernels: PrimitiveKernels = {
    unary: (x, attrs, out) => own(elementwise.unary(x, attrs, out)),
    binary: (a, b, attrs, out) => own(elementwise.binary(a, b, attrs, out)),
    compare: (a, b, attrs, out) => own(elementwise.compare(a, b, attrs, out)),
    where: (cond, a, b, out) => own(elementwise.where(cond, a, b, out)),
    reduce: (x, attrs, out) => own(reduction.reduce(x, attrs, out)),
    argmax: (x, attrs, out) => own(reduction.argmax(x, attrs, out)),
    matmul: (a, b, attrs, out) => own(linalg.matmul(a, b, attrs, out)),
    conv2d: (x, w, attrs, out) => own(linalg.conv2d(x, w, attrs, out)),
    conv2dGradInput: (dy, w, attrs, out) => own(linalg.conv2dGradInput(dy, w, attrs, out)),
    conv2dGradFilter: (x, dy, attrs, out) => own(linalg.conv2dGradFilter(x, dy, attrs, out)),
    gather: (x, indices, attrs, out) => own(layout.gather(x, indices, attrs, out)),
    scatterAdd: (indices, updates, attrs, out) => own(layout.scatterAdd(indices, updates, attrs, out)),
    reshape: (x, out) => own(layout.reshape(x, out)),
    transpose: (x, attrs, out) => own(layout.transpose(x, attrs, out)),
    slice: (x, attrs, out) => own(layout.slice(x, attrs, out)),
    concat: (xs, attrs, out) => own(layout.concat(xs, attrs, out)),
    pad: (x, attrs, out) => own(layout.pad(x, attrs, out)),
    broadcastTo: (x, out) => own(layout.broadcastTo(x, out)),
    resize: (x, attrs, out) => own(resizing.resize(x, attrs, out)),
    resizeGrad: (dy, attrs, out) => own(resizing.resizeGrad(dy, attrs, out)),
    cast: (x, out) => own(elementwise.cast(x, out)),
    fill: (attrs, out) => own(elementwise.fill(attrs, out)),
  };

  const fused: FusedKernels = {
    softmax: (x, out) => own(fusedOps.softmax(x, out)),
    logSoftmax: (x, out) => own(fusedOps.logSoftmax(x, out)),
    layerNorm: (x, gamma, beta, attrs, out) => own(fusedOps.layerNorm(x, gamma, beta, attrs, out)),
    groupNorm: (x, gamma, beta, attrs, out) => own(fusedOps.groupNorm(x, gamma, beta, attrs, out)),
    attention: (q, k, v, mask, attrs, out) => own(fusedOps.attention(q, k, v, mask, attrs, out)),
  };

  return {
    name: 'reference',
    specVersion: 1,
    capabilities: { dtypes: ['float32', 'float64', 'int32', 'bool'], syncRead: true },
    kernels,
    fused,
    upload(values: TypedArray, shape: readonly number[], dtype: DType): DataHandle {
      if (values.length !== sizeOf(shape)) {
        throw new ShapeError(`reference backend: upload of ${values.length} values for shape ${describe(shape)}`);
      }
      // toTypedArray copies, converting if the caller passed another typed array type.
      return own(toTypedArray(values, dtype));
    },
    readSync: readCopy,
    read: (handle, dtype) => Promise.resolve().then(() => readCopy(handle, dtype)),
    dispose(handle: DataHandle): void {
      const h = handleOf(handle);
      if (h.disposed) return; // a second dispose must not uncount twice
      h.disposed = true;
      liveBytes -= h.data.byteLength;
      liveBuffers -= 1;
    },
    memory(): BackendMemory {
      return { bytes: liveBytes, buffers: liveBuffers };
    },
  };
}
