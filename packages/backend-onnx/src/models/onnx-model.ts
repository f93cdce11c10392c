// An ONNX model file as a function of core Tensors: loadOnnxModel checks the file (and its
// external data) before ONNX Runtime loads it, and OnnxModel.run checks every input against the
// model's declared signature before running: names, ranks, fixed dims, one size per symbolic
// dim across all inputs, and dtypes. Only conversions that lose nothing, or that are what the
// model's types mean, happen on the way in:
//   core int32        -> int64   (token ids, integer timesteps)
//   core float32      -> float16 (fp16 exports; rounded to nearest even)
//   a JS number       -> a scalar, [1] or [batch] input of any numeric type (integers only for
//                        integer types), broadcast to the batch size the other inputs fix
// and on the way out float16 -> float32 and int64 -> int32 (when every value fits). Everything
// else (a float tensor into an int64 input, float64 into float32) is a DTypeError.

import { CheckpointError, DTypeError, DenoiseError, type Backend, type DType, InvalidArgumentError, ShapeError, Tensor, type TypedArray, describe, engine } from '@denoise/core';
import { type OnnxSession, type OnnxSessionOptions, type OnnxTensorData, type OnnxTypedArray, createOnnxSession, ortElementType, toOrtTensor } from '../run.js';
import { float16ToFloat32, toFloat16Array } from './float16.js';
import { checkOnnxFile, scanOnnxBytes } from './onnx-file.js';

/** One input or output of a model as it declares it. */
export interface OnnxModelPort {
  readonly name: string;
  /** ONNX Runtime's element type name: 'float32', 'float16', 'int64', 'int32', 'bool', ... */
  readonly dtype: string;
  /** A number for a fixed dim, a string for a symbolic one ('batch'), null when unknown; null when the rank is unknown. */
  readonly shape: ReadonlyArray<number | string | null> | null;
}

/** What run() accepts per input: a core Tensor, a JS number, or host data with its dims. */
export type OnnxModelInput = Tensor | number | OnnxTensorData;

export interface OnnxModelRunOptions {
  /** Where the output tensors live. Default: the backend of the first Tensor input, else engine.backend. */
  readonly backend?: Backend;
}

export interface LoadOnnxModelOptions extends OnnxSessionOptions {
  /** How errors name the model (`<name>.run: ...`). Default: the file name, or its folder's for 'model.onnx'. */
  readonly name?: string;
}

/** Source dtype -> model dtypes it converts to (besides itself). */
const CONVERSIONS: Readonly<Record<string, readonly string[]>> = { int32: ['int64'], float32: ['float16'] };
const NUMBER_TARGETS = ['float32', 'float64', 'float16', 'int64', 'int32'];

function formatShape(shape: OnnxModelPort['shape']): string {
  return shape === null ? '[?]' : `[${shape.map((d) => (d === null ? '?' : String(d))).join(', ')}]`;
}

function formatPort(p: OnnxModelPort): string {
  return `${p.name}: ${p.dtype} ${formatShape(p.shape)}`;
}

/** What else an input accepts besides its own dtype, for error messages. */
function acceptedFor(port: OnnxModelPort): string {
  const from = Object.entries(CONVERSIONS).filter(([, to]) => to.includes(port.dtype)).map(([src]) => `${src} tensors`);
  const numberFits = port.shape !== null && port.shape.length <= 1;
  if (numberFits && NUMBER_TARGETS.includes(port.dtype)) from.push(port.dtype.startsWith('int') ? 'integer numbers' : 'numbers');
  return from.length > 0 ? ` (${from.join(' and ')} convert)` : '';
}

interface Prepared {
  readonly port: OnnxModelPort;
  readonly dims: readonly number[];
  readonly read: () => Promise<OnnxTypedArray>;
}

function isTensorData(v: unknown): v is OnnxTensorData {
  return typeof v === 'object' && v !== null && 'data' in v && 'dims' in v;
}

/** Host values (of a dtype checked to convert) as the typed array of the model's dtype. */
function toModelArray(values: ArrayLike<number> | OnnxTypedArray, to: string): OnnxTypedArray {
  const nums = values as ArrayLike<number>;
  switch (to) {
    case 'float32':
      return values instanceof Float32Array ? values : Float32Array.from(nums);
    case 'float64':
      return values instanceof Float64Array ? values : Float64Array.from(nums);
    case 'int32':
      return values instanceof Int32Array ? values : Int32Array.from(nums);
    case 'int64':
      return values instanceof BigInt64Array ? values : BigInt64Array.from(nums, (v) => BigInt(v));
    case 'float16':
      return values instanceof Uint16Array ? values : toFloat16Array(nums);
    default:
      return values as OnnxTypedArray; // bool: Uint8Array either way
  }
}

/** A model loaded into ONNX Runtime, run with core Tensors. */
export class OnnxModel {
  /** @internal Use loadOnnxModel. */
  constructor(
    readonly name: string,
    readonly session: OnnxSession,
    readonly inputs: readonly OnnxModelPort[],
    readonly outputs: readonly OnnxModelPort[],
  ) {}

  input(name: string): OnnxModelPort | undefined {
    return this.inputs.find((p) => p.name === name);
  }

  output(name: string): OnnxModelPort | undefined {
    return this.outputs.find((p) => p.name === name);
  }

  /** The declared signature, e.g. `sample: float32 [batch, 4, h, w], timestep: int64 [batch] -> out_sample: float32 [...]`. */
  get signature(): string {
    return `${this.inputs.map(formatPort).join(', ')} -> ${this.outputs.map(formatPort).join(', ')}`;
  }

  /**
   * Runs the model. `inputs` holds every model input by name: a core Tensor, a number (for a
   * scalar, [1] or [batch] input), or `{ data, dims }` host data. Every input is checked before
   * anything runs; outputs come back as core Tensors by output name (float16 as float32, int64
   * as int32), on `options.backend`, else the first Tensor input's backend, else engine.backend.
   */
  async run(inputs: Readonly<Record<string, OnnxModelInput>>, options: OnnxModelRunOptions = {}): Promise<Record<string, Tensor>> {
    const op = `${this.name}.run`;
    if (typeof inputs !== 'object' || inputs === null || Array.isArray(inputs) || inputs instanceof Tensor) {
      throw new InvalidArgumentError(`${op}: inputs must be an object keyed by input name (${this.inputs.map(formatPort).join(', ')}), got ${describe(inputs)}`);
    }
    if (typeof options !== 'object' || options === null) throw new InvalidArgumentError(`${op}: options must be an object, got ${describe(options)}`);
    if (options.backend !== undefined && (typeof options.backend !== 'object' || options.backend === null || typeof options.backend.upload !== 'function')) {
      throw new InvalidArgumentError(`${op}: options.backend must be a Backend, got ${describe(options.backend)}`);
    }
    const unknown = Object.keys(inputs).filter((k) => !this.input(k));
    if (unknown.length > 0) {
      throw new InvalidArgumentError(`${op}: the model has no input ${unknown.map((k) => `'${k}'`).join(', ')}; it takes ${this.inputs.map(formatPort).join(', ')}`);
    }
    const missing = this.inputs.filter((p) => inputs[p.name] === undefined);
    if (missing.length > 0) throw new InvalidArgumentError(`${op}: missing input ${missing.map(formatPort).join(', ')}`);

    const sizes = new Map<string, { size: number; from: string; dims: readonly number[] }>();
    const prepared: Prepared[] = [];
    // Tensors and host data first: they fix the symbolic sizes that numbers are broadcast to.
    for (const port of this.inputs) {
      const v = inputs[port.name];
      if (typeof v === 'number') continue;
      let from: string;
      let dims: readonly number[];
      let read: () => Promise<ArrayLike<number> | OnnxTypedArray>;
      if (v instanceof Tensor) {
        v._check(op);
        from = v.dtype;
        dims = v.shape;
        read = () => v.data();
      } else if (isTensorData(v)) {
        const d = ortElementType(v.data);
        if (d === null) throw new InvalidArgumentError(`${op}: input '${port.name}' data must be a Float32Array, Float64Array, Int32Array, BigInt64Array, Uint16Array (float16) or Uint8Array (bool), got ${describe(v.data)}`);
        if (!Array.isArray(v.dims) || v.dims.some((n) => !Number.isInteger(n) || n < 0)) throw new InvalidArgumentError(`${op}: input '${port.name}' dims must be non-negative integers, got ${describe(v.dims)}`);
        const size = v.dims.reduce((p, n) => p * n, 1);
        if (v.data.length !== size) throw new ShapeError(`${op}: input '${port.name}' has ${v.data.length} values for dims ${describe(v.dims)} (${size} values)`);
        from = d;
        dims = v.dims;
        read = async () => v.data;
      } else {
        throw new InvalidArgumentError(`${op}: input '${port.name}' must be a Tensor, a number or { data, dims }, got ${describe(v)}`);
      }
      this.checkDType(op, port, from);
      this.checkShape(op, port, dims, sizes);
      prepared.push({ port, dims, read: async () => toModelArray(await read(), port.dtype) });
    }
    for (const port of this.inputs) {
      const v = inputs[port.name];
      if (typeof v !== 'number') continue;
      const dims = this.numberDims(op, port, sizes);
      if (!NUMBER_TARGETS.includes(port.dtype)) throw new DTypeError(`${op}: input '${port.name}' is ${port.dtype}, which a number cannot fill; pass a Tensor`);
      if (!Number.isFinite(v)) throw new InvalidArgumentError(`${op}: input '${port.name}' must be a finite number, got ${describe(v)}`);
      if (port.dtype.startsWith('int') && !Number.isSafeInteger(v)) throw new DTypeError(`${op}: input '${port.name}' is ${port.dtype}, so the number must be an integer, got ${describe(v)}`);
      if (port.dtype === 'int32' && (v < -(2 ** 31) || v >= 2 ** 31)) throw new DTypeError(`${op}: input '${port.name}' is int32, got ${describe(v)}, out of its range`);
      const n = dims.reduce((p, d) => p * d, 1);
      prepared.push({ port, dims, read: async () => toModelArray(new Array<number>(n).fill(v), port.dtype) });
    }

    const backend = options.backend ?? Object.values(inputs).find((v): v is Tensor => v instanceof Tensor)?.backend ?? engine.backend;
    const ort = this.session.ort;
    const feeds: Record<string, ReturnType<typeof toOrtTensor>> = {};
    for (const p of prepared) feeds[p.port.name] = toOrtTensor(ort, p.port.name, { data: await p.read(), dims: p.dims });
    let results: Awaited<ReturnType<OnnxSession['run']>>;
    try {
      results = await this.session.run(feeds);
    } catch (e) {
      throw new DenoiseError(`${op}: onnxruntime failed after the inputs passed every check (${e instanceof Error ? e.message : String(e)})`, { cause: e });
    }
    const out: Record<string, Tensor> = {};
    for (const [name, t] of Object.entries(results)) {
      const { dtype, values } = this.outputValues(op, name, t.type, t.data);
      out[name] = engine.upload(values, [...t.dims], dtype, backend);
    }
    return out;
  }

  private checkDType(op: string, port: OnnxModelPort, from: string): void {
    if (from === port.dtype || CONVERSIONS[from]?.includes(port.dtype)) return;
    throw new DTypeError(`${op}: input '${port.name}' must be ${port.dtype}${acceptedFor(port)}, got ${from}`);
  }

  private checkShape(op: string, port: OnnxModelPort, dims: readonly number[], sizes: Map<string, { size: number; from: string; dims: readonly number[] }>): void {
    const want = port.shape;
    if (want === null) return;
    const mismatch = () => new ShapeError(`${op}: input '${port.name}' must be ${formatShape(want)}, got ${describe(dims)}`);
    if (dims.length !== want.length) throw mismatch();
    want.forEach((w, k) => {
      const got = dims[k]!;
      if (typeof w === 'number') {
        if (w !== got) throw mismatch();
      } else if (typeof w === 'string') {
        const prev = sizes.get(w);
        if (prev === undefined) sizes.set(w, { size: got, from: port.name, dims });
        else if (prev.size !== got) {
          throw new ShapeError(
            `${op}: dimension '${w}' must take one size across inputs, but it is ${prev.size} in '${prev.from}' ${describe(prev.dims)} and ${got} in '${port.name}' ${describe(dims)}`,
          );
        }
      }
    });
  }

  /** The dims a number input takes: [] for a scalar, [n] for [1], [batch] (batch fixed by the other inputs). */
  private numberDims(op: string, port: OnnxModelPort, sizes: Map<string, { size: number }>): number[] {
    const want = port.shape;
    if (want === null) throw new ShapeError(`${op}: input '${port.name}' has no declared shape, so a number cannot tell its dims; pass a Tensor`);
    if (want.length === 0) return [];
    if (want.length > 1) throw new ShapeError(`${op}: input '${port.name}' is ${formatShape(want)}; a number only fills a scalar, [1] or [batch] input; pass a Tensor`);
    const d = want[0]!;
    if (typeof d === 'number') return [d];
    const bound = d === null ? undefined : sizes.get(d);
    if (bound === undefined) {
      throw new ShapeError(`${op}: input '${port.name}' is ${formatShape(want)} and no other input fixes ${d === null ? 'that dimension' : `'${d}'`}, so a number cannot be broadcast to it; pass a Tensor`);
    }
    return [bound.size];
  }

  private outputValues(op: string, name: string, type: string, data: unknown): { dtype: DType; values: TypedArray } {
    switch (type) {
      case 'float32':
      case 'float64':
      case 'int32':
      case 'bool':
        return { dtype: type, values: data as TypedArray };
      case 'float16':
        return { dtype: 'float32', values: float16ToFloat32(data as Uint16Array) };
      case 'int64': {
        const big = data as BigInt64Array;
        const values = new Int32Array(big.length);
        for (let i = 0; i < big.length; i++) {
          const v = big[i]!;
          if (v < -2147483648n || v > 2147483647n) throw new DTypeError(`${op}: output '${name}' is int64 with value ${v} at index ${i}, outside int32 (core's integer type)`);
          values[i] = Number(v);
        }
        return { dtype: 'int32', values };
      }
      default:
        throw new DTypeError(`${op}: output '${name}' is ${type}, which core tensors cannot hold (float32, float64, float16, int32, int64, bool)`);
    }
  }

  release(): Promise<void> {
    return this.session.release();
  }

  toString(): string {
    return `OnnxModel(${this.name}: ${this.signature})`;
  }
}

function defaultName(path: string): string {
  const parts = path.split(/[\\/]/).filter((p) => p.length > 0);
  const file = (parts[parts.length - 1] ?? 'model').replace(/\.onnx$/i, '');
  return file === 'model' && parts.length > 1 ? parts[parts.length - 2]! : file;
}

/**
 * Loads an ONNX model (a path, or ModelProto bytes without external data) into ONNX Runtime.
 * Before ONNX Runtime sees it, the file is checked: a missing file, bytes that do not parse as
 * a model, and missing or short external data files throw one CheckpointError listing every
 * problem. A runtime failure to load the model is a CheckpointError too (with onnxruntime's
 * message); BackendUnavailableError when no runtime (or no CUDA) is available.
 */
export async function loadOnnxModel(path: string | Uint8Array, options: LoadOnnxModelOptions = {}): Promise<OnnxModel> {
  const op = 'loadOnnxModel';
  if (typeof path !== 'string' && !(path instanceof Uint8Array)) throw new InvalidArgumentError(`${op}: path must be a file path or ModelProto bytes (Uint8Array), got ${describe(path)}`);
  if (typeof path === 'string' && path.length === 0) throw new InvalidArgumentError(`${op}: path must be a non-empty string`);
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError(`${op}: options must be an object, got ${describe(options)}`);
  const { name: given, ...sessionOptions } = options;
  if (given !== undefined && (typeof given !== 'string' || given.length === 0)) throw new InvalidArgumentError(`${op}: options.name must be a non-empty string, got ${describe(given)}`);
  const name = given ?? (typeof path === 'string' ? defaultName(path) : 'OnnxModel');
  if (typeof path === 'string') {
    const check = await checkOnnxFile(path, path);
    if (check.missing.includes(path)) throw new CheckpointError(`${op}: model file not found: ${path}`);
    if (check.missing.length > 0 || check.problems.length > 0) {
      const lines = [...check.missing.map((m) => `missing ${m}`), ...check.problems];
      throw new CheckpointError(`${op}: cannot load ${path}: ${lines.join('; ')}`);
    }
  } else {
    const summary = scanOnnxBytes(path);
    if (typeof summary === 'string') throw new CheckpointError(`${op}: ${summary}`);
    if (summary.externalData.length > 0) {
      throw new CheckpointError(`${op}: the model keeps ${summary.externalData.length} tensor(s) in external data (${[...new Set(summary.externalData.map((r) => r.location))].join(', ')}); load it from its path so the data file next to it is found`);
    }
  }
  const session = await loadSession(op, path, sessionOptions);
  const ports = (list: OnnxSession['inputs']): OnnxModelPort[] => list.map((p) => ({ name: p.name, dtype: p.type, shape: p.shape }));
  return new OnnxModel(name, session, ports(session.inputs), ports(session.outputs));
}

async function loadSession(op: string, path: string | Uint8Array, options: OnnxSessionOptions): Promise<OnnxSession> {
  try {
    return await createOnnxSession(path, options);
  } catch (e) {
    // createOnnxSession reports a model ONNX Runtime rejects as InvalidArgumentError; here the
    // model is a file the user pointed at, so that is a checkpoint problem.
    if (InvalidArgumentError.isInstance(e) && /could not load the model/.test(e.message)) {
      throw new CheckpointError(`${op}: ${e.message}`, { cause: e });
    }
    throw e;
  }
}
