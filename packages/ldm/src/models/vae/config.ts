// The KL-regularised autoencoder's configuration: the fields of diffusers' AutoencoderKL
// config.json, with Rombach et al.'s names in the comments. vaeConfig(partial) fills missing
// fields with Stable Diffusion 1.x's values; parseVAEConfig(json) with diffusers' class defaults
// (what a config.json without them means to diffusers: a one-level, 64-channel model).

import { FieldReader } from '../config-fields.js';
import { DIFFUSERS_ACTIVATIONS, type DiffusersActivation } from '../nn/layers.js';

export interface AutoencoderKLConfig {
  /** Image channels x: 3. */
  in_channels: number;
  /** Reconstructed image channels: 3. */
  out_channels: number;
  /** One 'DownEncoderBlock2D' per level (the only type supported). */
  down_block_types: 'DownEncoderBlock2D'[];
  /** One 'UpDecoderBlock2D' per level. */
  up_block_types: 'UpDecoderBlock2D'[];
  /** Channels per level: [128, 256, 512, 512]; the downsampling factor f is 2^(levels - 1) = 8. */
  block_out_channels: number[];
  /** ResNets per encoder level (the decoder has one more): 2. */
  layers_per_block: number;
  /** ResNet nonlinearity: 'silu' (the output norms always use SiLU, as diffusers does). */
  act_fn: DiffusersActivation;
  /** Channels c of the latent z: 4. */
  latent_channels: number;
  /** GroupNorm groups: 32. */
  norm_num_groups: number;
  /** Image size the model was trained at; the tile size of tiled encoding / decoding: 512 (a number or [H, W]). */
  sample_size: number | [number, number];
  /** Latent scale so that z * scaling_factor has unit variance: 0.18215 for SD 1.x (0.13025 SDXL). */
  scaling_factor: number;
  /** Latent shift (SD3 / Flux), null for SD. */
  shift_factor: number | null;
  /** Per-channel latent statistics some models publish (null for SD). */
  latents_mean: number[] | null;
  latents_std: number[] | null;
  /** Half-precision advice for diffusers; ignored here (everything runs in float32). */
  force_upcast: boolean;
  /** 1x1 convolutions on the moments (quant_conv) and on z (post_quant_conv): true. */
  use_quant_conv: boolean;
  use_post_quant_conv: boolean;
  /** Single-head self-attention in the encoder's and decoder's mid blocks: true. */
  mid_block_add_attention: boolean;
}

/** Stable Diffusion 1.x's vae/config.json. */
export const SD15_VAE: Readonly<AutoencoderKLConfig> = Object.freeze({
  in_channels: 3,
  out_channels: 3,
  down_block_types: ['DownEncoderBlock2D', 'DownEncoderBlock2D', 'DownEncoderBlock2D', 'DownEncoderBlock2D'],
  up_block_types: ['UpDecoderBlock2D', 'UpDecoderBlock2D', 'UpDecoderBlock2D', 'UpDecoderBlock2D'],
  block_out_channels: [128, 256, 512, 512],
  layers_per_block: 2,
  act_fn: 'silu',
  latent_channels: 4,
  norm_num_groups: 32,
  sample_size: 512,
  scaling_factor: 0.18215,
  shift_factor: null,
  latents_mean: null,
  latents_std: null,
  force_upcast: true,
  use_quant_conv: true,
  use_post_quant_conv: true,
  mid_block_add_attention: true,
} as AutoencoderKLConfig);

/** diffusers' AutoencoderKL.__init__ defaults. */
export const DIFFUSERS_VAE_DEFAULTS: Readonly<AutoencoderKLConfig> = Object.freeze({
  ...SD15_VAE,
  down_block_types: ['DownEncoderBlock2D'],
  up_block_types: ['UpDecoderBlock2D'],
  block_out_channels: [64],
  layers_per_block: 1,
  sample_size: 32,
} as AutoencoderKLConfig);

const COMPONENT = 'AutoencoderKL';

function floatList(r: FieldReader, name: string, dflt: number[] | null): number[] | null {
  if (!r.has(name) || r.get(name) === null) return r.has(name) ? null : dflt;
  const v = r.get(name);
  if (Array.isArray(v) && v.every((x) => typeof x === 'number' && Number.isFinite(x))) return [...(v as number[])];
  r.problem(name, 'null or a list of numbers');
  return dflt;
}

export function readVAEConfig(json: Readonly<Record<string, unknown>>, defaults: Readonly<AutoencoderKLConfig>): AutoencoderKLConfig {
  const r = new FieldReader(COMPONENT, json);
  const unsupported = (s: string) => /Block2D$/.test(s);
  const c: AutoencoderKLConfig = {
    in_channels: r.int('in_channels', defaults.in_channels, 1),
    out_channels: r.int('out_channels', defaults.out_channels, 1),
    down_block_types: r.stringList('down_block_types', ['DownEncoderBlock2D'] as const, [...defaults.down_block_types], unsupported),
    up_block_types: r.stringList('up_block_types', ['UpDecoderBlock2D'] as const, [...defaults.up_block_types], unsupported),
    block_out_channels: r.intList('block_out_channels', [...defaults.block_out_channels]),
    layers_per_block: r.int('layers_per_block', defaults.layers_per_block, 1),
    act_fn: r.oneOf('act_fn', DIFFUSERS_ACTIVATIONS as readonly DiffusersActivation[], defaults.act_fn),
    latent_channels: r.int('latent_channels', defaults.latent_channels, 1),
    norm_num_groups: r.int('norm_num_groups', defaults.norm_num_groups, 1),
    sample_size: defaults.sample_size,
    scaling_factor: r.number('scaling_factor', defaults.scaling_factor, true),
    shift_factor: r.nullableNumber('shift_factor', defaults.shift_factor),
    latents_mean: floatList(r, 'latents_mean', defaults.latents_mean),
    latents_std: floatList(r, 'latents_std', defaults.latents_std),
    force_upcast: r.bool('force_upcast', defaults.force_upcast),
    use_quant_conv: r.bool('use_quant_conv', defaults.use_quant_conv),
    use_post_quant_conv: r.bool('use_post_quant_conv', defaults.use_post_quant_conv),
    mid_block_add_attention: r.bool('mid_block_add_attention', defaults.mid_block_add_attention),
  };
  if (r.has('sample_size')) {
    const s = r.get('sample_size');
    if (Number.isInteger(s) && (s as number) > 0) c.sample_size = s as number;
    else if (Array.isArray(s) && s.length === 2 && s.every((x) => Number.isInteger(x) && x > 0)) c.sample_size = [s[0] as number, s[1] as number];
    else r.problem('sample_size', 'a positive integer or [height, width]');
  }
  const n = c.block_out_channels.length;
  if (c.down_block_types.length !== n) r.problems.push(`down_block_types: expected ${n} entries (one per block_out_channels), got ${c.down_block_types.length}`);
  if (c.up_block_types.length !== n) r.problems.push(`up_block_types: expected ${n} entries (one per block_out_channels), got ${c.up_block_types.length}`);
  for (const ch of c.block_out_channels) if (ch % c.norm_num_groups !== 0) r.problems.push(`norm_num_groups: ${c.norm_num_groups} does not divide ${ch} channels`);
  r.finish();
  return c;
}

/** A config with Stable Diffusion 1.x's values for every field not given. */
export function vaeConfig(partial: Partial<AutoencoderKLConfig> = {}): AutoencoderKLConfig {
  return readVAEConfig(partial as Record<string, unknown>, SD15_VAE);
}

/** A diffusers config.json object (missing fields take diffusers' class defaults). */
export function parseVAEConfig(json: Readonly<Record<string, unknown>>): AutoencoderKLConfig {
  return readVAEConfig(json, DIFFUSERS_VAE_DEFAULTS);
}
