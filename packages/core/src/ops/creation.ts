// Tensor factories: host values in, a tensor on the current (or a given) backend out.

import type { Backend } from '../backend/types.js';
import { DTypeError, InvalidArgumentError, ShapeError, describe } from '../errors/index.js';
import { engine } from '../engine/engine.js';
import { type DType, type TypedArray, DTYPES, dtypeOfTypedArray, toTypedArray } from '../tensor/dtype.js';
import { type NestedArray, Tensor } from '../tensor/tensor.js';
import { assertShape, sizeOf } from '../tensor/shape.js';

export interface CreateOptions {
  dtype?: DType;
  /** Backend to create the tensor on; default: the current backend. */
  backend?: Backend;
}

function checkDType(op: string, dtype: unknown): asserts dtype is DType {
  if (!DTYPES.includes(dtype as DType)) throw new DTypeError(`${op}: dtype must be one of ${DTYPES.join(', ')}, got ${describe(dtype)}`);
}

function inferShape(values: NestedArray | readonly NestedArray[]): number[] {
  const shape: number[] = [];
  let v: unknown = values;
  while (Array.isArray(v)) {
    shape.push(v.length);
    v = v[0];
  }
  return shape;
}

function flatten(op: string, values: unknown, shape: readonly number[], axis: number, out: number[]): void {
  if (axis === shape.length) {
    if (typeof values !== 'number' && typeof values !== 'boolean') {
      throw new InvalidArgumentError(`${op}: values must be numbers, got ${describe(values)}`);
    }
    out.push(Number(values));
    return;
  }
  if (!Array.isArray(values) || values.length !== shape[axis]) {
    throw new ShapeError(`${op}: ragged nested array: expected ${shape[axis]} entries at depth ${axis}, got ${describe(Array.isArray(values) ? values.length : values)}`);
  }
  for (const v of values) flatten(op, v, shape, axis + 1, out);
}

/**
 * Creates a tensor from a number, a nested array or a typed array. With a typed array and no
 * dtype, the dtype follows the array (Float32Array -> float32, Int32Array -> int32, ...).
 */
export function tensor(values: number | NestedArray | TypedArray | readonly number[], shape?: readonly number[], options: CreateOptions = {}): Tensor {
  const op = 'tensor';
  let flat: ArrayLike<number>;
  let inferred: number[];
  let dtype: DType | undefined = options.dtype;
  if (ArrayBuffer.isView(values)) {
    flat = values as TypedArray;
    inferred = [flat.length];
    dtype ??= dtypeOfTypedArray(values as TypedArray);
  } else if (typeof values === 'number') {
    flat = [values];
    inferred = [];
  } else if (Array.isArray(values)) {
    inferred = inferShape(values as NestedArray[]);
    const out: number[] = [];
    flatten(op, values, inferred, 0, out);
    flat = out;
  } else {
    throw new InvalidArgumentError(`${op}: values must be a number, an array or a typed array, got ${describe(values)}`);
  }
  dtype ??= 'float32';
  checkDType(op, dtype);
  const finalShape = shape ?? inferred;
  assertShape(op, finalShape);
  if (sizeOf(finalShape) !== flat.length) {
    throw new ShapeError(`${op}: shape ${describe(finalShape)} needs ${sizeOf(finalShape)} values, got ${flat.length}`);
  }
  const data = ArrayBuffer.isView(flat) && dtypeOfTypedArray(flat as TypedArray) === dtype ? (flat as TypedArray).slice() : toTypedArray(flat, dtype);
  return engine.upload(data, finalShape, dtype, options.backend ?? engine.backend);
}

export function scalar(value: number, dtype: DType = 'float32', backend?: Backend): Tensor {
  if (typeof value !== 'number') throw new InvalidArgumentError(`scalar: value must be a number, got ${describe(value)}`);
  return tensor(value, [], { dtype, ...(backend ? { backend } : {}) });
}

/** A tensor of `shape` filled with `value`. */
export function full(shape: readonly number[], value: number, dtype: DType = 'float32', backend?: Backend): Tensor {
  assertShape('full', shape);
  checkDType('full', dtype);
  if (typeof value !== 'number') throw new InvalidArgumentError(`full: value must be a number, got ${describe(value)}`);
  if (backend && backend !== engine.backend) {
    return engine.upload(toTypedArray(new Array<number>(sizeOf(shape)).fill(value), dtype), shape, dtype, backend);
  }
  return engine.runKernel('fill', [], { value }, { shape, dtype }, 'full');
}

export function zeros(shape: readonly number[], dtype: DType = 'float32', backend?: Backend): Tensor {
  return full(shape, 0, dtype, backend);
}

export function ones(shape: readonly number[], dtype: DType = 'float32', backend?: Backend): Tensor {
  return full(shape, 1, dtype, backend);
}

export function zerosLike(x: Tensor): Tensor {
  return fullOn(x, x.shape, 0, x.dtype);
}

export function onesLike(x: Tensor): Tensor {
  return fullOn(x, x.shape, 1, x.dtype);
}

/** A filled tensor on the same backend as `like`. */
export function fullOn(like: Tensor, shape: readonly number[], value: number, dtype: DType): Tensor {
  if (like._backend === engine.backend || engine.interceptor) return engine.runKernel('fill', [], { value }, { shape, dtype }, 'full');
  return engine.upload(toTypedArray(new Array<number>(sizeOf(shape)).fill(value), dtype), shape, dtype, like._backend);
}

/** Evenly spaced values [start, stop) with `step`, like NumPy's arange. */
export function arange(start: number, stop?: number, step = 1, dtype: DType = 'float32'): Tensor {
  if (stop === undefined) {
    stop = start;
    start = 0;
  }
  if (!(step !== 0 && Number.isFinite(step))) throw new InvalidArgumentError(`arange: step must be a finite non-zero number, got ${describe(step)}`);
  const n = Math.max(0, Math.ceil((stop - start) / step));
  const values = new Array<number>(n);
  for (let i = 0; i < n; i++) values[i] = start + i * step;
  return tensor(values, [n], { dtype });
}

/** A trainable (mutable) tensor: parameters and optimizer state. Scopes never dispose it. */
export function variable(initial: Tensor, name?: string): Tensor {
  initial._check('variable');
  const copy = engine.noGrad(() => engine.runKernel('reshape', [initial], {}, { shape: initial.shape, dtype: initial.dtype }, 'variable'));
  const v = engine.makeTensor(copy._backend, copy._handle, copy.shape, copy.dtype, true, name);
  // `copy` handed its storage to the variable: retire it without freeing the storage.
  copy._disposed = true;
  engine.retire(copy);
  return v;
}

/** Copies a tensor onto another backend (through the host). */
export async function toBackend(x: Tensor, backend: Backend): Promise<Tensor> {
  x._check('toBackend');
  if (x._backend === backend) return engine.runKernel('reshape', [x], {}, { shape: x.shape, dtype: x.dtype }, 'toBackend');
  const data = await x.data();
  if (!backend.capabilities.dtypes.includes(x.dtype)) {
    throw new DTypeError(`toBackend: backend "${backend.name}" does not store ${x.dtype}; cast first`);
  }
  return engine.upload(data, x.shape, x.dtype, backend);
}

/** Synchronous twin of toBackend for backends that read synchronously. */
export function toBackendSync(x: Tensor, backend: Backend): Tensor {
  x._check('toBackendSync');
  if (!backend.capabilities.dtypes.includes(x.dtype)) {
    throw new DTypeError(`toBackendSync: backend "${backend.name}" does not store ${x.dtype}; cast first`);
  }
  return engine.upload(x.dataSync(), x.shape, x.dtype, backend);
}
