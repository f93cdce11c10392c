// Ancestral DDPM sampling (Ho et al. 2020) with the posterior variance ("fixed small"), in VE
// form. For a VP model, q(x_s | x_t, x0) with the generalised step beta' = 1 - abar_t / abar_s
// has mean coef1 x0 + coef2 x_t and variance beta' (1 - abar_s) / (1 - abar_t). Dividing by
// sqrt(abar_s) and using abar = 1 / (1 + sigma^2) gives, from sigma to sigma' < sigma:
//   std^2 = sigma'^2 (sigma^2 - sigma'^2) / sigma^2,
//   mean  = x0 + (sigma'^2 / sigma^2) (x - x0)     (= x0 + (sigma_down / sigma)(x - x0),
//                                                    sigma_down = sqrt(sigma'^2 - std^2) = sigma'^2 / sigma),
// with x0 = D(x, sigma). The posterior depends only on the two noise levels, so any ladder
// works; the step to sigma' = 0 returns x0. Mathematically the same step as ddim({ eta: 1 }) and
// eulerAncestral({ eta: 1 }); the test suite checks it against the VP-form posterior.

import { add, mul, sub } from '../ops/index.js';
import type { Sampler } from './types.js';
import { checkOptions, noiseLike } from './util.js';

export function ddpm(options?: Record<string, never>): Sampler {
  checkOptions('ddpm', options, []);
  return {
    name: 'ddpm',
    stochastic: true,
    step({ x, i, sigmas, denoise, gen }) {
      const sigma = sigmas[i]!;
      const sigmaNext = sigmas[i + 1]!;
      const x0 = denoise(x, sigma);
      const ratio = (sigmaNext * sigmaNext) / (sigma * sigma);
      const mean = add(x0, mul(sub(x, x0), ratio));
      const std = (sigmaNext * Math.sqrt(sigma * sigma - sigmaNext * sigmaNext)) / sigma;
      if (std === 0) return { x: mean, x0, mean, std: 0 };
      return { x: add(mean, mul(noiseLike(x, gen), std)), x0, mean, std };
    },
  };
}
