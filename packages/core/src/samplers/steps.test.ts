// Single steps against their VP-form definitions: the DDPM posterior and DDIM(eta) written in
// variance-preserving coordinates must equal the VE-form steps after x_vp = sqrt(abar) x_ve;
// the ancestral samplers coincide at eta = 1; PLMS's variable-step weights reduce to PNDM's on
// an even ladder; dpmpp_2m_sde with eta = 0 is dpmpp_2m.
import { describe, expect, it } from 'vitest';
import { engine } from '../engine/engine.js';
import { InvalidArgumentError } from '../errors/index.js';
import { tensor } from '../ops/index.js';
import { Generator } from '../random/philox.js';
import { alphasCumprodFromBetas, exponentialSigmas, linearBetas, sigmasFromAlphasCumprod } from '../schedules/index.js';
import type { Tensor } from '../tensor/tensor.js';
import { ddim } from './ddim.js';
import { ddpm } from './ddpm.js';
import { dpmpp2m } from './dpmpp-2m.js';
import { dpmpp2mSde } from './dpmpp-2m-sde.js';
import { eulerAncestral } from './euler-ancestral.js';
import { euler } from './euler.js';
import { gaussianDenoiser } from './closed-form.js';
import { adamsBashforthWeights, plms } from './plms.js';
import { SAMPLER_NAMES, getSampler } from './registry.js';
import { sample } from './sample.js';
import type { Sampler } from './types.js';

const f64 = (v: number[]) => tensor(v, [v.length], { dtype: 'float64' });
const read = (t: Tensor) => Array.from(t.dataSync() as Float64Array);

function expectAllClose(actual: readonly number[], expected: readonly number[], tol = 1e-12): void {
  expect(actual.length).toBe(expected.length);
  actual.forEach((a, i) => {
    if (!(Math.abs(a - expected[i]!) <= tol * Math.max(1, Math.abs(expected[i]!)))) expect.fail(`entry ${i}: expected ${expected[i]}, got ${a}`);
  });
}

/** Runs one step from the VE sample xVe at sigmas[0] -> sigmas[1] with a denoiser that returns x0. */
function oneStep(sampler: Sampler, xVe: number[], x0: number[], sigma: number, sigmaNext: number, seed = 7) {
  return engine.tidy(() => {
    const r = sampler.step({ x: f64(xVe), i: 0, sigmas: [sigma, sigmaNext], denoise: () => f64(x0), gen: new Generator(seed), state: {} });
    return { x: read(r.x), mean: r.mean ? read(r.mean) : undefined, std: r.std };
  });
}

describe('DDPM and DDIM against their VP-form definitions', () => {
  const abar = alphasCumprodFromBetas(linearBetas(1000));
  const table = sigmasFromAlphasCumprod(abar);
  const xVp = [0.9, -1.3, 0.2];
  const x0 = [0.3, -0.7, 1.1];
  const pairs: Array<[number, number]> = [[600, 550], [999, 949], [100, 20], [50, 49]];

  it('ddpm: mean and std are the posterior q(x_s | x_t, x0) with beta = 1 - abar_t / abar_s, rescaled', () => {
    for (const [t, s] of pairs) {
      const at = abar[t]!;
      const as = abar[s]!;
      const beta = 1 - at / as;
      const meanVp = xVp.map((xt, k) => ((Math.sqrt(as) * beta) / (1 - at)) * x0[k]! + ((Math.sqrt(1 - beta) * (1 - as)) / (1 - at)) * xt);
      const varVp = (beta * (1 - as)) / (1 - at);
      const r = oneStep(ddpm(), xVp.map((v) => v / Math.sqrt(at)), x0, table[t]!, table[s]!);
      expectAllClose(r.mean!.map((v) => v * Math.sqrt(as)), meanVp, 1e-10);
      expect(r.std! ** 2 * as).toBeCloseTo(varVp, 12);
      // x = mean + std * z, with z the generator's first normals.
      const z = new Generator(7).normalArray(3, 'float64');
      expectAllClose(r.x, r.mean!.map((m, k) => m + r.std! * z[k]!), 1e-12);
    }
    // The step to sigma = 0 returns x0 exactly and draws nothing.
    const last = oneStep(ddpm(), [1, 2, 3], x0, 0.5, 0);
    expect(last.x).toEqual(x0);
    expect(last.std).toBe(0);
  });

  it('ddim(eta): mean and std equal Song et al. eq. 12 in VP form for eta = 0, 0.5, 1', () => {
    for (const eta of [0, 0.5, 1]) {
      for (const [t, s] of pairs) {
        const at = abar[t]!;
        const as = abar[s]!;
        const eps = xVp.map((xt, k) => (xt - Math.sqrt(at) * x0[k]!) / Math.sqrt(1 - at));
        const sig = eta * Math.sqrt((1 - as) / (1 - at)) * Math.sqrt(1 - at / as);
        const meanVp = x0.map((v, k) => Math.sqrt(as) * v + Math.sqrt(1 - as - sig * sig) * eps[k]!);
        const r = oneStep(ddim({ eta }), xVp.map((v) => v / Math.sqrt(at)), x0, table[t]!, table[s]!);
        if (eta === 0) {
          expectAllClose(r.x.map((v) => v * Math.sqrt(as)), meanVp, 1e-10);
          expect(r.std).toBeUndefined();
        } else {
          expectAllClose(r.mean!.map((v) => v * Math.sqrt(as)), meanVp, 1e-10);
          expect(r.std! * Math.sqrt(as)).toBeCloseTo(sig, 12);
        }
      }
    }
  });

  it('ddpm, ddim({ eta: 1 }) and eulerAncestral() are the same step; ddim eta=0 is euler', () => {
    const args = [[0.4, -2, 3], [0.1, 0.2, -0.3], 2.5, 0.7] as const;
    const a = oneStep(ddpm(), [...args[0]], [...args[1]], args[2], args[3]);
    const b = oneStep(ddim({ eta: 1 }), [...args[0]], [...args[1]], args[2], args[3]);
    const c = oneStep(eulerAncestral(), [...args[0]], [...args[1]], args[2], args[3]);
    expectAllClose(b.x, a.x);
    expectAllClose(c.x, a.x);
    expect(b.std).toBeCloseTo(a.std!, 14);
    expectAllClose(oneStep(ddim(), [...args[0]], [...args[1]], args[2], args[3]).x, oneStep(euler(), [...args[0]], [...args[1]], args[2], args[3]).x);
    // eta > 1 would need the square root of a negative number in VP form: capped at sigma_next.
    const big = oneStep(ddim({ eta: 5 }), [...args[0]], [...args[1]], args[2], args[3]);
    expect(big.std).toBe(0.7);
    expectAllClose(big.mean!, [...args[1]]);
  });
});

describe('multistep samplers', () => {
  it('plms weights on an even sigma ladder are PNDM/Adams–Bashforth (3,-1)/2, (23,-16,5)/12, (55,-59,37,-9)/24', () => {
    const h = 0.25;
    const s = 3;
    expectAllClose(adamsBashforthWeights([s], s, s - h), [-h]);
    expectAllClose(adamsBashforthWeights([s, s + h], s, s - h), [3, -1].map((c) => (-h * c) / 2));
    expectAllClose(adamsBashforthWeights([s, s + h, s + 2 * h], s, s - h), [23, -16, 5].map((c) => (-h * c) / 12));
    expectAllClose(adamsBashforthWeights([s, s + h, s + 2 * h, s + 3 * h], s, s - h), [55, -59, 37, -9].map((c) => (-h * c) / 24));
    // Uneven nodes: still exact for cubic integrands.
    const nodes = [1, 1.3, 2, 3.1];
    const w = adamsBashforthWeights(nodes, 1, 0.6);
    const p = (x: number) => 2 - x + 0.5 * x * x - 0.25 * x ** 3;
    const P = (x: number) => 2 * x - (x * x) / 2 + x ** 3 / 6 - x ** 4 / 16;
    expect(w.reduce((acc, wj, j) => acc + wj * p(nodes[j]!), 0)).toBeCloseTo(P(0.6) - P(1), 13);
  });

  it("plms weights: 'fixed' (PNDM's constants) equals 'variable' on an even sigma ladder and not elsewhere", async () => {
    const D = gaussianDenoiser({ mean: [1, -1], std: [0.5, 2] });
    const x = tensor([[5, -3], [0.2, 8]], undefined, { dtype: 'float64' });
    const even = [4, 3.5, 3, 2.5, 2, 1.5, 1, 0.5];
    const run = async (sigmas: number[], weights: 'fixed' | 'variable') => {
      const out = await sample(plms({ weights }), D, x, { sigmas, gen: new Generator(1) });
      const v = read(out);
      out.dispose();
      return v;
    };
    expectAllClose(await run(even, 'fixed'), await run(even, 'variable'), 1e-12);
    const uneven = [...exponentialSigmas(8, 0.3, 10), 0];
    const a = await run(uneven, 'fixed');
    const b = await run(uneven, 'variable');
    expect(Math.max(...a.map((v, i) => Math.abs(v - b[i]!)))).toBeGreaterThan(1e-3);
    // By hand, one AB2 step with the fixed weights: x' = x + (s' - s) (3 e_1 - e_0) / 2.
    const e0 = f64([0.5, -1]);
    const st = plms({ weights: 'fixed', order: 2 }).step({ x: f64([2, 1]), i: 0, sigmas: [2, 1.5], denoise: () => f64([1, 2]), gen: new Generator(1), state: { eps0: e0, sigma0: 3 } });
    // e_1 = (x - x0) / sigma = (0.5, -0.5)
    expectAllClose(read(st.x), [2 + (-0.5 * (3 * 0.5 - 0.5)) / 2, 1 + (-0.5 * (3 * -0.5 - -1)) / 2]);
    expect(() => plms({ weights: 'equal' as never })).toThrow("plms: options.weights must be 'variable' or 'fixed', got \"equal\"");
    x.dispose();
  });

  it('dpmpp_2m_sde with eta = 0 is dpmpp_2m', async () => {
    const D = gaussianDenoiser({ mean: [1, -1], std: [0.5, 2] });
    const x = tensor([[5, -3], [0.2, 8]], undefined, { dtype: 'float64' });
    const sigmas = [...exponentialSigmas(12, 0.05, 10), 0];
    const a = await sample(dpmpp2m(), D, x, { sigmas, gen: new Generator(1) });
    const b = await sample(dpmpp2mSde({ eta: 0 }), D, x, { sigmas, gen: new Generator(1) });
    expectAllClose(read(b), read(a), 1e-12);
  });
});

describe('registry and options', () => {
  it('getSampler builds each sampler by name and lists the valid names on a typo', () => {
    expect(SAMPLER_NAMES).toEqual(['ddpm', 'ddim', 'plms', 'euler', 'euler_ancestral', 'heun', 'dpmpp_2m', 'dpmpp_2m_sde']);
    for (const name of SAMPLER_NAMES) expect(getSampler(name).name).toBe(name);
    expect(getSampler('ddim', { eta: 1 }).stochastic).toBe(true);
    expect(getSampler('ddim').stochastic).toBe(false);
    expect(getSampler('euler_ancestral', { eta: 0 }).stochastic).toBe(false);
    expect(() => getSampler('lms' as never)).toThrow(InvalidArgumentError);
    expect(() => getSampler('lms' as never)).toThrow(
      "getSampler: name must be one of 'ddpm', 'ddim', 'plms', 'euler', 'euler_ancestral', 'heun', 'dpmpp_2m', 'dpmpp_2m_sde', got \"lms\"",
    );
    expect(() => getSampler('toString' as never)).toThrow(InvalidArgumentError);
  });

  it('reject unknown or out-of-range options', () => {
    expect(() => getSampler('euler', { eta: 1 } as never)).toThrow('euler: unknown option "eta"; valid options: (none)');
    expect(() => ddim({ eta: -1 })).toThrow('ddim: options.eta must be a finite number >= 0, got -1');
    expect(() => eulerAncestral({ etta: 1 } as never)).toThrow('eulerAncestral: unknown option "etta"; valid options: eta');
    expect(() => plms({ order: 5 })).toThrow('plms: options.order must be 1, 2, 3 or 4, got 5');
    expect(() => plms({ warmup: 'rk4' as never })).toThrow("plms: options.warmup must be 'heun' or 'euler', got \"rk4\"");
    expect(() => dpmpp2mSde({ eta: Number.NaN })).toThrow('dpmpp2mSde: options.eta must be a finite number >= 0, got NaN');
  });
});
