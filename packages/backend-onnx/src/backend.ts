// The `onnx` backend: a core Backend whose tensors live in host memory where ONNX Runtime reads
// them without a copy, whose eager kernels run on a fallback backend (tfjs-wasm, the reference
// backend, ...), and whose compiled functions (a model's forward, or a whole training step with
// its backward pass and optimizer update) are recorded once per input signature, exported to
// ONNX and run by an ONNX Runtime session.
//
// Storage: an OnnxHandle holds the values on the host (`host`, what ONNX Runtime is fed and what
// it returns), on the fallback backend (`fb`, what eager kernels use), or both; each side is
// made from the other lazily, the first time it is needed, and kept while the tensor lives
// (tensors are immutable; a variable's assign swaps its handle). So the parameters and optimizer
// moments of a compiled training step stay on the host from one step to the next: ONNX Runtime
// reads them in place and each step's new values replace them without passing through the
// fallback backend.

import {
  type Backend,
  type BackendCapabilities,
  type BackendMemory,
  type DType,
  type DataHandle,
  type FusedKernels,
  type Graph,
  type OutputInfo,
  type PrimitiveKernels,
  type Tensor,
  type TensorInfo,
  type TypedArray,
  BackendUnavailableError,
  DTypeError,
  InvalidArgumentError,
  PRIMITIVE_NAMES,
  ShapeError,
  Tensor as TensorClass,
  captureGraphWithExternals,
  describe,
  engine,
  listBackends,
  resolveBackend,
  runHostSteps,
} from '@denoise/core';
import { externalInputName, graphToOnnx } from './export.js';
import { type OnnxSession, type OnnxSessionOptions, createOnnxSession, toOrtTensor } from './run.js';
import { type OrtRuntime, loadOrt } from './ort.js';

const BYTES: Record<DType, number> = { float32: 4, float64: 8, int32: 4, bool: 1 };

/** Storage of one tensor of the onnx backend. */
export class OnnxHandle {
  constructor(
    /** Values on the host (fed to ONNX Runtime as they are), or null until needed. */
    public host: TypedArray | null,
    /** The fallback backend's handle, or null until an eager kernel needs it. */
    public fb: DataHandle | null,
    readonly shape: readonly number[],
    readonly dtype: DType,
  ) {}
}

export interface OnnxBackendOptions extends OnnxSessionOptions {
  /**
   * The backend eager kernels run on: a Backend, or registered names to try in order. Default:
   * the registered backends by priority, this one excluded (e.g. tfjs-wasm, then reference).
   */
  readonly fallback?: Backend | readonly string[];
  /** Registry name (default 'onnx'). */
  readonly name?: string;
}

export interface CompileOptions {
  /** Model name in the exported ONNX file (default 'denoise'). */
  readonly name?: string;
}

/** A function compiled by OnnxBackend.compile: async, same arguments and results as the original. */
export interface OnnxCompiledFunction {
  (...xs: Tensor[]): Promise<Tensor | Tensor[]>;
  /** Graphs recorded so far (one per distinct input signature). */
  readonly captures: number;
  /** The recorded graphs with their ONNX models (for inspection and saving). */
  readonly programs: readonly OnnxProgram[];
  /** Releases the ONNX Runtime sessions. */
  dispose(): Promise<void>;
}

/** One recorded graph, its ONNX model and its session. */
export interface OnnxProgram {
  readonly signature: string;
  readonly graph: Graph;
  readonly model: Uint8Array;
  readonly session: OnnxSession;
}

interface Program extends OnnxProgram {
  readonly externals: Map<number, Tensor>;
  /** Number of the function's own outputs (then one per state update). */
  readonly nOutputs: number;
  /** Per state update: the variable it assigns (looked up once, at recording). */
  readonly updateTargets: readonly Tensor[];
  /** Dtypes of every model output: the function's outputs, then the updates. */
  readonly outputDTypes: readonly DType[];
}

function isInfo(x: unknown): x is TensorInfo {
  return typeof x === 'object' && x !== null && 'handle' in x && (x as TensorInfo).handle instanceof OnnxHandle;
}

function sizeOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function signature(xs: readonly Tensor[]): string {
  return xs.map((x) => `${x.dtype}[${x.shape.join(',')}]`).join(';');
}

export class OnnxBackend implements Backend {
  readonly name: string;
  readonly specVersion = 1 as const;
  readonly capabilities: BackendCapabilities;
  readonly kernels: PrimitiveKernels;
  readonly fused?: FusedKernels;
  private bytes = 0;
  private buffers = 0;

  /** @internal Use createOnnxBackend. */
  constructor(
    /** The backend eager kernels run on. */
    readonly fallback: Backend,
    /** The ONNX Runtime compiled functions run on. */
    readonly runtime: OrtRuntime,
    private readonly sessionOptions: OnnxSessionOptions,
    name = 'onnx',
  ) {
    this.name = name;
    // Every dtype ONNX Runtime takes that the fallback can also compute in.
    this.capabilities = { dtypes: fallback.capabilities.dtypes.filter((d) => d in BYTES), syncRead: fallback.capabilities.syncRead };
    const kernels: Record<string, unknown> = {};
    for (const k of PRIMITIVE_NAMES) kernels[k] = this.delegate(k, fallback.kernels[k] as (...a: unknown[]) => DataHandle);
    // A reshape of a host tensor stays on the host (a copy): core's variable() is a reshape, so
    // model parameters made on this backend (gigabytes for a UNet) never reach the fallback,
    // whose memory may be far smaller (tfjs-wasm's 4 GiB heap).
    const delegated = kernels.reshape as (x: TensorInfo, out: OutputInfo) => DataHandle;
    kernels.reshape = (x: TensorInfo, out: OutputInfo): DataHandle => {
      const h = this.check(x.handle, `${this.name} reshape`);
      if (h.host === null) return delegated(x, out);
      return this.track(new OnnxHandle(h.host.slice() as TypedArray, null, out.shape, out.dtype));
    };
    this.kernels = kernels as unknown as PrimitiveKernels;
    if (fallback.fused) {
      const fused: Record<string, unknown> = {};
      for (const [k, f] of Object.entries(fallback.fused)) if (typeof f === 'function') fused[k] = this.delegate(k, f as (...a: unknown[]) => DataHandle);
      this.fused = fused as FusedKernels;
    }
  }

  /** A kernel that runs `fn` of the fallback on fallback handles and wraps its result. */
  private delegate(name: string, fn: (...a: unknown[]) => DataHandle): (...a: unknown[]) => DataHandle {
    const fb = this.fallback;
    return (...args: unknown[]) => {
      const mapped = args.map((a) => {
        if (isInfo(a)) return { shape: a.shape, dtype: a.dtype, handle: this.onFallback(a.handle as OnnxHandle) };
        if (Array.isArray(a) && a.length > 0 && a.every(isInfo)) return a.map((x: TensorInfo) => ({ shape: x.shape, dtype: x.dtype, handle: this.onFallback(x.handle as OnnxHandle) }));
        return a;
      });
      const out = args[args.length - 1] as OutputInfo;
      const h = fn.apply(fb.kernels[name as keyof PrimitiveKernels] ? fb.kernels : fb.fused, mapped);
      return this.track(new OnnxHandle(null, h, out.shape, out.dtype));
    };
  }

  private track(h: OnnxHandle): OnnxHandle {
    this.bytes += sizeOf(h.shape) * BYTES[h.dtype];
    this.buffers++;
    return h;
  }

  private check(h: DataHandle, op: string): OnnxHandle {
    if (!(h instanceof OnnxHandle)) throw new InvalidArgumentError(`${op}: not a handle of the ${this.name} backend: ${describe(h)}`);
    if (h.host === null && h.fb === null) throw new InvalidArgumentError(`${op}: the tensor's storage was freed`);
    return h;
  }

  /** The fallback's handle for `h`, uploading the host values the first time. */
  private onFallback(h: OnnxHandle): DataHandle {
    this.check(h, `${this.name} kernel`);
    if (h.fb === null) h.fb = this.fallback.upload(h.host!, h.shape, h.dtype);
    return h.fb;
  }

  /** The host values of `h` (no copy: do not modify), reading them from the fallback the first time. */
  async hostValues(h: OnnxHandle): Promise<TypedArray> {
    this.check(h, `${this.name} read`);
    if (h.host === null) h.host = await this.fallback.read(h.fb!, h.dtype);
    return h.host;
  }

  upload(values: TypedArray, shape: readonly number[], dtype: DType): DataHandle {
    return this.track(new OnnxHandle(values.slice() as TypedArray, null, [...shape], dtype));
  }

  readSync(handle: DataHandle, dtype: DType): TypedArray {
    const h = this.check(handle, `${this.name}.readSync`);
    if (h.host !== null) return h.host.slice() as TypedArray;
    h.host = this.fallback.readSync(h.fb!, dtype);
    return h.host.slice() as TypedArray;
  }

  async read(handle: DataHandle, dtype: DType): Promise<TypedArray> {
    const h = this.check(handle, `${this.name}.read`);
    if (h.host === null) h.host = await this.fallback.read(h.fb!, dtype);
    return h.host.slice() as TypedArray;
  }

  dispose(handle: DataHandle): void {
    if (!(handle instanceof OnnxHandle) || (handle.host === null && handle.fb === null)) return;
    if (handle.fb !== null) this.fallback.dispose(handle.fb);
    handle.host = null;
    handle.fb = null;
    this.bytes -= sizeOf(handle.shape) * BYTES[handle.dtype];
    this.buffers--;
  }

  /** Logical bytes and buffers of live tensors (a tensor held on both sides counts once). */
  memory(): BackendMemory {
    return { bytes: this.bytes, buffers: this.buffers };
  }

  /**
   * Compiles `fn` (written with core ops; it may compute gradients and step an optimizer): the
   * first call with a given input signature records it and creates an ONNX Runtime session; every
   * call runs that session. Inputs must live on this backend; the tensors `fn` closes over
   * (parameters, optimizer state) are fed to ONNX Runtime from the host without a copy, and
   * variables `fn` assigns receive their new values after the run.
   */
  compile(fn: (...xs: Tensor[]) => Tensor | Tensor[], options: CompileOptions = {}): OnnxCompiledFunction {
    if (typeof fn !== 'function') throw new InvalidArgumentError(`${this.name}.compile: fn must be a function of tensors, got ${describe(fn)}`);
    const programs = new Map<string, Promise<Program>>();
    const done: Program[] = [];
    const call = async (...xs: Tensor[]): Promise<Tensor | Tensor[]> => {
      xs.forEach((x, i) => {
        if (!(x instanceof TensorClass)) throw new InvalidArgumentError(`${this.name} compiled function: argument ${i} must be a Tensor, got ${describe(x)}`);
        x._check(`${this.name} compiled function`);
        if (x._backend !== this) throw new InvalidArgumentError(`${this.name} compiled function: argument ${i} lives on backend "${x._backend.name}", not "${this.name}" (move it with toBackend())`);
      });
      const key = signature(xs);
      let p = programs.get(key);
      if (!p) {
        p = this.record(fn, xs, key, options);
        programs.set(key, p);
        p.then((prog) => done.push(prog), () => programs.delete(key));
      }
      return this.execute(await p, xs);
    };
    Object.defineProperty(call, 'captures', { get: () => done.length, enumerable: true });
    Object.defineProperty(call, 'programs', { get: () => [...done], enumerable: true });
    Object.defineProperty(call, 'dispose', {
      value: async () => {
        const all = await Promise.allSettled([...programs.values()]);
        programs.clear();
        done.length = 0;
        for (const r of all) if (r.status === 'fulfilled') await r.value.session.release();
      },
    });
    return call as unknown as OnnxCompiledFunction;
  }

  private async record(fn: (...xs: Tensor[]) => Tensor | Tensor[], xs: readonly Tensor[], key: string, options: CompileOptions): Promise<Program> {
    const { graph, externals } = captureGraphWithExternals(fn, xs.map((x) => ({ shape: x.shape, dtype: x.dtype })), { backend: this });
    const values = new Map(
      [...graph.inputs, ...graph.externals, ...graph.nodes.map((n) => n.output), ...graph.constants].map((v) => [v.id, { id: v.id, shape: v.shape, dtype: v.dtype }]),
    );
    // State updates become extra outputs of the model.
    const updates = graph.updates ?? [];
    const exported: Graph = { ...graph, outputs: [...graph.outputs, ...updates.map((u) => values.get(u.value)!)] };
    const model = graphToOnnx(exported, { name: options.name ?? 'denoise' });
    const session = await createOnnxSession(model, { ...this.sessionOptions, runtime: this.runtime });
    const externalOf = new Map(graph.externals.map((e) => [e.id, e]));
    const updateTargets = updates.map((u) => externals.get(externalOf.get(u.target)!.tensorId)!);
    const outputDTypes = exported.outputs.map((o) => o.dtype);
    return { signature: key, graph, model, session, externals, nOutputs: graph.outputs.length, updateTargets, outputDTypes };
  }

  private async execute(prog: Program, xs: readonly Tensor[]): Promise<Tensor | Tensor[]> {
    const { graph, session } = prog;
    runHostSteps(graph);
    const ort = session.ort;
    const feeds: Record<string, import('onnxruntime-node').Tensor> = {};
    const feed = async (name: string, t: Tensor): Promise<void> => {
      t._check(`${this.name} compiled function`);
      const values = await this.hostValues(t._handle as OnnxHandle);
      feeds[name] = toOrtTensor(ort, name, { data: values as Float32Array, dims: t.shape });
    };
    for (let i = 0; i < xs.length; i++) await feed(graph.inputs[i]!.name, xs[i]!);
    for (const e of graph.externals) {
      const t = prog.externals.get(e.tensorId);
      if (!t || t._disposed) throw new InvalidArgumentError(`${this.name} compiled function: tensor #${e.tensorId}${e.name ? ` (${e.name})` : ''} that the function uses was disposed`);
      if (t._backend !== this) throw new InvalidArgumentError(`${this.name} compiled function: tensor #${e.tensorId}${e.name ? ` (${e.name})` : ''} lives on backend "${t._backend.name}"; create parameters on the ${this.name} backend`);
      if (!sameShape(t.shape, e.shape) || t.dtype !== e.dtype) throw new ShapeError(`${this.name} compiled function: tensor #${e.tensorId} changed from ${e.dtype}${describe(e.shape)} to ${t.dtype}${describe(t.shape)} since it was recorded`);
      await feed(externalInputName(e), t);
    }
    const results = await session.run(feeds);
    const all = prog.outputDTypes.map((dtype, i) => {
      const r = results[`output${i}`];
      if (!r) throw new InvalidArgumentError(`${this.name} compiled function: the session returned no output${i}`);
      if (!(dtype in BYTES)) throw new DTypeError(`${this.name}: unsupported dtype ${dtype}`);
      const data = (dtype === 'bool' && !(r.data instanceof Uint8Array) ? Uint8Array.from(r.data as ArrayLike<number>) : r.data) as TypedArray;
      const handle = this.track(new OnnxHandle(data, null, [...r.dims], dtype));
      return engine.makeTensor(this, handle, [...r.dims], dtype);
    });
    const outs = all.slice(0, prog.nOutputs);
    engine.noGrad(() => prog.updateTargets.forEach((target, k) => target.assign(all[prog.nOutputs + k]!)));
    return graph.returnsArray ? outs : outs[0]!;
  }
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/**
 * Creates the onnx backend: ONNX Runtime (onnxruntime-node, else onnxruntime-web) for compiled
 * functions and `fallback` for eager kernels.
 */
export async function createOnnxBackend(options: OnnxBackendOptions = {}): Promise<OnnxBackend> {
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError(`createOnnxBackend: options must be an object, got ${describe(options)}`);
  const name = options.name ?? 'onnx';
  const runtime = options.runtime && 'ort' in options.runtime ? options.runtime : await loadOrt(options.runtime ?? {});
  let fallback: Backend;
  if (options.fallback && !Array.isArray(options.fallback)) {
    fallback = options.fallback as Backend;
    if (typeof fallback.upload !== 'function' || typeof fallback.kernels !== 'object') throw new InvalidArgumentError(`createOnnxBackend: options.fallback must be a Backend or an array of backend names, got ${describe(options.fallback)}`);
  } else {
    const names = (options.fallback as readonly string[] | undefined) ?? listBackends().filter((n) => n !== name);
    if (names.includes(name)) throw new InvalidArgumentError(`createOnnxBackend: options.fallback cannot name the backend itself ('${name}')`);
    try {
      fallback = await resolveBackend(names);
    } catch (e) {
      throw new BackendUnavailableError(`createOnnxBackend: no fallback backend for eager kernels (${e instanceof Error ? e.message : String(e)})`, [], { cause: e });
    }
  }
  if (fallback instanceof OnnxBackend) throw new InvalidArgumentError('createOnnxBackend: options.fallback cannot be another onnx backend');
  const { fallback: _f, name: _n, runtime: _r, ...sessionOptions } = options;
  return new OnnxBackend(fallback, runtime, sessionOptions, name);
}

/**
 * Registers the onnx backend with core's registry (lazily created on first resolution). The
 * default priority (10) keeps it below tfjs-wasm (20): it is chosen by name
 * (`setBackend('onnx')`) by those who compile functions with it.
 */
export function registerOnnxBackend(
  register: (name: string, factory: () => Promise<Backend>, priority?: number) => void,
  options: OnnxBackendOptions & { priority?: number } = {},
): void {
  const { priority = 10, ...rest } = options;
  register(rest.name ?? 'onnx', () => createOnnxBackend(rest), priority);
}

/** Compiles `fn` on `backend` (default: the engine's current backend, which must be an onnx backend). */
export function compileOnnx(fn: (...xs: Tensor[]) => Tensor | Tensor[], options: CompileOptions & { backend?: Backend } = {}): OnnxCompiledFunction {
  const b = options.backend ?? engine.backend;
  if (!(b instanceof OnnxBackend)) throw new InvalidArgumentError(`compileOnnx: the backend must be an onnx backend (createOnnxBackend / setBackend('onnx')), got "${b.name}"`);
  return b.compile(fn, options);
}
