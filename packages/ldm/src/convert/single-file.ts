// Single-file Stable Diffusion 1.x checkpoints (the CompVis / AUTOMATIC1111 / ComfyUI format: one
// `.safetensors`, or a PyTorch `.ckpt` / `.pth` zip whose `state_dict` holds every component)
// into our three models, and back. The file is read by checkpoint/state-dict.ts (safetensors, or
// PyTorch zip files through the restricted unpickler); keys.ts says which file key feeds which
// parameter. Every key of the file is accounted for before anything is uploaded: one
// StateDictMismatchError lists, under the file's own key names and across all components, every
// missing key, every key no component uses (besides the known training-only entries listed in
// SINGLE_FILE_IGNORED), every shape mismatch and every key given twice.

import {
  CheckpointError, InvalidArgumentError, describe, reshape, serializeTensors, shapesEqual, writeFileAtomic, type Backend, type RawTensor, type Tensor,
} from '@denoise/core';
import { loadStateDict, StateDictMismatchError, type LoadStateDictOptions, type ShapeMismatch, type StateDict } from '../checkpoint/state-dict.js';
import { CLIPTextModel } from '../models/clip/clip-text.js';
import type { CLIPTextConfig } from '../models/clip/config.js';
import { loadWeights, type Module } from '../models/nn/module.js';
import type { UNet2DConditionConfig } from '../models/unet/config.js';
import { UNet2DConditionModel } from '../models/unet/unet.js';
import { AutoencoderKL } from '../models/vae/autoencoder-kl.js';
import type { AutoencoderKLConfig } from '../models/vae/config.js';
import { LEGACY_CLIP_PREFIXES, SINGLE_FILE_PREFIXES, clipSingleFileKeys, unetSingleFileKeys, vaeSingleFileKeys, type SingleFileComponent, type SingleFileKey } from './keys.js';

/**
 * Entries of a single file that belong to no inference component and are left unused: the
 * DDPM schedule buffers of CompVis' LatentDiffusion (recomputed by any scheduler), the
 * text encoder's position_ids buffer, the EMA copy (unless `extractEma`), the autoencoder's
 * training losses (LPIPS and discriminator). A string is a whole key, a RegExp must match all of it.
 */
export const SINGLE_FILE_IGNORED: ReadonlyArray<string | RegExp> = Object.freeze([
  'betas', 'alphas_cumprod', 'alphas_cumprod_prev', 'sqrt_alphas_cumprod', 'sqrt_one_minus_alphas_cumprod', 'log_one_minus_alphas_cumprod',
  'sqrt_recip_alphas_cumprod', 'sqrt_recipm1_alphas_cumprod', 'posterior_variance', 'posterior_log_variance_clipped', 'posterior_mean_coef1',
  'posterior_mean_coef2', 'logvar', 'lvlb_weights', 'scale_factor',
  'cond_stage_model.transformer.text_model.embeddings.position_ids',
  /model_ema\..*/,
  /first_stage_model\.loss\..*/,
]);

/** Layouts that are recognisable but not SD 1.x: named in the error instead of a wall of unexpected keys. */
const FOREIGN_LAYOUTS: ReadonlyArray<readonly [RegExp, string]> = [
  [/^cond_stage_model\.model\./, 'cond_stage_model.model.* is an OpenCLIP text encoder (SD 2.x): not supported, only the SD 1.x CLIPTextModel (cond_stage_model.transformer.*)'],
  [/^conditioner\.embedders\./, 'conditioner.embedders.* is the SDXL layout: not supported'],
  [/^control_model\./, 'control_model.* is a ControlNet: not supported'],
];

export interface SingleFileOptions {
  /** UNet config fields; missing ones take Stable Diffusion 1.x's values (SD15_UNET). */
  unetConfig?: Partial<UNet2DConditionConfig>;
  /** Autoencoder config fields; missing ones take SD15_VAE's. */
  vaeConfig?: Partial<AutoencoderKLConfig>;
  /** Text encoder config fields; missing ones take SD15_TEXT_ENCODER's. */
  clipConfig?: Partial<CLIPTextConfig>;
  /** Take the UNet's weights from the EMA copy (`model_ema.*`, CompVis' LitEma names) instead of `model.diffusion_model.*`. */
  extractEma?: boolean;
  /** More file keys to leave unused (a string is a prefix, a RegExp must match the whole key). */
  ignore?: ReadonlyArray<string | RegExp>;
  /** Backend for the parameters; default the current backend. */
  backend?: Backend;
}

export interface SingleFileModels {
  unet: UNet2DConditionModel;
  vae: AutoencoderKL;
  textEncoder: CLIPTextModel;
  /** The file keys left unused (SINGLE_FILE_IGNORED and `ignore`). */
  ignored: string[];
}

export interface LoadedSingleFile extends SingleFileModels {
  format: 'safetensors' | 'pytorch';
  /** safetensors `__metadata__` (empty for PyTorch files). */
  metadata: Record<string, string>;
}

/** The three models of a single file, for saving. */
export interface SingleFileModelSet {
  unet: UNet2DConditionModel;
  vae: AutoencoderKL;
  textEncoder: CLIPTextModel;
}

/** The whole file ↔ parameter table for three models (see keys.ts). */
export function singleFileKeys(models: SingleFileModelSet): SingleFileKey[] {
  return [...unetSingleFileKeys(models.unet), ...vaeSingleFileKeys(models.vae), ...clipSingleFileKeys(models.textEncoder)];
}

/** CompVis' LitEma stores `model.diffusion_model.a.b` as `model_ema.diffusion_modelab` (module path without dots). */
export function emaKey(fileKey: string): string {
  return `model_ema.${fileKey.slice('model.'.length).replaceAll('.', '')}`;
}

function matches(p: string | RegExp, key: string, exact: boolean): boolean {
  if (typeof p === 'string') return exact ? key === p : key.startsWith(p);
  return new RegExp(`^(?:${p.source})$`, p.flags.replace('g', '')).test(key);
}

function shapeText(s: readonly number[]): string {
  return `[${s.join(', ')}]`;
}

function section(title: string, items: readonly string[], max = 20): string {
  if (items.length === 0) return '';
  return `\n  ${title} (${items.length}): ${items.slice(0, max).join(', ')}${items.length > max ? `, ... ${items.length - max} more` : ''}`;
}

/**
 * Builds the three models from a single-file state dict (checkpoint keys → stored tensors).
 * Throws one StateDictMismatchError (file key names) if any key is missing, unexpected,
 * mismatched or duplicated; nothing is uploaded then.
 */
export function singleFileModelsFromStateDict(stateDict: StateDict, options: SingleFileOptions = {}): SingleFileModels {
  if (!(stateDict instanceof Map)) throw new InvalidArgumentError(`singleFileModelsFromStateDict: stateDict must be a Map of tensors, got ${describe(stateDict)}`);
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError(`loadSingleFileCheckpoint: options must be an object, got ${describe(options)}`);
  const unet = new UNet2DConditionModel(options.unetConfig ?? {});
  const vae = new AutoencoderKL(options.vaeConfig ?? {});
  const textEncoder = new CLIPTextModel(options.clipConfig ?? {});
  const table = singleFileKeys({ unet, vae, textEncoder });

  // File keys as the table names them (legacy CLIP names aliased), remembering the original.
  const byKey = new Map<string, { key: string; raw: RawTensor }>();
  const duplicated: string[] = [];
  for (const [key, raw] of stateDict) {
    const legacy = Object.keys(LEGACY_CLIP_PREFIXES).find((p) => key.startsWith(p));
    const canonical = legacy ? LEGACY_CLIP_PREFIXES[legacy] + key.slice(legacy.length) : key;
    const prev = byKey.get(canonical);
    if (prev) duplicated.push(`${canonical} (given as ${prev.key} and ${key})`);
    else byKey.set(canonical, { key, raw });
  }

  // Where each parameter comes from.
  const source = (k: SingleFileKey) => (options.extractEma && k.component === 'unet' ? emaKey(k.file) : k.file);
  const used = new Set<string>();
  const missing: string[] = [];
  const mismatched: ShapeMismatch[] = [];
  const perComponent: Record<SingleFileComponent, StateDict> = { unet: new Map(), vae: new Map(), textEncoder: new Map() };
  for (const k of table) {
    const from = source(k);
    const got = byKey.get(from);
    if (!got) {
      missing.push(from);
      continue;
    }
    used.add(from);
    const stored = got.raw.shape;
    let raw = got.raw;
    if (k.conv1x1 && shapesEqual(stored, [...k.shape, 1, 1])) raw = { ...raw, shape: [...k.shape] };
    else if (!shapesEqual(stored, k.shape)) {
      mismatched.push({ param: `${k.component} ${k.param}`, key: got.key, expected: k.conv1x1 ? [...k.shape, 1, 1] : k.shape, actual: stored });
      continue;
    }
    perComponent[k.component].set(k.param, raw);
  }
  const ignore = [
    ...SINGLE_FILE_IGNORED.map((p) => [p, true] as const),
    ...(options.ignore ?? []).map((p) => [p, false] as const),
    // With the EMA weights chosen, the training weights are the copy left unused.
    ...(options.extractEma ? [[SINGLE_FILE_PREFIXES.unet, false] as const] : []),
  ];
  const ignored: string[] = [];
  const unexpected: string[] = [];
  for (const [canonical, { key }] of byKey) {
    if (used.has(canonical)) continue;
    if (ignore.some(([p, exact]) => matches(p, key, exact) || matches(p, canonical, exact))) ignored.push(key);
    else unexpected.push(key);
  }

  if (missing.length || unexpected.length || mismatched.length || duplicated.length) {
    const hints = FOREIGN_LAYOUTS.filter(([re]) => unexpected.some((k) => re.test(k))).map(([, text]) => `\n  note: ${text}`);
    if (mismatched.some((m) => m.key.endsWith('input_blocks.0.0.weight'))) hints.push('\n  note: input_blocks.0.0.weight is [C, in_channels, 3, 3]: set unetConfig.in_channels (9 for inpainting models)');
    if (options.extractEma && !stateDict.has('model_ema.decay') && missing.length === table.filter((k) => k.component === 'unet').length) hints.push('\n  note: extractEma was set but the file has no EMA weights (model_ema.*)');
    const message =
      'loadSingleFileCheckpoint: the checkpoint does not match the SD 1.x single-file layout for the given configs' +
      section('missing', missing) +
      section('unexpected', unexpected) +
      section('shape mismatch', mismatched.map((m) => `${m.key} is ${shapeText(m.actual)}, ${m.param} needs ${shapeText(m.expected)}`)) +
      section('duplicated', duplicated) +
      hints.join('');
    throw new StateDictMismatchError(message, missing, unexpected, mismatched, duplicated);
  }

  // Everything matches: upload (dtype kinds are checked there; fp16 / bf16 widen to float32).
  const loaded: Module[] = [];
  try {
    for (const [component, model] of [['unet', unet], ['vae', vae], ['textEncoder', textEncoder]] as const) {
      loadWeights(model, perComponent[component], { name: `loadSingleFileCheckpoint: ${component}`, ...(options.backend ? { backend: options.backend } : {}) });
      loaded.push(model);
    }
  } catch (e) {
    for (const m of loaded) m.dispose();
    throw e;
  }
  return { unet, vae, textEncoder, ignored };
}

/**
 * Reads a single-file SD 1.x checkpoint (`.safetensors`, or a PyTorch zip `.ckpt` / `.pth`,
 * recognised by content) into a UNet2DConditionModel, an AutoencoderKL and a CLIPTextModel.
 * Configs default to Stable Diffusion 1.x; pass the fields that differ (e.g. `unetConfig: {
 * in_channels: 9 }` for inpainting checkpoints).
 */
export async function loadSingleFileCheckpoint(input: string | Uint8Array, options: SingleFileOptions & Pick<LoadStateDictOptions, 'verifyCrc'> = {}): Promise<LoadedSingleFile> {
  if (typeof input !== 'string' && !(input instanceof Uint8Array)) throw new InvalidArgumentError(`loadSingleFileCheckpoint: input must be a path or a Uint8Array, got ${describe(input)}`);
  const { tensors, metadata, format } = await loadStateDict(input, options.verifyCrc === undefined ? {} : { verifyCrc: options.verifyCrc });
  if (![...tensors.keys()].some((k) => Object.values(SINGLE_FILE_PREFIXES).some((p) => k.startsWith(p)))) {
    const first = [...tensors.keys()].slice(0, 5).join(', ');
    throw new CheckpointError(`loadSingleFileCheckpoint: no key starts with ${Object.values(SINGLE_FILE_PREFIXES).join(', ')}: not a single-file SD checkpoint (first keys: ${first || 'none'})`);
  }
  return { ...singleFileModelsFromStateDict(tensors, options), format, metadata };
}

export interface SaveSingleFileOptions {
  /** Store float32 weights as float16 (half the size, as most published single files are; lossy). */
  float16?: boolean;
  /** safetensors `__metadata__`. */
  metadata?: Record<string, string>;
}

/**
 * Writes three models as one `.safetensors` single file under the original key names (the
 * autoencoder's attention weights as 1x1 convolutions, as CompVis stores them), loadable by
 * loadSingleFileCheckpoint and by the tools that read SD 1.x single files.
 */
export async function saveSingleFileCheckpoint(path: string, models: SingleFileModelSet, options: SaveSingleFileOptions = {}): Promise<void> {
  const table = singleFileKeys(models);
  const params = new Map<string, Tensor>();
  for (const [component, model] of Object.entries(models) as Array<[SingleFileComponent, Module]>) {
    for (const [k, t] of model.stateDict()) params.set(`${component}:${k}`, t);
  }
  const made: Tensor[] = [];
  try {
    const tensors = new Map<string, Tensor>();
    for (const k of table) {
      const t = params.get(`${k.component}:${k.param}`)!;
      if (k.conv1x1) made.push(reshape(t, [...k.shape, 1, 1]));
      tensors.set(k.file, k.conv1x1 ? made[made.length - 1]! : t);
    }
    const bytes = await serializeTensors(tensors, { metadata: { format: 'pt', ...options.metadata }, ...(options.float16 ? { float16: true } : {}) });
    await writeFileAtomic(path, bytes);
  } finally {
    for (const t of made) t.dispose();
  }
}
