// DDIM (Song et al. 2021) in VE form. DDIM's update in VP form, from timestep t to s < t, is
//   x_s = sqrt(abar_s) x0 + sqrt(1 - abar_s - sigma_t(eta)^2) eps + sigma_t(eta) z,
//   sigma_t(eta)^2 = eta^2 (1 - abar_s) / (1 - abar_t) (1 - abar_t / abar_s).
// Dividing by sqrt(abar_s) and writing abar = 1 / (1 + sigma^2) (sigma = VE noise level, sigma'
// the next one) turns it into
//   x' = x0 + sqrt(sigma'^2 - up^2) eps + up z,   up^2 = sigma_t(eta)^2 / abar_s
//                                                    = eta^2 sigma'^2 (sigma^2 - sigma'^2) / sigma^2,
// with eps = (x - x0) / sigma. So DDIM's eta is exactly k-diffusion's ancestral eta; eta = 0 is
// x' = x0 + sigma' eps (= Euler in VE form), eta = 1 is the DDPM posterior. For eta > 1 the VP
// formula takes the square root of a negative number; here `up` is capped at sigma' (as in
// k-diffusion) so the step stays defined.

import { add, mul } from '../ops/index.js';
import type { Sampler } from './types.js';
import { ancestralStep, checkEta, checkOptions, epsOf, noiseLike } from './util.js';

export interface DDIMOptions {
  /** 0 (default): deterministic DDIM; 1: DDPM's ancestral posterior. */
  eta?: number;
}

export function ddim(options?: DDIMOptions): Sampler {
  const o = checkOptions('ddim', options, ['eta']);
  const eta = checkEta('ddim', o.eta, 0);
  return {
    name: 'ddim',
    stochastic: eta > 0,
    step({ x, i, sigmas, denoise, gen }) {
      const sigma = sigmas[i]!;
      const sigmaNext = sigmas[i + 1]!;
      const x0 = denoise(x, sigma);
      const eps = epsOf(x, x0, sigma);
      const { sigmaDown, sigmaUp } = ancestralStep(sigma, sigmaNext, eta);
      const mean = add(x0, mul(eps, sigmaDown));
      if (eta === 0) return { x: mean, x0 };
      if (sigmaUp === 0) return { x: mean, x0, mean, std: 0 };
      return { x: add(mean, mul(noiseLike(x, gen), sigmaUp)), x0, mean, std: sigmaUp };
    },
  };
}
