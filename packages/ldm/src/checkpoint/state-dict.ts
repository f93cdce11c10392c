// The generic weight-loading layer every model of this package goes through:
//   loadStateDict(file)   .safetensors (core's parser) or a PyTorch zip (.pth / .ckpt / .bin),
//                         recognised by their first bytes, into name → RawTensor;
//   applyStateDict(...)   a key-mapping table from checkpoint names to parameter names, every
//                         shape checked, and ALL missing, unexpected and mismatched keys
//                         reported together in one StateDictMismatchError.
// Model code declares its parameters as name → shape; the tensors come out as float32 (fp16
// and bf16 files widen), int32 or bool on the chosen backend.

import { CheckpointError, InvalidArgumentError, describe, parseSafetensors, shapesEqual, sizeOf, type Backend, type RawTensor, type Tensor } from '@denoise/core';
import { rawToTensor } from './decode.js';
import { readFileBytes, type ByteSource, fileSource, bytesSource } from './source.js';
import { TorchCheckpoint } from './torch-file.js';

/** Tensors by checkpoint key, as stored (dtype, shape, little-endian bytes). */
export type StateDict = Map<string, RawTensor>;

export interface LoadedStateDict {
  tensors: StateDict;
  /** safetensors `__metadata__`; empty for PyTorch files. */
  metadata: Record<string, string>;
  format: 'safetensors' | 'pytorch';
}

export interface LoadStateDictOptions {
  /**
   * For PyTorch files: the dotted path of the dict that holds the tensors. Default: the
   * `state_dict` entry when the root has one (Lightning / CompVis `.ckpt`), else the root.
   */
  key?: string;
  /** Check CRC-32 of PyTorch zip entries (default true). */
  verifyCrc?: boolean;
}

/** Reads a checkpoint file (Node) or bytes; the format comes from the content, not the name. */
export async function loadStateDict(input: string | Uint8Array, options: LoadStateDictOptions = {}): Promise<LoadedStateDict> {
  if (typeof input !== 'string' && !(input instanceof Uint8Array)) throw new InvalidArgumentError(`loadStateDict: input must be a path or a Uint8Array, got ${describe(input)}`);
  const source: ByteSource = typeof input === 'string' ? await fileSource(input) : bytesSource(input);
  let head: Uint8Array;
  try {
    head = source.size >= 9 ? (await source.read(0, 9)).slice() : new Uint8Array(0);
  } catch (e) {
    await source.close();
    throw e;
  }
  const isZip = head[0] === 0x50 && head[1] === 0x4b;
  if (isZip || head[0] === 0x80) {
    const ckpt = await TorchCheckpoint.open(source, options.verifyCrc === undefined ? {} : { verifyCrc: options.verifyCrc });
    try {
      const root = selectDict(ckpt.root, options.key, source.name);
      return { tensors: await ckpt.tensors(root), metadata: {}, format: 'pytorch' };
    } finally {
      await ckpt.close();
    }
  }
  await source.close();
  const bytes = typeof input === 'string' ? await readFileBytes(input) : input;
  const { tensors, metadata } = parseSafetensors(bytes, source.name);
  return { tensors, metadata, format: 'safetensors' };
}

function selectDict(root: unknown, key: string | undefined, source: string): unknown {
  if (key === undefined) {
    if (root instanceof Map && root.get('state_dict') instanceof Map) return root.get('state_dict');
    return root;
  }
  let node = root;
  for (const part of key.split('.')) {
    if (!(node instanceof Map) || !node.has(part)) throw new CheckpointError(`loadStateDict: ${source} has no entry ${JSON.stringify(key)} (missing ${JSON.stringify(part)})`);
    node = node.get(part);
  }
  return node;
}

// ------------------------------------------------------------------ key mapping and shapes

/** Renames checkpoint keys to parameter names. */
export interface KeyRule {
  /** A string renames keys starting with it (prefix replaced by `to`); a RegExp must match the whole key and `to` may use $1... */
  readonly from: string | RegExp;
  readonly to: string;
  /** Accept a stored shape that differs but has the same element count (e.g. [C, C, 1, 1] conv ↔ [C, C] linear). */
  readonly reshape?: boolean;
}

export interface KeyMapping {
  /** Tried in order; the first that matches renames the key. Keys no rule matches keep their name. */
  readonly rules?: readonly KeyRule[];
  /** Checkpoint keys deliberately left unused (a string is a prefix), not reported as unexpected. */
  readonly ignore?: ReadonlyArray<string | RegExp>;
}

/** Parameter name → expected shape (with an optional dtype; default any float). */
export type ParamSpec = Readonly<Record<string, readonly number[] | { readonly shape: readonly number[]; readonly dtype?: 'float' | 'int' | 'bool' }>>;

export interface ShapeMismatch {
  readonly param: string;
  readonly key: string;
  readonly expected: readonly number[];
  readonly actual: readonly number[];
}

/** Missing, unexpected, mismatched and duplicated keys, all at once. */
export class StateDictMismatchError extends CheckpointError {
  constructor(
    message: string,
    readonly missing: readonly string[],
    readonly unexpected: readonly string[],
    readonly mismatched: readonly ShapeMismatch[],
    readonly duplicated: readonly string[],
  ) {
    super(message);
  }
}

export interface ApplyStateDictOptions {
  /** Backend for the tensors; default the current backend. */
  backend?: Backend;
  /** Name for error messages (the model or component). */
  name?: string;
}

function ruleMatch(rule: KeyRule, key: string): string | undefined {
  if (typeof rule.from === 'string') return key.startsWith(rule.from) ? rule.to + key.slice(rule.from.length) : undefined;
  const re = new RegExp(`^(?:${rule.from.source})$`, rule.from.flags.replace('g', ''));
  return re.test(key) ? key.replace(re, rule.to) : undefined;
}

function ignored(mapping: KeyMapping, key: string): boolean {
  return (mapping.ignore ?? []).some((p) => (typeof p === 'string' ? key.startsWith(p) : new RegExp(`^(?:${p.source})$`, p.flags.replace('g', '')).test(key)));
}

function specOf(spec: ParamSpec[string]): { shape: readonly number[]; dtype: 'float' | 'int' | 'bool' } {
  return Array.isArray(spec) ? { shape: spec as readonly number[], dtype: 'float' } : { shape: (spec as { shape: readonly number[] }).shape, dtype: (spec as { dtype?: 'float' | 'int' | 'bool' }).dtype ?? 'float' };
}

const KIND: Readonly<Record<RawTensor['dtype'], 'float' | 'int' | 'bool'>> = {
  F64: 'float', F32: 'float', F16: 'float', BF16: 'float', I64: 'int', I32: 'int', I16: 'int', I8: 'int', U8: 'int', BOOL: 'bool',
};

function list(title: string, items: readonly string[], max = 20): string {
  if (items.length === 0) return '';
  const shown = items.slice(0, max).join(', ');
  return `\n  ${title} (${items.length}): ${shown}${items.length > max ? `, ... ${items.length - max} more` : ''}`;
}

/**
 * Maps checkpoint keys to parameter names, checks every shape and dtype kind, and uploads the
 * tensors. Throws one StateDictMismatchError listing every missing, unexpected, mismatched and
 * duplicated key; nothing is uploaded unless all match.
 */
export function applyStateDict(spec: ParamSpec, stateDict: StateDict, mapping: KeyMapping = {}, options: ApplyStateDictOptions = {}): Record<string, Tensor> {
  const name = options.name ?? 'applyStateDict';
  if (typeof spec !== 'object' || spec === null) throw new InvalidArgumentError(`${name}: spec must be an object of parameter shapes, got ${describe(spec)}`);
  if (!(stateDict instanceof Map)) throw new InvalidArgumentError(`${name}: stateDict must be a Map of tensors, got ${describe(stateDict)}`);
  const chosen = new Map<string, { key: string; raw: RawTensor; reshape: boolean }>();
  const unexpected: string[] = [];
  const duplicated: string[] = [];
  for (const [key, raw] of stateDict) {
    let param = key;
    let reshape = false;
    for (const rule of mapping.rules ?? []) {
      const to = ruleMatch(rule, key);
      if (to !== undefined) {
        param = to;
        reshape = rule.reshape === true;
        break;
      }
    }
    if (!Object.prototype.hasOwnProperty.call(spec, param)) {
      if (!ignored(mapping, key)) unexpected.push(param === key ? key : `${key} (as ${param})`);
      continue;
    }
    const prev = chosen.get(param);
    if (prev) {
      duplicated.push(`${param} (from ${prev.key} and ${key})`);
      continue;
    }
    chosen.set(param, { key, raw, reshape });
  }
  const missing: string[] = [];
  const mismatched: ShapeMismatch[] = [];
  const wrongKind: string[] = [];
  for (const [param, s] of Object.entries(spec)) {
    const { shape, dtype } = specOf(s);
    const got = chosen.get(param);
    if (!got) {
      missing.push(param);
      continue;
    }
    const ok = shapesEqual(got.raw.shape, shape) || (got.reshape && sizeOf(got.raw.shape) === sizeOf(shape));
    if (!ok) mismatched.push({ param, key: got.key, expected: shape, actual: got.raw.shape });
    if (KIND[got.raw.dtype] !== dtype) wrongKind.push(`${param}: expected ${dtype}, got ${got.raw.dtype}`);
  }
  if (missing.length || unexpected.length || mismatched.length || duplicated.length || wrongKind.length) {
    const message =
      `${name}: the checkpoint does not match the model` +
      list('missing', missing) +
      list('unexpected', unexpected) +
      list('shape mismatch', mismatched.map((m) => `${m.param} expects [${m.expected.join(', ')}], checkpoint ${m.key} has [${m.actual.join(', ')}]`)) +
      list('duplicated', duplicated) +
      list('wrong dtype', wrongKind);
    throw new StateDictMismatchError(message, missing, unexpected, mismatched, duplicated);
  }
  const out: Record<string, Tensor> = {};
  try {
    for (const [param, s] of Object.entries(spec)) {
      const { raw } = chosen.get(param)!;
      const shaped: RawTensor = { ...raw, shape: [...specOf(s).shape] };
      out[param] = rawToTensor(shaped, options.backend ? { backend: options.backend } : {}, `${name}: ${param}`);
    }
  } catch (e) {
    for (const t of Object.values(out)) t.dispose();
    throw e;
  }
  return out;
}

/** The shapes of a state dict, as a ParamSpec (for inspection and for models sized by their weights). */
export function stateDictShapes(stateDict: StateDict): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const [k, v] of stateDict) out[k] = [...v.shape];
  return out;
}
