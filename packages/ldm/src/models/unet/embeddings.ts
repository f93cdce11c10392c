// Timestep embeddings (diffusers' get_timestep_embedding / Timesteps / TimestepEmbedding): the
// sinusoidal features of Vaswani et al. used by DDPM, then a two-layer MLP.
//
// The frequencies exp(-ln(max_period) * i / (half - shift)) are computed on the host with every
// intermediate rounded to float32 as PyTorch does (its arange, scalar products and exp run in
// float32); then t * freq, sin and cos run as tensor ops in float32. With t up to 1000, a
// frequency computed in float64 instead would shift the sinusoid's argument by up to ~6e-5.

import { add, cast, concat, cos, mul, reshape, sin, tensor, zeros, type Tensor } from '@denoise/core';
import { Linear, activation, type ActivationFn, type DiffusersActivation } from '../nn/layers.js';
import { Module } from '../nn/module.js';

const f32 = Math.fround;

/** The sinusoid's frequencies, rounded as PyTorch's float32 computation rounds them. */
export function timestepFrequencies(dim: number, downscaleFreqShift: number, maxPeriod = 10000): Float32Array {
  const half = Math.floor(dim / 2);
  const out = new Float32Array(half);
  const logPeriod = f32(-Math.log(maxPeriod));
  const denom = f32(half - downscaleFreqShift);
  for (let i = 0; i < half; i++) out[i] = f32(Math.exp(f32(f32(logPeriod * i) / denom)));
  return out;
}

/** timesteps [N] (float32) → [N, dim]: [sin, cos] (or [cos, sin] with flipSinToCos), zero-padded when dim is odd. */
export function timestepEmbedding(timesteps: Tensor, dim: number, flipSinToCos: boolean, downscaleFreqShift: number): Tensor {
  const half = Math.floor(dim / 2);
  const freqs = tensor(timestepFrequencies(dim, downscaleFreqShift), [1, half], { backend: timesteps.backend });
  const args = mul(reshape(cast(timesteps, 'float32'), [-1, 1]), freqs); // [N, half]
  const parts = flipSinToCos ? [cos(args), sin(args)] : [sin(args), cos(args)];
  if (dim % 2 === 1) parts.push(zeros([args.shape[0]!, 1], 'float32', timesteps.backend));
  return concat(parts, 1);
}

/** diffusers' TimestepEmbedding: linear_1 → act → linear_2 (→ post_act), with an optional cond_proj added to the input. */
export class TimestepEmbedding extends Module {
  readonly linear_1: Linear;
  readonly linear_2: Linear;
  readonly cond_proj: Linear | null;
  private readonly act: ActivationFn;
  private readonly postAct: ActivationFn | null;

  constructor(inChannels: number, timeEmbedDim: number, act: DiffusersActivation, postAct: DiffusersActivation | null = null, condProjDim: number | null = null) {
    super();
    this.linear_1 = this.child('linear_1', new Linear(inChannels, timeEmbedDim));
    this.cond_proj = condProjDim === null ? null : this.child('cond_proj', new Linear(condProjDim, inChannels, false));
    this.linear_2 = this.child('linear_2', new Linear(timeEmbedDim, timeEmbedDim));
    this.act = activation(act);
    this.postAct = postAct === null ? null : activation(postAct);
  }

  /** sample [N, in], condition [N, cond] → [N, timeEmbedDim] */
  forward(sample: Tensor, condition: Tensor | null = null): Tensor {
    let x = sample;
    if (condition && this.cond_proj) x = add(x, this.cond_proj.forward(condition));
    x = this.linear_2.forward(this.act(this.linear_1.forward(x)));
    return this.postAct ? this.postAct(x) : x;
  }
}

