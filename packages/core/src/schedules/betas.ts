// Beta schedules of variance-preserving diffusion models: x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t)
// eps with abar_t = prod_{i<=t} (1 - beta_i). Each returns T betas as a Float64Array (index 0 is
// the first, least noisy step); samplers work on the sigma ladder derived from them
// (sigmasFromAlphasCumprod, samplingSigmas). Values follow the reference releases exactly:
//  - linear:        Ho et al. 2020 / diffusers "linear" (NOT improved-diffusion's 1000/T rescaling)
//  - scaled linear: Stable Diffusion / diffusers "scaled_linear" (linspace in sqrt(beta), squared)
//  - cosine:        Nichol & Dhariwal 2021 (improved DDPM) / diffusers "squaredcos_cap_v2"
//  - sqrt:          Diffusion-LM (Li et al. 2022), improved_diffusion/gaussian_diffusion.py 'sqrt'

import { InvalidArgumentError, describe } from '../errors/index.js';
import { checkNumberIn, checkPositiveInt, linspace } from './util.js';

/** Ho et al.'s linear schedule: T betas evenly spaced from betaStart to betaEnd. */
export function linearBetas(T: number, betaStart = 1e-4, betaEnd = 0.02): Float64Array {
  const op = 'linearBetas';
  checkPositiveInt(op, 'T', T);
  checkNumberIn(op, 'betaStart', betaStart, 0, 1, true, false);
  checkNumberIn(op, 'betaEnd', betaEnd, 0, 1, true, false);
  return linspace(betaStart, betaEnd, T);
}

/**
 * Stable Diffusion's "scaled linear" schedule: linspace(sqrt(betaStart), sqrt(betaEnd), T)^2.
 * With the defaults, alphas-cumprod at the last of 1000 steps is about 0.0047 (sigma_max ~ 14.61).
 */
export function scaledLinearBetas(T = 1000, betaStart = 0.00085, betaEnd = 0.012): Float64Array {
  const op = 'scaledLinearBetas';
  checkPositiveInt(op, 'T', T);
  checkNumberIn(op, 'betaStart', betaStart, 0, 1, true, false);
  checkNumberIn(op, 'betaEnd', betaEnd, 0, 1, true, false);
  const r = linspace(Math.sqrt(betaStart), Math.sqrt(betaEnd), T);
  for (let i = 0; i < T; i++) r[i] = r[i]! * r[i]!;
  return r;
}

/**
 * Discretises a continuous alpha-bar(t), t in [0, 1], into T betas the way improved-diffusion,
 * Diffusion-LM and diffusers do: beta_i = min(1 - abar((i + 1) / T) / abar(i / T), maxBeta).
 * Note that the cumulative product of these betas is abar((i + 1) / T) / abar(0), not abar itself.
 */
export function betasForAlphaBar(T: number, alphaBar: (t: number) => number, maxBeta = 0.999): Float64Array {
  const op = 'betasForAlphaBar';
  checkPositiveInt(op, 'T', T);
  if (typeof alphaBar !== 'function') throw new InvalidArgumentError(`${op}: alphaBar must be a function of t in [0, 1], got ${describe(alphaBar)}`);
  checkNumberIn(op, 'maxBeta', maxBeta, 0, 1, true, false);
  const betas = new Float64Array(T);
  for (let i = 0; i < T; i++) {
    const t1 = i / T;
    const t2 = (i + 1) / T;
    betas[i] = Math.min(1 - alphaBar(t2) / alphaBar(t1), maxBeta);
  }
  return betas;
}

/** The improved-DDPM cosine alpha-bar: cos^2(((t + s) / (1 + s)) * pi / 2). */
export function cosineAlphaBar(t: number, s = 0.008): number {
  return Math.cos(((t + s) / (1 + s)) * Math.PI / 2) ** 2;
}

/** The Diffusion-LM sqrt alpha-bar: 1 - sqrt(t + s). */
export function sqrtAlphaBar(t: number, s = 1e-4): number {
  return 1 - Math.sqrt(t + s);
}

/** Improved DDPM's cosine schedule (Nichol & Dhariwal 2021, eq. 17), betas clipped at maxBeta. */
export function cosineBetas(T: number, s = 0.008, maxBeta = 0.999): Float64Array {
  const op = 'cosineBetas';
  checkPositiveInt(op, 'T', T);
  checkNumberIn(op, 's', s, 0, Infinity, false, true);
  checkNumberIn(op, 'maxBeta', maxBeta, 0, 1, true, false);
  return betasForAlphaBar(T, (t) => cosineAlphaBar(t, s), maxBeta);
}

/**
 * Diffusion-LM's sqrt schedule, alpha-bar(t) = 1 - sqrt(t + s): noise rises fast at the start,
 * which suits embedded text. Discretised exactly as the release's get_named_beta_schedule('sqrt')
 * (betas_for_alpha_bar, max_beta 0.999); the last beta is clipped because abar(1) < 0.
 */
export function sqrtBetas(T: number, s = 1e-4, maxBeta = 0.999): Float64Array {
  const op = 'sqrtBetas';
  checkPositiveInt(op, 'T', T);
  checkNumberIn(op, 's', s, 0, 1, true, true);
  checkNumberIn(op, 'maxBeta', maxBeta, 0, 1, true, false);
  return betasForAlphaBar(T, (t) => sqrtAlphaBar(t, s), maxBeta);
}
