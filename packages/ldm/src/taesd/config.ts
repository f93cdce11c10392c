// TAESD (Tiny AutoEncoder for Stable Diffusion, Ollin Boer Bohan, MIT): a ~1.2 M-parameter
// convolutional encoder / decoder pair distilled to match a diffusion model's VAE latents, for
// fast previews. One family, several latent spaces: SD 1.x / 2.x / XL (4 channels), SD3 and
// FLUX.1 (16), FLUX.2 (32, plus a "midblock group norm" branch in the blocks next to the latent).
//
// The layer layout is fixed (nn.Sequential indices are the checkpoint keys):
//   encoder  0 conv 3→64 | 1 Block | 2 conv s2 | 3-5 Blocks | 6 conv s2 | 7-9 Blocks |
//            10 conv s2 | 11-13 Blocks | 14 conv 64→latent                  (8x down)
//   decoder  0 tanh(x/3)*3 | 1 conv latent→64 | 2 relu | 3-5 Blocks | 6 up x2 | 7 conv |
//            8-10 Blocks | 11 up | 12 conv | 13-15 Blocks | 16 up | 17 conv | 18 Block |
//            19 conv 64→3                                                  (8x up)
// What varies is read from the weights, never guessed: the latent channels (shape of the last
// encoder conv / first decoder conv) and which Blocks carry the group-norm branch (`N.pool.*`).

import { CheckpointError } from '@denoise/core';
import type { StateDict } from '../checkpoint/state-dict.js';

export interface TaesdConfig {
  /** Latent channels: 4 (SD), 16 (SD3, FLUX.1), 32 (FLUX.2). */
  readonly latentChannels: number;
  /** Width of every hidden layer (64 in every released TAESD). */
  readonly channels: number;
  /** Encoder layer indices of Blocks with the global group-norm branch (FLUX.2: 11, 12, 13). */
  readonly encoderGnBlocks: readonly number[];
  /** Decoder layer indices of Blocks with the branch (FLUX.2: 3, 4, 5). */
  readonly decoderGnBlocks: readonly number[];
}

/** Layer kinds by index; see the header. */
export type TaesdLayer = 'conv' | 'conv-s2' | 'conv-nobias' | 'block' | 'relu' | 'clamp' | 'up';

export const ENCODER_LAYERS: readonly TaesdLayer[] = [
  'conv', 'block',
  'conv-s2', 'block', 'block', 'block',
  'conv-s2', 'block', 'block', 'block',
  'conv-s2', 'block', 'block', 'block',
  'conv',
];

export const DECODER_LAYERS: readonly TaesdLayer[] = [
  'clamp', 'conv', 'relu',
  'block', 'block', 'block', 'up', 'conv-nobias',
  'block', 'block', 'block', 'up', 'conv-nobias',
  'block', 'block', 'block', 'up', 'conv-nobias',
  'block', 'conv',
];

/** TAESD for SD 1.x / 2.x / XL latents. */
export const TAESD_SD: TaesdConfig = { latentChannels: 4, channels: 64, encoderGnBlocks: [], decoderGnBlocks: [] };
/** TAEF2: FLUX.2 latents (32 channels before FLUX.2's 2x2 patching). */
export const TAESD_FLUX2: TaesdConfig = { latentChannels: 32, channels: 64, encoderGnBlocks: [11, 12, 13], decoderGnBlocks: [3, 4, 5] };

/** Parameter names and shapes of one half (the checkpoint's own keys). */
export function taesdParamShapes(config: TaesdConfig, part: 'encoder' | 'decoder'): Record<string, number[]> {
  const c = config.channels;
  const layers = part === 'encoder' ? ENCODER_LAYERS : DECODER_LAYERS;
  const gn = new Set(part === 'encoder' ? config.encoderGnBlocks : config.decoderGnBlocks);
  const shapes: Record<string, number[]> = {};
  const firstConv = layers.indexOf('conv');
  const lastConv = layers.lastIndexOf('conv');
  layers.forEach((kind, i) => {
    if (kind === 'conv' || kind === 'conv-s2' || kind === 'conv-nobias') {
      let cin = c;
      let cout = c;
      if (i === firstConv) cin = part === 'encoder' ? 3 : config.latentChannels;
      if (i === lastConv) cout = part === 'encoder' ? config.latentChannels : 3;
      shapes[`${i}.weight`] = [cout, cin, 3, 3];
      if (kind === 'conv') shapes[`${i}.bias`] = [cout];
    } else if (kind === 'block') {
      for (const j of [0, 2, 4]) {
        shapes[`${i}.conv.${j}.weight`] = [c, c, 3, 3];
        shapes[`${i}.conv.${j}.bias`] = [c];
      }
      if (gn.has(i)) {
        shapes[`${i}.pool.0.weight`] = [4 * c, c, 1, 1];
        shapes[`${i}.pool.1.weight`] = [4 * c];
        shapes[`${i}.pool.1.bias`] = [4 * c];
        shapes[`${i}.pool.3.weight`] = [c, 4 * c, 1, 1];
      }
    }
  });
  return shapes;
}

/** Reads the configuration off the two state dicts (latent channels, width, group-norm blocks). */
export function taesdConfigFromStateDicts(encoder: StateDict, decoder: StateDict): TaesdConfig {
  const last = encoder.get(`${ENCODER_LAYERS.length - 1}.weight`);
  const first = decoder.get('1.weight');
  if (!last || last.shape.length !== 4) throw new CheckpointError(`TAESD: the encoder has no 4-d ${ENCODER_LAYERS.length - 1}.weight (its final conv); is this a TAESD encoder?`);
  if (!first || first.shape.length !== 4) throw new CheckpointError('TAESD: the decoder has no 4-d 1.weight (its first conv); is this a TAESD decoder?');
  const latentChannels = last.shape[0]!;
  if (first.shape[1] !== latentChannels) throw new CheckpointError(`TAESD: encoder makes ${latentChannels}-channel latents, decoder takes ${first.shape[1]}: not a pair`);
  const gnBlocks = (sd: StateDict) =>
    [...sd.keys()].map((k) => /^(\d+)\.pool\.0\.weight$/.exec(k)).filter((m): m is RegExpExecArray => m !== null).map((m) => Number(m[1])).sort((a, b) => a - b);
  return { latentChannels, channels: last.shape[1]!, encoderGnBlocks: gnBlocks(encoder), decoderGnBlocks: gnBlocks(decoder) };
}
