// Helpers shared by the op layer: turning numbers into tensors next to their partner operand,
// and common argument checks.

import { InvalidArgumentError, describe } from '../errors/index.js';
import { engine } from '../engine/engine.js';
import { type DType, upcast } from '../tensor/dtype.js';
import { Tensor } from '../tensor/tensor.js';

export type TensorLike = Tensor | number;

/** A number becomes a scalar tensor with `dtype` on `like`'s backend. */
export function asTensor(op: string, arg: string, x: TensorLike, dtype: DType, like?: Tensor): Tensor {
  if (x instanceof Tensor) {
    x._check(op);
    return x;
  }
  if (typeof x !== 'number') throw new InvalidArgumentError(`${op}: ${arg} must be a Tensor or a number, got ${describe(x)}`);
  const backend = like?._backend ?? engine.backend;
  if (backend === engine.backend || engine.interceptor) return engine.runKernel('fill', [], { value: x }, { shape: [], dtype }, op);
  const arr = dtype === 'float64' ? new Float64Array([x]) : dtype === 'int32' ? new Int32Array([x]) : dtype === 'bool' ? new Uint8Array([x ? 1 : 0]) : new Float32Array([x]);
  return engine.upload(arr, [], dtype, backend);
}

/** The dtype two operands compute in; a bare number adopts the tensor's dtype (float if it is fractional and the tensor is int). */
export function resultDType(a: TensorLike, b: TensorLike): DType {
  if (a instanceof Tensor && b instanceof Tensor) return upcast(a.dtype, b.dtype);
  const t = a instanceof Tensor ? a : b instanceof Tensor ? b : null;
  const n = (a instanceof Tensor ? b : a) as number;
  if (!t) return 'float32';
  if (t.dtype === 'int32' && !Number.isInteger(n)) return 'float32';
  if (t.dtype === 'bool') return Number.isInteger(n) ? 'int32' : 'float32';
  return t.dtype;
}

export function checkInt(op: string, arg: string, v: unknown, min = -Infinity): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) {
    throw new InvalidArgumentError(`${op}: ${arg} must be an integer${min > -Infinity ? ` >= ${min}` : ''}, got ${describe(v)}`);
  }
  return v;
}

export function checkNumber(op: string, arg: string, v: unknown): number {
  if (typeof v !== 'number' || Number.isNaN(v)) throw new InvalidArgumentError(`${op}: ${arg} must be a number, got ${describe(v)}`);
  return v;
}
