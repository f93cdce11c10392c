// Test helpers for src/pipelines (not exported by the package): tiny random-weight components
// (a UNet of two 8 / 16-channel levels, a two-level VAE with a 2x factor, a two-layer CLIP text
// encoder of width 16 over the real 49,408-token vocabulary) that run a whole pipeline call in a
// fraction of a second on the reference backend.

import { Generator, type DiffusersSchedulerConfig } from '@denoise/core';
import { CLIPTextModel } from '../models/clip/clip-text.js';
import { clipTextConfig } from '../models/clip/config.js';
import { initRandom } from '../models/nn/module.js';
import { unetConfig, type UNet2DConditionConfig } from '../models/unet/config.js';
import { UNet2DConditionModel } from '../models/unet/unet.js';
import { vaeConfig } from '../models/vae/config.js';
import { AutoencoderKL } from '../models/vae/autoencoder-kl.js';
import { loadClipTokenizer } from '../tokenizer/load.js';
import { StableDiffusionPipeline, type StableDiffusionComponents } from './stable-diffusion.js';

/** Stable Diffusion 1.x's scheduler_config.json. */
export const SD_PNDM: DiffusersSchedulerConfig = {
  _class_name: 'PNDMScheduler', beta_start: 0.00085, beta_end: 0.012, beta_schedule: 'scaled_linear', num_train_timesteps: 1000,
  set_alpha_to_one: false, skip_prk_steps: true, steps_offset: 1, trained_betas: null, clip_sample: false,
};
export const SD_EULER: DiffusersSchedulerConfig = { ...SD_PNDM, _class_name: 'EulerDiscreteScheduler', timestep_spacing: 'linspace' };
export const SD_DDIM: DiffusersSchedulerConfig = { ...SD_PNDM, _class_name: 'DDIMScheduler' };

export function tinyUNet(overrides: Partial<UNet2DConditionConfig> = {}, seed = 1): UNet2DConditionModel {
  const unet = new UNet2DConditionModel(unetConfig({
    sample_size: 8, in_channels: 4, out_channels: 4, block_out_channels: [8, 16], layers_per_block: 1,
    down_block_types: ['CrossAttnDownBlock2D', 'DownBlock2D'], up_block_types: ['UpBlock2D', 'CrossAttnUpBlock2D'],
    cross_attention_dim: 16, attention_head_dim: 2, norm_num_groups: 4, ...overrides,
  }));
  initRandom(unet, new Generator(seed));
  return unet;
}

/** levels 2: 2x factor; 3: 4x (the x4 upscaler's layout). */
export function tinyVAE(levels = 2, seed = 2): AutoencoderKL {
  const vae = new AutoencoderKL(vaeConfig({
    block_out_channels: new Array<number>(levels).fill(8), down_block_types: new Array(levels).fill('DownEncoderBlock2D'),
    up_block_types: new Array(levels).fill('UpDecoderBlock2D'), latent_channels: 4, norm_num_groups: 4, layers_per_block: 1, sample_size: 16,
  }));
  initRandom(vae, new Generator(seed));
  return vae;
}

export function tinyTextEncoder(seed = 3): CLIPTextModel {
  const clip = new CLIPTextModel(clipTextConfig({
    vocab_size: 49408, hidden_size: 16, intermediate_size: 32, num_hidden_layers: 2, num_attention_heads: 2, max_position_embeddings: 77,
  }));
  initRandom(clip, new Generator(seed));
  return clip;
}

/** A text-to-image pipeline of tiny components (16x16 images, 8x8 latents). */
export async function tinyPipeline(overrides: Partial<StableDiffusionComponents> = {}): Promise<StableDiffusionPipeline> {
  return new StableDiffusionPipeline({
    unet: tinyUNet(), vae: tinyVAE(), textEncoder: tinyTextEncoder(), tokenizer: await loadClipTokenizer(), scheduler: SD_EULER, ...overrides,
  });
}

/** A deterministic RGBA test pattern (gradients and a square). */
export function testImage(width: number, height: number): { width: number; height: number; data: Uint8Array } {
  const data = new Uint8Array(width * height * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = 4 * (y * width + x);
      const inside = x > width / 4 && x < (3 * width) / 4 && y > height / 4 && y < (3 * height) / 4;
      data[i] = Math.round((255 * x) / (width - 1));
      data[i + 1] = Math.round((255 * y) / (height - 1));
      data[i + 2] = inside ? 230 : 40;
      data[i + 3] = 255;
    }
  }
  return { width, height, data };
}

/** White (repaint) on the left half, black (keep) on the right. */
export function leftHalfMask(width: number, height: number): { width: number; height: number; data: Uint8Array } {
  const data = new Uint8Array(width * height * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = 4 * (y * width + x);
      const v = x < width / 2 ? 255 : 0;
      data.set([v, v, v, 255], i);
    }
  }
  return { width, height, data };
}
