// The Tensor: an immutable n-dimensional array living on one backend. It is a thin record
// (shape, dtype, backend, storage handle); every operation goes through the engine's single
// dispatch point (engine/engine.ts), which is where autograd records and graph capture hooks in.
// Variables are tensors whose storage can be replaced in place (`assign`), for parameters and
// optimizer state; scopes never dispose them.

import type { Backend, DataHandle } from '../backend/types.js';
import { DisposedTensorError, DTypeError, ShapeError, describe } from '../errors/index.js';
import type { DType, TypedArray } from './dtype.js';
import { sizeOf, shapesEqual } from './shape.js';
import { engine } from '../engine/engine.js';

export type NestedArray = number | NestedArray[];

let nextTensorId = 1;

export class Tensor {
  readonly id: number;
  readonly shape: readonly number[];
  readonly dtype: DType;
  readonly size: number;
  /** @internal */ _backend: Backend;
  /** @internal */ _handle: DataHandle;
  /** @internal */ _disposed = false;
  /** @internal set by keep(): scopes leave the tensor alone. */ _kept = false;
  /** @internal number of live autograd tapes that saved this tensor. */ _tapeRefs = 0;
  /** @internal dispose() was called while a tape still needed the storage. */ _pendingDispose = false;
  /** True for variables (parameters, optimizer state): mutable through assign(), never scope-disposed. */
  readonly isVariable: boolean;
  /** Optional name, used by checkpoints and error messages. */
  name: string | undefined;

  /** @internal Use the factory functions (`tensor`, `zeros`, ...) instead. */
  constructor(backend: Backend, handle: DataHandle, shape: readonly number[], dtype: DType, isVariable = false, name?: string) {
    this.id = nextTensorId++;
    this.shape = Object.freeze([...shape]);
    this.dtype = dtype;
    this.size = sizeOf(shape);
    this._backend = backend;
    this._handle = handle;
    this.isVariable = isVariable;
    this.name = name;
  }

  get rank(): number {
    return this.shape.length;
  }

  get backend(): Backend {
    return this._backend;
  }

  get isDisposed(): boolean {
    return this._disposed;
  }

  /** @internal Throws if the tensor was disposed; `op` names the caller for the message. */
  _check(op: string): void {
    if (this._disposed) {
      throw new DisposedTensorError(`${op}: tensor #${this.id}${this.name ? ` (${this.name})` : ''} of shape ${describe(this.shape)} was disposed`);
    }
  }

  /** Synchronous read-back (backends with capabilities.syncRead). */
  dataSync(): TypedArray {
    this._check('Tensor.dataSync');
    return engine.readSync(this);
  }

  /** Asynchronous read-back, works on every backend. */
  async data(): Promise<TypedArray> {
    this._check('Tensor.data');
    return engine.read(this);
  }

  /** Nested JS arrays (synchronous). */
  arraySync(): NestedArray {
    return toNested(this.dataSync(), this.shape);
  }

  async array(): Promise<NestedArray> {
    return toNested(await this.data(), this.shape);
  }

  /** The single value of a one-element tensor. */
  item(): number {
    if (this.size !== 1) throw new ShapeError(`Tensor.item: tensor must have exactly one element, got shape ${describe(this.shape)}`);
    return this.dataSync()[0] as number;
  }

  /** Frees the storage now. Safe to call twice. */
  dispose(): void {
    engine.disposeTensor(this);
  }

  /**
   * Replaces a variable's value in place (same shape and dtype); the old storage is freed. The
   * new value's storage is taken over, so `value` is disposed as a tensor.
   */
  assign(value: Tensor): void {
    if (!this.isVariable) throw new DTypeError(`Tensor.assign: only variables can be assigned; tensor #${this.id} is not a variable (use variable())`);
    this._check('Tensor.assign');
    value._check('Tensor.assign');
    if (!shapesEqual(value.shape, this.shape)) throw new ShapeError(`Tensor.assign: value must have shape ${describe(this.shape)}, got ${describe(value.shape)}`);
    if (value.dtype !== this.dtype) throw new DTypeError(`Tensor.assign: value must have dtype ${this.dtype}, got ${value.dtype}`);
    engine.assign(this, value);
  }

  toString(): string {
    return `Tensor(#${this.id}, shape=${describe(this.shape)}, dtype=${this.dtype}, backend=${this._backend.name}${this._disposed ? ', disposed' : ''})`;
  }
}

function toNested(values: TypedArray, shape: readonly number[]): NestedArray {
  if (shape.length === 0) return values[0] as number;
  const build = (offset: number, axis: number): NestedArray[] => {
    const n = shape[axis] as number;
    const out: NestedArray[] = [];
    if (axis === shape.length - 1) {
      for (let i = 0; i < n; i++) out.push(values[offset + i] as number);
      return out;
    }
    const stride = sizeOf(shape.slice(axis + 1));
    for (let i = 0; i < n; i++) out.push(build(offset + i * stride, axis + 1));
    return out;
  };
  return build(0, 0);
}

export function isTensor(value: unknown): value is Tensor {
  return value instanceof Tensor;
}
