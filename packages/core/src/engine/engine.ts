// The engine: the single dispatch point of @denoise. Every primitive kernel call, every upload
// and every fused composite goes through `runKernel` / `upload` / `runFused` here, which is where
//  - the current backend executes the kernel,
//  - autograd tapes record the call when an input needs a gradient (autograd/tape.ts),
//  - scopes (`tidy`) learn about new tensors so they can free intermediates,
//  - an interceptor (graph capture for ONNX Runtime) may take the call over instead of running it.
// Model code never talks to a backend directly.

import type { Backend, DataHandle, FusedKernels, FusedName, OutputInfo, PrimitiveKernels, PrimitiveName, TensorInfo } from '../backend/types.js';
import { DTypeError, InvalidArgumentError, describe } from '../errors/index.js';
import type { DType, TypedArray } from '../tensor/dtype.js';
import { Tensor } from '../tensor/tensor.js';
import { createReferenceBackend } from '../backend/reference/backend.js';

/** One recorded primitive call on an autograd tape. */
export interface TapeNode {
  readonly kernel: PrimitiveName;
  readonly inputs: readonly Tensor[];
  readonly output: Tensor;
  readonly attrs: Readonly<Record<string, unknown>>;
}

export interface Tape {
  readonly nodes: TapeNode[];
  /** Ids of tensors whose gradient this tape follows (the watched inputs and what they produced). */
  readonly tracked: Set<number>;
  /** Tensors this tape holds alive (inputs and outputs of its nodes). */
  readonly saved: Set<Tensor>;
}

/**
 * Takes over kernel execution (graph capture). Returning undefined lets the call run normally.
 */
export interface KernelInterceptor {
  runKernel(kernel: PrimitiveName, inputs: readonly Tensor[], attrs: Readonly<Record<string, unknown>>, out: OutputInfo): DataHandle | undefined;
  upload?(values: TypedArray, shape: readonly number[], dtype: DType): DataHandle | undefined;
  /**
   * True for handles the interceptor made itself (symbolic values of a graph being recorded):
   * the engine never passes them to a backend's dispose or read.
   */
  owns?(handle: DataHandle): boolean;
  /** The error to throw when something tries to read the values of a handle it owns. */
  readError?(op: string, handle: DataHandle): Error;
  /**
   * Takes over `Tensor.assign` (a graph records the new value as a state update of the
   * variable). Without it, assigning while the interceptor is installed throws.
   */
  assign?(target: Tensor, value: Tensor): void;
  /** Takes over `engine.hostStep(fn)` (a graph runs fn before each replay instead of now). */
  hostStep?(fn: () => void): void;
}

interface Scope {
  readonly tensors: Set<Tensor>;
}

export interface MemoryInfo {
  /** Tensors created and not yet disposed, on every backend. */
  readonly numTensors: number;
  /** The current backend's own accounting. */
  readonly backend: { readonly name: string; readonly bytes: number; readonly buffers: number };
}

// The kernels' positional signatures, normalised to (inputs[], attrs, out).
type KernelCall = (backend: Backend, infos: TensorInfo[], attrs: Record<string, unknown>, out: OutputInfo) => DataHandle;

function makeCall(name: PrimitiveName): KernelCall {
  const k = name as keyof PrimitiveKernels;
  switch (name) {
    case 'fill':
      return (b, _i, attrs, out) => b.kernels.fill(attrs as { value: number }, out);
    case 'reshape':
    case 'broadcastTo':
    case 'cast':
      return (b, i, _a, out) => (b.kernels[k] as (x: TensorInfo, o: OutputInfo) => DataHandle)(i[0]!, out);
    case 'where':
      return (b, i, _a, out) => b.kernels.where(i[0]!, i[1]!, i[2]!, out);
    case 'concat':
      return (b, i, attrs, out) => b.kernels.concat(i, attrs as { axis: number }, out);
    case 'binary':
    case 'compare':
    case 'matmul':
    case 'conv2d':
    case 'conv2dGradInput':
    case 'conv2dGradFilter':
    case 'gather':
    case 'scatterAdd':
      return (b, i, attrs, out) => (b.kernels[k] as (x: TensorInfo, y: TensorInfo, a: unknown, o: OutputInfo) => DataHandle)(i[0]!, i[1]!, attrs, out);
    default:
      return (b, i, attrs, out) => (b.kernels[k] as (x: TensorInfo, a: unknown, o: OutputInfo) => DataHandle)(i[0]!, attrs, out);
  }
}

const CALLS = new Map<PrimitiveName, KernelCall>();
function callFor(name: PrimitiveName): KernelCall {
  let c = CALLS.get(name);
  if (!c) CALLS.set(name, (c = makeCall(name)));
  return c;
}

export class Engine {
  private backendValue: Backend | null = null;
  private referenceValue: Backend | null = null;
  private readonly scopes: Scope[] = [];
  private readonly tapes: Tape[] = [];
  private noGradDepth = 0;
  private liveTensors = 0;
  private interceptorValue: KernelInterceptor | null = null;

  /** The current backend; the float64 reference backend if none was chosen. */
  get backend(): Backend {
    if (!this.backendValue) this.backendValue = this.reference;
    return this.backendValue;
  }

  /** The process-wide float64 reference backend (the default, and the registry's 'reference'). */
  get reference(): Backend {
    if (!this.referenceValue) this.referenceValue = createReferenceBackend();
    return this.referenceValue;
  }

  setBackend(backend: Backend): void {
    this.backendValue = backend;
  }

  get interceptor(): KernelInterceptor | null {
    return this.interceptorValue;
  }

  /** Installs (or removes, with null) a kernel interceptor; returns the previous one. */
  setInterceptor(interceptor: KernelInterceptor | null): KernelInterceptor | null {
    const prev = this.interceptorValue;
    this.interceptorValue = interceptor;
    return prev;
  }

  // ---- tensor lifetime -------------------------------------------------------------------------

  /** @internal Wraps a fresh handle into a tensor and registers it with the current scope. */
  makeTensor(backend: Backend, handle: DataHandle, shape: readonly number[], dtype: DType, isVariable = false, name?: string): Tensor {
    const t = new Tensor(backend, handle, shape, dtype, isVariable, name);
    this.liveTensors++;
    if (!isVariable) this.scopes[this.scopes.length - 1]?.tensors.add(t);
    return t;
  }

  upload(values: TypedArray, shape: readonly number[], dtype: DType, backend: Backend = this.backend): Tensor {
    const handle = this.interceptorValue?.upload?.(values, shape, dtype) ?? backend.upload(values, shape, dtype);
    return this.makeTensor(backend, handle, shape, dtype);
  }

  disposeTensor(t: Tensor): void {
    if (t._disposed) return;
    if (t._tapeRefs > 0) {
      // A live tape still needs this storage for the backward pass: free it when the tape ends.
      t._pendingDispose = true;
      return;
    }
    t._disposed = true;
    if (!this.interceptorValue?.owns?.(t._handle)) t._backend.dispose(t._handle);
    this.liveTensors--;
    for (const s of this.scopes) s.tensors.delete(t);
  }

  /** True while an interceptor (a graph capture) is installed. */
  get capturing(): boolean {
    return this.interceptorValue !== null;
  }

  /**
   * Runs `fn` with no interceptor installed: its kernels and uploads execute for real, e.g. to
   * create optimizer state lazily while a training step is being recorded.
   */
  withoutInterceptor<T>(fn: () => T): T {
    const prev = this.interceptorValue;
    this.interceptorValue = null;
    try {
      return fn();
    } finally {
      this.interceptorValue = prev;
    }
  }

  /**
   * Host-side work that belongs to each execution of the surrounding code (an optimizer's step
   * counter and the per-step scalars it writes into variables). Eagerly it runs now; while a
   * graph is recorded it runs before every replay of that graph instead (not during capture),
   * with no interceptor installed.
   */
  hostStep(fn: () => void): void {
    const i = this.interceptorValue;
    if (i?.hostStep) i.hostStep(fn);
    else if (i) this.withoutInterceptor(fn);
    else fn();
  }

  /** @internal Moves `value`'s storage into variable `target`, freeing target's old storage. */
  assign(target: Tensor, value: Tensor): void {
    if (this.interceptorValue?.assign) {
      this.interceptorValue.assign(target, value);
      return;
    }
    if (this.interceptorValue) {
      throw new InvalidArgumentError(`Tensor.assign: variable #${target.id}${target.name ? ` (${target.name})` : ''} cannot be assigned while a graph is being recorded; return the new value from the recorded function instead`);
    }
    if (value._backend !== target._backend) {
      throw new InvalidArgumentError(`Tensor.assign: value lives on backend "${value._backend.name}" but the variable on "${target._backend.name}"`);
    }
    if (target._tapeRefs > 0) {
      throw new InvalidArgumentError(`Tensor.assign: variable #${target.id} is in use by a gradient computation that has not finished`);
    }
    if (value._tapeRefs > 0 || value.isVariable) {
      // The value must outlive this call: copy its storage instead of stealing it.
      const copy = this.runKernel('reshape', [value], {}, { shape: value.shape, dtype: value.dtype });
      this.assign(target, copy);
      return;
    }
    target._backend.dispose(target._handle);
    target._handle = value._handle;
    // The value's storage now belongs to the variable: retire the value without freeing it.
    this.retire(value);
  }

  /** @internal Forgets a tensor whose storage was handed to another tensor (not freed). */
  retire(t: Tensor): void {
    t._disposed = true;
    this.liveTensors--;
    for (const s of this.scopes) s.tensors.delete(t);
  }

  /** Marks a tensor so that no enclosing scope disposes it. */
  keep<T extends Tensor>(t: T): T {
    t._kept = true;
    for (const s of this.scopes) s.tensors.delete(t);
    return t;
  }

  /**
   * Runs `fn` in a scope: tensors created inside and not returned (anywhere in the returned
   * value: a tensor, an array or a plain object of them) are disposed when it returns. Returned
   * tensors created inside move to the enclosing scope; a returned tensor created outside (an
   * argument passed through) stays where it was, so no scope frees a tensor it did not make.
   */
  tidy<T>(fn: () => T): T {
    const scope: Scope = { tensors: new Set() };
    this.scopes.push(scope);
    let result: T;
    try {
      result = fn();
    } catch (e) {
      this.scopes.pop();
      this.disposeScope(scope, new Set());
      throw e;
    }
    this.scopes.pop();
    if (result instanceof Promise) {
      throw new InvalidArgumentError('tidy: fn must be synchronous; got a function that returned a Promise (await outside tidy instead)');
    }
    const keepSet = new Set<Tensor>();
    collectTensors(result, keepSet);
    this.disposeScope(scope, keepSet);
    const parent = this.scopes[this.scopes.length - 1];
    if (parent) for (const t of keepSet) if (scope.tensors.has(t) && !t.isVariable && !t._kept && !t._disposed) parent.tensors.add(t);
    return result;
  }

  private disposeScope(scope: Scope, keepSet: Set<Tensor>): void {
    for (const t of scope.tensors) if (!keepSet.has(t) && !t._kept) this.disposeTensor(t);
  }

  memory(): MemoryInfo {
    const m = this.backend.memory();
    return { numTensors: this.liveTensors, backend: { name: this.backend.name, bytes: m.bytes, buffers: m.buffers } };
  }

  // ---- reading -------------------------------------------------------------------------------

  private checkReadable(op: string, t: Tensor): void {
    const i = this.interceptorValue;
    if (i?.owns?.(t._handle)) {
      throw i.readError?.(op, t._handle) ?? new InvalidArgumentError(`${op}: cannot read the values of a tensor while a graph is being recorded`);
    }
  }

  readSync(t: Tensor): TypedArray {
    this.checkReadable('Tensor.dataSync', t);
    if (!t._backend.capabilities.syncRead) {
      throw new InvalidArgumentError(`Tensor.dataSync: backend "${t._backend.name}" cannot read synchronously; use await tensor.data()`);
    }
    return t._backend.readSync(t._handle, t.dtype);
  }

  read(t: Tensor): Promise<TypedArray> {
    try {
      this.checkReadable('Tensor.data', t);
    } catch (e) {
      return Promise.reject(e);
    }
    return t._backend.read(t._handle, t.dtype);
  }

  // ---- dispatch ------------------------------------------------------------------------------

  /**
   * Runs one primitive. The op layer has already checked the arguments and computed `out`.
   * All inputs must live on one backend; the output lives there too.
   */
  runKernel(kernel: PrimitiveName, inputs: readonly Tensor[], attrs: Readonly<Record<string, unknown>>, out: OutputInfo, opName: string = kernel): Tensor {
    const backend = inputs.length > 0 ? inputs[0]!._backend : this.backend;
    for (const x of inputs) {
      x._check(opName);
      if (x._backend !== backend) {
        throw new InvalidArgumentError(
          `${opName}: all inputs must live on one backend; got "${backend.name}" and "${x._backend.name}" (move one with toBackend())`,
        );
      }
    }
    const handle =
      this.interceptorValue?.runKernel(kernel, inputs, attrs, out) ??
      callFor(kernel)(backend, inputs.map(infoOf), attrs as Record<string, unknown>, out);
    const output = this.makeTensor(backend, handle, out.shape, out.dtype);
    if (this.tapes.length > 0 && this.noGradDepth === 0) this.record(kernel, inputs, output, attrs);
    return output;
  }

  /**
   * Runs a composite op: the backend's fused kernel when it has one and no input needs a
   * gradient (and no interceptor is active), else `fallback`, which composes primitives.
   */
  runFused(name: FusedName, inputs: ReadonlyArray<Tensor | null>, attrs: Readonly<Record<string, unknown>>, out: OutputInfo, fallback: () => Tensor): Tensor {
    const first = inputs.find((x): x is Tensor => x !== null);
    const backend = first?._backend ?? this.backend;
    const fused = backend.fused?.[name] as ((...args: unknown[]) => DataHandle) | undefined;
    if (!fused || this.interceptorValue || inputs.some((x) => x !== null && this.isTracked(x))) return fallback();
    for (const x of inputs) {
      if (x === null) continue;
      x._check(name);
      if (x._backend !== backend) throw new InvalidArgumentError(`${name}: all inputs must live on one backend; got "${backend.name}" and "${x._backend.name}"`);
    }
    const infos = inputs.map((x) => (x === null ? null : infoOf(x)));
    const args: unknown[] = infos;
    if (Object.keys(attrs).length > 0 || name === 'attention') args.push(attrs);
    args.push(out);
    const handle = fused.apply(backend.fused, args);
    return this.makeTensor(backend, handle, out.shape, out.dtype);
  }

  // ---- autograd hooks --------------------------------------------------------------------------

  /** @internal Starts a tape that follows gradients of `watched`. */
  startTape(watched: readonly Tensor[]): Tape {
    const tape: Tape = { nodes: [], tracked: new Set(watched.map((t) => t.id)), saved: new Set() };
    this.tapes.push(tape);
    return tape;
  }

  /** @internal Stops recording on `tape` (it stays readable for the backward pass). */
  stopTape(tape: Tape): void {
    const i = this.tapes.lastIndexOf(tape);
    if (i >= 0) this.tapes.splice(i, 1);
  }

  /** @internal Drops the tape's hold on its saved tensors, freeing those disposed meanwhile. */
  releaseTape(tape: Tape): void {
    this.stopTape(tape);
    for (const t of tape.saved) {
      t._tapeRefs--;
      if (t._tapeRefs === 0 && t._pendingDispose) {
        t._pendingDispose = false;
        this.disposeTensor(t);
      }
    }
    tape.saved.clear();
    tape.nodes.length = 0;
  }

  /** True when some active tape follows `t`'s gradient. */
  isTracked(t: Tensor): boolean {
    if (this.noGradDepth > 0) return false;
    for (const tape of this.tapes) if (tape.tracked.has(t.id)) return true;
    return false;
  }

  /** Runs `fn` without recording anything for autograd. */
  noGrad<T>(fn: () => T): T {
    this.noGradDepth++;
    try {
      return fn();
    } finally {
      this.noGradDepth--;
    }
  }

  private record(kernel: PrimitiveName, inputs: readonly Tensor[], output: Tensor, attrs: Readonly<Record<string, unknown>>): void {
    for (const tape of this.tapes) {
      if (!inputs.some((x) => tape.tracked.has(x.id))) continue;
      tape.nodes.push({ kernel, inputs, output, attrs });
      tape.tracked.add(output.id);
      for (const t of [...inputs, output]) {
        if (!tape.saved.has(t)) {
          tape.saved.add(t);
          t._tapeRefs++;
        }
      }
    }
  }
}

function infoOf(t: Tensor): TensorInfo {
  return { shape: t.shape, dtype: t.dtype, handle: t._handle };
}

/** Collects every tensor reachable in `value` (tensor, array, plain object, Map values). */
export function collectTensors(value: unknown, into: Set<Tensor>, depth = 0): void {
  if (depth > 8 || value == null) return;
  if (value instanceof Tensor) {
    into.add(value);
  } else if (Array.isArray(value)) {
    for (const v of value) collectTensors(v, into, depth + 1);
  } else if (value instanceof Map) {
    for (const v of value.values()) collectTensors(v, into, depth + 1);
  } else if (typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    for (const v of Object.values(value)) collectTensors(v, into, depth + 1);
  }
}

/** The process-wide engine. */
export const engine = new Engine();

/** Dtype check shared by ops: throws a DTypeError naming the op and argument. */
export function expectDType(op: string, arg: string, t: Tensor, allowed: readonly DType[]): void {
  if (!allowed.includes(t.dtype)) throw new DTypeError(`${op}: ${arg} must have dtype ${allowed.join(' or ')}, got ${t.dtype}`);
}

export type { FusedKernels };
export { describe };
