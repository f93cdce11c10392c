// DPM-Solver++(2M) SDE with the midpoint correction (k-diffusion's sample_dpmpp_2m_sde,
// solver_type 'midpoint'; Lu et al. 2022, section 5). With h = log(sigma / sigma') and
// eta_h = eta h:
//   mean = (sigma'/sigma) e^(-eta_h) x + (1 - e^(-h - eta_h)) x0
//          [+ 0.5 (1 - e^(-h - eta_h)) (1/r) (x0 - x0_prev)   after the first step, r = h_last / h]
//   x'   = mean + sigma' sqrt(1 - e^(-2 eta_h)) z.
// The step to sigma' = 0 returns x0. eta = 0 gives a deterministic second-order ODE solver.
//
// Noise: k-diffusion draws z from a Brownian tree so that runs with different step counts share
// one Brownian path. Increments of a Brownian path over the disjoint intervals of one ladder are
// independent, so fresh standard normals from the generator have exactly the law the sampler
// needs; only cross-step-count coherence, not the distribution, differs.

import { add, mul, sub } from '../ops/index.js';
import { Tensor } from '../tensor/tensor.js';
import type { Sampler, SamplerStepResult } from './types.js';
import { checkEta, checkOptions, noiseLike } from './util.js';

export interface DPMpp2MSDEOptions {
  /** Noise scale, default 1 (0 = deterministic). */
  eta?: number;
}

export function dpmpp2mSde(options?: DPMpp2MSDEOptions): Sampler {
  const o = checkOptions('dpmpp2mSde', options, ['eta']);
  const eta = checkEta('dpmpp2mSde', o.eta, 1);
  return {
    name: 'dpmpp_2m_sde',
    stochastic: eta > 0,
    step({ x, i, sigmas, denoise, gen, state }): SamplerStepResult {
      const sigma = sigmas[i]!;
      const sigmaNext = sigmas[i + 1]!;
      const x0 = denoise(x, sigma);
      if (sigmaNext === 0) return { x: x0, x0, mean: x0, std: 0 };
      const h = Math.log(sigma) - Math.log(sigmaNext);
      const etaH = eta * h;
      const c = -Math.expm1(-h - etaH); // 1 - e^(-h - eta_h)
      let mean = add(mul(x, (sigmaNext / sigma) * Math.exp(-etaH)), mul(x0, c));
      const old = state.oldDenoised;
      const hLast = state.hLast;
      if (old instanceof Tensor && typeof hLast === 'number') {
        const r = hLast / h;
        mean = add(mean, mul(sub(x0, old), (0.5 * c) / r));
      }
      const std = sigmaNext * Math.sqrt(-Math.expm1(-2 * etaH));
      const next = std > 0 ? add(mean, mul(noiseLike(x, gen), std)) : mean;
      return { x: next, x0, mean, std, state: { oldDenoised: x0, hLast: h } };
    },
  };
}
