// The TAESD tiny autoencoder on core ops (any backend): encode images in [0, 1] to latents,
// decode latents back (8x each way), load the released `.pth` / `.safetensors` weights through
// the checkpoint layer, save and re-initialise. Layer layout and naming: config.ts.

import {
  CheckpointError, Generator, InvalidArgumentError, ShapeError, add, clip, conv2d, describe, dispose, groupNorm, keep, mul, randn, relu, reshape, resize, saveSafetensors, tanh, tidy,
  type Backend, type Tensor,
} from '@denoise/core';
import { applyStateDict, loadStateDict, type StateDict } from '../checkpoint/state-dict.js';
import { DECODER_LAYERS, ENCODER_LAYERS, taesdConfigFromStateDicts, taesdParamShapes, type TaesdConfig, type TaesdLayer } from './config.js';

type Params = Readonly<Record<string, Tensor>>;

/** 3x3 (or 1x1) convolution with PyTorch's zero padding and an optional bias. */
function conv(x: Tensor, p: Params, name: string, stride = 1): Tensor {
  const w = p[`${name}.weight`]!;
  const k = w.shape[2]!;
  const y = conv2d(x, w, { padding: (k - 1) / 2, stride });
  const b = p[`${name}.bias`];
  return b ? add(y, reshape(b, [1, b.shape[0]!, 1, 1])) : y;
}

/**
 * Block: relu(conv(relu(conv(relu(conv(x))))) + x). With the group-norm branch (FLUX.2), first
 * x += conv1x1(relu(groupNorm_4(conv1x1(x)))): GroupNorm over whole feature maps carries global
 * image statistics that 3x3 convolutions alone cannot see.
 */
function block(x: Tensor, p: Params, i: number): Tensor {
  if (p[`${i}.pool.0.weight`]) {
    const h = conv(x, p, `${i}.pool.0`); // [N, 4C, H, W]
    const g = relu(groupNorm(h, 4, p[`${i}.pool.1.weight`], p[`${i}.pool.1.bias`]));
    x = add(x, conv(g, p, `${i}.pool.3`));
  }
  let y = relu(conv(x, p, `${i}.conv.0`));
  y = relu(conv(y, p, `${i}.conv.2`));
  y = conv(y, p, `${i}.conv.4`);
  return relu(add(y, x));
}

function run(layers: readonly TaesdLayer[], x: Tensor, p: Params): Tensor {
  layers.forEach((kind, i) => {
    switch (kind) {
      case 'conv':
      case 'conv-nobias':
        x = conv(x, p, String(i));
        break;
      case 'conv-s2':
        x = conv(x, p, String(i), 2);
        break;
      case 'block':
        x = block(x, p, i);
        break;
      case 'relu':
        x = relu(x);
        break;
      case 'clamp': // soft clamp of the latents to (-3, 3)
        x = mul(tanh(mul(x, 1 / 3)), 3);
        break;
      case 'up':
        x = resize(x, { scaleFactor: 2, mode: 'nearest' });
        break;
    }
  });
  return x;
}

export interface TaesdLoadOptions {
  /** Backend for the weights; default the current backend. */
  backend?: Backend;
}

export class TinyAutoencoder {
  /** Latents are at 1/8 of the image size. */
  static readonly scaleFactor = 8;

  constructor(
    readonly config: TaesdConfig,
    /** Encoder parameters by checkpoint key ('0.weight', '1.conv.0.weight', ...). */
    readonly encoderParams: Params,
    readonly decoderParams: Params,
  ) {
    for (const [part, params] of [['encoder', encoderParams], ['decoder', decoderParams]] as const) {
      const want = taesdParamShapes(config, part);
      const missing = Object.keys(want).filter((k) => !params[k]);
      if (missing.length) throw new InvalidArgumentError(`TinyAutoencoder: ${part} parameters lack ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', ...' : ''}`);
    }
  }

  /** Images [N, 3, H, W] in [0, 1] (H, W multiples of 8) → latents [N, latentChannels, H/8, W/8]. */
  encode(images: Tensor): Tensor {
    if (images.rank !== 4 || images.shape[1] !== 3 || images.shape[2]! % 8 !== 0 || images.shape[3]! % 8 !== 0) {
      throw new ShapeError(`TinyAutoencoder.encode: images must be [N, 3, H, W] with H and W multiples of 8, got ${describe(images.shape)}`);
    }
    return tidy(() => run(ENCODER_LAYERS, images, this.encoderParams));
  }

  /** Latents [N, latentChannels, h, w] → images [N, 3, 8h, 8w], about [0, 1] (not clamped). */
  decode(latents: Tensor): Tensor {
    if (latents.rank !== 4 || latents.shape[1] !== this.config.latentChannels) {
      throw new ShapeError(`TinyAutoencoder.decode: latents must be [N, ${this.config.latentChannels}, h, w], got ${describe(latents.shape)}`);
    }
    return tidy(() => run(DECODER_LAYERS, latents, this.decoderParams));
  }

  /** decode(encode(images)) clamped to [0, 1]. */
  reconstruct(images: Tensor): Tensor {
    return tidy(() => {
      const z = this.encode(images);
      return clip(this.decode(z), 0, 1);
    });
  }

  /** Raw latents → [0, 1] for storing as an 8-bit image (TAESD's own convention: x / 6 + 0.5). */
  static scaleLatents(latents: Tensor): Tensor {
    return tidy(() => clip(add(mul(latents, 1 / 6), 0.5), 0, 1));
  }

  /** [0, 1] → raw latents (inverse of scaleLatents inside the clamp range). */
  static unscaleLatents(x: Tensor): Tensor {
    return tidy(() => mul(add(x, -0.5), 6));
  }

  /** Writes the weights as two safetensors files (float32, or float16 with `float16: true`). */
  async save(encoderPath: string, decoderPath: string, options: { float16?: boolean } = {}): Promise<void> {
    const opts = { metadata: { format: 'pt', model: 'taesd' }, ...(options.float16 ? { float16: true } : {}) };
    await saveSafetensors(encoderPath, { ...this.encoderParams }, opts);
    await saveSafetensors(decoderPath, { ...this.decoderParams }, opts);
  }

  dispose(): void {
    dispose([Object.values(this.encoderParams), Object.values(this.decoderParams)]);
  }
}

async function stateDictOf(input: string | Uint8Array | StateDict): Promise<StateDict> {
  return input instanceof Map ? input : (await loadStateDict(input)).tensors;
}

/**
 * Loads a TAESD encoder / decoder pair from `.pth`, `.safetensors` files (or bytes, or state
 * dicts). The configuration is read off the weights; every key and shape is checked.
 */
export async function loadTaesd(
  encoder: string | Uint8Array | StateDict,
  decoder: string | Uint8Array | StateDict,
  options: TaesdLoadOptions = {},
): Promise<TinyAutoencoder> {
  const [enc, dec] = await Promise.all([stateDictOf(encoder), stateDictOf(decoder)]);
  const config = taesdConfigFromStateDicts(enc, dec);
  const apply = (sd: StateDict, part: 'encoder' | 'decoder') =>
    applyStateDict(taesdParamShapes(config, part), sd, {}, { name: `loadTaesd (${part})`, ...(options.backend ? { backend: options.backend } : {}) });
  const encoderParams = apply(enc, 'encoder');
  let decoderParams: Record<string, Tensor>;
  try {
    decoderParams = apply(dec, 'decoder');
  } catch (e) {
    dispose(Object.values(encoderParams));
    throw e;
  }
  if (config.channels !== 64) throw new CheckpointError(`loadTaesd: hidden width ${config.channels} is not TAESD's 64`);
  return new TinyAutoencoder(config, encoderParams, decoderParams);
}

/** A TAESD with random (He-normal) weights, for tests and training from scratch. */
export function randomTaesd(config: TaesdConfig, gen: Generator, options: TaesdLoadOptions = {}): TinyAutoencoder {
  const init = (part: 'encoder' | 'decoder') => {
    const out: Record<string, Tensor> = {};
    for (const [name, shape] of Object.entries(taesdParamShapes(config, part))) {
      const fanIn = shape.slice(1).reduce((a, b) => a * b, 1);
      const std = name.endsWith('.bias') ? 0.01 : name.includes('.pool.1.') ? 0.1 : Math.sqrt(2 / fanIn) * 0.5;
      const mean = name.includes('.pool.1.weight') ? 1 : 0;
      out[name] = keep(randn(shape, gen, { std, mean, ...(options.backend ? { backend: options.backend } : {}) }));
    }
    return out;
  };
  return new TinyAutoencoder(config, init('encoder'), init('decoder'));
}
