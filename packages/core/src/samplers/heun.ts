// Heun's second-order method on the probability-flow ODE (Karras et al. 2022, Algorithm 1 with
// S_churn = 0; k-diffusion's sample_heun): an Euler predictor to sigmaNext, a second
// evaluation there, and the average slope. The last step to sigma = 0 is a plain Euler step
// (the slope at sigma = 0 is undefined), so a ladder of N steps ending in 0 costs 2N - 1
// network evaluations. That final Euler step is only first order; convergence-order tests stop
// at a sigma_min > 0.

import { add, div, mul } from '../ops/index.js';
import type { Sampler } from './types.js';
import { checkOptions, epsOf } from './util.js';

export function heun(options?: Record<string, never>): Sampler {
  checkOptions('heun', options, []);
  return {
    name: 'heun',
    stochastic: false,
    step({ x, i, sigmas, denoise }) {
      const sigma = sigmas[i]!;
      const sigmaNext = sigmas[i + 1]!;
      const dt = sigmaNext - sigma;
      const x0 = denoise(x, sigma);
      const d = epsOf(x, x0, sigma);
      if (sigmaNext === 0) return { x: add(x, mul(d, dt)), x0 };
      const x2 = add(x, mul(d, dt));
      const d2 = epsOf(x2, denoise(x2, sigmaNext), sigmaNext);
      return { x: add(x, mul(div(add(d, d2), 2), dt)), x0 };
    },
  };
}
