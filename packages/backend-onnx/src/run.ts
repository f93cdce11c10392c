// ONNX Runtime sessions: creation with a thread count and execution providers (CPU, CUDA where
// onnxruntime-node's CUDA libraries are installed), on onnxruntime-node or onnxruntime-web, and
// a typed run over host arrays.

import { BackendUnavailableError, InvalidArgumentError, describe } from '@denoise/core';
import { type LoadOrtOptions, type Ort, type OrtRuntime, loadOrt } from './ort.js';

type InferenceSession = import('onnxruntime-node').InferenceSession;
type OrtTensor = import('onnxruntime-node').Tensor;

export type OnnxTypedArray = Float32Array | Float64Array | Int32Array | Uint8Array | BigInt64Array | Uint16Array;

/** A host tensor passed to / returned from runOnnx. Uint8Array is read as bool, Uint16Array as float16. */
export interface OnnxTensorData {
  readonly data: OnnxTypedArray;
  readonly dims: readonly number[];
}

/** Execution providers this package knows how to ask for. */
export type OnnxExecutionProvider = 'cpu' | 'cuda';

export interface OnnxSessionOptions {
  /** Intra-op threads of the CPU provider (default: onnxruntime's choice, one per core). */
  readonly threads?: number;
  /**
   * Providers in order of preference (default ['cpu']). 'cuda' needs onnxruntime-node with its
   * CUDA 12 provider libraries installed (see the README) and a CUDA GPU; CPU is always added
   * last so nodes CUDA cannot run still run.
   */
  readonly executionProviders?: readonly OnnxExecutionProvider[];
  /** CUDA device ordinal (default 0). */
  readonly cudaDeviceId?: number;
  /** A runtime from loadOrt(), or how to load one (default: onnxruntime-node, then onnxruntime-web). */
  readonly runtime?: OrtRuntime | LoadOrtOptions;
  /** Graph optimisation level (default 'all'). */
  readonly graphOptimizationLevel?: 'disabled' | 'basic' | 'extended' | 'all';
}

/** One input or output of a session, as the model declares it. */
export interface OnnxValueInfo {
  readonly name: string;
  /** ONNX Runtime's type name: 'float32', 'float16', 'int64', 'int32', 'bool', ... ('unknown' when not a tensor). */
  readonly type: string;
  /** Dimensions: a number when fixed, a string for a symbolic dimension, null when unknown. */
  readonly shape: ReadonlyArray<number | string | null> | null;
}

/** An ONNX Runtime session together with the runtime that made it. */
export class OnnxSession {
  /** @internal */
  constructor(
    /** The underlying onnxruntime session. */
    readonly raw: InferenceSession,
    readonly runtime: OrtRuntime,
    /** The providers the session was created with, in order (always ending with 'cpu'). */
    readonly executionProviders: readonly OnnxExecutionProvider[],
  ) {}

  get ort(): Ort {
    return this.runtime.ort;
  }

  get inputNames(): readonly string[] {
    return this.raw.inputNames;
  }

  get outputNames(): readonly string[] {
    return this.raw.outputNames;
  }

  get inputs(): readonly OnnxValueInfo[] {
    return valueInfos(this.raw, 'input');
  }

  get outputs(): readonly OnnxValueInfo[] {
    return valueInfos(this.raw, 'output');
  }

  /** Runs with onnxruntime tensors (no checks beyond onnxruntime's own). */
  run(feeds: Record<string, OrtTensor>, fetches?: Record<string, OrtTensor | null>): Promise<Record<string, OrtTensor>> {
    return (fetches ? this.raw.run(feeds, fetches) : this.raw.run(feeds)) as Promise<Record<string, OrtTensor>>;
  }

  release(): Promise<void> {
    return this.raw.release();
  }
}

function valueInfos(raw: InferenceSession, which: 'input' | 'output'): OnnxValueInfo[] {
  const names = which === 'input' ? raw.inputNames : raw.outputNames;
  const meta = (which === 'input' ? raw.inputMetadata : raw.outputMetadata) as ReadonlyArray<{ name: string; isTensor: boolean; type?: string; shape?: ReadonlyArray<number | string> }> | undefined;
  return names.map((name, i) => {
    const m = meta?.find((x) => x.name === name) ?? meta?.[i];
    if (!m || !m.isTensor) return { name, type: 'unknown', shape: null };
    const shape = m.shape ? m.shape.map((d) => (typeof d === 'number' ? (d >= 0 ? d : null) : d === '' ? null : d)) : null;
    return { name, type: m.type ?? 'unknown', shape };
  });
}

function isRuntime(r: unknown): r is OrtRuntime {
  return typeof r === 'object' && r !== null && 'ort' in r && 'name' in r;
}

/**
 * Creates a session for a model: ModelProto bytes (e.g. from graphToOnnx) or a path to an .onnx
 * file (external data files next to it are found by onnxruntime-node).
 */
export async function createOnnxSession(model: Uint8Array | string, options: OnnxSessionOptions = {}): Promise<OnnxSession> {
  const op = 'createOnnxSession';
  if (!(model instanceof Uint8Array) && typeof model !== 'string') throw new InvalidArgumentError(`${op}: model must be ONNX bytes (Uint8Array) or a file path, got ${describe(model)}`);
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError(`${op}: options must be an object, got ${describe(options)}`);
  const providers = options.executionProviders ?? ['cpu'];
  if (!Array.isArray(providers) || providers.length === 0 || providers.some((p) => p !== 'cpu' && p !== 'cuda')) {
    throw new InvalidArgumentError(`${op}: options.executionProviders must be a non-empty array of 'cpu' / 'cuda', got ${describe(providers)}`);
  }
  const cudaDeviceId = options.cudaDeviceId ?? 0;
  if (!Number.isInteger(cudaDeviceId) || cudaDeviceId < 0) throw new InvalidArgumentError(`${op}: options.cudaDeviceId must be a non-negative integer, got ${describe(options.cudaDeviceId)}`);
  const runtime = isRuntime(options.runtime) ? options.runtime : await loadOrt(options.runtime ?? {});
  const wantsCuda = providers.includes('cuda');
  if (wantsCuda && runtime.name !== 'onnxruntime-node') {
    throw new BackendUnavailableError(`${op}: the CUDA execution provider needs onnxruntime-node, but the runtime in use is ${runtime.name}`, [{ name: 'cuda', reason: `runtime is ${runtime.name}` }]);
  }
  const eps: (string | { name: string; deviceId: number })[] = providers.filter((p) => p !== 'cpu').map((p) => ({ name: p, deviceId: cudaDeviceId }));
  eps.push('cpu');
  const opts: import('onnxruntime-node').InferenceSession.SessionOptions = {
    executionProviders: eps as never,
    graphOptimizationLevel: options.graphOptimizationLevel ?? 'all',
  };
  if (options.threads !== undefined) {
    if (!Number.isInteger(options.threads) || options.threads < 1) throw new InvalidArgumentError(`${op}: options.threads must be a positive integer, got ${describe(options.threads)}`);
    opts.intraOpNumThreads = options.threads;
    opts.interOpNumThreads = 1;
  }
  let raw: InferenceSession;
  try {
    raw = typeof model === 'string' ? await runtime.ort.InferenceSession.create(model, opts) : await runtime.ort.InferenceSession.create(model, opts);
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    if (wantsCuda && /cuda|provider|libonnxruntime_providers/i.test(msg)) {
      throw new BackendUnavailableError(
        `${op}: onnxruntime-node could not use the CUDA execution provider (${msg}). It needs an NVIDIA GPU with CUDA 12 + cuDNN 9 and ` +
          'onnxruntime-node installed WITHOUT ONNXRUNTIME_NODE_INSTALL=skip (its install script then downloads libonnxruntime_providers_cuda.so); ' +
          'offline, copy that library and libonnxruntime_providers_shared.so from the Microsoft.ML.OnnxRuntime.Gpu.Linux package of the same version into node_modules/onnxruntime-node/bin/napi-v6/linux/x64/',
        [{ name: 'cuda', reason: msg }],
        { cause: e },
      );
    }
    throw new InvalidArgumentError(`${op}: ${runtime.name} could not load the model${typeof model === 'string' ? ` ${model}` : ''}: ${msg}`, { cause: e });
  }
  return new OnnxSession(raw, runtime, [...providers.filter((p) => p !== 'cpu'), 'cpu']);
}

/** ONNX Runtime's element type of a host array (Uint8Array is bool, Uint16Array float16), or null. */
export function ortElementType(d: unknown): 'float32' | 'float64' | 'int32' | 'int64' | 'bool' | 'float16' | null {
  if (d instanceof Float32Array) return 'float32';
  if (d instanceof Float64Array) return 'float64';
  if (d instanceof Int32Array) return 'int32';
  if (d instanceof BigInt64Array) return 'int64';
  if (d instanceof Uint16Array) return 'float16';
  if (d instanceof Uint8Array) return 'bool';
  return null;
}

/** Wraps a host array as a tensor of `ort` (no copy). */
export function toOrtTensor(ort: Ort, name: string, t: OnnxTensorData): OrtTensor {
  const type = ortElementType(t.data);
  if (type === null) throw new InvalidArgumentError(`runOnnx: input '${name}' has unsupported data ${describe(t.data)}`);
  return new ort.Tensor(type, t.data as never, [...t.dims]);
}

/** Runs a session; inputs by ONNX input name (`input<i>`, `ext.<name>`); returns every output by name. */
export async function runOnnx(session: OnnxSession, inputs: Readonly<Record<string, OnnxTensorData>>): Promise<Record<string, OnnxTensorData>> {
  if (!(session instanceof OnnxSession)) throw new InvalidArgumentError(`runOnnx: session must come from createOnnxSession, got ${describe(session)}`);
  const feeds: Record<string, OrtTensor> = {};
  for (const name of session.inputNames) {
    const t = inputs[name];
    if (!t) throw new InvalidArgumentError(`runOnnx: missing input '${name}' (the model takes ${session.inputNames.join(', ')})`);
    feeds[name] = toOrtTensor(session.ort, name, t);
  }
  for (const name of Object.keys(inputs)) if (!session.inputNames.includes(name)) throw new InvalidArgumentError(`runOnnx: the model has no input '${name}' (it takes ${session.inputNames.join(', ')})`);
  const results = await session.run(feeds);
  const out: Record<string, OnnxTensorData> = {};
  for (const [name, t] of Object.entries(results)) {
    out[name] = { data: t.data as OnnxTypedArray, dims: [...t.dims] };
  }
  return out;
}
