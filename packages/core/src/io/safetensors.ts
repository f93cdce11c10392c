// Parameters in and out as safetensors: tensors <-> bytes (safetensors-format.ts does the format
// itself) and files written atomically (atomic-write.ts, loaded only when a file is touched so
// the browser build never sees node:fs).

import { CheckpointError, InvalidArgumentError, describe } from '../errors/index.js';
import { engine } from '../engine/engine.js';
import type { Backend } from '../backend/types.js';
import type { DType } from '../tensor/dtype.js';
import { Tensor } from '../tensor/tensor.js';
import {
  type RawTensor, type SafetensorsDType, decodeToFloat32, decodeToFloat64, decodeToInt32, encodeFromTypedArray, parseSafetensors, serializeSafetensors,
} from './safetensors-format.js';

export type { RawTensor, SafetensorsDType } from './safetensors-format.js';
export { parseSafetensors, serializeSafetensors } from './safetensors-format.js';

const STORE_AS: Record<DType, SafetensorsDType> = { float32: 'F32', float64: 'F64', int32: 'I32', bool: 'BOOL' };

export interface SaveOptions {
  /** String key/value metadata stored in the header (`__metadata__`). */
  metadata?: Record<string, string>;
  /** Store float32 tensors as F16 (half the size; lossy). Default false. */
  float16?: boolean;
}

/** Serialises named tensors into safetensors bytes. */
export async function serializeTensors(tensors: Record<string, Tensor> | Map<string, Tensor>, options: SaveOptions = {}): Promise<Uint8Array> {
  const entries = tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors);
  const raw = new Map<string, RawTensor>();
  for (const [name, t] of entries) {
    if (!(t instanceof Tensor)) throw new InvalidArgumentError(`serializeTensors: tensors[${describe(name)}] must be a Tensor, got ${describe(t)}`);
    t._check('serializeTensors');
    const dtype: SafetensorsDType = options.float16 && t.dtype === 'float32' ? 'F16' : STORE_AS[t.dtype];
    raw.set(name, { dtype, shape: [...t.shape], data: encodeFromTypedArray(dtype, await t.data()) });
  }
  return serializeSafetensors(raw, options.metadata);
}

export interface LoadOptions {
  /** Backend to create tensors on. Default: the current backend. */
  backend?: Backend;
  /**
   * What float tensors become. 'float32' (default) converts F16 / BF16 / F64 to float32;
   * 'keep' keeps F64 as float64 (F16 and BF16 still widen to float32).
   */
  floatDType?: 'float32' | 'keep';
  /** Optional name filter. */
  filter?: (name: string) => boolean;
}

export interface LoadedTensors {
  tensors: Map<string, Tensor>;
  metadata: Record<string, string>;
}

function checkLoadOptions(op: string, options: LoadOptions): void {
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError(`${op}: options must be an object, got ${describe(options)}`);
  if (options.floatDType !== undefined && options.floatDType !== 'float32' && options.floatDType !== 'keep') {
    throw new InvalidArgumentError(`${op}: options.floatDType must be 'float32' or 'keep', got ${describe(options.floatDType)}`);
  }
  if (options.filter !== undefined && typeof options.filter !== 'function') throw new InvalidArgumentError(`${op}: options.filter must be a function, got ${describe(options.filter)}`);
}

function toTensor(name: string, raw: RawTensor, options: LoadOptions, source: string): Tensor {
  const backend = options.backend ?? engine.backend;
  switch (raw.dtype) {
    case 'F64':
      if (options.floatDType === 'keep' && backend.capabilities.dtypes.includes('float64')) return engine.upload(decodeToFloat64(raw), raw.shape, 'float64', backend);
      return engine.upload(decodeToFloat32(raw), raw.shape, 'float32', backend);
    case 'F32':
    case 'F16':
    case 'BF16':
      return engine.upload(decodeToFloat32(raw), raw.shape, 'float32', backend);
    case 'BOOL':
      return engine.upload(Uint8Array.from(raw.data, (v) => (v ? 1 : 0)), raw.shape, 'bool', backend);
    case 'I64':
    case 'I32':
    case 'I16':
    case 'I8':
    case 'U8':
      return engine.upload(decodeToInt32(raw), raw.shape, 'int32', backend);
    default:
      throw new CheckpointError(`loadSafetensors: ${source}: tensor ${describe(name)} has unsupported dtype ${describe(raw.dtype)}`);
  }
}

/** Parses safetensors bytes into tensors on a backend. */
export function deserializeTensors(bytes: Uint8Array, options: LoadOptions = {}, source = '<buffer>'): LoadedTensors {
  checkLoadOptions('deserializeTensors', options);
  const { tensors: raw, metadata } = parseSafetensors(bytes, source);
  const tensors = new Map<string, Tensor>();
  try {
    for (const [name, r] of raw) if (!options.filter || options.filter(name)) tensors.set(name, toTensor(name, r, options, source));
  } catch (e) {
    for (const t of tensors.values()) t.dispose();
    throw e;
  }
  return { tensors, metadata };
}

/**
 * Writes tensors to `path` atomically: a temporary file in the same directory is written and
 * synced, then renamed over the target, so a crash never leaves a half-written checkpoint.
 */
export async function saveSafetensors(path: string, tensors: Record<string, Tensor> | Map<string, Tensor>, options: SaveOptions = {}): Promise<void> {
  if (typeof path !== 'string' || path.length === 0) throw new InvalidArgumentError(`saveSafetensors: path must be a non-empty string, got ${describe(path)}`);
  const bytes = await serializeTensors(tensors, options);
  const { writeFileAtomic } = await import('./atomic-write.js');
  await writeFileAtomic(path, bytes);
}

/**
 * Atomically replaces the file at `path` with `data` (a temporary file in the same folder,
 * fsynced, then renamed): readers see the old file or the whole new one, never a mix, and a
 * failed write leaves the old file intact. Node only (node:fs is loaded when called).
 */
export async function writeFileAtomic(path: string, data: Uint8Array | string, options: { fsync?: boolean } = {}): Promise<void> {
  const m = await import('./atomic-write.js');
  await m.writeFileAtomic(path, data, options);
}

/** Reads a safetensors file; a missing, truncated or corrupt file gives a CheckpointError. */
export async function loadSafetensors(path: string, options: LoadOptions = {}): Promise<LoadedTensors> {
  if (typeof path !== 'string' || path.length === 0) throw new InvalidArgumentError(`loadSafetensors: path must be a non-empty string, got ${describe(path)}`);
  checkLoadOptions('loadSafetensors', options);
  const { readFileChecked } = await import('./atomic-write.js');
  let bytes: Uint8Array;
  try {
    bytes = await readFileChecked(path);
  } catch (e) {
    throw new CheckpointError(`loadSafetensors: cannot read ${path}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
  return deserializeTensors(bytes, options, path);
}
