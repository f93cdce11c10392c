// The leaf layers of the models, each a thin owner of PyTorch-named parameters over one core op:
// Linear (weight [out, in], bias [out]), Conv2d (OIHW), GroupNorm / LayerNorm (weight, bias),
// Embedding (weight [num, dim]); and the activations diffusers' `get_activation` and
// transformers' `ACT2FN` name.

import {
  add, conv2d, embedding, exp, gelu, geluTanh, groupNorm, layerNorm, linear, log1p, mul, quickGelu, relu, reshape, silu, tanh, InvalidArgumentError, describe,
  type Conv2dOptions, type Tensor,
} from '@denoise/core';
import { Module, type Param } from './module.js';

export class Linear extends Module {
  readonly weight: Param;
  readonly bias: Param | null;

  constructor(readonly inFeatures: number, readonly outFeatures: number, bias = true) {
    super();
    this.weight = this.param('weight', [outFeatures, inFeatures]);
    this.bias = bias ? this.param('bias', [outFeatures]) : null;
  }

  forward(x: Tensor): Tensor {
    return linear(x, this.weight.value, this.bias?.value ?? null);
  }
}

export interface Conv2dLayerOptions {
  stride?: number;
  /** Symmetric zero padding; diffusers' convolutions are all symmetric. */
  padding?: number;
  bias?: boolean;
}

export class Conv2d extends Module {
  readonly weight: Param;
  readonly bias: Param | null;
  private readonly options: Conv2dOptions;

  constructor(readonly inChannels: number, readonly outChannels: number, readonly kernelSize: number, options: Conv2dLayerOptions = {}) {
    super();
    this.weight = this.param('weight', [outChannels, inChannels, kernelSize, kernelSize]);
    this.bias = options.bias === false ? null : this.param('bias', [outChannels]);
    this.options = { stride: options.stride ?? 1, padding: options.padding ?? 0 };
  }

  /** x [B, Cin, H, W] → [B, Cout, H', W']; `padding` overrides the layer's (diffusers' asymmetric downsampling pad). */
  forward(x: Tensor, padding?: Conv2dOptions['padding']): Tensor {
    const y = conv2d(x, this.weight.value, padding === undefined ? this.options : { ...this.options, padding });
    return this.bias ? add(y, reshape(this.bias.value, [this.outChannels, 1, 1])) : y;
  }
}

export class GroupNorm extends Module {
  readonly weight: Param;
  readonly bias: Param;

  constructor(readonly groups: number, readonly channels: number, readonly eps: number) {
    super();
    if (!Number.isInteger(groups) || groups < 1 || channels % groups !== 0) {
      throw new InvalidArgumentError(`GroupNorm: ${channels} channels do not split into ${describe(groups)} groups`);
    }
    this.weight = this.param('weight', [channels]);
    this.bias = this.param('bias', [channels]);
  }

  /** x [B, C, ...] */
  forward(x: Tensor): Tensor {
    return groupNorm(x, this.groups, this.weight.value, this.bias.value, this.eps);
  }
}

export class LayerNorm extends Module {
  readonly weight: Param;
  readonly bias: Param;

  constructor(readonly dim: number, readonly eps: number) {
    super();
    this.weight = this.param('weight', [dim]);
    this.bias = this.param('bias', [dim]);
  }

  /** x [..., dim] */
  forward(x: Tensor): Tensor {
    return layerNorm(x, this.weight.value, this.bias.value, this.eps);
  }
}

export class Embedding extends Module {
  readonly weight: Param;

  constructor(readonly num: number, readonly dim: number) {
    super();
    this.weight = this.param('weight', [num, dim]);
  }

  /** int32 ids of any shape → [...ids.shape, dim] */
  forward(ids: Tensor): Tensor {
    return embedding(this.weight.value, ids);
  }
}

/** Mish (Misra 2019): x tanh(softplus(x)), softplus written as log1p(exp(x)) as PyTorch does below its threshold. */
export function mish(x: Tensor): Tensor {
  return mul(x, tanh(log1p(exp(x))));
}

/** Activation names of diffusers' get_activation. */
export const DIFFUSERS_ACTIVATIONS = ['silu', 'swish', 'gelu', 'relu', 'mish'] as const;
export type DiffusersActivation = (typeof DIFFUSERS_ACTIVATIONS)[number];

/** Activation names of transformers' ACT2FN that CLIP configs use. */
export const CLIP_ACTIVATIONS = ['quick_gelu', 'gelu', 'gelu_new', 'gelu_pytorch_tanh', 'relu', 'silu', 'swish'] as const;
export type ClipActivation = (typeof CLIP_ACTIVATIONS)[number];

export type ActivationFn = (x: Tensor) => Tensor;

/** The function behind an activation name (both vocabularies; gelu is the exact erf form). */
export function activation(name: DiffusersActivation | ClipActivation): ActivationFn {
  switch (name) {
    case 'silu':
    case 'swish':
      return silu;
    case 'gelu':
      return gelu;
    case 'gelu_new':
    case 'gelu_pytorch_tanh':
      return geluTanh;
    case 'quick_gelu':
      return quickGelu;
    case 'relu':
      return relu;
    case 'mish':
      return mish;
    default:
      throw new InvalidArgumentError(`activation: unknown activation ${describe(name)}`);
  }
}
