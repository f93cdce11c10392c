// The residual block of the UNet and the VAE (diffusers' ResnetBlock2D, after Ho et al.'s DDPM
// block): GroupNorm → act → conv3x3, the time embedding added (or, with scale_shift, applied as
// a FiLM scale and shift after the second norm), GroupNorm → act → conv3x3, a 1x1 shortcut when
// the width changes, and the sum divided by output_scale_factor. Also the resampling layers:
// Downsample2D (stride-2 conv; padding 0 pads right/bottom by one first) and Upsample2D
// (nearest x2, or to an explicit size, then conv3x3).

import { add, div, mul, reshape, resize, split, type Tensor } from '@denoise/core';
import { Conv2d, GroupNorm, Linear, activation, type ActivationFn, type DiffusersActivation } from './layers.js';
import { Module } from './module.js';

export interface ResnetBlock2DOptions {
  inChannels: number;
  outChannels: number;
  /** Width of the time embedding; null for the VAE's blocks (no time_emb_proj). */
  tembChannels: number | null;
  groups: number;
  /** Groups of the second norm (default `groups`). */
  groupsOut?: number;
  eps: number;
  act: DiffusersActivation;
  /** 'default' adds the projected embedding; 'scale_shift' applies it as (1 + scale), shift. */
  timeEmbeddingNorm?: 'default' | 'scale_shift';
  /** Skip the activation on the time embedding (diffusers' skip_time_act). */
  skipTimeAct?: boolean;
  outputScaleFactor?: number;
}

export class ResnetBlock2D extends Module {
  readonly norm1: GroupNorm;
  readonly conv1: Conv2d;
  readonly time_emb_proj: Linear | null;
  readonly norm2: GroupNorm;
  readonly conv2: Conv2d;
  readonly conv_shortcut: Conv2d | null;
  private readonly act: ActivationFn;
  private readonly scaleShift: boolean;
  private readonly skipTimeAct: boolean;
  private readonly outputScale: number;

  constructor(o: ResnetBlock2DOptions) {
    super();
    this.scaleShift = (o.timeEmbeddingNorm ?? 'default') === 'scale_shift';
    this.norm1 = this.child('norm1', new GroupNorm(o.groups, o.inChannels, o.eps));
    this.conv1 = this.child('conv1', new Conv2d(o.inChannels, o.outChannels, 3, { padding: 1 }));
    this.time_emb_proj = o.tembChannels === null ? null : this.child('time_emb_proj', new Linear(o.tembChannels, this.scaleShift ? 2 * o.outChannels : o.outChannels));
    this.norm2 = this.child('norm2', new GroupNorm(o.groupsOut ?? o.groups, o.outChannels, o.eps));
    this.conv2 = this.child('conv2', new Conv2d(o.outChannels, o.outChannels, 3, { padding: 1 }));
    this.conv_shortcut = o.inChannels !== o.outChannels ? this.child('conv_shortcut', new Conv2d(o.inChannels, o.outChannels, 1)) : null;
    this.act = activation(o.act);
    this.skipTimeAct = o.skipTimeAct ?? false;
    this.outputScale = o.outputScaleFactor ?? 1;
  }

  /** x [B, Cin, H, W], temb [B, T] (or null) → [B, Cout, H, W] */
  forward(x: Tensor, temb: Tensor | null): Tensor {
    let h = this.conv1.forward(this.act(this.norm1.forward(x)));
    let t: Tensor | null = null;
    if (this.time_emb_proj && temb) {
      t = this.time_emb_proj.forward(this.skipTimeAct ? temb : this.act(temb));
      t = reshape(t, [t.shape[0]!, t.shape[1]!, 1, 1]);
    }
    if (this.scaleShift && t) {
      const [scale, shift] = split(t, 2, 1) as [Tensor, Tensor];
      h = add(mul(this.norm2.forward(h), add(scale, 1)), shift);
    } else {
      if (t) h = add(h, t);
      h = this.norm2.forward(h);
    }
    h = this.conv2.forward(this.act(h));
    const skip = this.conv_shortcut ? this.conv_shortcut.forward(x) : x;
    const out = add(skip, h);
    return this.outputScale === 1 ? out : div(out, this.outputScale);
  }
}

/** Stride-2 conv3x3 (diffusers' Downsample2D with use_conv, parameters `conv.*`). */
export class Downsample2D extends Module {
  readonly conv: Conv2d;

  /** padding 1 (the UNet) or 0 (the VAE: pad right and bottom by one, then no padding). */
  constructor(channels: number, outChannels: number, private readonly padding: number) {
    super();
    this.conv = this.child('conv', new Conv2d(channels, outChannels, 3, { stride: 2, padding }));
  }

  forward(x: Tensor): Tensor {
    return this.padding === 0 ? this.conv.forward(x, [0, 1, 0, 1]) : this.conv.forward(x);
  }
}

/** Nearest-neighbour x2 (or to `size`), then conv3x3 (diffusers' Upsample2D with use_conv, `conv.*`). */
export class Upsample2D extends Module {
  readonly conv: Conv2d;

  constructor(channels: number, outChannels: number) {
    super();
    this.conv = this.child('conv', new Conv2d(channels, outChannels, 3, { padding: 1 }));
  }

  /** size: the output [H, W] when the input size was not divisible (diffusers' upsample_size). */
  forward(x: Tensor, size: readonly [number, number] | null = null): Tensor {
    const up = resize(x, size ? { size, mode: 'nearest' } : { scaleFactor: 2, mode: 'nearest' });
    return this.conv.forward(up);
  }
}
