// A StableDiffusionPipeline from a diffusers pipeline folder (model_index.json + unet/, vae/,
// text_encoder/, tokenizer/, scheduler/, and low_res_scheduler/ for the x4 upscaler), through
// the checkpoint readers and model loaders of this package: every component's config and
// weights checked, sharded and fp16-variant weights included; or from a single-file SD 1.x
// checkpoint (convert/single-file.ts) with the shipped CLIP tokenizer and SD 1.x's scheduler.
// Paths need Node (file reads); single files also load from bytes.

import { CheckpointError, InvalidArgumentError, describe, type Backend, type DiffusersSchedulerConfig } from '@denoise/core';
import { loadComponentWeights, readDiffusersPipeline, type DiffusersComponent, type DiffusersModelComponent } from '../checkpoint/diffusers.js';
import { clipTextFromStateDict, unetFromStateDict, vaeFromStateDict } from '../models/io.js';
import type { TinyAutoencoder } from '../taesd/taesd.js';
import { loadSingleFileCheckpoint, type SingleFileOptions } from '../convert/single-file.js';
import { loadClipTokenizer, loadClipTokenizerFromDiffusers } from '../tokenizer/load.js';
import { PipelineScheduler } from './scheduler.js';
import { SD15_SCHEDULER, StableDiffusionPipeline } from './stable-diffusion.js';

export interface LoadPipelineOptions {
  /** Weight variant to prefer ('fp16'). */
  variant?: string;
  /** Backend for the weights; default the current backend. */
  backend?: Backend;
  /** A TAESD for previews. */
  taesd?: TinyAutoencoder | null;
}

function describeKind(c: DiffusersComponent | undefined): string {
  return c ? `a ${c.kind} (${c.library}.${c.className})` : 'missing';
}

/** Loads unet, vae, text_encoder, tokenizer and the scheduler config of a diffusers folder. */
export async function loadStableDiffusionPipeline(dir: string, options: LoadPipelineOptions = {}): Promise<StableDiffusionPipeline> {
  const op = 'loadStableDiffusionPipeline';
  const pipe = await readDiffusersPipeline(dir, options.variant ? { variant: options.variant } : {});
  const c = pipe.components;
  const problems: string[] = [];
  const model = (name: string, required: boolean): DiffusersModelComponent | null => {
    const comp = c[name];
    if (comp?.kind === 'model') return comp;
    if (required || comp) problems.push(`${name} must be a model folder, it is ${describeKind(comp)}`);
    return null;
  };
  const unetC = model('unet', true);
  const vaeC = model('vae', true);
  const textC = model('text_encoder', false);
  const tokC = c['tokenizer'];
  const schedC = c['scheduler'];
  const lowC = c['low_res_scheduler'];
  if (schedC?.kind !== 'scheduler') problems.push(`scheduler must be a scheduler folder, it is ${describeKind(schedC)}`);
  if (tokC && tokC.kind !== 'tokenizer') problems.push(`tokenizer must be a tokenizer folder, it is ${describeKind(tokC)}`);
  if (lowC && lowC.kind !== 'scheduler') problems.push(`low_res_scheduler must be a scheduler folder, it is ${describeKind(lowC)}`);
  if (problems.length) throw new CheckpointError(`${op}: ${dir} (${pipe.className}): ${problems.join('; ')}`);
  const load = options.backend ? { backend: options.backend } : {};
  const loaded: { dispose(): void }[] = [];
  try {
    const unet = unetFromStateDict(unetC!.config, (await loadComponentWeights(unetC!)).tensors, load);
    loaded.push(unet);
    const vae = vaeFromStateDict(vaeC!.config, (await loadComponentWeights(vaeC!)).tensors, load);
    loaded.push(vae);
    const textEncoder = textC ? clipTextFromStateDict(textC.config, (await loadComponentWeights(textC)).tensors, load) : null;
    if (textEncoder) loaded.push(textEncoder);
    const tokenizer = tokC?.kind === 'tokenizer' ? await loadClipTokenizerFromDiffusers(tokC) : null;
    return new StableDiffusionPipeline({
      unet, vae, textEncoder, tokenizer,
      scheduler: schedC!.kind === 'scheduler' ? schedC!.config : {},
      ...(lowC?.kind === 'scheduler' ? { lowResScheduler: lowC.config } : {}),
      ...(options.taesd ? { taesd: options.taesd } : {}),
    });
  } catch (e) {
    for (const m of loaded) m.dispose();
    throw e;
  }
}

export interface LoadSingleFilePipelineOptions extends SingleFileOptions {
  /** The scheduler_config.json to sample with (or a PipelineScheduler); default SD15_SCHEDULER (PNDM). */
  scheduler?: DiffusersSchedulerConfig | PipelineScheduler;
  /** A TAESD for previews. */
  taesd?: TinyAutoencoder | null;
  /** Check the zip entries' CRC-32 of a `.ckpt` (default true). */
  verifyCrc?: boolean;
}

/**
 * Loads a single-file SD 1.x checkpoint (`.safetensors`, `.ckpt`, `.pth`; a path or its bytes)
 * as a pipeline: the UNet, autoencoder and CLIP text encoder from the file (configs default to SD
 * 1.x; pass `unetConfig: { in_channels: 9 }` for an inpainting file), the CLIP tokenizer shipped
 * with this package, and SD 1.x's PNDM scheduler unless `scheduler` says otherwise.
 */
export async function loadSingleFilePipeline(input: string | Uint8Array, options: LoadSingleFilePipelineOptions = {}): Promise<StableDiffusionPipeline> {
  const op = 'loadSingleFilePipeline';
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError(`${op}: options must be an object, got ${describe(options)}`);
  const { scheduler, taesd, ...fileOptions } = options;
  const tokenizer = await loadClipTokenizer();
  const models = await loadSingleFileCheckpoint(input, fileOptions);
  try {
    return new StableDiffusionPipeline({
      unet: models.unet, vae: models.vae, textEncoder: models.textEncoder, tokenizer,
      scheduler: scheduler ?? SD15_SCHEDULER,
      ...(taesd ? { taesd } : {}),
    });
  } catch (e) {
    for (const m of [models.unet, models.vae, models.textEncoder]) m.dispose();
    throw e;
  }
}
