// Euler's method on the probability-flow ODE dx/dsigma = (x - D(x, sigma)) / sigma (Karras et
// al. 2022, Algorithm 1 without the second-order correction; k-diffusion's sample_euler with
// s_churn = 0). One network evaluation per step, first order. In this VE form Euler and
// deterministic DDIM are the same update (Karras et al. 2022, section 3).

import { add, mul } from '../ops/index.js';
import type { Sampler } from './types.js';
import { checkOptions, epsOf } from './util.js';

export function euler(options?: Record<string, never>): Sampler {
  checkOptions('euler', options, []);
  return {
    name: 'euler',
    stochastic: false,
    step({ x, i, sigmas, denoise }) {
      const sigma = sigmas[i]!;
      const sigmaNext = sigmas[i + 1]!;
      const x0 = denoise(x, sigma);
      const d = epsOf(x, x0, sigma); // dx/dsigma
      return { x: add(x, mul(d, sigmaNext - sigma)), x0 };
    },
  };
}
