// Graph capture: runs a function on symbolic tensors and records every primitive kernel call it
// makes, without executing anything. It installs a KernelInterceptor on the engine (the single
// dispatch point), so shapes and dtypes come from core's op layer exactly as in eager mode, and
// a backward pass recorded with `gradients` during capture becomes part of the graph.
//
// Symbolic tensors are ordinary Tensor objects on the capture backend whose storage handle is a
// `SymbolicHandle` (the value id): they must share the backend object with the real tensors the
// function closes over, since runKernel requires all inputs on one backend. The interceptor takes
// every kernel call and every upload, and tells the engine (through `owns`) which handles are
// symbolic, so the engine never disposes or reads them on the backend; reading one throws a
// GraphCaptureError. The interceptor and the engine's current backend are restored in `finally`.
//
// Variables the function assigns (optimizer updates) become state updates: the graph records the
// new value, later reads of the variable in the same function see it, and a replay assigns it
// after computing the outputs. Host-side work registered with `engine.hostStep` (an optimizer's
// step counter and per-step scalars) is not run during capture but before every replay.
//
// Limitations: values read from real tensors during capture (e.g. `param.item()`) are baked into
// the graph as whatever the function did with them; a variable created inside the captured
// function must be created with no interceptor (`engine.withoutInterceptor`), as optimizers do
// for their lazily created state.

import type { Backend, DataHandle, OutputInfo, PrimitiveName } from '../backend/types.js';
import { type KernelInterceptor, engine } from '../engine/engine.js';
import { InvalidArgumentError, describe } from '../errors/index.js';
import type { DType, TypedArray } from '../tensor/dtype.js';
import { Tensor } from '../tensor/tensor.js';
import { type Graph, GraphCaptureError, type GraphConstant, type GraphExternal, type GraphInput, type GraphNode, type GraphUpdate, type ValueId, type ValueInfo } from './types.js';

/** The storage handle of a symbolic tensor: which graph value it stands for. */
export class SymbolicHandle {
  constructor(
    readonly valueId: ValueId,
    /** What produced it, for error messages ('input0', 'constant', or the kernel name). */
    readonly producer: string,
  ) {}
}

export function isSymbolicHandle(h: unknown): h is SymbolicHandle {
  return h instanceof SymbolicHandle;
}

/** True for a tensor created by a graph capture (it has no values). */
export function isSymbolic(t: Tensor): boolean {
  return t._handle instanceof SymbolicHandle;
}

export interface InputSpec {
  readonly shape: readonly number[];
  readonly dtype: DType;
}

export interface CaptureOptions {
  /** The backend the symbolic tensors live on (and the function's closed-over tensors must). Default: engine.backend. */
  readonly backend?: Backend;
}

export interface CaptureResult {
  readonly graph: Graph;
  /** The closed-over tensors, by tensorId (what executeGraph binds by default). */
  readonly externals: Map<number, Tensor>;
}

// Graphs captured here remember their external tensors (weakly, keyed by the graph object), so
// executeGraph can bind them without the caller passing a map.
const capturedExternals = new WeakMap<Graph, Map<number, Tensor>>();
const capturedHostSteps = new WeakMap<Graph, readonly (() => void)[]>();

/** @internal The tensors a graph captured with `captureGraph` closed over. */
export function externalsOf(graph: Graph): Map<number, Tensor> | undefined {
  return capturedExternals.get(graph);
}

/**
 * Runs the host steps (`engine.hostStep`) recorded while `graph` was captured, in order: every
 * executor calls this once before each replay. Graphs with none (or not captured in this
 * process) do nothing.
 */
export function runHostSteps(graph: Graph): void {
  const steps = capturedHostSteps.get(graph);
  if (steps) for (const fn of steps) engine.withoutInterceptor(fn);
}

/** Number of host steps recorded with `graph`. */
export function hostStepCount(graph: Graph): number {
  return capturedHostSteps.get(graph)?.length ?? 0;
}

function readError(op: string, handle: SymbolicHandle): GraphCaptureError {
  return new GraphCaptureError(
    `${op}: cannot read a tensor's values while capturing a graph (value v${handle.valueId}, produced by '${handle.producer}' has no values yet); ` +
      'move the read out of the captured function',
  );
}

function copyAttrs(attrs: Readonly<Record<string, unknown>>): Record<string, unknown> {
  try {
    return structuredClone(attrs) as Record<string, unknown>;
  } catch {
    return { ...attrs };
  }
}

function copyValues(values: TypedArray, dtype: DType): TypedArray {
  switch (dtype) {
    case 'float64':
      return Float64Array.from(values as ArrayLike<number>);
    case 'float32':
      return Float32Array.from(values as ArrayLike<number>);
    case 'int32':
      return Int32Array.from(values as ArrayLike<number>);
    default:
      return Uint8Array.from(values as ArrayLike<number>, (v) => (v ? 1 : 0));
  }
}

class CaptureInterceptor implements KernelInterceptor {
  private nextId = 0;
  readonly nodes: GraphNode[] = [];
  readonly constants: GraphConstant[] = [];
  readonly externals: GraphExternal[] = [];
  readonly externalTensors = new Map<number, Tensor>();
  private readonly externalIds = new Map<Tensor, ValueId>();
  /** Assigned variables: their latest value during the capture. */
  readonly assigned = new Map<Tensor, ValueId>();
  readonly hostSteps: (() => void)[] = [];

  owns(handle: DataHandle): boolean {
    return handle instanceof SymbolicHandle;
  }

  readError(op: string, handle: DataHandle): Error {
    return readError(op, handle as SymbolicHandle);
  }

  newValue(producer: string): SymbolicHandle {
    return new SymbolicHandle(this.nextId++, producer);
  }

  /** The value id of a tensor the captured function used: symbolic, or a new/known external. */
  valueOf(t: Tensor, op: string): ValueId {
    const assigned = this.assigned.get(t);
    if (assigned !== undefined) return assigned;
    const h = t._handle;
    if (h instanceof SymbolicHandle) return h.valueId;
    let id = this.externalIds.get(t);
    if (id === undefined) {
      if (t._disposed) throw new GraphCaptureError(`${op}: tensor #${t.id} was disposed`);
      id = this.nextId++;
      this.externalIds.set(t, id);
      this.externalTensors.set(t.id, t);
      this.externals.push({ id, shape: [...t.shape], dtype: t.dtype, tensorId: t.id, ...(t.name !== undefined ? { name: t.name } : {}), isVariable: t.isVariable });
    }
    return id;
  }

  runKernel(kernel: PrimitiveName, inputs: readonly Tensor[], attrs: Readonly<Record<string, unknown>>, out: OutputInfo): DataHandle {
    const ids = inputs.map((x) => this.valueOf(x, kernel));
    const handle = this.newValue(kernel);
    this.nodes.push({ kernel, inputs: ids, attrs: copyAttrs(attrs), output: { id: handle.valueId, shape: [...out.shape], dtype: out.dtype } });
    return handle;
  }

  assign(target: Tensor, value: Tensor): void {
    if (target._handle instanceof SymbolicHandle) {
      throw new GraphCaptureError(`Tensor.assign: variable #${target.id} was created inside the recorded function; create it outside (or with engine.withoutInterceptor)`);
    }
    if (value._backend !== target._backend) {
      throw new InvalidArgumentError(`Tensor.assign: value lives on backend "${value._backend.name}" but the variable on "${target._backend.name}"`);
    }
    this.valueOf(target, 'Tensor.assign'); // registers the variable as an external (the update's target)
    this.assigned.set(target, this.valueOf(value, 'Tensor.assign'));
  }

  hostStep(fn: () => void): void {
    this.hostSteps.push(fn);
  }

  updates(): GraphUpdate[] {
    return [...this.assigned].map(([t, value]) => ({ target: this.externalIds.get(t)!, value }));
  }

  upload(values: TypedArray, shape: readonly number[], dtype: DType): DataHandle {
    const handle = this.newValue('constant');
    this.constants.push({ id: handle.valueId, shape: [...shape], dtype, values: copyValues(values, dtype) });
    return handle;
  }
}

function checkSpecs(specs: readonly InputSpec[]): void {
  if (!Array.isArray(specs)) throw new InvalidArgumentError(`captureGraph: inputSpecs must be an array, got ${describe(specs)}`);
  specs.forEach((s, i) => {
    if (!s || !Array.isArray(s.shape) || s.shape.some((d: number) => !Number.isInteger(d) || d < 0)) {
      throw new InvalidArgumentError(`captureGraph: inputSpecs[${i}].shape must be an array of non-negative integers, got ${describe(s?.shape)}`);
    }
    if (!['float32', 'float64', 'int32', 'bool'].includes(s.dtype)) throw new InvalidArgumentError(`captureGraph: inputSpecs[${i}].dtype is not a dtype: ${describe(s.dtype)}`);
  });
}

/** Captures `fn` on symbolic inputs; also returns the closed-over tensors. */
export function captureGraphWithExternals(fn: (...xs: Tensor[]) => Tensor | Tensor[], inputSpecs: readonly InputSpec[], options: CaptureOptions = {}): CaptureResult {
  if (typeof fn !== 'function') throw new InvalidArgumentError(`captureGraph: fn must be a function, got ${describe(fn)}`);
  checkSpecs(inputSpecs);
  const backend = options.backend ?? engine.backend;
  const interceptor = new CaptureInterceptor();
  const prevBackend = engine.backend;
  const prevInterceptor = engine.setInterceptor(interceptor);
  engine.setBackend(backend);
  const inputs: GraphInput[] = [];
  let outputs: ValueInfo[] = [];
  let returnsArray = false;
  try {
    // A scope: every symbolic tensor created here (inputs included) is disposed on the way out;
    // the backend's dispose ignores their handles, the engine's live count comes back down.
    engine.tidy(() => {
      const xs = inputSpecs.map((s, i) => {
        const h = interceptor.newValue(`input${i}`);
        inputs.push({ id: h.valueId, name: `input${i}`, index: i, shape: [...s.shape], dtype: s.dtype });
        return engine.makeTensor(backend, h, s.shape, s.dtype);
      });
      const result = fn(...xs);
      returnsArray = Array.isArray(result);
      const list = Array.isArray(result) ? result : [result];
      outputs = list.map((t, i) => {
        if (!(t instanceof Tensor)) throw new InvalidArgumentError(`captureGraph: fn must return a Tensor or an array of Tensors; result[${i}] is ${describe(t)}`);
        t._check('captureGraph');
        return { id: interceptor.valueOf(t, 'captureGraph'), shape: [...t.shape], dtype: t.dtype };
      });
      // Returning nothing: the scope frees every symbolic tensor, outputs included.
    });
  } finally {
    engine.setInterceptor(prevInterceptor);
    engine.setBackend(prevBackend);
  }
  const graph: Graph = {
    version: 1,
    inputs,
    constants: interceptor.constants,
    externals: interceptor.externals,
    nodes: interceptor.nodes,
    outputs,
    returnsArray,
    ...(interceptor.assigned.size ? { updates: interceptor.updates() } : {}),
  };
  capturedExternals.set(graph, interceptor.externalTensors);
  if (interceptor.hostSteps.length) capturedHostSteps.set(graph, [...interceptor.hostSteps]);
  return { graph, externals: interceptor.externalTensors };
}

/**
 * Captures the primitive kernel calls `fn` makes on symbolic inputs of the given shapes and
 * dtypes (nothing executes). Tensors `fn` closes over become the graph's `externals`.
 */
export function captureGraph(fn: (...xs: Tensor[]) => Tensor | Tensor[], inputSpecs: readonly InputSpec[], options: CaptureOptions = {}): Graph {
  return captureGraphWithExternals(fn, inputSpecs, options).graph;
}
