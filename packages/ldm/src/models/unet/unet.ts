// The conditional denoiser eps_theta(z_t, t, tau_theta(y)) of latent diffusion (Rombach et al.,
// CVPR'22), computing exactly what diffusers' UNet2DConditionModel computes for the same config
// and weights: timestep (and class) embeddings, conv_in, the encoder levels handing skip
// connections to the decoder levels, the mid block, GroupNorm → act → conv_out. Conditioning
// enters by cross-attention (the context), by concatenation (extra input channels: 9 for
// inpainting, 7 for the x4 upscaler, concatenated by the caller) and by class embeddings.

import {
  InvalidArgumentError, ShapeError, add, broadcastTo, cast, concat, describe, isTensor, mul, reshape, sub, tensor, tidy, type Tensor,
} from '@denoise/core';
import type { AttentionSlicing } from '../nn/attention.js';
import { Conv2d, Embedding, GroupNorm, Linear, activation, type ActivationFn } from '../nn/layers.js';
import { Module } from '../nn/module.js';
import { DownBlock, MidBlock, UpBlock, type BlockCommon } from './blocks.js';
import { resolveUNet, unetConfig, type ResolvedUNet, type UNet2DConditionConfig } from './config.js';
import { TimestepEmbedding, timestepEmbedding } from './embeddings.js';

export interface UNetForwardOptions {
  /** Class conditioning: int32 ids [B] for a class table (num_class_embeds), timesteps [B] for 'timestep', vectors [B, D] for 'identity' / 'projection' / 'simple_projection'. */
  classLabels?: Tensor | readonly number[] | null;
  /** Extra timestep condition [B, time_cond_proj_dim] (LCM's guidance embedding). */
  timestepCond?: Tensor | null;
  /** Which context tokens to attend to: [B, Tk] of 1 (keep) / 0 (drop), made a -10000 bias as diffusers does. */
  encoderAttentionMask?: Tensor | null;
}

/** A timestep as diffusers accepts it: a number for the whole batch, one per sample, or a tensor ([] or [B]). */
export type Timestep = number | readonly number[] | Tensor;

export class UNet2DConditionModel extends Module {
  readonly config: UNet2DConditionConfig;
  readonly resolved: ResolvedUNet;
  readonly conv_in: Conv2d;
  readonly time_embedding: TimestepEmbedding;
  readonly class_embedding: Embedding | TimestepEmbedding | Linear | null;
  readonly encoder_hid_proj: Linear | null;
  readonly down_blocks: DownBlock[];
  readonly mid_block: MidBlock | null;
  readonly up_blocks: UpBlock[];
  readonly conv_norm_out: GroupNorm;
  readonly conv_out: Conv2d;
  private readonly act: ActivationFn;
  private readonly timeEmbedAct: ActivationFn | null;

  constructor(config: Partial<UNet2DConditionConfig> = {}) {
    super();
    const c = unetConfig(config);
    this.config = c;
    const r = resolveUNet(c, false);
    this.resolved = r;
    const boc = c.block_out_channels;
    this.act = activation(c.act_fn);
    this.conv_in = this.child('conv_in', new Conv2d(c.in_channels, boc[0]!, c.conv_in_kernel, { padding: (c.conv_in_kernel - 1) / 2 }));
    this.time_embedding = this.child('time_embedding', new TimestepEmbedding(boc[0]!, r.timeEmbedDim, c.act_fn, c.timestep_post_act, c.time_cond_proj_dim));
    if (c.encoder_hid_dim_type === 'text_proj' || (c.encoder_hid_dim !== null && c.encoder_hid_dim_type === null)) {
      const cad = Array.isArray(c.cross_attention_dim) ? c.cross_attention_dim[0]! : c.cross_attention_dim;
      this.encoder_hid_proj = this.child('encoder_hid_proj', new Linear(c.encoder_hid_dim!, cad));
    } else this.encoder_hid_proj = null;
    this.class_embedding = this.makeClassEmbedding(c, r.timeEmbedDim);
    this.timeEmbedAct = c.time_embedding_act_fn === null ? null : activation(c.time_embedding_act_fn);
    // resnet_skip_time_act and resnet_out_scale_factor reach only block types not implemented
    // here (ResnetDownsampleBlock2D, SimpleCrossAttn*): diffusers' get_down_block / get_up_block
    // do not pass them to (CrossAttn)DownBlock2D / (CrossAttn)UpBlock2D, so they have no effect.
    const common: BlockCommon = {
      tembChannels: r.blocksTimeEmbedDim, groups: c.norm_num_groups, eps: c.norm_eps, act: c.act_fn, timeEmbeddingNorm: c.resnet_time_scale_shift,
      skipTimeAct: false, outputScaleFactor: 1, useLinearProjection: c.use_linear_projection,
    };
    this.down_blocks = this.childList('down_blocks', r.down.map((lv) => new DownBlock(lv, common, c.downsample_padding)));
    this.mid_block = r.mid
      ? this.child('mid_block', new MidBlock(r.mid.channels, common, c.mid_block_scale_factor, r.mid.attention ? { heads: r.mid.heads, layers: r.mid.transformerLayers[0]!, crossAttentionDim: r.mid.crossAttentionDim } : null))
      : null;
    this.up_blocks = this.childList('up_blocks', r.up.map((lv) => new UpBlock(lv, { ...common })));
    this.conv_norm_out = this.child('conv_norm_out', new GroupNorm(c.norm_num_groups, boc[0]!, c.norm_eps));
    this.conv_out = this.child('conv_out', new Conv2d(boc[0]!, c.out_channels, c.conv_out_kernel, { padding: (c.conv_out_kernel - 1) / 2 }));
    this.namedParameters(); // gives every parameter its key (for error messages before any load)
  }

  private makeClassEmbedding(c: UNet2DConditionConfig, timeEmbedDim: number): Embedding | TimestepEmbedding | Linear | null {
    const t = c.class_embed_type;
    if (t === null && c.num_class_embeds !== null) return this.child('class_embedding', new Embedding(c.num_class_embeds, timeEmbedDim));
    if (t === 'timestep') return this.child('class_embedding', new TimestepEmbedding(c.block_out_channels[0]!, timeEmbedDim, c.act_fn));
    if (t === 'projection') return this.child('class_embedding', new TimestepEmbedding(c.projection_class_embeddings_input_dim!, timeEmbedDim, 'silu'));
    if (t === 'simple_projection') return this.child('class_embedding', new Linear(c.projection_class_embeddings_input_dim!, timeEmbedDim));
    return null; // 'identity' has no parameters
  }

  /** Number of up blocks that upsample: inputs whose size is not a multiple of 2^this go through explicit upsample sizes. */
  get upsamplers(): number {
    return this.up_blocks.filter((b) => b.upsampler !== null).length;
  }

  /**
   * Attention slicing for every attention layer (diffusers' set_attention_slice): see
   * AttentionSlicing. Null / {} computes each attention in one call.
   */
  setAttentionSlicing(slicing: AttentionSlicing | null): void {
    const s = slicing ?? {};
    for (const b of this.down_blocks) b.setSlicing(s);
    this.mid_block?.setSlicing(s);
    for (const b of this.up_blocks) b.setSlicing(s);
  }

  private timesteps(t: Timestep, batch: number, like: Tensor): Tensor {
    if (isTensor(t)) {
      if (t.rank === 0 || (t.rank === 1 && t.shape[0] === 1)) return broadcastTo(cast(reshape(t, [1]), 'float32'), [batch]);
      if (t.rank !== 1 || t.shape[0] !== batch) throw new ShapeError(`unet.forward: timestep must be a number, [] or [${batch}], got ${describe(t.shape)}`);
      return cast(t, 'float32');
    }
    const values = typeof t === 'number' ? new Array<number>(batch).fill(t) : [...t];
    if (values.length !== batch || !values.every((v) => typeof v === 'number' && Number.isFinite(v))) {
      throw new InvalidArgumentError(`unet.forward: timestep must be a finite number or ${batch} of them, got ${describe(t)}`);
    }
    return tensor(Float32Array.from(values), [batch], { backend: like.backend });
  }

  private classEmbedding(labels: Tensor | readonly number[] | null | undefined, batch: number, like: Tensor): Tensor | null {
    const c = this.config;
    const wanted = this.class_embedding !== null || c.class_embed_type === 'identity';
    if (!wanted) return null;
    if (labels === null || labels === undefined) throw new InvalidArgumentError('unet.forward: this model is class-conditioned: pass options.classLabels (class_labels should be provided when num_class_embeds > 0)');
    const t = isTensor(labels) ? labels : tensor([...labels], [labels.length], { dtype: this.class_embedding instanceof Embedding ? 'int32' : 'float32', backend: like.backend });
    if (t.shape[0] !== batch) throw new ShapeError(`unet.forward: classLabels must have ${batch} rows, got ${describe(t.shape)}`);
    if (this.class_embedding instanceof Embedding) return this.class_embedding.forward(cast(t, 'int32'));
    if (c.class_embed_type === 'timestep') return (this.class_embedding as TimestepEmbedding).forward(timestepEmbedding(t, c.block_out_channels[0]!, c.flip_sin_to_cos, c.freq_shift));
    if (c.class_embed_type === 'identity') return cast(t, 'float32');
    return (this.class_embedding as TimestepEmbedding | Linear).forward(cast(t, 'float32'));
  }

  /**
   * sample [B, in_channels, H, W], timestep, encoderHiddenStates [B, Tk, cross_attention_dim]
   * (or [B, Tk, encoder_hid_dim] with a text projection) → the prediction [B, out_channels, H, W].
   */
  forward(sample: Tensor, timestep: Timestep, encoderHiddenStates: Tensor, options: UNetForwardOptions = {}): Tensor {
    const c = this.config;
    if (sample.rank !== 4 || sample.shape[1] !== c.in_channels) {
      throw new ShapeError(`unet.forward: sample must be [B, ${c.in_channels}, H, W], got ${describe(sample.shape)}`);
    }
    const [batch, , height, width] = sample.shape as [number, number, number, number];
    const ctxDim = this.encoder_hid_proj ? c.encoder_hid_dim! : Array.isArray(c.cross_attention_dim) ? c.cross_attention_dim[0]! : c.cross_attention_dim;
    if (encoderHiddenStates.rank !== 3 || encoderHiddenStates.shape[0] !== batch || encoderHiddenStates.shape[2] !== ctxDim) {
      throw new ShapeError(`unet.forward: encoderHiddenStates must be [${batch}, T, ${ctxDim}], got ${describe(encoderHiddenStates.shape)}`);
    }
    return tidy(() => {
      let x = c.center_input_sample ? sub(mul(sample, 2), 1) : sample;
      // Time (and class) embedding.
      const tEmb = timestepEmbedding(this.timesteps(timestep, batch, sample), c.block_out_channels[0]!, c.flip_sin_to_cos, c.freq_shift);
      let emb = this.time_embedding.forward(tEmb, options.timestepCond ?? null);
      const classEmb = this.classEmbedding(options.classLabels, batch, sample);
      if (classEmb) emb = c.class_embeddings_concat ? concat([emb, classEmb], 1) : add(emb, classEmb);
      if (this.timeEmbedAct) emb = this.timeEmbedAct(emb);
      const context = this.encoder_hid_proj ? this.encoder_hid_proj.forward(encoderHiddenStates) : encoderHiddenStates;
      let contextMask: Tensor | null = null;
      if (options.encoderAttentionMask) {
        const m = options.encoderAttentionMask;
        if (m.rank !== 2 || m.shape[0] !== batch || m.shape[1] !== context.shape[1]) throw new ShapeError(`unet.forward: encoderAttentionMask must be [${batch}, ${context.shape[1]}], got ${describe(m.shape)}`);
        contextMask = reshape(mul(sub(1, cast(m, 'float32')), -10000), [batch, 1, m.shape[1]!]);
      }
      const cond = { context, contextMask };
      // Encoder.
      x = this.conv_in.forward(x);
      const flat: Tensor[] = [x]; // diffusers' down_block_res_samples
      for (const block of this.down_blocks) {
        const { out, skips } = block.forward(x, emb, cond);
        flat.push(...skips);
        x = out;
      }
      if (this.mid_block) x = this.mid_block.forward(x, emb, cond); // its input is a skip: kept
      // Decoder: each level uses the encoder's skips deepest first; sizes not divisible by
      // 2^upsamplers upsample to the size of the next skip instead of doubling.
      const factor = 2 ** this.upsamplers;
      const explicitSizes = height % factor !== 0 || width % factor !== 0;
      for (const block of this.up_blocks) {
        const n = block.resnets.length;
        const mine = flat.splice(flat.length - n, n);
        const next = flat[flat.length - 1];
        const size = block.upsampler && explicitSizes && next ? ([next.shape[2]!, next.shape[3]!] as const) : null;
        const out = block.forward(x, mine, emb, cond, size);
        // Consumed skips and the previous level's output are no longer needed.
        for (const s of mine) s.dispose();
        x.dispose();
        x = out;
      }
      x = this.act(this.conv_norm_out.forward(x));
      return this.conv_out.forward(x);
    });
  }
}
