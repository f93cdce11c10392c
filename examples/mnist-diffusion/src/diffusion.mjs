// The diffusion pieces this example uses, all from @denoise/core: the cosine VP schedule, the
// sampling ladder, the sigma-form VP denoiser around the network, batched classifier-free
// guidance, the samplers and the sampling loop. This module only fixes the example's choices
// (trailing timesteps, sampler names, the doubled batch of labels).

import {
  alphasCumprodFromBetas, classifierFreeGuidanceBatched, concat, cosineBetas, getSampler as coreGetSampler,
  sample, samplingSigmas as coreSamplingSigmas, vpDenoiser,
} from '@denoise/core';

/** alphas_cumprod of the cosine schedule (Nichol & Dhariwal 2021), betas clipped at 0.999. */
export function cosineAlphasCumprod(T = 1000) {
  return alphasCumprodFromBetas(cosineBetas(T));
}

/**
 * The decreasing ladder of `steps` noise levels at "trailing" timesteps (the first step starts
 * at the schedule's last, noisiest level), then 0.
 */
export function samplingSigmas(alphasCumprod, steps) {
  return coreSamplingSigmas({ alphasCumprod, steps, spacing: 'trailing' });
}

/** Names accepted by --sampler, with core's names. */
export const SAMPLER_NAMES = { dpmpp2m: 'dpmpp_2m', ddim: 'ddim', euler: 'euler', heun: 'heun' };

export function getSampler(name) {
  const coreName = SAMPLER_NAMES[name] ?? name;
  return coreGetSampler(coreName);
}

/** Prediction names of older checkpoints ('v') mapped to core's ('v_prediction'). */
export function corePrediction(p) {
  return { v: 'v_prediction', eps: 'epsilon', x0: 'sample' }[p] ?? p;
}

/**
 * The guided denoiser (x, sigma, { cond, uncond }) => x0 of a VP network
 * net(xt, t: number, labels) with classifier-free guidance of weight `scale`, evaluated as one
 * doubled batch (conditional rows first).
 */
export function guidedDenoiser(net, { alphasCumprod, prediction, scale }) {
  const denoiser = vpDenoiser(net, { alphasCumprod, prediction: corePrediction(prediction) });
  return classifierFreeGuidanceBatched(denoiser, { scale, concat: (a, b) => concat([a, b], 0) });
}

export { sample };
