// Diffusion-LM's plug-and-play control (Li et al. 2022, §5): after each denoising step the new
// sample x_{t-1} is refined by K gradient updates on
//   lambda * log p(x_{t-1} | x_t) + log p(c | x_{t-1}),
// where p(x_{t-1} | x_t) = N(mean, std^2) is the step's own Gaussian (fluency) and p(c | x) is a
// classifier on noisy latents (control). It is an `onStep` hook for samplers/sample.ts.
//
// What the reference release does (XiangLi1999/Diffusion-LM, improved-diffusion/scripts/
// infill_util.py, langevin_fn3 / langevin_fn4 / langevin_fn_tree / langevin_fn_length, called
// from GaussianDiffusion.ddim_sample as langevin_fn(sample, mean_pred, sigma, ...) right after
// sample = mean_pred + sigma * noise), and what we follow:
// - Start point: the freshly drawn sample x_{t-1} (not the mean). Followed: we start at info.x.
// - Optimiser: torch.optim.Adagrad(lr = step_size) on the latent, but constructed INSIDE the
//   K-loop, so its accumulator restarts at every update: each update is
//   lr * g / (sqrt(g^2) + 1e-10), i.e. about lr * sign(g) per coordinate. Followed by default
//   (resetAccumulator: true) with core's Adagrad; resetAccumulator: false keeps one Adagrad across
//   the K updates of a step instead.
// - Fluency term: coef * ((mean - x)^2 / sigma).mean(dim=0).sum() with sigma the DDIM std (and
//   / 1 when sigma = 0), i.e. a squared distance divided by the std, not by 2 std^2. We use the
//   Gaussian's true log-density, lambda * ||x - mean||^2 / (2 std^2) (the paper's formula).
//   Batch reduction: the release averages both terms over the batch, we sum the per-sample terms;
//   Adagrad divides every update by the gradient's own magnitude, so neither the batch size nor
//   this overall factor changes the updates (up to Adagrad's eps).
// - Control term: the classifier's cross-entropy at the new step's timestep (t - 1). Followed:
//   logProb(x, sigmaNext).
// - Noise: the loop re-wraps the latent as x + 0.0 * sigma * eps (a Langevin step with the noise
//   switched off; sqrt(2 sigma) eps is commented out). Followed: no noise is re-added, so this is
//   gradient ascent, not Langevin sampling. A consequence: with a flat classifier the fluency
//   term alone pulls x towards the step's mean by up to K * stepSize per step, so the samples'
//   spread shrinks somewhat (the tests measure it); a small stepSize keeps it negligible.
// - K = 3 updates, and K = 0 for the last 10 of 200 steps (t < 10). We take K from options.steps
//   and skip steps with sigmaNext <= options.minSigma (default 0).
// Deterministic samplers report no mean / std, or std 0 (the release then divides by 1 instead of
// sigma): we use info.x as the mean and, by default, the std an ancestral (eta = 1) step from
// sigma to sigmaNext would draw with, sigma_up = sigmaNext * sqrt(1 - sigmaNext^2 / sigma^2), the
// spread the step would have had if it were stochastic; that is 0 only for the step to sigma 0,
// which is left unchanged.

import { InvalidArgumentError, describe } from '../errors/index.js';
import { engine } from '../engine/engine.js';
import type { Tensor } from '../tensor/tensor.js';
import { isFloatDType } from '../tensor/dtype.js';
import { add, clip as clipOp, mul, sub } from '../ops/elementwise.js';
import { sum } from '../ops/reduce.js';
import { variable } from '../ops/creation.js';
import { gradients } from '../autograd/index.js';
import { Adagrad } from '../optim/optimizers.js';
import type { StepInfo } from '../samplers/types.js';
import { ancestralStep } from '../samplers/util.js';
import { checkFunction, checkOptionsObject, checkScalarLogProb } from './scale.js';

export interface DiffusionLMControlOptions {
  /** log p(c | x) at noise level sigma, summed over the batch to one scalar. */
  logProb: (x: Tensor, sigma: number) => Tensor;
  /**
   * Weight of the fluency term log N(x; mean, std^2) (the release's coef: 0.01 for attributes,
   * 1e-4 for POS, 5e-4 for syntax trees, 0.1 for spans, with its / std form). Larger: closer to
   * the model; the classifier term has weight 1.
   */
  lambda: number;
  /** K, the number of Adagrad updates per sampler step (the release: 3). */
  steps: number;
  /** Adagrad's learning rate (the release: 0.1 on word embeddings). */
  stepSize: number;
  /** Clamps the optimised x into [-clip, clip] (or [lo, hi]) after every update. Default: no clamping. */
  clip?: number | readonly [number, number];
  /** Steps whose target noise level sigmaNext is <= minSigma are left unchanged. Default 0. */
  minSigma?: number;
  /** Restart Adagrad's accumulator before every update, as the release does. Default true. */
  resetAccumulator?: boolean;
  /** The std used when the step reports none (deterministic samplers). Default: the ancestral sigma_up. */
  fallbackStd?: (sigma: number, sigmaNext: number) => number;
}

/** The std of an ancestral (eta = 1) step from sigma to sigmaNext: sigmaNext sqrt(sigma^2 - sigmaNext^2) / sigma. */
function ancestralStd(sigma: number, sigmaNext: number): number {
  return sigma > 0 ? ancestralStep(sigma, sigmaNext, 1).sigmaUp : 0;
}

function checkNonNegative(op: string, arg: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new InvalidArgumentError(`${op}: ${arg} must be a finite number >= 0, got ${describe(v)}`);
  return v;
}

/**
 * Diffusion-LM's control loop as an `onStep` hook: from the sampler's new x, K Adagrad updates
 * maximising lambda * log N(x; mean, std^2) + log p(c | x); returns the optimised x. Everything
 * it allocates (the variable, the optimizer state, gradients) is freed before it returns.
 */
export function diffusionLMControl(options: DiffusionLMControlOptions): (info: StepInfo) => Tensor {
  const op = 'diffusionLMControl';
  checkOptionsObject(op, options, 'logProb, lambda, steps and stepSize');
  checkFunction(op, 'options.logProb', options.logProb);
  const lambda = checkNonNegative(op, 'options.lambda', options.lambda);
  const K = options.steps;
  if (!Number.isInteger(K) || K < 0) throw new InvalidArgumentError(`${op}: options.steps must be an integer >= 0, got ${describe(K)}`);
  const stepSize = checkNonNegative(op, 'options.stepSize', options.stepSize);
  const minSigma = checkNonNegative(op, 'options.minSigma', options.minSigma ?? 0);
  const reset = options.resetAccumulator ?? true;
  let bounds: readonly [number, number] | null = null;
  if (options.clip !== undefined) {
    const c = options.clip;
    bounds = typeof c === 'number' ? [-c, c] : Array.isArray(c) && c.length === 2 ? [c[0], c[1]] : null;
    if (!bounds || typeof bounds[0] !== 'number' || typeof bounds[1] !== 'number' || !(bounds[0] < bounds[1])) {
      throw new InvalidArgumentError(`${op}: options.clip must be a positive number or a [lo, hi] pair with lo < hi, got ${describe(c)}`);
    }
  }
  const fallbackStd = options.fallbackStd ?? ancestralStd;
  checkFunction(op, 'options.fallbackStd', fallbackStd);
  const { logProb } = options;

  return (info: StepInfo): Tensor => {
    if (typeof info !== 'object' || info === null) throw new InvalidArgumentError(`${op}: the hook must be given the sampler's StepInfo, got ${describe(info)}`);
    const x = info.x;
    x._check(op);
    if (!isFloatDType(x.dtype)) throw new InvalidArgumentError(`${op}: info.x must be float32 or float64, got ${x.dtype}`);
    // A step that drew no noise (no std, or std 0) is treated as deterministic: mean x and the
    // fallback std, which is 0, and the step left alone, only when sigmaNext is 0.
    const stochastic = info.mean !== undefined && typeof info.std === 'number' && info.std > 0;
    const std = stochastic ? info.std! : fallbackStd(info.sigma, info.sigmaNext);
    if (typeof std !== 'number' || !Number.isFinite(std) || std < 0) throw new InvalidArgumentError(`${op}: the step's std must be a finite number >= 0, got ${describe(std)}`);
    if (K === 0 || std === 0 || info.sigmaNext <= minSigma) return x;
    const mean = stochastic ? info.mean! : x;
    // lambda * ||x - mean||^2 / (2 std^2): the negated log N(x; mean, std^2) up to a constant.
    const priorCoef = lambda / (2 * std * std);
    const v = variable(x, 'diffusionLMControl.x');
    let opt: Adagrad | null = null;
    try {
      for (let k = 0; k < K; k++) {
        if (opt === null || reset) {
          opt?.dispose();
          opt = new Adagrad([v], { lr: stepSize });
        }
        const { value, grads } = gradients(() => {
          if (!engine.isTracked(v)) throw new InvalidArgumentError(`${op}: gradients cannot be recorded inside noGrad(); run the sampler outside noGrad()`);
          const lp = logProb(v, info.sigmaNext);
          checkScalarLogProb(op, lp);
          if (priorCoef === 0) return mul(lp, -1);
          const d = sub(v, mean);
          // loss = -(lambda log N(x; mean, std^2) + log p(c | x)) + const
          return sub(mul(sum(mul(d, d)), priorCoef), lp);
        }, [v]);
        value.dispose();
        try {
          opt.step(grads);
        } finally {
          for (const g of grads) g.dispose();
        }
        if (bounds) {
          const [lo, hi] = bounds;
          engine.noGrad(() => engine.tidy(() => v.assign(clipOp(v, lo, hi))));
        }
      }
      // A plain tensor (not a variable) for the sampling loop to own.
      return engine.noGrad(() => engine.tidy(() => add(v, 0)));
    } finally {
      opt?.dispose();
      v.dispose();
    }
  };
}
