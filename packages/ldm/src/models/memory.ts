// Peak memory of one UNet evaluation, estimated from the config alone (nothing is allocated):
// the parameters, the skip connections the encoder hands to the decoder (all alive at the
// bottleneck), and the largest transient of one layer: a ResNet's feature maps, a transformer
// step's token copies, or, at the highest-resolution attention level, the attention scores.
//
// The scores dominate at Stable Diffusion sizes: a 512x512 image is a 64x64 latent, 4096 tokens,
// so one self-attention over batch 2 (classifier-free guidance) and 8 heads holds
// 16 * 4096^2 float32 scores = 1 GiB per copy, and a backend without a fused kernel keeps five
// copies (matmul, scale, max-shift, exp, normalise) until the call's scope ends. Slicing bounds
// this by computing `slice` of the 16 (batch x head) rows at a time (and optionally `queryChunk`
// query positions): slice 'max' holds 4096^2 scores (64 MiB) per copy.
//
//   SD 1.x UNet, 512x512, batch 2, float32 (parameters 3.2 GiB), estimated peak:
//     core's composite attention (5 copies):  no slicing 8.7 GiB, slice 'auto' 5.0 GiB, 'max' 4.5 GiB
//     a fused kernel (tfjs: 2 copies):        no slicing 5.7 GiB
//     row-wise kernels (reference backend):   no score matrix at all
//   All within 24 GiB of RAM with room for the VAE and the text encoder. memory.test.ts prints
//   these numbers and checks the estimate against the measured peak of a tiny UNet (the
//   constants below count the copies a composite-only backend keeps).

import { InvalidArgumentError, describe } from '@denoise/core';
import { rowsPerSlice, type AttentionSlicing } from './nn/attention.js';
import { resolveUNet, unetConfig, type UNet2DConditionConfig } from './unet/config.js';
import { UNet2DConditionModel } from './unet/unet.js';

export interface UNetMemoryOptions {
  /** Batch of the evaluation, including classifier-free guidance's doubling (2 for one image with CFG). */
  batch: number;
  /** Latent height and width (image size / 8 for SD: 64 at 512 px). */
  height: number;
  width: number;
  /** Context tokens for cross-attention (77 for CLIP). */
  contextLength?: number;
  slicing?: AttentionSlicing | null;
  /**
   * Full-size score matrices alive at once inside one attention call: 5 for core's composite
   * (backends without a fused kernel), 2 for tfjs' fused kernel (scores and softmax), 0 for
   * row-wise kernels (the reference backend). Default 5.
   */
  scoreCopies?: number;
  /** 4 for float32. */
  bytesPerElement?: number;
}

export interface UNetMemoryEstimate {
  /** Parameter bytes. */
  parameters: number;
  /** Skip connections, all alive at the bottleneck. */
  skips: number;
  /** The largest transient of one layer, and where it happens. */
  transient: number;
  transientAt: string;
  /** One attention call's score matrix at the largest self-attention (per copy, after slicing). */
  attentionScores: number;
  /** parameters + skips + transient: the estimated peak. */
  peak: number;
}

// Copies of a feature map alive at once inside one layer, counted for a backend that runs the
// norms and activations as core's composites and copies on reshape (the worst case):
//  - a ResNet: two group norms (8 each), two SiLUs (2 each), two convolutions with bias, the
//    time embedding, the shortcut and the sum: ~32 maps of its widest side;
//  - an attention step: layer norm (6), q / k / v (3 each), head splits (6), output, merge,
//    to_out (4) and the residual: ~30 token maps, plus the score matrices counted separately;
//  - the GEGLU feed-forward: layer norm (6), the 8C projection (25 in units of C), the halves and
//    the erf-GELU steps (32), the output projection (7), the residual: ~72;
//  - around the blocks: the level's input, its group norm, proj_in and the token layout: ~12.
const RESNET_MAPS = 32;
const ATTENTION_MAPS = 36;
const FEED_FORWARD_MAPS = 76;
const TRANSFORMER_WRAPPER_MAPS = 12;

/** Estimates the peak memory of one forward pass of a UNet with `config` (see the file header). */
export function estimateUNetMemory(config: Partial<UNet2DConditionConfig>, options: UNetMemoryOptions): UNetMemoryEstimate {
  const { batch: b, height, width } = options;
  for (const [k, v] of Object.entries({ batch: b, height, width })) {
    if (!Number.isInteger(v) || v < 1) throw new InvalidArgumentError(`estimateUNetMemory: ${k} must be a positive integer, got ${describe(v)}`);
  }
  const c = unetConfig(config);
  const r = resolveUNet(c, false);
  const bytes = options.bytesPerElement ?? 4;
  const copies = options.scoreCopies ?? 5;
  const ctx = options.contextLength ?? 77;
  const slicing = options.slicing ?? {};
  const parameters = new UNet2DConditionModel(c).parameterCount() * bytes;

  let transient = 0;
  let transientAt = '';
  let attentionScores = 0;
  const consider = (elements: number, where: string) => {
    if (elements * bytes > transient) {
      transient = elements * bytes;
      transientAt = where;
    }
  };
  const attention = (channels: number, heads: number, tq: number, tk: number, where: string) => {
    const rows = Math.min(rowsPerSlice(slicing, heads), b * heads);
    const q = Math.min(slicing.queryChunk ?? tq, tq);
    const scores = rows * q * tk;
    attentionScores = Math.max(attentionScores, scores * bytes);
    const maps = (n: number) => (TRANSFORMER_WRAPPER_MAPS + n) * b * tq * channels;
    consider(maps(ATTENTION_MAPS) + copies * scores, where);
    consider(maps(ATTENTION_MAPS) + copies * rows * q * ctx, `${where.replace('self', 'cross')}`);
    consider(maps(FEED_FORWARD_MAPS), `${where.replace(' self-attention', '')} feed-forward`);
  };

  let h = height;
  let w = width;
  let skips = b * c.block_out_channels[0]! * h * w;
  const sizes: Array<[number, number]> = [];
  for (const lv of r.down) {
    sizes.push([h, w]);
    const t = h * w;
    consider(RESNET_MAPS * b * Math.max(lv.inChannels, lv.channels) * t, `down ${lv.index} ResNet`);
    if (lv.attention) attention(lv.channels, lv.heads, t, t, `down ${lv.index} self-attention`);
    skips += lv.layers * b * lv.channels * t;
    if (lv.resample) {
      h = Math.ceil(h / 2);
      w = Math.ceil(w / 2);
      skips += b * lv.channels * h * w;
    }
  }
  if (r.mid) {
    consider(RESNET_MAPS * b * r.mid.channels * h * w, 'mid ResNet');
    if (r.mid.attention) attention(r.mid.channels, r.mid.heads, h * w, h * w, 'mid self-attention');
  }
  r.up.forEach((lv, i) => {
    const [uh, uw] = sizes[sizes.length - 1 - i]!;
    const t = uh * uw;
    consider(RESNET_MAPS * b * (lv.prevChannels + lv.inChannels + lv.channels) * t, `up ${lv.index} ResNet`);
    if (lv.attention) attention(lv.channels, lv.heads, t, t, `up ${lv.index} self-attention`);
  });
  skips *= bytes;
  return { parameters, skips, transient, transientAt, attentionScores, peak: parameters + skips + transient };
}
