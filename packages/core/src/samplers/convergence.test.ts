// The convergence-order proof. For Gaussian data the probability-flow ODE has the closed-form
// solution x(sigma) = mu + sqrt((s^2 + sigma^2) / (s^2 + sigma0^2)) (x(sigma0) - mu); for a
// two-component mixture we integrate the ODE on the host with classical RK4 in log(sigma)
// (4000 steps; self-consistent to ~1e-13). Every deterministic sampler must converge to it,
// with the slope of log(error) against log(steps) near its order: 1 for ddim / euler, 2 for
// heun / dpmpp_2m, at least 2 (measured ~3.5) for plms.
//
// Ladders run from sigma_max = 10 to sigma_min = 0.05 > 0 (no final step to 0: Heun's last
// step to 0 is an Euler step and would cap every method at first order), Karras-spaced (rho 7)
// and exponentially spaced. Slopes are least-squares fits over steps N = 16..128 (Gaussian)
// and 32..256 (mixture, whose error is pre-asymptotic below ~32 steps). The measured table is
// printed when the test runs.
import { describe, expect, it } from 'vitest';
import { tensor } from '../ops/index.js';
import { Generator } from '../random/philox.js';
import { exponentialSigmas, karrasSigmas } from '../schedules/index.js';
import { gaussianDenoiser, gaussianMixtureDenoiser, gaussianPfOdeSolution } from './closed-form.js';
import { ddim } from './ddim.js';
import { dpmpp2m } from './dpmpp-2m.js';
import { euler } from './euler.js';
import { heun } from './heun.js';
import { plms } from './plms.js';
import { sample } from './sample.js';
import type { Denoiser, Sampler } from './types.js';

const SIGMA_MAX = 10;
const SIGMA_MIN = 0.05;
const POINTS = [[10, 3], [-7, 12], [4, -9], [0.5, 0.5]];

const SAMPLERS: Array<{ name: string; make: () => Sampler; order: [number, number] }> = [
  { name: 'ddim (eta 0)', make: () => ddim(), order: [0.9, 1.1] },
  { name: 'euler', make: () => euler(), order: [0.9, 1.1] },
  { name: 'heun', make: () => heun(), order: [1.8, 2.25] },
  { name: 'dpmpp_2m', make: () => dpmpp2m(), order: [1.8, 2.25] },
  { name: 'plms', make: () => plms(), order: [2.5, 4.5] },
  { name: 'plms (euler warm-up)', make: () => plms({ warmup: 'euler' }), order: [2, 4.5] },
];

const LADDERS: Record<string, (n: number) => number[]> = {
  karras: (n) => karrasSigmas(n, SIGMA_MIN, SIGMA_MAX),
  exponential: (n) => exponentialSigmas(n, SIGMA_MIN, SIGMA_MAX),
};

/** Least-squares slope of -log(error) against log(steps). */
function slope(steps: readonly number[], errors: readonly number[]): number {
  const xs = steps.map(Math.log);
  const ys = errors.map((e) => -Math.log(e));
  const mx = xs.reduce((a, b) => a + b) / xs.length;
  const my = ys.reduce((a, b) => a + b) / ys.length;
  let num = 0;
  let den = 0;
  xs.forEach((x, i) => {
    num += (x - mx) * (ys[i]! - my);
    den += (x - mx) ** 2;
  });
  return num / den;
}

async function maxError(sampler: Sampler, denoiser: Denoiser, sigmas: number[], exact: ArrayLike<number>): Promise<number> {
  const x = tensor(POINTS, undefined, { dtype: 'float64' });
  const y = await sample(sampler, denoiser, x, { sigmas, gen: new Generator(0) });
  const v = y.dataSync();
  let e = 0;
  for (let k = 0; k < v.length; k++) e = Math.max(e, Math.abs(v[k]! - exact[k]!));
  y.dispose();
  x.dispose();
  return e;
}

async function measure(title: string, denoiser: Denoiser, exact: ArrayLike<number>, steps: readonly number[]) {
  const rows: string[] = [];
  const slopes: Record<string, number> = {};
  for (const [ladder, make] of Object.entries(LADDERS)) {
    for (const s of SAMPLERS) {
      const errors: number[] = [];
      for (const n of steps) errors.push(await maxError(s.make(), denoiser, make(n + 1), exact));
      for (let k = 1; k < errors.length; k++) expect(errors[k], `${s.name} on ${ladder}: error must shrink`).toBeLessThan(errors[k - 1]!);
      const p = slope(steps, errors);
      slopes[`${s.name}/${ladder}`] = p;
      rows.push(`| ${s.name} | ${ladder} | ${errors.map((e) => e.toExponential(2)).join(' | ')} | ${p.toFixed(2)} |`);
      expect(p, `${s.name} on ${ladder}`).toBeGreaterThanOrEqual(s.order[0]);
      expect(p, `${s.name} on ${ladder}`).toBeLessThanOrEqual(s.order[1]);
    }
  }
  console.log(`\n${title}\n| sampler | ladder | ${steps.map((n) => `N=${n}`).join(' | ')} | slope |\n|---|---|${steps.map(() => '---|').join('')}---|\n${rows.join('\n')}`);
  return slopes;
}

describe('deterministic samplers converge to the exact PF-ODE solution at their order', () => {
  it('Gaussian data N([1, -2], diag([0.5, 1.5]^2)): closed-form solution', async () => {
    const spec = { mean: [1, -2], std: [0.5, 1.5] };
    const x = tensor(POINTS, undefined, { dtype: 'float64' });
    const exact = gaussianPfOdeSolution(x, SIGMA_MAX, SIGMA_MIN, spec).dataSync();
    x.dispose();
    await measure('Gaussian: max |error| at sigma_min = 0.05', gaussianDenoiser(spec), exact, [16, 32, 64, 128]);
  });

  it('two-component Gaussian mixture: host RK4 reference', async () => {
    const comps = [
      { weight: 0.3, mean: [-2, 0], std: [0.4, 0.4] },
      { weight: 0.7, mean: [2, 1], std: [0.6, 0.3] },
    ];
    const hostD = (x: number[], sigma: number): number[] => {
      const logs = comps.map((c) => Math.log(c.weight) - 0.5 * x.reduce((acc, xd, d) => {
        const v = c.std[d]! ** 2 + sigma * sigma;
        return acc + (xd - c.mean[d]!) ** 2 / v + Math.log(v);
      }, 0));
      const m = Math.max(...logs);
      const r = logs.map((l) => Math.exp(l - m));
      const z = r[0]! + r[1]!;
      return x.map((xd, d) => comps.reduce((acc, c, k) => {
        const s2 = c.std[d]! ** 2;
        return acc + (r[k]! / z) * (c.mean[d]! + (s2 / (s2 + sigma * sigma)) * (xd - c.mean[d]!));
      }, 0));
    };
    // dx/du = x - D(x, e^u) with u = log(sigma).
    const rk4 = (x0: number[], n: number): number[] => {
      const f = (y: number[], u: number) => hostD(y, Math.exp(u)).map((d, k) => y[k]! - d);
      let u = Math.log(SIGMA_MAX);
      const h = (Math.log(SIGMA_MIN) - u) / n;
      let y = [...x0];
      for (let i = 0; i < n; i++) {
        const k1 = f(y, u);
        const k2 = f(y.map((v, k) => v + (h / 2) * k1[k]!), u + h / 2);
        const k3 = f(y.map((v, k) => v + (h / 2) * k2[k]!), u + h / 2);
        const k4 = f(y.map((v, k) => v + h * k3[k]!), u + h);
        y = y.map((v, k) => v + (h / 6) * (k1[k]! + 2 * k2[k]! + 2 * k3[k]! + k4[k]!));
        u += h;
      }
      return y;
    };
    const exact = POINTS.flatMap((p) => rk4(p, 4000));
    const check = POINTS.flatMap((p) => rk4(p, 2000));
    expect(Math.max(...exact.map((v, k) => Math.abs(v - check[k]!)))).toBeLessThan(1e-10);
    await measure('Mixture: max |error| at sigma_min = 0.05', gaussianMixtureDenoiser(comps), exact, [32, 64, 128, 256]);
  });
});
