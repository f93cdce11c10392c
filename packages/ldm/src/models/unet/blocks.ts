// The UNet's levels (diffusers' unet_2d_blocks): an encoder level is `layers` ResNets, each
// followed by a spatial transformer in the cross-attention variant, then a stride-2
// downsampling; it hands every intermediate output to the decoder as a skip connection. A
// decoder level concatenates one skip per ResNet (deepest first), and upsamples at the end.
// The mid block is ResNet, [transformer, ResNet]... (UNetMidBlock2DCrossAttn) or a single ResNet
// (UNetMidBlock2D as the conditional UNet builds it).

import { concat, tidy, type Tensor } from '@denoise/core';
import type { AttentionSlicing } from '../nn/attention.js';
import type { DiffusersActivation } from '../nn/layers.js';
import { Module } from '../nn/module.js';
import { Downsample2D, ResnetBlock2D, Upsample2D } from '../nn/resnet.js';
import type { UNetLevel } from './config.js';
import { Transformer2DModel } from './transformer-2d.js';

export interface BlockCommon {
  tembChannels: number;
  groups: number;
  eps: number;
  act: DiffusersActivation;
  timeEmbeddingNorm: 'default' | 'scale_shift';
  skipTimeAct: boolean;
  outputScaleFactor: number;
  useLinearProjection: boolean;
}

function resnet(c: BlockCommon, inChannels: number, outChannels: number, outputScaleFactor = c.outputScaleFactor): ResnetBlock2D {
  return new ResnetBlock2D({
    inChannels, outChannels, tembChannels: c.tembChannels, groups: c.groups, eps: c.eps, act: c.act,
    timeEmbeddingNorm: c.timeEmbeddingNorm, skipTimeAct: c.skipTimeAct, outputScaleFactor,
  });
}

function transformer(c: BlockCommon, channels: number, heads: number, layers: number, crossAttentionDim: number, onlyCrossAttention: boolean): Transformer2DModel {
  return new Transformer2DModel({ heads, channels, layers, crossAttentionDim, groups: c.groups, useLinearProjection: c.useLinearProjection, onlyCrossAttention });
}

/** What the cross-attention layers receive. */
export interface Conditioning {
  context: Tensor;
  /** Additive bias [B, 1, Tk] over the context tokens, or null. */
  contextMask: Tensor | null;
}

/** CrossAttnDownBlock2D / DownBlock2D: resnets.i, attentions.i, downsamplers.0. */
export class DownBlock extends Module {
  readonly resnets: ResnetBlock2D[];
  readonly attentions: Transformer2DModel[];
  readonly downsampler: Downsample2D | null;

  constructor(level: UNetLevel, c: BlockCommon, downsamplePadding: number) {
    super();
    this.resnets = this.childList('resnets', Array.from({ length: level.layers }, (_, i) => resnet(c, i === 0 ? level.inChannels : level.channels, level.channels)));
    this.attentions = level.attention
      ? this.childList('attentions', Array.from({ length: level.layers }, (_, i) => transformer(c, level.channels, level.heads, level.transformerLayers[i]!, level.crossAttentionDim, level.onlyCrossAttention)))
      : [];
    this.downsampler = level.resample ? this.childList('downsamplers', [new Downsample2D(level.channels, level.channels, downsamplePadding)])[0]! : null;
  }

  setSlicing(slicing: AttentionSlicing): void {
    for (const a of this.attentions) a.setSlicing(slicing);
  }

  /** Returns the level's output and its skip connections (one per layer, plus the downsampled output). */
  forward(x: Tensor, temb: Tensor, cond: Conditioning): { out: Tensor; skips: Tensor[] } {
    const skips: Tensor[] = [];
    let h = x;
    this.resnets.forEach((r, i) => {
      const y = tidy(() => r.forward(h, temb));
      const a = this.attentions[i];
      h = a ? tidy(() => a.forward(y, cond.context, cond.contextMask)) : y;
      if (h !== y) y.dispose();
      skips.push(h);
    });
    if (this.downsampler) {
      h = this.downsampler.forward(h);
      skips.push(h);
    }
    return { out: h, skips };
  }
}

/** CrossAttnUpBlock2D / UpBlock2D: resnets.i (on [h, skip] concatenated), attentions.i, upsamplers.0. */
export class UpBlock extends Module {
  readonly resnets: ResnetBlock2D[];
  readonly attentions: Transformer2DModel[];
  readonly upsampler: Upsample2D | null;

  constructor(level: UNetLevel, c: BlockCommon) {
    super();
    this.resnets = this.childList(
      'resnets',
      Array.from({ length: level.layers }, (_, i) => {
        const skip = i === level.layers - 1 ? level.inChannels : level.channels;
        const input = i === 0 ? level.prevChannels : level.channels;
        return resnet(c, input + skip, level.channels);
      }),
    );
    this.attentions = level.attention
      ? this.childList('attentions', Array.from({ length: level.layers }, (_, i) => transformer(c, level.channels, level.heads, level.transformerLayers[i]!, level.crossAttentionDim, level.onlyCrossAttention)))
      : [];
    this.upsampler = level.resample ? this.childList('upsamplers', [new Upsample2D(level.channels, level.channels)])[0]! : null;
  }

  setSlicing(slicing: AttentionSlicing): void {
    for (const a of this.attentions) a.setSlicing(slicing);
  }

  /** skips: this level's skip connections in the order the encoder made them (used last first). */
  forward(x: Tensor, skips: Tensor[], temb: Tensor, cond: Conditioning, upsampleSize: readonly [number, number] | null): Tensor {
    // Intermediates are freed as soon as the next one exists (x belongs to the caller).
    let h = x;
    const replace = (next: Tensor) => {
      if (h !== x) h.dispose();
      h = next;
    };
    this.resnets.forEach((r, i) => {
      const skip = skips[skips.length - 1 - i]!;
      replace(tidy(() => r.forward(concat([h, skip], 1), temb)));
      const a = this.attentions[i];
      if (a) replace(tidy(() => a.forward(h, cond.context, cond.contextMask)));
    });
    if (this.upsampler) replace(tidy(() => this.upsampler!.forward(h, upsampleSize)));
    return h;
  }
}

/** UNetMidBlock2DCrossAttn (resnets.0, attentions.0, resnets.1) or UNetMidBlock2D without attention (resnets.0). */
export class MidBlock extends Module {
  readonly resnets: ResnetBlock2D[];
  readonly attentions: Transformer2DModel[];

  constructor(channels: number, c: BlockCommon, outputScaleFactor: number, attn: { heads: number; layers: number; crossAttentionDim: number } | null) {
    super();
    this.resnets = this.childList('resnets', attn ? [resnet(c, channels, channels, outputScaleFactor), resnet(c, channels, channels, outputScaleFactor)] : [resnet(c, channels, channels, outputScaleFactor)]);
    this.attentions = attn ? this.childList('attentions', [transformer(c, channels, attn.heads, attn.layers, attn.crossAttentionDim, false)]) : [];
  }

  setSlicing(slicing: AttentionSlicing): void {
    for (const a of this.attentions) a.setSlicing(slicing);
  }

  forward(x: Tensor, temb: Tensor, cond: Conditioning): Tensor {
    let h = tidy(() => this.resnets[0]!.forward(x, temb));
    for (let i = 0; i < this.attentions.length; i++) {
      const a = tidy(() => this.attentions[i]!.forward(h, cond.context, cond.contextMask));
      h.dispose();
      h = tidy(() => this.resnets[i + 1]!.forward(a, temb));
      a.dispose();
    }
    return h;
  }
}
