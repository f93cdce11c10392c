// DPM-Solver++(2M) (Lu et al. 2022, Algorithm 2; k-diffusion's sample_dpmpp_2m): a second-order
// multistep exponential integrator in lambda = -log(sigma). With h = log(sigma / sigma'),
//   x' = (sigma' / sigma) x - expm1(-h) D,
// where D is x0 on the first step (and on the step to sigma' = 0) and, afterwards, the
// extrapolation (1 + 1/(2r)) x0_i - (1/(2r)) x0_{i-1} with r = h_last / h. One network
// evaluation per step. The previous x0 and its sigma travel in the step state, so a run started
// at startStep begins with a first-order step, like a fresh k-diffusion run on sigmas[k:].

import { mul, sub } from '../ops/index.js';
import { Tensor } from '../tensor/tensor.js';
import type { Sampler } from './types.js';
import { checkOptions } from './util.js';

export function dpmpp2m(options?: Record<string, never>): Sampler {
  checkOptions('dpmpp2m', options, []);
  return {
    name: 'dpmpp_2m',
    stochastic: false,
    step({ x, i, sigmas, denoise, state }) {
      const sigma = sigmas[i]!;
      const sigmaNext = sigmas[i + 1]!;
      const x0 = denoise(x, sigma);
      const h = Math.log(sigma) - Math.log(sigmaNext); // lambda_next - lambda; Infinity when sigmaNext = 0
      const old = state.oldDenoised;
      const oldSigma = state.oldSigma;
      let d: Tensor = x0;
      if (old instanceof Tensor && typeof oldSigma === 'number' && sigmaNext > 0) {
        const r = (Math.log(oldSigma) - Math.log(sigma)) / h; // h_last / h
        d = sub(mul(x0, 1 + 1 / (2 * r)), mul(old, 1 / (2 * r)));
      }
      const xNext = sub(mul(x, sigmaNext / sigma), mul(d, Math.expm1(-h)));
      return { x: xNext, x0, state: { oldDenoised: x0, oldSigma: sigma } };
    },
  };
}

