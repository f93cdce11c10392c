// PLMS, the pseudo linear multistep method of PNDM (Liu et al. 2022): the "transfer" part is
// DDIM's update, which in VE form is x' = x + (sigma' - sigma) e for a noise estimate e, and the
// "gradient" part replaces e by an Adams–Bashforth combination of the eps = (x - x0) / sigma of
// the last steps. Order 4 once three earlier eps are known.
//
// Coefficients: PNDM uses the fixed AB4 weights (55, -59, 37, -9) / 24, which assume equal
// steps. Here the weights are the variable-step Adams–Bashforth ones in sigma: the integral over
// [sigma, sigma'] of each Lagrange basis polynomial through the previous sigmas (as k-diffusion's
// linear_multistep_coeff). On an evenly spaced sigma ladder they are exactly PNDM's weights
// ((3, -1)/2, (23, -16, 5)/12, (55, -59, 37, -9)/24); on Karras or timestep-spaced ladders they
// keep the method's order, where fixed weights would fall back to second order.
//
// Option `weights: 'fixed'` uses PNDM's constant weights instead, whatever the spacing: what
// diffusers' PNDMScheduler computes (its steps are evenly spaced in timesteps, not in sigma), so
// that a pipeline configured with that class reproduces it.
//
// Warm-up (the first step, when no earlier eps exist), option `warmup`:
//  - 'heun' (default): the "pseudo improved Euler" step of the latent-diffusion / Stable
//    Diffusion PLMS sampler: an Euler predictor to sigma', a second evaluation there, and the
//    average of the two eps (one extra network evaluation; N steps cost N + 1 evaluations).
//    Steps 2 and 3 then use AB2 and AB3. Global order 3 (the warm-up's local error is O(h^3)).
//  - 'euler': the first step is a plain Euler step (k-diffusion's sample_lms); N evaluations
//    for N steps, global order 2.
// Those are asymptotic orders. The warm-up happens at sigma_max, where the solution is nearly
// linear in sigma, so its error is tiny and the AB4 part dominates at practical step counts:
// convergence.test.ts measures slopes of 3.5-3.9 (heun warm-up) and 2.6-3.0 (euler warm-up).
// A run with startStep > 0 warms up again from its first step.
// diffusers' PNDMScheduler quirks (the repeated timestep of its PLMS warm-up, its PRK steps, the
// skipped timestep) belong to the diffusers adapter (../schedulers), not here. The step to
// sigma' = 0 uses the same combination (no evaluation happens at sigma = 0).

import { InvalidArgumentError, describe } from '../errors/index.js';
import { add, div, mul } from '../ops/index.js';
import { Tensor } from '../tensor/tensor.js';
import type { Sampler, SamplerState } from './types.js';
import { checkOptions, epsOf } from './util.js';

export interface PLMSOptions {
  /** Highest Adams–Bashforth order, 1..4 (default 4). */
  order?: number;
  /** First-step method, 'heun' (default) or 'euler'. */
  warmup?: 'heun' | 'euler';
  /** 'variable' (default): Adams–Bashforth weights for the actual sigmas; 'fixed': PNDM's equal-step constants. */
  weights?: 'variable' | 'fixed';
}

/** PNDM's Adams–Bashforth weights for 1..4 known eps, newest first (equal steps). */
const FIXED_WEIGHTS: readonly (readonly number[])[] = [[1], [3 / 2, -1 / 2], [23 / 12, -16 / 12, 5 / 12], [55 / 24, -59 / 24, 37 / 24, -9 / 24]];

const GL_NODES = [-Math.sqrt(3 / 5), 0, Math.sqrt(3 / 5)];
const GL_WEIGHTS = [5 / 9, 8 / 9, 5 / 9];

/**
 * Adams–Bashforth weights w_j with integral_{sigma}^{sigmaNext} p(s) ds = sum_j w_j e_j for the
 * polynomial p through (nodes[j], e_j): nodes[0] is the current sigma, nodes[1..] the earlier
 * ones. Three-point Gauss–Legendre integrates the (degree <= 3) Lagrange basis exactly.
 */
export function adamsBashforthWeights(nodes: readonly number[], sigma: number, sigmaNext: number): number[] {
  const mid = (sigma + sigmaNext) / 2;
  const half = (sigmaNext - sigma) / 2;
  return nodes.map((_, j) => {
    let w = 0;
    for (let q = 0; q < GL_NODES.length; q++) {
      const s = mid + half * GL_NODES[q]!;
      let l = 1;
      for (let m = 0; m < nodes.length; m++) if (m !== j) l *= (s - nodes[m]!) / (nodes[j]! - nodes[m]!);
      w += GL_WEIGHTS[q]! * l;
    }
    return w * half;
  });
}

export function plms(options?: PLMSOptions): Sampler {
  const o = checkOptions('plms', options, ['order', 'warmup', 'weights']);
  const order = o.order ?? 4;
  if (order !== 1 && order !== 2 && order !== 3 && order !== 4) {
    throw new InvalidArgumentError(`plms: options.order must be 1, 2, 3 or 4, got ${describe(order)}`);
  }
  const warmup = o.warmup ?? 'heun';
  if (warmup !== 'heun' && warmup !== 'euler') {
    throw new InvalidArgumentError(`plms: options.warmup must be 'heun' or 'euler', got ${describe(warmup)}`);
  }
  const weights = o.weights ?? 'variable';
  if (weights !== 'variable' && weights !== 'fixed') {
    throw new InvalidArgumentError(`plms: options.weights must be 'variable' or 'fixed', got ${describe(weights)}`);
  }
  return {
    name: 'plms',
    stochastic: false,
    step({ x, i, sigmas, denoise, state }) {
      const sigma = sigmas[i]!;
      const sigmaNext = sigmas[i + 1]!;
      const x0 = denoise(x, sigma);
      const eps = epsOf(x, x0, sigma);
      // History, newest first: eps of earlier steps and the sigma each was evaluated at.
      const history: { e: Tensor; s: number }[] = [];
      for (let k = 0; k < 3; k++) {
        const e = state[`eps${k}`];
        const s = state[`sigma${k}`];
        if (e instanceof Tensor && typeof s === 'number') history.push({ e, s });
      }
      const dt = sigmaNext - sigma;
      let xNext: Tensor;
      if (history.length === 0 && warmup === 'heun' && order > 1 && sigmaNext > 0) {
        const xPred = add(x, mul(eps, dt));
        const epsPred = epsOf(xPred, denoise(xPred, sigmaNext), sigmaNext);
        xNext = add(x, mul(div(add(eps, epsPred), 2), dt));
      } else {
        const used = [{ e: eps, s: sigma }, ...history].slice(0, order);
        const w = weights === 'fixed' ? FIXED_WEIGHTS[used.length - 1]!.map((c) => c * dt) : adamsBashforthWeights(used.map((u) => u.s), sigma, sigmaNext);
        let incr = mul(used[0]!.e, w[0]!);
        for (let j = 1; j < used.length; j++) incr = add(incr, mul(used[j]!.e, w[j]!));
        xNext = add(x, incr);
      }
      const next: Record<string, Tensor | number | null> = { eps0: eps, sigma0: sigma };
      for (let k = 0; k < Math.min(history.length, order - 2); k++) {
        next[`eps${k + 1}`] = history[k]!.e;
        next[`sigma${k + 1}`] = history[k]!.s;
      }
      return { x: xNext, x0, state: next as SamplerState };
    },
  };
}
