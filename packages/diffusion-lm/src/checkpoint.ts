// Diffusion-LM checkpoints: one safetensors file holding the parameters (named as in
// model.ts) with the config, the vocabulary and the schedule in its metadata, so that a file is
// enough to generate. Training checkpoints add the optimizer's moments, the EMA weights and the
// training position under prefixed names (see examples/diffusion-lm).

import {
  type Backend,
  type Tensor,
  CheckpointError,
  deserializeTensors,
  describe,
  loadSafetensors,
  saveSafetensors,
  serializeTensors,
  variable,
} from '@denoise/core';
import { Vocabulary } from './data/vocab.js';
import { DiffusionLM } from './generate.js';
import { sqrtSchedule } from './model/loss.js';
import { type DiffusionLMConfig, checkConfig, parameterShapes } from './model/model.js';

export const FORMAT = 'denoise.diffusion-lm';
export const FORMAT_VERSION = '1';

export interface SaveModelOptions {
  /** Extra tensors stored under their own names (e.g. 'ema.*', 'adam.*'); must not clash with parameters. */
  readonly extra?: Readonly<Record<string, Tensor>>;
  /** Extra metadata strings. */
  readonly metadata?: Readonly<Record<string, string>>;
  /** Store float32 as float16 (half the size). Default false. */
  readonly float16?: boolean;
}

function metadataOf(model: DiffusionLM, extra: Readonly<Record<string, string>> = {}): Record<string, string> {
  return { ...extra, format: FORMAT, format_version: FORMAT_VERSION, config: JSON.stringify(model.config), vocab: JSON.stringify(model.vocab.words), schedule: 'sqrt' };
}

function tensorsOf(model: DiffusionLM, options: SaveModelOptions): Record<string, Tensor> {
  const out: Record<string, Tensor> = { ...model.params };
  for (const [k, t] of Object.entries(options.extra ?? {})) {
    if (k in out) throw new CheckpointError(`saveDiffusionLM: extra tensor '${k}' has a parameter's name`);
    out[k] = t;
  }
  return out;
}

/** Writes a model (atomically: a failed write leaves an existing file intact). Node only. */
export async function saveDiffusionLM(path: string, model: DiffusionLM, options: SaveModelOptions = {}): Promise<void> {
  await saveSafetensors(path, tensorsOf(model, options), { metadata: metadataOf(model, options.metadata), float16: options.float16 ?? false });
}

/** The model as safetensors bytes (for browsers and bundles). */
export async function serializeDiffusionLM(model: DiffusionLM, options: SaveModelOptions = {}): Promise<Uint8Array> {
  return serializeTensors(tensorsOf(model, options), { metadata: metadataOf(model, options.metadata), float16: options.float16 ?? false });
}

export interface LoadedDiffusionLM {
  readonly model: DiffusionLM;
  /** Tensors in the file that are not parameters (training state), by name. */
  readonly extra: Map<string, Tensor>;
  readonly metadata: Readonly<Record<string, string>>;
}

export interface LoadModelOptions {
  readonly backend?: Backend;
  /** Load these weights (e.g. 'ema.' for the EMA copy) as the parameters instead of the raw ones. */
  readonly paramsPrefix?: string;
}

function fromLoaded(tensors: Map<string, Tensor>, metadata: Record<string, string>, source: string, options: LoadModelOptions): LoadedDiffusionLM {
  const fail = (msg: string): never => {
    for (const t of tensors.values()) t.dispose();
    throw new CheckpointError(`loadDiffusionLM: ${source}: ${msg}`);
  };
  if (metadata.format !== FORMAT) fail(`not a Diffusion-LM checkpoint (metadata.format is ${describe(metadata.format)}, expected '${FORMAT}')`);
  if (metadata.format_version !== FORMAT_VERSION) fail(`unsupported format_version ${describe(metadata.format_version)} (this version reads '${FORMAT_VERSION}')`);
  let config: DiffusionLMConfig;
  let vocab: Vocabulary;
  try {
    config = JSON.parse(metadata.config ?? 'null') as DiffusionLMConfig;
    checkConfig('loadDiffusionLM', config);
    vocab = new Vocabulary(JSON.parse(metadata.vocab ?? 'null') as string[]);
  } catch (e) {
    return fail(`bad config or vocabulary in the metadata (${e instanceof Error ? e.message : String(e)})`);
  }
  if (metadata.schedule !== 'sqrt') fail(`unknown schedule ${describe(metadata.schedule)}`);
  const prefix = options.paramsPrefix ?? '';
  const expected = parameterShapes(config);
  const missing: string[] = [];
  const wrong: string[] = [];
  const params: Record<string, Tensor> = {};
  for (const [name, shape] of expected) {
    const t = tensors.get(prefix + name);
    if (!t) missing.push(prefix + name);
    else if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) wrong.push(`${prefix + name}: file ${describe(t.shape)}, model ${describe(shape)}`);
    else params[name] = t;
  }
  if (missing.length || wrong.length) {
    fail([missing.length ? `missing ${missing.join(', ')}` : '', wrong.length ? `wrong shapes: ${wrong.join('; ')}` : ''].filter(Boolean).join('; '));
  }
  const used = new Set(expected.map(([n]) => prefix + n));
  const extra = new Map([...tensors].filter(([k]) => !used.has(k)));
  // Parameters become variables (trainable, assignable), named as in the model.
  const vars: Record<string, Tensor> = {};
  for (const [name, t] of Object.entries(params)) {
    vars[name] = variable(t, name);
    t.dispose();
  }
  return { model: new DiffusionLM(vars, config, vocab, sqrtSchedule(config.diffusionSteps)), extra, metadata };
}

/** Reads a model written by saveDiffusionLM; every problem is a CheckpointError naming the file. Node only. */
export async function loadDiffusionLM(path: string, options: LoadModelOptions = {}): Promise<LoadedDiffusionLM> {
  const { tensors, metadata } = await loadSafetensors(path, options.backend ? { backend: options.backend } : {});
  return fromLoaded(tensors, metadata, path, options);
}

/** loadDiffusionLM over bytes. */
export function deserializeDiffusionLM(bytes: Uint8Array, options: LoadModelOptions = {}): LoadedDiffusionLM {
  const { tensors, metadata } = deserializeTensors(bytes, options.backend ? { backend: options.backend } : {});
  return fromLoaded(tensors, metadata, '<bytes>', options);
}
