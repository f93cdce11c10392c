// Running exported models with onnxruntime-node (CPU execution provider).

import * as ort from 'onnxruntime-node';

export type OnnxSession = ort.InferenceSession;

export type OnnxTypedArray = Float32Array | Float64Array | Int32Array | Uint8Array | BigInt64Array;

/** A host tensor passed to / returned from runOnnx. Uint8Array is read as bool. */
export interface OnnxTensorData {
  readonly data: OnnxTypedArray;
  readonly dims: readonly number[];
}

export interface OnnxSessionOptions {
  /** Intra-op threads (default: onnxruntime's choice). */
  readonly threads?: number;
}

/** Creates an onnxruntime-node session (CPU) for ModelProto bytes (e.g. from graphToOnnx). */
export async function createOnnxSession(modelBytes: Uint8Array, options: OnnxSessionOptions = {}): Promise<OnnxSession> {
  const opts: ort.InferenceSession.SessionOptions = { executionProviders: ['cpu'], graphOptimizationLevel: 'all' };
  if (options.threads !== undefined) {
    if (!Number.isInteger(options.threads) || options.threads < 1) throw new RangeError(`createOnnxSession: threads must be a positive integer, got ${String(options.threads)}`);
    opts.intraOpNumThreads = options.threads;
    opts.interOpNumThreads = 1;
  }
  return ort.InferenceSession.create(modelBytes, opts);
}

function toOrt(name: string, t: OnnxTensorData): ort.Tensor {
  const dims = [...t.dims];
  const d = t.data;
  if (d instanceof Float32Array) return new ort.Tensor('float32', d, dims);
  if (d instanceof Float64Array) return new ort.Tensor('float64', d, dims);
  if (d instanceof Int32Array) return new ort.Tensor('int32', d, dims);
  if (d instanceof BigInt64Array) return new ort.Tensor('int64', d, dims);
  if (d instanceof Uint8Array) return new ort.Tensor('bool', d, dims);
  throw new TypeError(`runOnnx: input '${name}' has unsupported data ${Object.prototype.toString.call(d)}`);
}

/** Runs a session; inputs by ONNX input name (`input<i>`, `ext.<name>`); returns every output by name. */
export async function runOnnx(session: OnnxSession, inputs: Readonly<Record<string, OnnxTensorData>>): Promise<Record<string, OnnxTensorData>> {
  const feeds: Record<string, ort.Tensor> = {};
  for (const name of session.inputNames) {
    const t = inputs[name];
    if (!t) throw new Error(`runOnnx: missing input '${name}' (the model takes ${session.inputNames.join(', ')})`);
    feeds[name] = toOrt(name, t);
  }
  for (const name of Object.keys(inputs)) if (!session.inputNames.includes(name)) throw new Error(`runOnnx: the model has no input '${name}'`);
  const results = await session.run(feeds);
  const out: Record<string, OnnxTensorData> = {};
  for (const [name, t] of Object.entries(results)) {
    out[name] = { data: t.data as OnnxTypedArray, dims: [...t.dims] };
  }
  return out;
}
