// The spatial transformer of the latent diffusion UNet (Rombach et al., Sec. 3.3; diffusers'
// Transformer2DModel with continuous input and BasicTransformerBlock with layer norms): the
// feature map is group-normed, projected to tokens (1x1 conv, or linear for SD 2.x), passed
// through transformer blocks (self-attention, cross-attention on the context tau_theta(y),
// GEGLU feed-forward, each pre-normed and residual), projected back and added to the input.

import { add, geglu, reshape, tidy, transpose, type Tensor } from '@denoise/core';
import { Attention, type AttentionSlicing } from '../nn/attention.js';
import { Conv2d, GroupNorm, LayerNorm, Linear } from '../nn/layers.js';
import { Module } from '../nn/module.js';

/** GEGLU feed-forward (Shazeer 2020): net.0.proj (dim → 2 * 4 dim), a * gelu(gate), net.2 (4 dim → dim). */
export class FeedForward extends Module {
  readonly proj: Linear;
  readonly out: Linear;

  constructor(dim: number, mult = 4) {
    super();
    const inner = dim * mult;
    // diffusers' keys: net.0 is the GEGLU module holding `proj`, net.1 a dropout, net.2 the output linear.
    this.proj = this.child('net.0.proj', new Linear(dim, inner * 2));
    this.out = this.child('net.2', new Linear(inner, dim));
  }

  forward(x: Tensor): Tensor {
    return this.out.forward(geglu(this.proj.forward(x)));
  }
}

export interface BasicTransformerBlockOptions {
  dim: number;
  heads: number;
  dimHead: number;
  crossAttentionDim: number;
  /** attn1 attends to the context too (diffusers' only_cross_attention). */
  onlyCrossAttention: boolean;
  /** LayerNorm epsilon (diffusers' Transformer2DModel default 1e-5; the UNet does not pass its norm_eps). */
  normEps?: number;
}

export class BasicTransformerBlock extends Module {
  readonly norm1: LayerNorm;
  readonly attn1: Attention;
  readonly norm2: LayerNorm;
  readonly attn2: Attention;
  readonly norm3: LayerNorm;
  readonly ff: FeedForward;
  private readonly onlyCross: boolean;

  constructor(o: BasicTransformerBlockOptions) {
    super();
    const eps = o.normEps ?? 1e-5;
    this.onlyCross = o.onlyCrossAttention;
    this.norm1 = this.child('norm1', new LayerNorm(o.dim, eps));
    this.attn1 = this.child('attn1', new Attention({ queryDim: o.dim, heads: o.heads, dimHead: o.dimHead, crossAttentionDim: o.onlyCrossAttention ? o.crossAttentionDim : null }));
    this.norm2 = this.child('norm2', new LayerNorm(o.dim, eps));
    this.attn2 = this.child('attn2', new Attention({ queryDim: o.dim, heads: o.heads, dimHead: o.dimHead, crossAttentionDim: o.crossAttentionDim }));
    this.norm3 = this.child('norm3', new LayerNorm(o.dim, eps));
    this.ff = this.child('ff', new FeedForward(o.dim));
  }

  /** x [B, T, C], context [B, Tk, Cc], contextMask additive [B, 1, Tk] or null. */
  forward(x: Tensor, context: Tensor, contextMask: Tensor | null): Tensor {
    // Each residual step in its own scope: only its output outlives it (bounds peak memory).
    const h1 = tidy(() => add(this.attn1.forward(this.norm1.forward(x), this.onlyCross ? context : null, this.onlyCross ? contextMask : null), x));
    const h2 = tidy(() => add(this.attn2.forward(this.norm2.forward(h1), context, contextMask), h1));
    h1.dispose();
    const h3 = tidy(() => add(this.ff.forward(this.norm3.forward(h2)), h2));
    h2.dispose();
    return h3;
  }
}

export interface Transformer2DOptions {
  heads: number;
  /** Channels in and out (= heads * head dim). */
  channels: number;
  layers: number;
  crossAttentionDim: number;
  groups: number;
  useLinearProjection: boolean;
  onlyCrossAttention: boolean;
}

export class Transformer2DModel extends Module {
  readonly norm: GroupNorm;
  readonly proj_in: Linear | Conv2d;
  readonly transformer_blocks: BasicTransformerBlock[];
  readonly proj_out: Linear | Conv2d;
  private readonly linear: boolean;

  constructor(o: Transformer2DOptions) {
    super();
    const dimHead = Math.floor(o.channels / o.heads);
    const inner = o.heads * dimHead;
    this.linear = o.useLinearProjection;
    this.norm = this.child('norm', new GroupNorm(o.groups, o.channels, 1e-6));
    this.proj_in = this.child('proj_in', o.useLinearProjection ? new Linear(o.channels, inner) : new Conv2d(o.channels, inner, 1));
    this.transformer_blocks = this.childList(
      'transformer_blocks',
      Array.from({ length: o.layers }, () => new BasicTransformerBlock({ dim: inner, heads: o.heads, dimHead, crossAttentionDim: o.crossAttentionDim, onlyCrossAttention: o.onlyCrossAttention })),
    );
    this.proj_out = this.child('proj_out', o.useLinearProjection ? new Linear(inner, o.channels) : new Conv2d(inner, o.channels, 1));
  }

  setSlicing(slicing: AttentionSlicing): void {
    for (const b of this.transformer_blocks) {
      b.attn1.setSlicing(slicing);
      b.attn2.setSlicing(slicing);
    }
  }

  /** x [B, C, H, W], context [B, Tk, Cc] → [B, C, H, W] */
  forward(x: Tensor, context: Tensor, contextMask: Tensor | null = null): Tensor {
    const [b, , hgt, wid] = x.shape as [number, number, number, number];
    let h = this.norm.forward(x);
    const toTokens = (t: Tensor) => reshape(transpose(t, [0, 2, 3, 1]), [b, hgt * wid, t.shape[1]!]); // [B, HW, C]
    const toMap = (t: Tensor) => transpose(reshape(t, [b, hgt, wid, t.shape[2]!]), [0, 3, 1, 2]); // [B, C, H, W]
    h = this.linear ? (this.proj_in as Linear).forward(toTokens(h)) : toTokens((this.proj_in as Conv2d).forward(h));
    for (const block of this.transformer_blocks) {
      const next = block.forward(h, context, contextMask);
      h.dispose();
      h = next;
    }
    h = this.linear ? toMap((this.proj_out as Linear).forward(h)) : (this.proj_out as Conv2d).forward(toMap(h));
    return add(h, x);
  }
}
