// The key mapping between the original single-file Stable Diffusion 1.x checkpoints (CompVis'
// latent-diffusion layout: `model.diffusion_model.*` for the UNet of openaimodel.py,
// `first_stage_model.*` for the autoencoder of diffusionmodules/model.py,
// `cond_stage_model.transformer.*` for transformers' CLIPTextModel) and the diffusers /
// transformers parameter names our models use (src/models).
//
// The mapping is data plus a few computed rules, the same ones diffusers applies in
// loaders/single_file_utils.py (convert_ldm_unet_checkpoint, convert_ldm_vae_checkpoint,
// convert_ldm_clip_checkpoint):
//   - fixed module renames (time_embed.0 → time_embedding.linear_1, out.2 → conv_out, ...);
//   - leaf renames inside one kind of module (an original ResBlock's in_layers.0 → norm1, the
//     autoencoder's nin_shortcut → conv_shortcut, its attention q / k / v / proj_out → to_q /
//     to_k / to_v / to_out.0, stored as 1x1 convolutions [C, C, 1, 1] where diffusers has
//     linear weights [C, C]);
//   - the block numbering: the original UNet numbers its encoder and decoder layers flat
//     (input_blocks.k / output_blocks.k, each a Sequential of ResBlock [, SpatialTransformer]
//     [, Up/Downsample]) where diffusers nests them (down_blocks.i.resnets.j); the original
//     decoder numbers its levels from the bottom (up.{n-1-i}).
// The tables are generated from a model's own parameter list, so every parameter has exactly
// one file key (a parameter the original layout cannot express is an error here, not a silent
// gap), and the same table serves both directions.

import { InvalidArgumentError } from '@denoise/core';
import type { CLIPTextModel } from '../models/clip/clip-text.js';
import type { Module } from '../models/nn/module.js';
import type { UNet2DConditionModel } from '../models/unet/unet.js';
import type { AutoencoderKL } from '../models/vae/autoencoder-kl.js';

/** The three components of a single-file checkpoint. */
export type SingleFileComponent = 'unet' | 'vae' | 'textEncoder';

/** Where each component lives in the file. */
export const SINGLE_FILE_PREFIXES: Readonly<Record<SingleFileComponent, string>> = Object.freeze({
  unet: 'model.diffusion_model.',
  vae: 'first_stage_model.',
  textEncoder: 'cond_stage_model.transformer.',
});

/** One parameter: its key in the single file, its key in our model, and whether the file stores it as a 1x1 conv. */
export interface SingleFileKey {
  readonly component: SingleFileComponent;
  /** Full key in the single file (prefix included). */
  readonly file: string;
  /** Parameter key in the model (diffusers / transformers name). */
  readonly param: string;
  /** The model's shape. */
  readonly shape: readonly number[];
  /** The file holds a 1x1 convolution [O, I, 1, 1] where the model has a linear weight [O, I]. */
  readonly conv1x1: boolean;
}

/** Leaf renames inside one kind of module: original sub-module name → diffusers sub-module name. */
type LeafTable = Readonly<Record<string, string>>;

/** openaimodel.py's ResBlock: in_layers = [GroupNorm, SiLU, conv], emb_layers = [SiLU, Linear], out_layers = [GroupNorm, SiLU, Dropout, conv]. */
export const UNET_RESNET_LEAVES: LeafTable = Object.freeze({
  'in_layers.0': 'norm1',
  'in_layers.2': 'conv1',
  'emb_layers.1': 'time_emb_proj',
  'out_layers.0': 'norm2',
  'out_layers.3': 'conv2',
  skip_connection: 'conv_shortcut',
});

/** diffusionmodules/model.py's ResnetBlock. */
export const VAE_RESNET_LEAVES: LeafTable = Object.freeze({
  norm1: 'norm1',
  conv1: 'conv1',
  norm2: 'norm2',
  conv2: 'conv2',
  nin_shortcut: 'conv_shortcut',
});

/** diffusionmodules/model.py's AttnBlock (q, k, v, proj_out are 1x1 convs there). */
export const VAE_ATTENTION_LEAVES: LeafTable = Object.freeze({
  norm: 'group_norm',
  q: 'to_q',
  k: 'to_k',
  v: 'to_v',
  proj_out: 'to_out.0',
});

/** The AttnBlock leaves whose weights are 1x1 convs in the file and linear weights in diffusers. */
const VAE_ATTENTION_CONV1X1 = new Set(['q', 'k', 'v', 'proj_out']);

/**
 * One module of the original layout and its diffusers counterpart. `leaves`: renames of its
 * sub-modules (a closed list); null: the sub-module names are the same in both layouts (the
 * spatial transformer, single convs and norms).
 */
export interface ModuleRename {
  readonly ldm: string;
  readonly diffusers: string;
  readonly leaves: LeafTable | null;
  /** `leaves` names whose weights the file stores as 1x1 convs. */
  readonly conv1x1?: ReadonlySet<string>;
}

const mod = (ldm: string, diffusers: string, leaves: LeafTable | null = null): ModuleRename => ({ ldm, diffusers, leaves });

/** UNet modules outside the numbered blocks (diffusers' DIFFUSERS_TO_LDM_MAPPING["unet"]). */
export const UNET_FIXED: readonly ModuleRename[] = Object.freeze([
  mod('time_embed.0', 'time_embedding.linear_1'),
  mod('time_embed.2', 'time_embedding.linear_2'),
  mod('input_blocks.0.0', 'conv_in'),
  mod('out.0', 'conv_norm_out'),
  mod('out.2', 'conv_out'),
  // Class conditioning: a table (the x4 upscaler's noise levels) or the 'timestep' / 'projection' MLP.
  mod('label_emb', 'class_embedding'),
  mod('label_emb.0.0', 'class_embedding.linear_1'),
  mod('label_emb.0.2', 'class_embedding.linear_2'),
]);

/** Autoencoder modules outside the numbered blocks (DIFFUSERS_TO_LDM_MAPPING["vae"]). */
export const VAE_FIXED: readonly ModuleRename[] = Object.freeze([
  mod('encoder.conv_in', 'encoder.conv_in'),
  mod('encoder.norm_out', 'encoder.conv_norm_out'),
  mod('encoder.conv_out', 'encoder.conv_out'),
  mod('decoder.conv_in', 'decoder.conv_in'),
  mod('decoder.norm_out', 'decoder.conv_norm_out'),
  mod('decoder.conv_out', 'decoder.conv_out'),
  mod('quant_conv', 'quant_conv'),
  mod('post_quant_conv', 'post_quant_conv'),
]);

/**
 * The UNet's module renames for its config. The original numbers the encoder's Sequentials
 * input_blocks.1, 2, ... level after level: per layer one [ResBlock, SpatialTransformer?], then
 * one [Downsample] (conv `op`) between levels; the middle block is [ResBlock,
 * SpatialTransformer, ResBlock]; the decoder's output_blocks.0, 1, ... hold per layer
 * [ResBlock, SpatialTransformer?, Upsample?] with the upsampler (`conv`) in the level's last
 * layer, at index 2 after a transformer, else 1.
 */
export function unetModuleRenames(unet: UNet2DConditionModel): ModuleRename[] {
  const r = unet.resolved;
  const out: ModuleRename[] = [...UNET_FIXED];
  let k = 1;
  for (const lv of r.down) {
    for (let j = 0; j < lv.layers; j++) {
      out.push(mod(`input_blocks.${k}.0`, `down_blocks.${lv.index}.resnets.${j}`, UNET_RESNET_LEAVES));
      if (lv.attention) out.push(mod(`input_blocks.${k}.1`, `down_blocks.${lv.index}.attentions.${j}`));
      k++;
    }
    if (lv.resample) {
      out.push(mod(`input_blocks.${k}.0.op`, `down_blocks.${lv.index}.downsamplers.0.conv`));
      k++;
    }
  }
  if (r.mid) {
    // middle_block.{2m} ↔ mid_block.resnets.m, middle_block.{2m+1} ↔ mid_block.attentions.m.
    const resnets = r.mid.attention ? 2 : 1;
    for (let m = 0; m < resnets; m++) out.push(mod(`middle_block.${2 * m}`, `mid_block.resnets.${m}`, UNET_RESNET_LEAVES));
    if (r.mid.attention) out.push(mod('middle_block.1', 'mid_block.attentions.0'));
  }
  k = 0;
  for (const lv of r.up) {
    for (let j = 0; j < lv.layers; j++) {
      out.push(mod(`output_blocks.${k}.0`, `up_blocks.${lv.index}.resnets.${j}`, UNET_RESNET_LEAVES));
      if (lv.attention) out.push(mod(`output_blocks.${k}.1`, `up_blocks.${lv.index}.attentions.${j}`));
      if (lv.resample && j === lv.layers - 1) out.push(mod(`output_blocks.${k}.${lv.attention ? 2 : 1}.conv`, `up_blocks.${lv.index}.upsamplers.0.conv`));
      k++;
    }
  }
  return out;
}

/**
 * The autoencoder's module renames: encoder.down.i.block.j / .downsample.conv, decoder levels
 * numbered from the bottom (decoder.up.{n-1-i} ↔ decoder.up_blocks.i), the mid blocks'
 * block_1 / attn_1 / block_2.
 */
export function vaeModuleRenames(vae: AutoencoderKL): ModuleRename[] {
  const c = vae.config;
  const n = c.block_out_channels.length;
  const out: ModuleRename[] = [...VAE_FIXED];
  const attention: ModuleRename = { ...mod('', '', VAE_ATTENTION_LEAVES), conv1x1: VAE_ATTENTION_CONV1X1 };
  for (const part of ['encoder', 'decoder'] as const) {
    out.push(mod(`${part}.mid.block_1`, `${part}.mid_block.resnets.0`, VAE_RESNET_LEAVES));
    out.push({ ...attention, ldm: `${part}.mid.attn_1`, diffusers: `${part}.mid_block.attentions.0` });
    out.push(mod(`${part}.mid.block_2`, `${part}.mid_block.resnets.1`, VAE_RESNET_LEAVES));
  }
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < c.layers_per_block; j++) out.push(mod(`encoder.down.${i}.block.${j}`, `encoder.down_blocks.${i}.resnets.${j}`, VAE_RESNET_LEAVES));
    if (i < n - 1) out.push(mod(`encoder.down.${i}.downsample.conv`, `encoder.down_blocks.${i}.downsamplers.0.conv`));
    const level = n - 1 - i;
    for (let j = 0; j < c.layers_per_block + 1; j++) out.push(mod(`decoder.up.${level}.block.${j}`, `decoder.up_blocks.${i}.resnets.${j}`, VAE_RESNET_LEAVES));
    if (i < n - 1) out.push(mod(`decoder.up.${level}.upsample.conv`, `decoder.up_blocks.${i}.upsamplers.0.conv`));
  }
  return out;
}

/**
 * Keys of CLIP text encoders saved with transformers versions whose CLIPTextModel had no
 * `text_model` level (some fine-tunes; the same aliases as AUTOMATIC1111's
 * checkpoint_dict_replacements). Applied to file keys before the table is consulted.
 */
export const LEGACY_CLIP_PREFIXES: Readonly<Record<string, string>> = Object.freeze({
  'cond_stage_model.transformer.embeddings.': 'cond_stage_model.transformer.text_model.embeddings.',
  'cond_stage_model.transformer.encoder.': 'cond_stage_model.transformer.text_model.encoder.',
  'cond_stage_model.transformer.final_layer_norm.': 'cond_stage_model.transformer.text_model.final_layer_norm.',
});

/** Builds the file ↔ parameter table of `model` from its module renames (diffusers → original, per parameter). */
function keyTable(component: SingleFileComponent, model: Module, renames: readonly ModuleRename[]): SingleFileKey[] {
  const byDiffusers = new Map(renames.map((m) => [m.diffusers, m]));
  const prefix = SINGLE_FILE_PREFIXES[component];
  const unmapped: string[] = [];
  const out: SingleFileKey[] = [];
  for (const [param, p] of model.namedParameters()) {
    // The longest module path of `param` that has a rename (module paths end at a dot).
    let rename: ModuleRename | undefined;
    let rest = '';
    for (let cut = param.lastIndexOf('.'); cut > 0 && !rename; cut = param.lastIndexOf('.', cut - 1)) {
      rename = byDiffusers.get(param.slice(0, cut));
      rest = param.slice(cut + 1);
    }
    if (!rename) rename = byDiffusers.get('');
    if (!rename) {
      unmapped.push(param);
      continue;
    }
    if (rename.diffusers === '') rest = param;
    let ldmRest = rest;
    let conv1x1 = false;
    if (rename.leaves) {
      const leaf = Object.entries(rename.leaves).find(([, to]) => rest.startsWith(`${to}.`));
      if (!leaf) {
        unmapped.push(param);
        continue;
      }
      ldmRest = leaf[0] + rest.slice(leaf[1].length);
      conv1x1 = (rename.conv1x1?.has(leaf[0]) ?? false) && rest.endsWith('.weight') && p.shape.length === 2;
    }
    const file = prefix + (rename.ldm === '' ? ldmRest : `${rename.ldm}.${ldmRest}`);
    out.push({ component, file, param, shape: p.shape, conv1x1 });
  }
  if (unmapped.length) {
    throw new InvalidArgumentError(
      `singleFileKeys: ${component}: ${unmapped.length} parameter(s) have no name in the original single-file layout ` +
        `(a config feature CompVis' models do not have): ${unmapped.slice(0, 10).join(', ')}${unmapped.length > 10 ? ', ...' : ''}`,
    );
  }
  return out;
}

/** The UNet's table: model.diffusion_model.* ↔ diffusers' UNet2DConditionModel keys. */
export function unetSingleFileKeys(unet: UNet2DConditionModel): SingleFileKey[] {
  return keyTable('unet', unet, unetModuleRenames(unet));
}

/** The autoencoder's table: first_stage_model.* ↔ diffusers' AutoencoderKL keys. */
export function vaeSingleFileKeys(vae: AutoencoderKL): SingleFileKey[] {
  return keyTable('vae', vae, vaeModuleRenames(vae));
}

/** The text encoder's table: cond_stage_model.transformer.* ↔ transformers' CLIPTextModel keys (a prefix). */
export function clipSingleFileKeys(textEncoder: CLIPTextModel): SingleFileKey[] {
  if (textEncoder.text_projection) throw new InvalidArgumentError('clipSingleFileKeys: SD 1.x single files hold a CLIPTextModel without text_projection');
  return keyTable('textEncoder', textEncoder, [mod('', '')]);
}
