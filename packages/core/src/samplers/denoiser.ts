// Wraps a network once into the Denoiser every sampler uses: (x, sigma, cond) -> x0, in the VE
// form x = x0 + sigma * eps (types.ts). Samplers never branch on the parameterisation.
//
// VP networks (DDPM, Stable Diffusion, Diffusion-LM) were trained on x_t = sqrt(abar) x0 +
// sqrt(1 - abar) eps at integer timesteps. With abar = 1 / (1 + sigma^2), write alpha =
// sqrt(abar) = 1 / sqrt(1 + sigma^2) and sigma_vp = sqrt(1 - abar) = sigma * alpha. Then
//   x_t = alpha * x                          (the VE sample scaled into the VP box)
//   t   = sigmaToTimestep(sigma)             (continuous; rounded with quantize)
// and the network output becomes x0 by
//   'epsilon':       x0 = x - sigma * eps                 (eps is the same in both forms)
//   'sample':        x0 = out
//   'v_prediction':  x0 = alpha * x_t - sigma_vp * v      (v = alpha eps - sigma_vp x0,
//                    Salimans & Ho 2022: alpha x_t - sigma_vp v = (alpha^2 + sigma_vp^2) x0 = x0)
// This is k-diffusion's DiscreteEpsDDPMDenoiser / DiscreteVDDPMDenoiser.

import { InvalidArgumentError, ShapeError, describe } from '../errors/index.js';
import { engine } from '../engine/engine.js';
import { div, mul, sub } from '../ops/index.js';
import { sigmasFromAlphasCumprod, timestepLookup } from '../schedules/conversions.js';
import type { NumberArray } from '../schedules/util.js';
import { Tensor } from '../tensor/tensor.js';
import { ASYNC_DENOISER, type AsyncDenoiser, type Denoiser } from './types.js';

export type Prediction = 'epsilon' | 'sample' | 'v_prediction';

/** A variance-preserving network: x_t (VP-scaled) and a continuous training timestep in. */
export type VPNetwork<C = unknown> = (xIn: Tensor, t: number, cond: C) => Tensor;

/** A VPNetwork that runs asynchronously (e.g. an ONNX Runtime session). */
export type AsyncVPNetwork<C = unknown> = (xIn: Tensor, t: number, cond: C) => Promise<Tensor>;

/** A network that takes the VE sample and its sigma directly (EDM-style, no preconditioning). */
export type VENetwork<C = unknown> = (x: Tensor, sigma: number, cond: C) => Tensor;

export interface VPDenoiserOptions {
  /** The training schedule's alphas-cumprod, one entry per timestep (strictly decreasing). */
  alphasCumprod: NumberArray;
  /** What the network predicts. */
  prediction: Prediction;
  /** Round the timestep to the nearest integer (networks that only saw integer timesteps). Default false. */
  quantize?: boolean;
}

export interface VEDenoiserOptions {
  prediction: 'epsilon' | 'sample';
}

const VP_PREDICTIONS: readonly Prediction[] = ['epsilon', 'sample', 'v_prediction'];

function checkSigma(op: string, sigma: unknown): asserts sigma is number {
  if (typeof sigma !== 'number' || !(sigma >= 0) || !Number.isFinite(sigma)) {
    throw new InvalidArgumentError(`${op}: sigma must be a finite number >= 0, got ${describe(sigma)}`);
  }
}

function checkOutput(op: string, out: unknown, x: Tensor): Tensor {
  if (!(out instanceof Tensor) || out.shape.length !== x.shape.length || out.shape.some((d, k) => d !== x.shape[k])) {
    throw new ShapeError(`${op}: net must return a tensor shaped like x ${describe(x.shape)}, got ${out instanceof Tensor ? describe(out.shape) : describe(out)}`);
  }
  return out;
}

function vpSetup(op: string, net: unknown, options: VPDenoiserOptions): { prediction: Prediction; timestep: (sigma: number) => { alpha: number; t: number } } {
  if (typeof net !== 'function') throw new InvalidArgumentError(`${op}: net must be a function (xIn, t, cond) => Tensor, got ${describe(net)}`);
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError(`${op}: options must be an object, got ${describe(options)}`);
  const { prediction, quantize = false } = options;
  if (!VP_PREDICTIONS.includes(prediction)) {
    throw new InvalidArgumentError(`${op}: options.prediction must be one of ${VP_PREDICTIONS.map((p) => `'${p}'`).join(', ')}, got ${describe(prediction)}`);
  }
  if (typeof quantize !== 'boolean') throw new InvalidArgumentError(`${op}: options.quantize must be a boolean, got ${describe(quantize)}`);
  const lookup = timestepLookup(sigmasFromAlphasCumprod(options.alphasCumprod), `${op}: options.alphasCumprod`);
  return {
    prediction,
    timestep: (sigma) => {
      checkSigma(op, sigma);
      const tc = lookup.sigmaToTimestep(sigma);
      return { alpha: 1 / Math.sqrt(1 + sigma * sigma), t: quantize ? Math.round(tc) : tc };
    },
  };
}

/** The network output as x0 (see the table at the top). */
function vpToX0(prediction: Prediction, x: Tensor, xIn: Tensor, out: Tensor, sigma: number, alpha: number): Tensor {
  switch (prediction) {
    case 'epsilon':
      return sub(x, mul(out, sigma));
    case 'sample':
      return out;
    case 'v_prediction':
      return sub(mul(xIn, alpha), mul(out, sigma * alpha));
  }
}

/**
 * Wraps a VP network (eps-, x0- or v-predicting) into a Denoiser over VE samples. Sigmas outside
 * the training table's range are fed the nearest end timestep (0 or T - 1), while x is still
 * scaled by the true sigma, as k-diffusion does.
 */
export function vpDenoiser<C = unknown>(net: VPNetwork<C>, options: VPDenoiserOptions): Denoiser<C> {
  const { prediction, timestep } = vpSetup('vpDenoiser', net, options);
  return (x, sigma, cond) => {
    const { alpha, t } = timestep(sigma);
    return engine.tidy(() => {
      const xIn = mul(x, alpha); // x_t = sqrt(abar) x0 + sqrt(1 - abar) eps
      const out = checkOutput('vpDenoiser', net(xIn, t, cond), x);
      return vpToX0(prediction, x, xIn, out, sigma, alpha);
    });
  };
}

/** Marks `fn` as an AsyncDenoiser, so that `sample` awaits it. */
export function asyncDenoiser<C = unknown>(fn: (x: Tensor, sigma: number, cond: C) => Promise<Tensor>): AsyncDenoiser<C> {
  if (typeof fn !== 'function') throw new InvalidArgumentError(`asyncDenoiser: fn must be a function (x, sigma, cond) => Promise<Tensor>, got ${describe(fn)}`);
  const wrapped = ((x: Tensor, sigma: number, cond: C) => fn(x, sigma, cond)) as AsyncDenoiser<C>;
  Object.defineProperty(wrapped, ASYNC_DENOISER, { value: true });
  return wrapped;
}

export function isAsyncDenoiser(d: unknown): d is AsyncDenoiser {
  return typeof d === 'function' && (d as { [ASYNC_DENOISER]?: boolean })[ASYNC_DENOISER] === true;
}

/**
 * vpDenoiser for a network that runs asynchronously (an ONNX Runtime UNet): the same scaling,
 * timestep and parameterisation, awaited. The network's input stays alive until it settles.
 */
export function vpDenoiserAsync<C = unknown>(net: AsyncVPNetwork<C>, options: VPDenoiserOptions): AsyncDenoiser<C> {
  const { prediction, timestep } = vpSetup('vpDenoiserAsync', net, options);
  return asyncDenoiser(async (x, sigma, cond) => {
    const { alpha, t } = timestep(sigma);
    const xIn = engine.keep(engine.tidy(() => mul(x, alpha)));
    let out: Tensor | undefined;
    try {
      out = checkOutput('vpDenoiserAsync', await net(xIn, t, cond), x);
      if (prediction === 'sample') return out;
      const o = out;
      return engine.tidy(() => vpToX0(prediction, x, xIn, o, sigma, alpha));
    } finally {
      xIn.dispose();
      if (out && prediction !== 'sample') out.dispose();
    }
  });
}

/** Wraps a network that takes (x, sigma) in VE form and predicts eps or x0. */
export function veDenoiser<C = unknown>(net: VENetwork<C>, options: VEDenoiserOptions): Denoiser<C> {
  const op = 'veDenoiser';
  if (typeof net !== 'function') throw new InvalidArgumentError(`${op}: net must be a function (x, sigma, cond) => Tensor, got ${describe(net)}`);
  const prediction = (options as VEDenoiserOptions | undefined)?.prediction;
  if (prediction !== 'epsilon' && prediction !== 'sample') {
    throw new InvalidArgumentError(`${op}: options.prediction must be 'epsilon' or 'sample', got ${describe(prediction)}`);
  }
  return (x, sigma, cond) => {
    checkSigma('veDenoiser', sigma);
    return engine.tidy(() => {
      const out = checkOutput('veDenoiser', net(x, sigma, cond), x);
      return prediction === 'sample' ? out : sub(x, mul(out, sigma));
    });
  };
}

/** eps = (x - x0) / sigma for a VE sample at sigma > 0. */
export function epsFromX0(x: Tensor, sigma: number, x0: Tensor): Tensor {
  if (typeof sigma !== 'number' || !(sigma > 0) || !Number.isFinite(sigma)) {
    throw new InvalidArgumentError(`epsFromX0: sigma must be a finite number > 0, got ${describe(sigma)}`);
  }
  return div(sub(x, x0), sigma);
}

/** x0 = x - sigma * eps for a VE sample at sigma >= 0. */
export function x0FromEps(x: Tensor, sigma: number, eps: Tensor): Tensor {
  checkSigma('x0FromEps', sigma);
  return sub(x, mul(eps, sigma));
}
