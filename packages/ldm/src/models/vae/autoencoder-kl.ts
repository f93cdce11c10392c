// The perceptual-compression stage of latent diffusion (Rombach et al., Sec. 3.1): an encoder E
// mapping an image x [B, 3, H, W] to the moments of q(z|x) over z [B, c, H/f, W/f], and a decoder
// D back, computing what diffusers' AutoencoderKL computes (Encoder / Decoder of
// autoencoders/vae.py): conv_in, DownEncoderBlock2D levels (ResNets, stride-2 convs padded
// right/bottom), a mid block (ResNet, single-head self-attention, ResNet), GroupNorm → SiLU →
// conv_out; the decoder mirrors it with UpDecoderBlock2D levels (one more ResNet each, nearest x2
// upsampling). Large images can be encoded / decoded in overlapping tiles (tiling.ts).

import { InvalidArgumentError, ShapeError, describe, silu, tidy, type Tensor } from '@denoise/core';
import { Attention, type AttentionSlicing } from '../nn/attention.js';
import { Conv2d, GroupNorm } from '../nn/layers.js';
import { Module } from '../nn/module.js';
import { Downsample2D, ResnetBlock2D, Upsample2D } from '../nn/resnet.js';
import { vaeConfig, type AutoencoderKLConfig } from './config.js';
import { DiagonalGaussianDistribution } from './distribution.js';
import { tiledApply, type TilingOptions } from './tiling.js';

const EPS = 1e-6;

function resnet(c: AutoencoderKLConfig, inChannels: number, outChannels: number): ResnetBlock2D {
  return new ResnetBlock2D({ inChannels, outChannels, tembChannels: null, groups: c.norm_num_groups, eps: EPS, act: c.act_fn });
}

/** diffusers' UNetMidBlock2D as the VAE uses it: resnets.0, attentions.0 (optional), resnets.1. */
export class VAEMidBlock extends Module {
  readonly resnets: ResnetBlock2D[];
  readonly attention: Attention | null;

  constructor(c: AutoencoderKLConfig, channels: number) {
    super();
    this.resnets = this.childList('resnets', [resnet(c, channels, channels), resnet(c, channels, channels)]);
    this.attention = c.mid_block_add_attention
      ? this.childList('attentions', [
          new Attention({
            queryDim: channels, heads: 1, dimHead: channels, bias: true, groupNorm: { groups: c.norm_num_groups, eps: EPS }, residualConnection: true,
          }),
        ])[0]!
      : null;
  }

  forward(x: Tensor): Tensor {
    let h = tidy(() => this.resnets[0]!.forward(x, null));
    if (this.attention) h = tidy(() => this.attention!.forward(h));
    return tidy(() => this.resnets[1]!.forward(h, null));
  }
}

/** DownEncoderBlock2D: resnets.i, downsamplers.0 (stride 2, padded right / bottom). */
export class DownEncoderBlock2D extends Module {
  readonly resnets: ResnetBlock2D[];
  readonly downsampler: Downsample2D | null;

  constructor(c: AutoencoderKLConfig, inChannels: number, outChannels: number, downsample: boolean) {
    super();
    this.resnets = this.childList('resnets', Array.from({ length: c.layers_per_block }, (_, i) => resnet(c, i === 0 ? inChannels : outChannels, outChannels)));
    this.downsampler = downsample ? this.childList('downsamplers', [new Downsample2D(outChannels, outChannels, 0)])[0]! : null;
  }

  forward(x: Tensor): Tensor {
    let h = x;
    for (const r of this.resnets) h = tidy(() => r.forward(h, null));
    return this.downsampler ? this.downsampler.forward(h) : h;
  }
}

/** UpDecoderBlock2D: resnets.i (layers_per_block + 1), upsamplers.0. */
export class UpDecoderBlock2D extends Module {
  readonly resnets: ResnetBlock2D[];
  readonly upsampler: Upsample2D | null;

  constructor(c: AutoencoderKLConfig, inChannels: number, outChannels: number, upsample: boolean) {
    super();
    this.resnets = this.childList('resnets', Array.from({ length: c.layers_per_block + 1 }, (_, i) => resnet(c, i === 0 ? inChannels : outChannels, outChannels)));
    this.upsampler = upsample ? this.childList('upsamplers', [new Upsample2D(outChannels, outChannels)])[0]! : null;
  }

  forward(x: Tensor): Tensor {
    let h = x;
    for (const r of this.resnets) h = tidy(() => r.forward(h, null));
    return this.upsampler ? tidy(() => this.upsampler!.forward(h)) : h;
  }
}

export class Encoder extends Module {
  readonly conv_in: Conv2d;
  readonly down_blocks: DownEncoderBlock2D[];
  readonly mid_block: VAEMidBlock;
  readonly conv_norm_out: GroupNorm;
  readonly conv_out: Conv2d;

  constructor(c: AutoencoderKLConfig) {
    super();
    const boc = c.block_out_channels;
    this.conv_in = this.child('conv_in', new Conv2d(c.in_channels, boc[0]!, 3, { padding: 1 }));
    this.down_blocks = this.childList('down_blocks', boc.map((ch, i) => new DownEncoderBlock2D(c, i === 0 ? boc[0]! : boc[i - 1]!, ch, i < boc.length - 1)));
    this.mid_block = this.child('mid_block', new VAEMidBlock(c, boc[boc.length - 1]!));
    this.conv_norm_out = this.child('conv_norm_out', new GroupNorm(c.norm_num_groups, boc[boc.length - 1]!, EPS));
    this.conv_out = this.child('conv_out', new Conv2d(boc[boc.length - 1]!, 2 * c.latent_channels, 3, { padding: 1 }));
  }

  /** x [B, in, H, W] → moments [B, 2c, H/f, W/f] (before quant_conv) */
  forward(x: Tensor): Tensor {
    let h = this.conv_in.forward(x);
    for (const b of this.down_blocks) h = b.forward(h);
    h = this.mid_block.forward(h);
    return tidy(() => this.conv_out.forward(silu(this.conv_norm_out.forward(h))));
  }
}

export class Decoder extends Module {
  readonly conv_in: Conv2d;
  readonly mid_block: VAEMidBlock;
  readonly up_blocks: UpDecoderBlock2D[];
  readonly conv_norm_out: GroupNorm;
  readonly conv_out: Conv2d;

  constructor(c: AutoencoderKLConfig) {
    super();
    const rev = [...c.block_out_channels].reverse();
    this.conv_in = this.child('conv_in', new Conv2d(c.latent_channels, rev[0]!, 3, { padding: 1 }));
    this.mid_block = this.child('mid_block', new VAEMidBlock(c, rev[0]!));
    this.up_blocks = this.childList('up_blocks', rev.map((ch, i) => new UpDecoderBlock2D(c, i === 0 ? rev[0]! : rev[i - 1]!, ch, i < rev.length - 1)));
    this.conv_norm_out = this.child('conv_norm_out', new GroupNorm(c.norm_num_groups, rev[rev.length - 1]!, EPS));
    this.conv_out = this.child('conv_out', new Conv2d(rev[rev.length - 1]!, c.out_channels, 3, { padding: 1 }));
  }

  /** z [B, c, h, w] (after post_quant_conv) → x [B, out, h f, w f] */
  forward(z: Tensor): Tensor {
    let h = this.conv_in.forward(z);
    h = this.mid_block.forward(h);
    for (const b of this.up_blocks) h = b.forward(h);
    return tidy(() => this.conv_out.forward(silu(this.conv_norm_out.forward(h))));
  }
}

export class AutoencoderKL extends Module {
  readonly config: AutoencoderKLConfig;
  readonly encoder: Encoder;
  readonly decoder: Decoder;
  readonly quant_conv: Conv2d | null;
  readonly post_quant_conv: Conv2d | null;
  /** When set, encode / decode of inputs larger than a tile go through tiledEncode / tiledDecode (diffusers' enable_tiling). */
  tiling: TilingOptions | null = null;

  constructor(config: Partial<AutoencoderKLConfig> = {}) {
    super();
    const c = vaeConfig(config);
    this.config = c;
    this.encoder = this.child('encoder', new Encoder(c));
    this.decoder = this.child('decoder', new Decoder(c));
    this.quant_conv = c.use_quant_conv ? this.child('quant_conv', new Conv2d(2 * c.latent_channels, 2 * c.latent_channels, 1)) : null;
    this.post_quant_conv = c.use_post_quant_conv ? this.child('post_quant_conv', new Conv2d(c.latent_channels, c.latent_channels, 1)) : null;
    this.namedParameters(); // gives every parameter its key (for error messages before any load)
  }

  /** The spatial downsampling factor f = 2^(levels - 1) (8 for SD). */
  get downsamplingFactor(): number {
    return 2 ** (this.config.block_out_channels.length - 1);
  }

  /** z * scaling_factor has about unit variance (0.18215 for SD 1.x); diffusion runs on scaled latents. */
  get scalingFactor(): number {
    return this.config.scaling_factor;
  }

  /** Attention slicing for the mid-block attentions (one head each: slices split the query positions only). */
  setAttentionSlicing(slicing: AttentionSlicing | null): void {
    this.encoder.mid_block.attention?.setSlicing(slicing ?? {});
    this.decoder.mid_block.attention?.setSlicing(slicing ?? {});
  }

  /** Tiled encoding / decoding for inputs larger than a tile (null: off). */
  enableTiling(options: TilingOptions = {}): void {
    this.tiling = { ...options };
  }

  disableTiling(): void {
    this.tiling = null;
  }

  private tileSizes(options: TilingOptions): { sample: number; latent: number; overlap: number } {
    const s = this.config.sample_size;
    const sample = options.tileSampleSize ?? (Array.isArray(s) ? s[0] : s);
    const overlap = options.tileOverlapFactor ?? 0.25;
    if (!Number.isInteger(sample) || sample < 1) throw new InvalidArgumentError(`AutoencoderKL tiling: tileSampleSize must be a positive integer, got ${describe(sample)}`);
    if (!(overlap >= 0 && overlap < 1)) throw new InvalidArgumentError(`AutoencoderKL tiling: tileOverlapFactor must be in [0, 1), got ${describe(overlap)}`);
    return { sample, latent: Math.trunc(sample / this.downsamplingFactor), overlap };
  }

  private checkImage(x: Tensor): void {
    if (x.rank !== 4 || x.shape[1] !== this.config.in_channels) throw new ShapeError(`vae.encode: x must be [B, ${this.config.in_channels}, H, W], got ${describe(x.shape)}`);
  }

  private checkLatents(z: Tensor): void {
    if (z.rank !== 4 || z.shape[1] !== this.config.latent_channels) throw new ShapeError(`vae.decode: z must be [B, ${this.config.latent_channels}, h, w], got ${describe(z.shape)}`);
  }

  /** The posterior's moments [B, 2c, h, w] (encoder + quant_conv), tiled when tiling is on and x exceeds a tile. */
  encodeMoments(x: Tensor): Tensor {
    this.checkImage(x);
    if (this.tiling) {
      const t = this.tileSizes(this.tiling);
      if (x.shape[2]! > t.sample || x.shape[3]! > t.sample) return this.tiledEncodeMoments(x, this.tiling);
    }
    return tidy(() => {
      const m = this.encoder.forward(x);
      return this.quant_conv ? this.quant_conv.forward(m) : m;
    });
  }

  /** q(z|x): mean, logvar, std, sample(gen). */
  encode(x: Tensor): DiagonalGaussianDistribution {
    const moments = this.encodeMoments(x);
    const d = new DiagonalGaussianDistribution(moments);
    moments.dispose();
    return d;
  }

  /** x [B, out, h f, w f] from z [B, c, h, w] (unscaled: divide diffusion latents by scalingFactor first). */
  decode(z: Tensor): Tensor {
    this.checkLatents(z);
    if (this.tiling) {
      const t = this.tileSizes(this.tiling);
      if (z.shape[2]! > t.latent || z.shape[3]! > t.latent) return this.tiledDecode(z, this.tiling);
    }
    return tidy(() => this.decoder.forward(this.post_quant_conv ? this.post_quant_conv.forward(z) : z));
  }

  /** Moments of x encoded in overlapping tiles of tileSampleSize, blended across the seams (diffusers' _tiled_encode). */
  tiledEncodeMoments(x: Tensor, options: TilingOptions = {}): Tensor {
    this.checkImage(x);
    const t = this.tileSizes(options);
    return tiledApply(x, {
      tileIn: t.sample, stepIn: Math.trunc(t.sample * (1 - t.overlap)), tileOut: t.latent, blend: Math.trunc(t.latent * t.overlap),
      apply: (tile) => tidy(() => {
        const m = this.encoder.forward(tile);
        return this.quant_conv ? this.quant_conv.forward(m) : m;
      }),
    });
  }

  /** encode() in tiles, whatever the tiling setting. */
  tiledEncode(x: Tensor, options: TilingOptions = {}): DiagonalGaussianDistribution {
    const moments = this.tiledEncodeMoments(x, options);
    const d = new DiagonalGaussianDistribution(moments);
    moments.dispose();
    return d;
  }

  /** decode() in overlapping latent tiles, blended across the seams (diffusers' tiled_decode). */
  tiledDecode(z: Tensor, options: TilingOptions = {}): Tensor {
    this.checkLatents(z);
    const t = this.tileSizes(options);
    return tiledApply(z, {
      tileIn: t.latent, stepIn: Math.trunc(t.latent * (1 - t.overlap)), tileOut: t.sample, blend: Math.trunc(t.sample * t.overlap),
      apply: (tile) => tidy(() => this.decoder.forward(this.post_quant_conv ? this.post_quant_conv.forward(tile) : tile)),
    });
  }
}
