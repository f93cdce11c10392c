// Training losses of variance-preserving diffusion models (DDPM, improved DDPM, LDM):
//   x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps,   t per sample,
// and the network regresses one of three targets:
//   'epsilon'      eps                                  (Ho et al.'s L_simple)
//   'sample'       x0
//   'v_prediction' v = sqrt(abar_t) eps - sqrt(1 - abar_t) x0   (Salimans & Ho 2022)
// The loss is the mean over the batch of each sample's mean squared error over its elements,
// optionally weighted per sample (importance weights from a timestep sampler).

import { DTypeError, InvalidArgumentError, ShapeError, describe } from '../errors/index.js';
import { engine, expectDType } from '../engine/engine.js';
import { Tensor } from '../tensor/tensor.js';
import { isFloatDType } from '../tensor/dtype.js';
import { add, mul, sqrt, sub } from '../ops/elementwise.js';
import { mean } from '../ops/reduce.js';
import { reshape } from '../ops/layout.js';
import { gather } from '../ops/indexing.js';
import { tensor } from '../ops/creation.js';

import type { Prediction } from '../samplers/denoiser.js';

/** What a network predicts; the same names as the samplers' `Prediction` (and diffusers' `prediction_type`). */
export type PredictionType = Prediction;

/** A VP network: predicts the target from x_t, the int32 timesteps [B] and a condition. */
export type DiffusionNet<C = unknown> = (xt: Tensor, t: Tensor, cond: C) => Tensor;

export interface DiffusionLossOptions<C = unknown> {
  net: DiffusionNet<C>;
  /** Clean samples [B, ...]. */
  x0: Tensor;
  /** Passed to the network. */
  cond?: C;
  /** Timesteps, int32 [B], each in [0, alphasCumprod.length). */
  t: Tensor;
  /** The noise eps, shaped like x0. */
  noise: Tensor;
  /** abar_t for t = 0 .. T-1, each in (0, 1]. */
  alphasCumprod: Float64Array | Float32Array | readonly number[];
  /** What the network predicts. Default 'epsilon'. */
  prediction?: PredictionType;
  /** Per-sample weights [B] (e.g. importance weights 1 / (T p_t)). Default: all 1. */
  weights?: Tensor | ArrayLike<number>;
}

export interface DiffusionLossTerms {
  /** mean_b weights_b * perSample_b, a scalar. */
  loss: Tensor;
  /** Each sample's unweighted mean squared error, [B] (what a loss-aware timestep sampler wants). */
  perSample: Tensor;
}

const PREDICTIONS: readonly PredictionType[] = ['epsilon', 'sample', 'v_prediction'];

function checkAlphas(op: string, a: unknown): ArrayLike<number> {
  if (!(a instanceof Float64Array) && !(a instanceof Float32Array) && !Array.isArray(a)) {
    throw new InvalidArgumentError(`${op}: alphasCumprod must be a Float64Array or an array of numbers, got ${describe(a)}`);
  }
  const arr = a as ArrayLike<number>;
  if (arr.length === 0) throw new InvalidArgumentError(`${op}: alphasCumprod must hold at least one value, got an empty array`);
  for (let i = 0; i < arr.length; i++) {
    const v = arr[i]!;
    if (typeof v !== 'number' || !(v > 0 && v <= 1)) throw new InvalidArgumentError(`${op}: alphasCumprod[${i}] must be in (0, 1], got ${describe(v)}`);
  }
  return arr;
}

function checkSameShape(op: string, arg: string, t: unknown, like: Tensor): asserts t is Tensor {
  if (!(t instanceof Tensor)) throw new InvalidArgumentError(`${op}: ${arg} must be a Tensor, got ${describe(t)}`);
  t._check(op);
  if (t.shape.length !== like.shape.length || t.shape.some((d, i) => d !== like.shape[i])) {
    throw new ShapeError(`${op}: ${arg} must have x0's shape ${describe(like.shape)}, got ${describe(t.shape)}`);
  }
}

function checkX0(op: string, x0: unknown): asserts x0 is Tensor {
  if (!(x0 instanceof Tensor)) throw new InvalidArgumentError(`${op}: x0 must be a Tensor, got ${describe(x0)}`);
  x0._check(op);
  if (x0.rank < 1) throw new ShapeError(`${op}: x0 must have a batch axis (rank >= 1), got shape ${describe(x0.shape)}`);
  if (!isFloatDType(x0.dtype)) throw new DTypeError(`${op}: x0 must be float32 or float64, got ${x0.dtype}`);
}

function checkT(op: string, t: unknown, batch: number): asserts t is Tensor {
  if (!(t instanceof Tensor)) throw new InvalidArgumentError(`${op}: t must be an int32 Tensor [B], got ${describe(t)}`);
  t._check(op);
  expectDType(op, 't', t, ['int32']);
  if (t.rank !== 1 || t.shape[0] !== batch) throw new ShapeError(`${op}: t must have shape [${batch}] (one timestep per sample), got ${describe(t.shape)}`);
}

/**
 * Per-sample coefficients sqrt(abar_t) and sqrt(1 - abar_t), shaped [B, 1, ..., 1] to broadcast
 * against x0. The lookup runs on x0's backend (gather), so nothing is read back.
 */
function coefficients(x0: Tensor, t: Tensor, alphas: ArrayLike<number>): { a: Tensor; s: Tensor } {
  return engine.noGrad(() =>
    engine.tidy(() => {
      const table = tensor(Float64Array.from(alphas), [alphas.length], { dtype: x0.dtype, backend: x0._backend });
      const abar = reshape(gather(table, t, 0), [x0.shape[0]!, ...x0.shape.slice(1).map(() => 1)]);
      return { a: sqrt(abar), s: sqrt(sub(1, abar)) };
    }),
  );
}

function target(prediction: PredictionType, x0: Tensor, noise: Tensor, a: Tensor, s: Tensor): Tensor {
  if (prediction === 'epsilon') return noise;
  if (prediction === 'sample') return x0;
  return sub(mul(a, noise), mul(s, x0));
}

/** x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) noise, with per-sample t (the forward process q(x_t | x0)). */
export function diffuseVP(x0: Tensor, t: Tensor, noise: Tensor, alphasCumprod: Float64Array | Float32Array | readonly number[]): Tensor {
  const op = 'diffuseVP';
  checkX0(op, x0);
  checkT(op, t, x0.shape[0]!);
  checkSameShape(op, 'noise', noise, x0);
  const alphas = checkAlphas(op, alphasCumprod);
  return engine.noGrad(() => engine.tidy(() => {
    const { a, s } = coefficients(x0, t, alphas);
    return add(mul(a, x0), mul(s, noise));
  }));
}

/** The regression target of `prediction` for (x0, noise, t): noise, x0, or v = sqrt(abar) noise - sqrt(1 - abar) x0. */
export function predictionTarget(prediction: PredictionType, x0: Tensor, t: Tensor, noise: Tensor, alphasCumprod: Float64Array | Float32Array | readonly number[]): Tensor {
  const op = 'predictionTarget';
  if (!PREDICTIONS.includes(prediction)) throw new InvalidArgumentError(`${op}: prediction must be one of ${describe(PREDICTIONS)}, got ${describe(prediction)}`);
  checkX0(op, x0);
  checkT(op, t, x0.shape[0]!);
  checkSameShape(op, 'noise', noise, x0);
  const alphas = checkAlphas(op, alphasCumprod);
  return engine.noGrad(() => engine.tidy(() => {
    const { a, s } = coefficients(x0, t, alphas);
    const out = target(prediction, x0, noise, a, s);
    // A fresh tensor even when the target is an input (the caller owns and frees it).
    return out === x0 || out === noise ? add(out, 0) : out;
  }));
}

/** The weighted loss and each sample's unweighted MSE (see diffusionLoss). */
export function diffusionLossTerms<C>(options: DiffusionLossOptions<C>): DiffusionLossTerms {
  const op = 'diffusionLoss';
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError(`${op}: options must be an object with net, x0, t, noise and alphasCumprod, got ${describe(options)}`);
  const { net, x0, t, noise, cond } = options;
  if (typeof net !== 'function') throw new InvalidArgumentError(`${op}: options.net must be a function (xt, t, cond) => Tensor, got ${describe(net)}`);
  checkX0(op, x0);
  const batch = x0.shape[0]!;
  checkT(op, t, batch);
  checkSameShape(op, 'noise', noise, x0);
  const alphas = checkAlphas(op, options.alphasCumprod);
  const prediction = options.prediction ?? 'epsilon';
  if (!PREDICTIONS.includes(prediction)) throw new InvalidArgumentError(`${op}: options.prediction must be one of ${describe(PREDICTIONS)}, got ${describe(prediction)}`);
  const w = options.weights;
  if (w !== undefined) {
    if (w instanceof Tensor) {
      w._check(op);
      if (w.rank !== 1 || w.shape[0] !== batch) throw new ShapeError(`${op}: options.weights must have shape [${batch}], got ${describe(w.shape)}`);
      if (!isFloatDType(w.dtype)) throw new DTypeError(`${op}: options.weights must be float32 or float64, got ${w.dtype}`);
    } else if (typeof w !== 'object' || w === null || typeof (w as ArrayLike<number>).length !== 'number' || (w as ArrayLike<number>).length !== batch) {
      throw new ShapeError(`${op}: options.weights must be a tensor or an array of ${batch} numbers, got ${describe(w)}`);
    }
  }
  const axes = x0.shape.slice(1).map((_, i) => i + 1);
  return engine.tidy(() => {
    const { a, s } = coefficients(x0, t, alphas);
    const xt = engine.noGrad(() => add(mul(a, x0), mul(s, noise)));
    const tgt = engine.noGrad(() => target(prediction, x0, noise, a, s));
    const out = net(xt, t, cond as C);
    if (!(out instanceof Tensor) || out.shape.length !== x0.shape.length || out.shape.some((d, i) => d !== x0.shape[i])) {
      throw new ShapeError(`${op}: the network must return a tensor shaped like x0 ${describe(x0.shape)}, got ${out instanceof Tensor ? describe(out.shape) : describe(out)}`);
    }
    const d = sub(out, tgt);
    const sq = mul(d, d);
    const perSample = axes.length > 0 ? mean(sq, axes) : sq;
    let weighted = perSample;
    if (w !== undefined) {
      const wt = w instanceof Tensor ? w : tensor(Float64Array.from(w as ArrayLike<number>), [batch], { dtype: perSample.dtype, backend: x0._backend });
      weighted = mul(perSample, wt);
    }
    return { loss: mean(weighted), perSample: engine.noGrad(() => add(perSample, 0)) };
  });
}

/**
 * The diffusion training loss: mean over the batch of (weights_b times) the mean squared error
 * between net(x_t, t, cond) and the target of `prediction` (L_simple for 'epsilon'). A scalar
 * tensor, differentiable with respect to the network's parameters.
 */
export function diffusionLoss<C>(options: DiffusionLossOptions<C>): Tensor {
  const { loss, perSample } = diffusionLossTerms(options);
  perSample.dispose();
  return loss;
}
