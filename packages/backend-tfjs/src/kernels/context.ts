// The kernel context: how kernels turn handles into tf tensors and tf results into new handles,
// and which engine-specific strategies apply.

import { DenoiseError, type DataHandle, type OutputInfo, type TensorInfo } from '@denoise/core';
import type { TfjsFlavor, Tfjs, TfTensor } from '../types.js';
import { TfjsHandle } from '../types.js';

export interface KernelContext {
  readonly tf: Tfjs;
  readonly flavor: TfjsFlavor;
  /**
   * tfjs-backend-wasm workarounds: matmul never passes transpose flags (20-60x slower there)
   * and never runs a batched (rank-3, batch > 1) BatchMatMul, whose wasm kernel is a naive
   * single-threaded loop; convolution gradients are computed with forward convolutions and
   * im2col matmuls instead of the (missing or slow) backprop kernels.
   */
  readonly wasm: boolean;
  /** The tf tensor behind an input. */
  t(info: TensorInfo): TfTensor;
  /**
   * Runs `fn` inside tf.tidy (so no intermediate leaks), coerces its result to `out`'s dtype and
   * shape, keeps it (so no enclosing tidy frees it) and wraps it in a new handle. Never returns
   * an input's tensor object: a result identical to an input is cloned.
   */
  run(out: OutputInfo, fn: () => TfTensor): DataHandle;
  /**
   * A tensor computed from an input by `make` (a layout change of a weight, say), cached on the
   * input's handle from its second use with the same key on, and freed with the handle.
   */
  derived(info: TensorInfo, key: string, make: (t: TfTensor) => TfTensor): TfTensor;
  /**
   * tf.slice, except on wasm, whose Slice kernel first copies the WHOLE input out of the wasm
   * heap (readSync) and so costs time proportional to the input, not the slice: 60 ms to take a
   * 4 MB slice of a 64 MB tensor. Here the input is read through a view of the heap instead.
   */
  slice(x: TfTensor, begin: readonly number[], size: readonly number[]): TfTensor;
  /** tf.unstack along axis 0, through `slice` (tfjs's Unpack has the same whole-input copy). */
  unstack(x: TfTensor): TfTensor[];
}

function shapesEqual(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function createKernelContext(tf: Tfjs, flavor: TfjsFlavor, backendName: string, onCreate?: (h: TfjsHandle) => void): KernelContext {
  const wasm = flavor === 'wasm';
  function t(info: TensorInfo): TfTensor {
    const h = info.handle as TfjsHandle;
    const tensor = h instanceof TfjsHandle ? h.tensor : null;
    if (tensor === null) {
      throw new DenoiseError(`${backendName}: a kernel received a handle that is disposed or does not belong to this backend`);
    }
    return tensor;
  }
  function run(out: OutputInfo, fn: () => TfTensor): DataHandle {
    const state = tf.engine().state;
    const before = state.numTensors;
    let result: TfTensor = tf.tidy(() => {
      let r = fn();
      if (r.dtype !== out.dtype) {
        // (tf.cast to bool is wrong on tfjs-backend-wasm: it copies the low byte.)
        r = out.dtype === 'bool' ? tf.notEqual(r, tf.scalar(0, r.dtype)) : tf.cast(r, out.dtype as 'float32' | 'int32');
      }
      if (!shapesEqual(r.shape, out.shape)) {
        if (r.size !== out.shape.reduce((p, d) => p * d, 1)) {
          throw new DenoiseError(`${backendName}: internal error, kernel produced shape [${r.shape.join(', ')}] for output [${out.shape.join(', ')}]`);
        }
        r = tf.reshape(r, out.shape as number[]);
      }
      return r;
    });
    // A result created before this call (an input passed through) would be shared between two
    // handles; give the new handle its own tensor object.
    if (state.numTensors === before) result = tf.clone(result);
    tf.keep(result);
    const h = new TfjsHandle(result);
    onCreate?.(h);
    return h;
  }
  function derived(info: TensorInfo, key: string, make: (t: TfTensor) => TfTensor): TfTensor {
    const h = info.handle as TfjsHandle;
    const source = t(info);
    const cached = h.derived?.get(key);
    if (cached) return cached;
    const uses = (h.uses ??= new Map()).get(key) ?? 0;
    const value = make(source);
    if (uses >= 1 && value !== source) {
      tf.keep(value);
      (h.derived ??= new Map()).set(key, value);
      h.uses.delete(key);
    } else {
      h.uses.set(key, uses + 1);
    }
    return value;
  }
  // The wasm backend object: typedArrayFromHeap(tensor) is a view into its heap (no copy).
  type HeapBackend = { typedArrayFromHeap(t: TfTensor): Float32Array | Int32Array | Uint8Array };
  function slice(x: TfTensor, begin: readonly number[], size: readonly number[]): TfTensor {
    if (!wasm || x.dtype === 'string' || x.dtype === 'complex64') return tf.slice(x, [...begin], [...size]);
    const backend = tf.backend() as unknown as Partial<HeapBackend>;
    if (typeof backend.typedArrayFromHeap !== 'function') return tf.slice(x, [...begin], [...size]);
    const shape = x.shape;
    const rank = shape.length;
    const count = size.reduce((p, d) => p * d, 1);
    const strides = new Array<number>(rank);
    for (let i = rank - 1, s = 1; i >= 0; i--) {
      strides[i] = s;
      s *= shape[i]!;
    }
    // The innermost run of axes taken whole is copied as one block.
    let inner = rank;
    let block = 1;
    while (inner > 0 && begin[inner - 1] === 0 && size[inner - 1] === shape[inner - 1]) {
      inner--;
      block *= shape[inner]!;
    }
    if (inner > 0) {
      block *= size[inner - 1]!;
      inner--;
    }
    const src = backend.typedArrayFromHeap(x);
    const out = new (src.constructor as new (n: number) => Float32Array | Int32Array | Uint8Array)(count);
    const outer = count / Math.max(block, 1);
    const idx = new Array<number>(inner).fill(0);
    for (let o = 0, dst = 0; o < outer && block > 0; o++, dst += block) {
      let off = inner < rank ? begin[inner]! * strides[inner]! : 0;
      for (let a = 0; a < inner; a++) off += (begin[a]! + idx[a]!) * strides[a]!;
      out.set(src.subarray(off, off + block), dst);
      for (let a = inner - 1; a >= 0; a--) {
        if (++idx[a]! < size[a]!) break;
        idx[a] = 0;
      }
    }
    return tf.tensor(out, [...size], x.dtype as 'float32' | 'int32' | 'bool');
  }
  function unstack(x: TfTensor): TfTensor[] {
    if (!wasm) return tf.unstack(x);
    const [b, ...rest] = x.shape;
    return Array.from({ length: b! }, (_, i) => tf.reshape(slice(x, [i, ...rest.map(() => 0)], [1, ...rest]), rest));
  }
  return { tf, flavor, wasm, t, run, derived, slice, unstack };
}
