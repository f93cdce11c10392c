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
// Limitations: values read from real tensors during capture (e.g. `param.item()`) are baked into
// the graph as whatever the function did with them; variables created or assigned inside the
// captured function are not supported (a variable escapes the capture scope).

import type { Backend, DataHandle, OutputInfo, PrimitiveName } from '../backend/types.js';
import { type KernelInterceptor, engine } from '../engine/engine.js';
import { InvalidArgumentError, describe } from '../errors/index.js';
import type { DType, TypedArray } from '../tensor/dtype.js';
import { Tensor } from '../tensor/tensor.js';
import { type Graph, GraphCaptureError, type GraphConstant, type GraphExternal, type GraphInput, type GraphNode, type ValueId, type ValueInfo } from './types.js';

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

/** @internal The tensors a graph captured with `captureGraph` closed over. */
export function externalsOf(graph: Graph): Map<number, Tensor> | undefined {
  return capturedExternals.get(graph);
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
  for (const t of interceptor.externalTensors.values()) {
    if (t._handle instanceof SymbolicHandle) {
      throw new GraphCaptureError(`captureGraph: variable #${t.id}${t.name ? ` (${t.name})` : ''} was assigned inside the captured function, which graphs do not support; return the new value instead`);
    }
  }
  const graph: Graph = {
    version: 1,
    inputs,
    constants: interceptor.constants,
    externals: interceptor.externals,
    nodes: interceptor.nodes,
    outputs,
    returnsArray,
  };
  capturedExternals.set(graph, interceptor.externalTensors);
  return { graph, externals: interceptor.externalTensors };
}

/**
 * Captures the primitive kernel calls `fn` makes on symbolic inputs of the given shapes and
 * dtypes (nothing executes). Tensors `fn` closes over become the graph's `externals`.
 */
export function captureGraph(fn: (...xs: Tensor[]) => Tensor | Tensor[], inputSpecs: readonly InputSpec[], options: CaptureOptions = {}): Graph {
  return captureGraphWithExternals(fn, inputSpecs, options).graph;
}
