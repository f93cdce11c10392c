// Ancestral and SDE samplers must sample the data distribution: with the exact denoiser of a
// 2-D Gaussian, 4000 samples started from the exact noisy marginal at sigma_max reproduce the
// data mean and variance within 5 standard errors (SE of a mean: s / sqrt(n); of a variance:
// s^2 sqrt(2 / (n - 1))); with a two-component mixture, the component weights are reproduced
// within 5 binomial standard errors.
//
// Step counts: the ancestral (DDPM-posterior) step ignores Var[x0 | x], which shrinks the
// sampled variance by about 8/N relative on these ladders (computed exactly below by moment
// propagation). With N = 250 that bias is ~3%, under 1.5 standard errors. The exact law of the
// discretised DDPM chain is also checked, which pins the step's mean and std more tightly.
import { describe, expect, it } from 'vitest';
import { engine } from '../engine/engine.js';
import { add, mul, tensor, where, less } from '../ops/index.js';
import { Generator } from '../random/philox.js';
import { randn, rand } from '../random/index.js';
import { appendZero, karrasSigmas } from '../schedules/index.js';
import type { Tensor } from '../tensor/tensor.js';
import { gaussianDenoiser, gaussianMixtureDenoiser } from './closed-form.js';
import { ddim } from './ddim.js';
import { ddpm } from './ddpm.js';
import { dpmpp2mSde } from './dpmpp-2m-sde.js';
import { eulerAncestral } from './euler-ancestral.js';
import { heun } from './heun.js';
import { sample } from './sample.js';
import type { Sampler } from './types.js';

const N_SAMPLES = 4000;
const SIGMA_MAX = 20;

function columnStats(t: Tensor, d: number): { mean: number; variance: number } {
  const v = t.dataSync();
  const cols = t.shape[1]!;
  const n = t.shape[0]!;
  let m = 0;
  for (let i = 0; i < n; i++) m += v[i * cols + d]!;
  m /= n;
  let q = 0;
  for (let i = 0; i < n; i++) q += (v[i * cols + d]! - m) ** 2;
  return { mean: m, variance: q / (n - 1) };
}

describe('stochastic samplers reproduce the data distribution', () => {
  const mu = [1, -2];
  const sd = [0.5, 1.5];
  const D = gaussianDenoiser({ mean: mu, std: sd });
  const sigmas = appendZero(karrasSigmas(250, 0.01, SIGMA_MAX));

  /** Variance after the DDPM chain on this ladder, by exact moment propagation (x' - mu = a (x - mu) + std z). */
  function ddpmChainVariance(s: number): number {
    let v = s * s + SIGMA_MAX * SIGMA_MAX;
    for (let i = 0; i + 1 < sigmas.length; i++) {
      const sig = sigmas[i]!;
      const next = sigmas[i + 1]!;
      const gain = (s * s) / (s * s + sig * sig); // D = mu + gain (x - mu)
      const a = gain + ((next * next) / (sig * sig)) * (1 - gain);
      v = a * a * v + (next * next * (sig * sig - next * next)) / (sig * sig);
    }
    return v;
  }

  const cases: Array<[string, () => Sampler, boolean]> = [
    ['ddpm', () => ddpm(), true],
    ['ddim eta=1', () => ddim({ eta: 1 }), true],
    ['euler_ancestral', () => eulerAncestral(), true],
    ['dpmpp_2m_sde', () => dpmpp2mSde(), false],
  ];

  it.each(cases)('%s: mean and variance within 5 standard errors', async (_name, make, isDdpmChain) => {
    const gen = new Generator(2024);
    const before = engine.memory().numTensors;
    // The exact marginal at SIGMA_MAX: N(mu, s^2 + SIGMA_MAX^2) per coordinate.
    const x = engine.tidy(() => add(mul(randn([N_SAMPLES, 2], gen, { dtype: 'float64' }), tensor(sd.map((s) => Math.hypot(s, SIGMA_MAX)), [2], { dtype: 'float64' })), tensor(mu, [2], { dtype: 'float64' })));
    const y = await sample(make(), D, x, { sigmas, gen });
    for (let d = 0; d < 2; d++) {
      const { mean, variance } = columnStats(y, d);
      const s2 = sd[d]! ** 2;
      const seMean = Math.sqrt(s2 / N_SAMPLES);
      const seVar = s2 * Math.sqrt(2 / (N_SAMPLES - 1));
      expect(Math.abs(mean - mu[d]!) / seMean, `mean of coordinate ${d}: ${mean}`).toBeLessThan(5);
      expect(Math.abs(variance - s2) / seVar, `variance of coordinate ${d}: ${variance} vs ${s2}`).toBeLessThan(5);
      if (isDdpmChain) {
        const law = ddpmChainVariance(sd[d]!);
        expect(Math.abs(law / s2 - 1)).toBeLessThan(0.04); // the discretisation bias is small...
        expect(Math.abs(variance - law) / (law * Math.sqrt(2 / (N_SAMPLES - 1)))).toBeLessThan(5); // ...and the samples follow the chain's exact law
      }
    }
    y.dispose();
    x.dispose();
    expect(engine.memory().numTensors).toBe(before);
  });

  it.each([
    ['ddpm', () => ddpm(), 60],
    ['dpmpp_2m_sde', () => dpmpp2mSde(), 40],
    ['heun (PF-ODE)', () => heun(), 20],
  ] as Array<[string, () => Sampler, number]>)("%s: a two-component mixture keeps its weights 0.3 / 0.7", async (_name, make, steps) => {
    const comps = [
      { weight: 0.3, mean: [-2, 0], std: 0.4 },
      { weight: 0.7, mean: [2, 1], std: [0.6, 0.3] },
    ];
    const gen = new Generator(77);
    const ladder = appendZero(karrasSigmas(steps, 0.01, SIGMA_MAX));
    // Exact noisy marginal: pick a component with probability 0.3 / 0.7, draw from it, add SIGMA_MAX noise.
    const x = engine.tidy(() => {
      const pickFirst = less(rand([N_SAMPLES, 1], gen, { dtype: 'float64' }), 0.3);
      const z = randn([N_SAMPLES, 2], gen, { dtype: 'float64' });
      const f64 = (v: number[]) => tensor(v, [2], { dtype: 'float64' });
      const x0 = where(pickFirst, add(mul(z, 0.4), f64([-2, 0])), add(mul(z, f64([0.6, 0.3])), f64([2, 1])));
      return add(x0, mul(randn([N_SAMPLES, 2], gen, { dtype: 'float64' }), SIGMA_MAX));
    });
    const y = await sample(make(), gaussianMixtureDenoiser(comps), x, { sigmas: ladder, gen });
    const v = y.dataSync();
    let first = 0;
    for (let i = 0; i < N_SAMPLES; i++) if (v[2 * i]! < 0) first++;
    const p = first / N_SAMPLES;
    expect(Math.abs(p - 0.3) / Math.sqrt((0.3 * 0.7) / N_SAMPLES), `fraction in the first component: ${p}`).toBeLessThan(5);
    y.dispose();
    x.dispose();
  });
});
