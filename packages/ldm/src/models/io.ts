// Model folders in the diffusers / transformers layout: config.json next to the weights
// (diffusion_pytorch_model.safetensors for diffusers' models, model.safetensors for
// transformers' text encoder). Loading reads and validates the config, builds the model and
// loads the weights by name through checkpoint/state-dict.ts (every missing, unexpected and
// mismatched key reported at once); saving writes both files (atomically, through core's
// safetensors writer). Also the key-mapping tables for names older files use. Node only.

import { CheckpointError, InvalidArgumentError, describe, saveSafetensors, type Backend } from '@denoise/core';
import { loadStateDict, type KeyMapping, type StateDict } from '../checkpoint/state-dict.js';
import { CLIPTextModel } from './clip/clip-text.js';
import { parseCLIPTextConfig } from './clip/config.js';
import { loadWeights } from './nn/module.js';
import { parseUNetConfig } from './unet/config.js';
import { UNet2DConditionModel } from './unet/unet.js';
import { parseVAEConfig } from './vae/config.js';
import { AutoencoderKL } from './vae/autoencoder-kl.js';

/**
 * VAE checkpoints saved before diffusers 0.14 name the mid-block attention query / key / value
 * / proj_attn; diffusers renames them on load (_convert_deprecated_attention_blocks), so do we.
 */
export const VAE_LEGACY_ATTENTION_KEYS: KeyMapping = {
  rules: [
    { from: /(.*mid_block\.attentions\.0)\.query\.(weight|bias)/, to: '$1.to_q.$2' },
    { from: /(.*mid_block\.attentions\.0)\.key\.(weight|bias)/, to: '$1.to_k.$2' },
    { from: /(.*mid_block\.attentions\.0)\.value\.(weight|bias)/, to: '$1.to_v.$2' },
    { from: /(.*mid_block\.attentions\.0)\.proj_attn\.(weight|bias)/, to: '$1.to_out.0.$2' },
  ],
};

/** transformers' CLIP checkpoints may carry the position_ids buffer (persistent in old versions). */
export const CLIP_TEXT_KEYS: KeyMapping = { ignore: [/text_model\.embeddings\.position_ids/] };

type Fs = typeof import('node:fs/promises');
const fsModule = (): Promise<Fs> => import('node:fs/promises');
const join = (dir: string, name: string) => `${dir.replace(/\/+$/, '')}/${name}`;

async function readConfig(fs: Fs, dir: string, component: string): Promise<Record<string, unknown>> {
  const path = join(dir, 'config.json');
  let text: string;
  try {
    text = await fs.readFile(path, 'utf8');
  } catch (e) {
    throw new CheckpointError(`${component}: cannot read ${path}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
  try {
    const v = JSON.parse(text) as unknown;
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not a JSON object');
    return v as Record<string, unknown>;
  } catch (e) {
    throw new CheckpointError(`${component}: ${path} is not a valid config: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
}

const WEIGHT_FILES = ['diffusion_pytorch_model.safetensors', 'model.safetensors', 'diffusion_pytorch_model.fp16.safetensors', 'model.fp16.safetensors', 'diffusion_pytorch_model.bin', 'pytorch_model.bin'];

async function readWeights(fs: Fs, dir: string, component: string): Promise<StateDict> {
  for (const name of WEIGHT_FILES) {
    const path = join(dir, name);
    try {
      await fs.access(path);
    } catch {
      continue;
    }
    return (await loadStateDict(path)).tensors;
  }
  throw new CheckpointError(`${component}: ${dir} has no single-file weights (looked for ${WEIGHT_FILES.join(', ')}; sharded weights: use checkpoint's readDiffusersPipeline + loadComponentWeights, then loadWeights)`);
}

export interface LoadModelOptions {
  /** Backend for the parameters; default the current backend. */
  backend?: Backend;
  /** Extra key rules (tried before the built-in ones) and ignored keys. */
  mapping?: KeyMapping;
}

function merge(a: KeyMapping | undefined, b: KeyMapping): KeyMapping {
  return { rules: [...(a?.rules ?? []), ...(b.rules ?? [])], ignore: [...(a?.ignore ?? []), ...(b.ignore ?? [])] };
}

function loadOpts(name: string, mapping: KeyMapping, options: LoadModelOptions) {
  return { mapping: merge(options.mapping, mapping), name, ...(options.backend ? { backend: options.backend } : {}) };
}

/** Builds a UNet from a config object and a state dict with diffusers' names. */
export function unetFromStateDict(config: Readonly<Record<string, unknown>>, stateDict: StateDict, options: LoadModelOptions = {}): UNet2DConditionModel {
  const model = new UNet2DConditionModel(parseUNetConfig(config));
  loadWeights(model, stateDict, loadOpts('UNet2DConditionModel', {}, options));
  return model;
}

export function vaeFromStateDict(config: Readonly<Record<string, unknown>>, stateDict: StateDict, options: LoadModelOptions = {}): AutoencoderKL {
  const model = new AutoencoderKL(parseVAEConfig(config));
  loadWeights(model, stateDict, loadOpts('AutoencoderKL', VAE_LEGACY_ATTENTION_KEYS, options));
  return model;
}

/** CLIPTextModelWithProjection when the config's architectures say so or the weights have text_projection. */
export function clipTextFromStateDict(config: Readonly<Record<string, unknown>>, stateDict: StateDict, options: LoadModelOptions = {}): CLIPTextModel {
  const arch = Array.isArray(config.architectures) ? (config.architectures as unknown[]) : [];
  const withProjection = arch.includes('CLIPTextModelWithProjection') || (!arch.includes('CLIPTextModel') && stateDict.has('text_projection.weight'));
  const model = new CLIPTextModel(parseCLIPTextConfig(config), { withProjection });
  loadWeights(model, stateDict, loadOpts(withProjection ? 'CLIPTextModelWithProjection' : 'CLIPTextModel', CLIP_TEXT_KEYS, options));
  return model;
}

/** A diffusers model folder (unet/): config.json + diffusion_pytorch_model.safetensors. */
export async function loadUNet2DConditionModel(dir: string, options: LoadModelOptions = {}): Promise<UNet2DConditionModel> {
  const fs = await fsModule();
  const config = await readConfig(fs, dir, 'UNet2DConditionModel');
  return unetFromStateDict(config, await readWeights(fs, dir, 'UNet2DConditionModel'), options);
}

/** A diffusers model folder (vae/). */
export async function loadAutoencoderKL(dir: string, options: LoadModelOptions = {}): Promise<AutoencoderKL> {
  const fs = await fsModule();
  const config = await readConfig(fs, dir, 'AutoencoderKL');
  return vaeFromStateDict(config, await readWeights(fs, dir, 'AutoencoderKL'), options);
}

/** A transformers model folder (text_encoder/): config.json + model.safetensors. */
export async function loadCLIPTextModel(dir: string, options: LoadModelOptions = {}): Promise<CLIPTextModel> {
  const fs = await fsModule();
  const config = await readConfig(fs, dir, 'CLIPTextModel');
  return clipTextFromStateDict(config, await readWeights(fs, dir, 'CLIPTextModel'), options);
}

export interface SaveModelOptions {
  /** Store float32 weights as float16 (half the size; lossy). */
  float16?: boolean;
}

/** The config.json object a model is saved with (diffusers' / transformers' fields and class markers). */
export function modelConfigJson(model: UNet2DConditionModel | AutoencoderKL | CLIPTextModel): Record<string, unknown> {
  if (model instanceof UNet2DConditionModel) return { _class_name: 'UNet2DConditionModel', ...structuredClone(model.config) };
  if (model instanceof AutoencoderKL) return { _class_name: 'AutoencoderKL', ...structuredClone(model.config) };
  if (model instanceof CLIPTextModel) {
    return { architectures: [model.text_projection ? 'CLIPTextModelWithProjection' : 'CLIPTextModel'], model_type: 'clip_text_model', ...structuredClone(model.config) };
  }
  throw new InvalidArgumentError(`saveModel: model must be a UNet2DConditionModel, AutoencoderKL or CLIPTextModel, got ${describe(model)}`);
}

/** Writes config.json and the weights (diffusion_pytorch_model.safetensors, or model.safetensors for the text encoder) into `dir`. */
export async function saveModel(dir: string, model: UNet2DConditionModel | AutoencoderKL | CLIPTextModel, options: SaveModelOptions = {}): Promise<void> {
  const config = modelConfigJson(model);
  const fs = await fsModule();
  await fs.mkdir(dir, { recursive: true });
  const weights = model instanceof CLIPTextModel ? 'model.safetensors' : 'diffusion_pytorch_model.safetensors';
  await saveSafetensors(join(dir, weights), model.stateDict(), { metadata: { format: 'pt' }, ...(options.float16 ? { float16: true } : {}) });
  const { writeFile, rename } = fs;
  const tmp = join(dir, `.config.json.${Date.now()}.tmp`);
  await writeFile(tmp, `${JSON.stringify(config, null, 2)}\n`);
  await rename(tmp, join(dir, 'config.json'));
}
