// Euler ancestral sampling (k-diffusion's sample_euler_ancestral): an Euler step down to
// sigma_down, then fresh noise of std sigma_up back up to sigmaNext, with sigma_down, sigma_up
// from get_ancestral_step (util.ts). eta = 1 gives the DDPM posterior, eta = 0 plain Euler.
// No noise is added on the step to sigma = 0.

import { add, mul } from '../ops/index.js';
import type { Sampler } from './types.js';
import { ancestralStep, checkEta, checkOptions, epsOf, noiseLike } from './util.js';

export interface EulerAncestralOptions {
  /** Scale of the fresh noise, default 1. */
  eta?: number;
}

export function eulerAncestral(options?: EulerAncestralOptions): Sampler {
  const o = checkOptions('eulerAncestral', options, ['eta']);
  const eta = checkEta('eulerAncestral', o.eta, 1);
  return {
    name: 'euler_ancestral',
    stochastic: eta > 0,
    step({ x, i, sigmas, denoise, gen }) {
      const sigma = sigmas[i]!;
      const sigmaNext = sigmas[i + 1]!;
      const x0 = denoise(x, sigma);
      const { sigmaDown, sigmaUp } = ancestralStep(sigma, sigmaNext, eta);
      const d = epsOf(x, x0, sigma);
      const mean = add(x, mul(d, sigmaDown - sigma));
      if (sigmaUp === 0) return { x: mean, x0, mean, std: 0 };
      return { x: add(mean, mul(noiseLike(x, gen), sigmaUp)), x0, mean, std: sigmaUp };
    },
  };
}
