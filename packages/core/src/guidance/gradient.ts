// Gradient (classifier) guidance as a Denoiser combinator (Song et al. 2021, Dhariwal & Nichol
// 2021), with the gradient taken by core autograd.
//
// Derivation. In the sigma form x = x0 + sigma * eps, Tweedie's formula links the denoiser and
// the score of the noisy marginal p_sigma:
//   E[x0 | x] = x + sigma^2 grad_x log p_sigma(x),   i.e.   score(x) = (x0_hat(x) - x) / sigma^2.
// Conditioning on c by Bayes, p_sigma(x | c) ∝ p_sigma(x) p(c | x), adds the classifier's gradient
// to the score:
//   grad log p_sigma(x | c) = (x0_hat - x) / sigma^2 + grad_x log p(c | x),
// and reading that score back as a denoiser gives
//   x0_guided = x + sigma^2 grad log p_sigma(x | c) = x0_hat + sigma^2 grad_x log p(c | x).
// A scale s targets p_sigma(x) p(c | x)^s: x0_guided = x0_hat + s sigma^2 grad_x log p(c | x).
// When log p(c | x) is the exact noise-aware likelihood p_sigma(c | x) (it may depend on sigma:
// logProb receives it), s = 1 gives exactly the denoiser of the posterior p(x0 | c), so every
// sampler then samples the posterior (the tests check this on Gaussians).
//
// on: 'x0' instead evaluates the likelihood on the denoiser's prediction, log p(c | x0_hat(x)),
// and differentiates through the denoiser (the approximation p(c | x) ≈ p(c | E[x0 | x]) of
// diffusion posterior sampling / universal guidance): it needs a differentiable denoiser and costs
// a backward pass through it, but works with a classifier trained on clean data.

import { InvalidArgumentError, describe } from '../errors/index.js';
import { engine } from '../engine/engine.js';
import { Tensor } from '../tensor/tensor.js';
import { isFloatDType } from '../tensor/dtype.js';
import { add, mul } from '../ops/elementwise.js';
import { gradients } from '../autograd/index.js';
import type { Denoiser } from '../samplers/types.js';
import {
  type GuidanceScale, checkFunction, checkLike, checkOptionsObject, checkScalarLogProb, checkScale, checkSigma, resolveScale,
} from './scale.js';

export interface GradientGuidanceOptions<C> {
  /**
   * log p(c | x) at noise level sigma, summed over the batch to one scalar (the rows are
   * independent, so the gradient of the sum is each row's own gradient).
   */
  logProb: (x: Tensor, sigma: number, cond: C) => Tensor;
  /** Guidance weight s (constant or a function of sigma). */
  scale: GuidanceScale;
  /**
   * 'x' (default): the likelihood sees the noisy x (a noise-aware classifier).
   * 'x0': the likelihood sees the denoiser's x0 prediction; the gradient flows through the denoiser.
   */
  on?: 'x' | 'x0';
}

/** Throws when gradients cannot be recorded (the caller is inside noGrad()). */
function checkRecording(op: string, x: Tensor): void {
  if (!engine.isTracked(x)) {
    throw new InvalidArgumentError(`${op}: gradients of the guidance term cannot be recorded inside noGrad(); run the sampler outside noGrad()`);
  }
}

/**
 * Gradient guidance: x0_guided = x0_hat + scale * sigma^2 * grad_x log p(c | x) (see the
 * derivation above). At sigma = 0 or scale = 0 the denoiser is returned unchanged. Everything but
 * the result is freed.
 */
export function gradientGuidance<C>(denoiser: Denoiser<C>, options: GradientGuidanceOptions<C>): Denoiser<C> {
  const op = 'gradientGuidance';
  checkFunction(op, 'denoiser', denoiser);
  checkOptionsObject(op, options, 'logProb and scale');
  checkFunction(op, 'options.logProb', options.logProb);
  checkScale(op, options.scale);
  const on = options.on ?? 'x';
  if (on !== 'x' && on !== 'x0') throw new InvalidArgumentError(`${op}: options.on must be 'x' or 'x0', got ${describe(options.on)}`);
  const { logProb, scale } = options;
  return (x: Tensor, sigma: number, cond: C): Tensor => {
    if (!(x instanceof Tensor)) throw new InvalidArgumentError(`${op}: x must be a Tensor, got ${describe(x)}`);
    x._check(op);
    checkSigma(op, sigma);
    if (!isFloatDType(x.dtype)) throw new InvalidArgumentError(`${op}: x must be float32 or float64 to be differentiated, got ${x.dtype}`);
    const s = resolveScale(op, scale, sigma);
    if (s === 0 || sigma === 0) return engine.tidy(() => denoiser(x, sigma, cond));
    const coef = s * sigma * sigma;
    if (on === 'x') {
      return engine.tidy(() => {
        const x0 = denoiser(x, sigma, cond);
        checkLike(op, 'the denoiser', x0, x);
        const { grads } = gradients(() => {
          checkRecording(op, x);
          const lp = logProb(x, sigma, cond);
          checkScalarLogProb(op, lp);
          return lp;
        }, [x]);
        return add(x0, mul(grads[0]!, coef));
      });
    }
    // 'x0': one forward pass of the denoiser under the tape gives both x0_hat and the gradient.
    // The prediction is kept past gradients()'s scope and freed here once the guided x0 exists
    // (unless it is not ours to free: x itself, a variable, or a tensor kept elsewhere).
    const held: { owned?: Tensor; pred?: Tensor } = {};
    try {
      return engine.tidy(() => {
        const { grads } = gradients(() => {
          checkRecording(op, x);
          const out = denoiser(x, sigma, cond);
          checkLike(op, 'the denoiser', out, x);
          if (out !== x && !out.isVariable && !out._kept) held.owned = engine.keep(out);
          held.pred = out;
          const lp = logProb(out, sigma, cond);
          checkScalarLogProb(op, lp);
          return lp;
        }, [x]);
        return add(held.pred!, mul(grads[0]!, coef));
      });
    } finally {
      held.owned?.dispose();
    }
  };
}
