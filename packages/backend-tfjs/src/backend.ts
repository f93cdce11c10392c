// The @denoise Backend on a tfjs engine. Handles wrap one kept tf.Tensor each; every kernel runs
// inside tf.tidy, so kernels leak nothing, and results are kept so that no tidy scope of the
// caller's own tfjs code frees them.

import { InvalidArgumentError, DenoiseError, type Backend, type DataHandle, type DType, type TypedArray } from '@denoise/core';
import { createKernelContext, createPrimitiveKernels, fusedKernels } from './kernels/index.js';
import { TfjsHandle, type TfjsFlavor, type Tfjs, type TfTensor } from './types.js';

const DTYPES: readonly DType[] = ['float32', 'int32', 'bool'];

function typedArrayOf(dtype: DType, values: ArrayLike<number>, copy: boolean): TypedArray {
  switch (dtype) {
    case 'float32':
      return values instanceof Float32Array ? (copy ? values.slice() : values) : Float32Array.from(values);
    case 'int32':
      return values instanceof Int32Array ? (copy ? values.slice() : values) : Int32Array.from(values);
    case 'bool':
      return values instanceof Uint8Array ? (copy ? values.slice() : values) : Uint8Array.from(values, (v) => (v ? 1 : 0));
    case 'float64':
      return Float64Array.from(values);
  }
}

/**
 * A @denoise backend running on the given tfjs namespace, which must already have its engine
 * backend set (see loadTfjsBackend, which does that). Stores float32, int32 and bool; float64 is
 * refused at upload.
 */
export function createTfjsBackend(tf: Tfjs, flavor: TfjsFlavor): Backend {
  const name = `tfjs-${flavor}`;
  const live = new Set<TfjsHandle>();
  const ctx = createKernelContext(tf, flavor, name, (h) => live.add(h));
  // tfjs-backend-cpu (and tfjs-node until first use) store the uploaded array itself and return
  // their storage from dataSync(); tfjs-backend-wasm copies into / out of its heap.
  const copy = flavor !== 'wasm';

  function tensorOf(handle: DataHandle): TfTensor {
    const t = handle instanceof TfjsHandle ? handle.tensor : null;
    if (t === null) throw new DenoiseError(`${name}: handle is disposed or does not belong to this backend`);
    return t;
  }

  function checkDType(op: string, dtype: DType): void {
    if (!DTYPES.includes(dtype)) {
      throw new InvalidArgumentError(
        `${name}: ${op}: dtype ${JSON.stringify(dtype)} is not supported by the tfjs backend (supported: float32, int32, bool); ` +
          `cast to float32 first, or use the reference backend for float64`,
      );
    }
  }

  return {
    name,
    specVersion: 1,
    capabilities: { dtypes: DTYPES, syncRead: true },
    kernels: createPrimitiveKernels(ctx),
    fused: fusedKernels(ctx),
    upload(values: TypedArray, shape: readonly number[], dtype: DType): DataHandle {
      checkDType('upload', dtype);
      const t = tf.tensor(typedArrayOf(dtype, values, copy), shape as number[], dtype as 'float32' | 'int32' | 'bool');
      tf.keep(t);
      const h = new TfjsHandle(t);
      live.add(h);
      return h;
    },
    readSync(handle: DataHandle, dtype: DType): TypedArray {
      checkDType('readSync', dtype);
      return typedArrayOf(dtype, tensorOf(handle).dataSync() as ArrayLike<number>, copy);
    },
    async read(handle: DataHandle, dtype: DType): Promise<TypedArray> {
      checkDType('read', dtype);
      return typedArrayOf(dtype, (await tensorOf(handle).data()) as ArrayLike<number>, copy);
    },
    dispose(handle: DataHandle): void {
      if (handle instanceof TfjsHandle && handle.tensor !== null) {
        handle.free();
        live.delete(handle);
      }
    },
    memory() {
      const m = tf.memory();
      return { bytes: m.numBytes, buffers: m.numTensors };
    },
    /** Frees every tensor this backend still holds (the tfjs engine itself stays initialised). */
    destroy(): void {
      for (const h of live) h.free();
      live.clear();
    },
  };
}
