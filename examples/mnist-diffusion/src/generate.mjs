// Class-conditional generation with classifier-free guidance from a loaded model.

import { Generator, randn, tensor, tidy, mul } from '@denoise/core';
import { getSampler, guidedDenoiser, sample, samplingSigmas } from './diffusion.mjs';
import { forward, NULL_CLASS } from './model.mjs';

/**
 * Generates one digit per entry of `labels` (host numbers 0-9). Returns float32 pixels
 * [n * 784] in [-1, 1] (clipped). Sampling is deterministic given the seed.
 */
export async function generateDigits(loaded, labels, { seed = 0, steps = 25, scale = 3, sampler = 'dpmpp2m', batch = 50, onProgress } = {}) {
  const { model, alphasCumprod, prediction } = loaded;
  // core's vpDenoiser passes one (continuous) timestep for the whole batch.
  const net = (xt, t, y) => forward(model, xt, new Array(xt.shape[0]).fill(t), y);
  const denoiser = guidedDenoiser(net, { alphasCumprod, prediction, scale });
  const sigmas = samplingSigmas(alphasCumprod, steps);
  const gen = new Generator(seed);
  const out = new Float32Array(labels.length * 784);
  const chunks = Math.ceil(labels.length / batch);
  for (let c = 0; c < chunks; c++) {
    const ys = labels.slice(c * batch, (c + 1) * batch);
    const n = ys.length;
    const x = randn([n, 1, 28, 28], gen, { std: sigmas[0] });
    const cond = tensor(Int32Array.from(ys), [n], { dtype: 'int32' });
    const uncond = tensor(new Int32Array(n).fill(NULL_CLASS), [n], { dtype: 'int32' });
    const result = await sample(getSampler(sampler), denoiser, x, {
      sigmas,
      gen,
      cond: { cond, uncond },
      onProgress: (p) => onProgress?.({ step: c * steps + p.step, total: chunks * steps }),
    });
    out.set(tidy(() => mul(result, 1).dataSync()), c * batch * 784);
    for (const t of [x, cond, uncond, result]) t.dispose();
  }
  for (let i = 0; i < out.length; i++) out[i] = Math.min(1, Math.max(-1, out[i]));
  return out;
}
