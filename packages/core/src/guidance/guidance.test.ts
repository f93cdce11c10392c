import { describe, expect, it } from 'vitest';
import { engine } from '../engine/engine.js';
import { Generator } from '../random/philox.js';
import { randn } from '../random/index.js';
import { tensor } from '../ops/creation.js';
import { add, mul, sub } from '../ops/elementwise.js';
import { concat, sliceAxis } from '../ops/layout.js';
import { sum } from '../ops/reduce.js';
import { noGrad } from '../autograd/index.js';
import { InvalidArgumentError, ShapeError } from '../errors/index.js';
import type { Tensor } from '../tensor/tensor.js';
import { sample } from '../samplers/sample.js';
import { euler } from '../samplers/euler.js';
import { appendZero, karrasSigmas } from '../schedules/sigmas.js';
import type { AsyncDenoiser, Denoiser } from '../samplers/types.js';
import { asyncDenoiser, isAsyncDenoiser } from '../samplers/denoiser.js';
import { classifierFreeGuidance, classifierFreeGuidanceBatched, gradientGuidance } from './index.js';
import { gaussianDenoiser as closedForm } from '../samplers/closed-form.js';
import { condGaussianDenoiser, linearLogit, moments, sumLogSigmoid } from './test-gaussians.js';

/** closed-form.ts's exact denoiser of N(mu, s^2 I). */
const gaussianDenoiser = (mu: readonly number[], s2: number) => closedForm({ mean: [...mu], std: Math.sqrt(s2) });

const F64 = { dtype: 'float64' } as const;
const SIGMAS = appendZero(karrasSigmas(30, 0.002, 80));

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/**
 * Euler on a Gaussian's exact denoiser D(x) = m + a_i (x - m) is affine per step:
 * x_{i+1} - m = c_i (x_i - m), c_i = 1 + (sigma_{i+1} - sigma_i)(1 - a_i) / sigma_i. The product
 * A = prod c_i maps the start to the end: x_end = m + A (x_start - m) for every sample.
 */
function eulerGain(sigmas: readonly number[], s2: number): number {
  let A = 1;
  for (let i = 0; i + 1 < sigmas.length; i++) {
    const sg = sigmas[i]!;
    const a = s2 / (s2 + sg * sg);
    A *= 1 + ((sigmas[i + 1]! - sg) * (1 - a)) / sg;
  }
  return A;
}

async function run<C>(denoiser: Denoiser<C> | AsyncDenoiser<C>, cond: C, x: Tensor, seed = 0): Promise<Float64Array> {
  const out = await sample(euler(), denoiser, x, { sigmas: SIGMAS, gen: new Generator(seed), cond });
  const v = Float64Array.from(out.dataSync());
  out.dispose();
  return v;
}

describe('classifierFreeGuidance', () => {
  const S2 = 0.25; // s = 0.5
  const MU_C = [2, -1];
  const MU_U = [0, 0.5];
  const muW = (w: number) => MU_U.map((u, j) => u + w * (MU_C[j]! - u));

  it('on Gaussians N(mu_c, s^2) / N(mu_u, s^2) it is exactly the denoiser of N(mu_u + w (mu_c - mu_u), s^2)', () => {
    const base = condGaussianDenoiser(S2);
    const muC = tensor([MU_C], undefined, F64);
    const muU = tensor([MU_U], undefined, F64);
    const x = randn([5, 2], new Generator(1), { dtype: 'float64', std: 3 });
    for (const w of [0, 1, 3, 7.5, -0.5]) {
      const guided = classifierFreeGuidance(base, { scale: w });
      for (const sigma of [0.01, 0.7, 20]) {
        const before = engine.memory().numTensors;
        const g = guided(x, sigma, { cond: muC, uncond: muU });
        expect(engine.memory().numTensors).toBe(before + 1);
        const ref = gaussianDenoiser(muW(w), S2)(x, sigma, null);
        expect(maxAbsDiff(g.dataSync(), ref.dataSync())).toBeLessThan(1e-12);
        g.dispose();
        ref.dispose();
      }
    }
    for (const t of [muC, muU, x]) t.dispose();
  });

  it('the batched variant (one call on the doubled batch) equals the two-call one', () => {
    let calls = 0;
    const base = condGaussianDenoiser(S2);
    const counting: Denoiser<Tensor> = (x, sigma, mu) => {
      calls++;
      return base(x, sigma, mu);
    };
    const x = randn([4, 2], new Generator(2), { dtype: 'float64', std: 2 });
    // Per-sample conditions [4, 2].
    const muC = tensor([[2, -1], [1, 1], [0, 3], [-2, 0]], undefined, F64);
    const muU = tensor([[0, 0.5], [0, 0.5], [0, 0.5], [0, 0.5]], undefined, F64);
    const cfg = classifierFreeGuidance(counting, { scale: 4 });
    const batched = classifierFreeGuidanceBatched(counting, { scale: 4, concat: (a: Tensor, b: Tensor) => concat([a, b], 0) });
    for (const sigma of [0.05, 1.3, 40]) {
      calls = 0;
      const a = cfg(x, sigma, { cond: muC, uncond: muU });
      expect(calls).toBe(2);
      calls = 0;
      const before = engine.memory().numTensors;
      const b = batched(x, sigma, { cond: muC, uncond: muU });
      expect(calls).toBe(1);
      expect(engine.memory().numTensors).toBe(before + 1);
      expect(Array.from(b.dataSync())).toEqual(Array.from(a.dataSync()));
      a.dispose();
      b.dispose();
    }
    // A scale schedule (a function of sigma) is honoured.
    const sched = classifierFreeGuidance(base, { scale: (sigma) => (sigma > 1 ? 0 : 1) });
    const hi = sched(x, 5, { cond: muC, uncond: muU });
    const lo = sched(x, 0.5, { cond: muC, uncond: muU });
    const refU = base(x, 5, muU);
    const refC = base(x, 0.5, muC);
    expect(maxAbsDiff(hi.dataSync(), refU.dataSync())).toBeLessThan(1e-14);
    expect(maxAbsDiff(lo.dataSync(), refC.dataSync())).toBeLessThan(1e-14);
    for (const t of [hi, lo, refU, refC, x, muC, muU]) t.dispose();
  });

  it('async denoisers: both combinators return AsyncDenoisers whose samples equal the synchronous ones bit for bit, and free what they make', async () => {
    const base = condGaussianDenoiser(S2);
    const asyncBase = asyncDenoiser(async (x: Tensor, sigma: number, mu: Tensor) => {
      await new Promise((r) => setTimeout(r, 0));
      return engine.tidy(() => base(x, sigma, mu));
    });
    const join = (a: Tensor, b: Tensor) => concat([a, b], 0);
    const muC = tensor([[2, -1], [1, 1], [0, 3]], undefined, F64);
    const muU = tensor([[0, 0.5], [0, 0.5], [0, 0.5]], undefined, F64);
    const cond = { cond: muC, uncond: muU };
    const pairs = [
      [classifierFreeGuidance(base, { scale: 3 }), classifierFreeGuidance(asyncBase, { scale: 3 })],
      [classifierFreeGuidanceBatched(base, { scale: 3, concat: join }), classifierFreeGuidanceBatched(asyncBase, { scale: 3, concat: join })],
    ] as const;
    for (const [syncD, asyncD] of pairs) {
      expect(isAsyncDenoiser(syncD)).toBe(false);
      expect(isAsyncDenoiser(asyncD)).toBe(true);
      const x = randn([3, 2], new Generator(4), { dtype: 'float64', std: 80 });
      const before = engine.memory().numTensors;
      const a = await run(syncD, cond, x);
      const b = await run(asyncD, cond, x);
      expect(engine.memory().numTensors).toBe(before);
      expect(Array.from(b)).toEqual(Array.from(a));
      expect(maxAbsDiff(a, new Float64Array(a.length))).toBeGreaterThan(0.1);
      x.dispose();
    }
    // A join that hands back the caller's own tensors: they are not freed.
    const same = classifierFreeGuidanceBatched(asyncDenoiser(async (x: Tensor, _s: number, c: { a: Tensor }) => add(x, mul(c.a, 0))), { scale: 2, concat: (a: { a: Tensor }) => a });
    const x = tensor([[1, 2], [3, 4]], undefined, F64);
    const k = { a: tensor([[0, 0], [0, 0], [0, 0], [0, 0]], undefined, F64) };
    const out = await same(x, 1, { cond: k, uncond: k });
    expect(Array.from(out.dataSync())).toEqual([1, 2, 3, 4]);
    expect(k.a.isDisposed).toBe(false);
    for (const t of [out, x, k.a, muC, muU]) t.dispose();
  });

  it('sampling (Euler, many starts) moves the sample mean to mu_u + w (mu_c - mu_u), same variance; w = 1 is the conditional model', async () => {
    const N = 2000;
    const base = condGaussianDenoiser(S2);
    const muC = tensor([MU_C], undefined, F64);
    const muU = tensor([MU_U], undefined, F64);
    const x = randn([N, 2], new Generator(3), { dtype: 'float64', std: SIGMAS[0]! });
    const start = moments(x.dataSync(), 2);
    const A = eulerGain(SIGMAS, S2);
    const before = engine.memory().numTensors;
    const cond = await run(base, muC, x);
    for (const w of [1, 3]) {
      const guided = await run(classifierFreeGuidance(base, { scale: w }), { cond: muC, uncond: muU }, x);
      const m = moments(guided, 2);
      const target = muW(w);
      for (let j = 0; j < 2; j++) {
        // Exact for these draws: x_end = mu_w + A (x_start - mu_w) (the flow of N(mu_w, s^2)).
        expect(Math.abs(m.mean[j]! - (target[j]! + A * (start.mean[j]! - target[j]!)))).toBeLessThan(1e-9);
        // In distribution: E[x_start] = 0, so E[x_end] = (1 - A) mu_w, within 4 standard errors.
        const se = Math.abs(A) * SIGMAS[0]! / Math.sqrt(N);
        expect(Math.abs(m.mean[j]! - (1 - A) * target[j]!)).toBeLessThan(4 * se);
        expect(Math.abs(m.mean[j]! - target[j]!)).toBeLessThan(0.05);
        // Same variance as the conditional samples (the guidance only shifts the mean), ~ s^2.
        expect(Math.abs(m.variance[j]! - moments(cond, 2).variance[j]!)).toBeLessThan(1e-9);
        // The variance is the discretised flow's: A^2 var(x_start) for these draws, and
        // A^2 sigma_max^2 in distribution (Euler's 30 steps put it within ~20% of s^2).
        expect(Math.abs(m.variance[j]! - A * A * start.variance[j]!)).toBeLessThan(1e-9);
        expect(Math.abs(m.variance[j]! / (A * A * SIGMAS[0]! ** 2) - 1)).toBeLessThan(4 * Math.sqrt(2 / N));
      }
      if (w === 1) expect(maxAbsDiff(guided, cond)).toBeLessThan(1e-9);
      console.log(`CFG w=${w}: sample mean ${m.mean.map((v) => v.toFixed(4))} (target ${target}), variance ${m.variance.map((v) => v.toFixed(4))} (s^2 = ${S2}), A = ${A.toExponential(3)}`);
    }
    expect(engine.memory().numTensors).toBe(before);
    for (const t of [muC, muU, x]) t.dispose();
  });

  it('checks its arguments', () => {
    const base = condGaussianDenoiser(S2);
    const x = tensor([[1, 2]], undefined, F64);
    expect(() => classifierFreeGuidance(base, { scale: NaN })).toThrow(/classifierFreeGuidance: options.scale must be a finite number or a function of sigma, got NaN/);
    expect(() => classifierFreeGuidance(3 as never, { scale: 1 })).toThrow(/classifierFreeGuidance: denoiser must be a function, got 3/);
    expect(() => classifierFreeGuidance(base, { scale: 1 })(x, 1, x as never)).toThrow(/cond must be an object \{ cond, uncond \}/);
    expect(() => classifierFreeGuidance(base, { scale: () => Infinity })(x, 1, { cond: x, uncond: x })).toThrow(/options.scale\(1\) must return a finite number, got Infinity/);
    expect(() => classifierFreeGuidanceBatched(base, { scale: 1 } as never)).toThrow(/classifierFreeGuidanceBatched: options.concat must be a function/);
    // A denoiser that drops the second half of the doubled batch.
    const bad = classifierFreeGuidanceBatched((xx: Tensor) => sliceAxis(xx, 0, 0, 1), { scale: 2, concat: (a: Tensor) => a });
    const before = engine.memory().numTensors;
    expect(() => bad(x, 1, { cond: x, uncond: x })).toThrow(ShapeError);
    expect(engine.memory().numTensors).toBe(before);
    x.dispose();
  });
});

describe('gradientGuidance', () => {
  // Data x0 ~ N(mu, s^2 I); an observation y = x0 + r n of the clean sample.
  const MU = [0, 0.5];
  const S2 = 1;
  const R2 = 0.25;
  const Y = [1.5, -2];
  // Posterior p(x0 | y) = N(m_post, v_post): v_post = s^2 r^2 / (s^2 + r^2),
  // m_post = (r^2 mu + s^2 y) / (s^2 + r^2).
  const V_POST = (S2 * R2) / (S2 + R2);
  const M_POST = MU.map((m, j) => (R2 * m + S2 * Y[j]!) / (S2 + R2));

  /**
   * The exact noise-aware likelihood. With x = x0 + sigma eps, (x, y) are jointly Gaussian
   * (Var x = s^2 + sigma^2, Var y = s^2 + r^2, Cov = s^2), so
   *   p(y | x) = N(y; D(x), tau^2),  D(x) = mu + a (x - mu),  a = s^2 / (s^2 + sigma^2),
   *   tau^2 = r^2 + s^2 sigma^2 / (s^2 + sigma^2).
   * Then p_sigma(x | y) is the noisy marginal of the posterior N(m_post, v_post), and the
   * guided denoiser x0 + sigma^2 grad log p(y | x) = D + sigma^2 a (y - D) / tau^2 must equal the
   * posterior's own denoiser m_post + v_post / (v_post + sigma^2) (x - m_post).
   */
  const logLik = (x: Tensor, sigma: number): Tensor => {
    const a = S2 / (S2 + sigma * sigma);
    const tau2 = R2 + (S2 * sigma * sigma) / (S2 + sigma * sigma);
    const mu = tensor([MU], undefined, F64);
    const d = sub(tensor([Y], undefined, F64), add(mu, mul(sub(x, mu), a)));
    return mul(sum(mul(d, d)), -1 / (2 * tau2));
  };

  it('with the exact noise-aware Gaussian likelihood it is exactly the posterior denoiser', () => {
    const guided = gradientGuidance(gaussianDenoiser(MU, S2), { logProb: logLik, scale: 1 });
    const post = gaussianDenoiser(M_POST, V_POST);
    const x = randn([6, 2], new Generator(4), { dtype: 'float64', std: 3 });
    for (const sigma of [0.003, 0.3, 2, 50]) {
      const before = engine.memory().numTensors;
      const g = guided(x, sigma, null);
      expect(engine.memory().numTensors).toBe(before + 1);
      const ref = post(x, sigma, null);
      expect(maxAbsDiff(g.dataSync(), ref.dataSync())).toBeLessThan(1e-10);
      g.dispose();
      ref.dispose();
    }
    x.dispose();
  });

  it('sampling with it moves the mean from mu to the closed-form posterior mean (and variance)', async () => {
    const N = 2000;
    const x = randn([N, 2], new Generator(5), { dtype: 'float64', std: SIGMAS[0]! });
    const start = moments(x.dataSync(), 2);
    const before = engine.memory().numTensors;
    const plain = moments(await run(gaussianDenoiser(MU, S2), null, x), 2);
    const guided = moments(await run(gradientGuidance(gaussianDenoiser(MU, S2), { logProb: logLik, scale: 1 }), null, x), 2);
    expect(engine.memory().numTensors).toBe(before);
    const A = eulerGain(SIGMAS, V_POST);
    for (let j = 0; j < 2; j++) {
      // These draws: exactly the posterior's flow.
      expect(Math.abs(guided.mean[j]! - (M_POST[j]! + A * (start.mean[j]! - M_POST[j]!)))).toBeLessThan(1e-8);
      // In distribution: within 4 standard errors of (1 - A) m_post, and close to m_post.
      expect(Math.abs(guided.mean[j]! - (1 - A) * M_POST[j]!)).toBeLessThan((4 * Math.abs(A) * SIGMAS[0]!) / Math.sqrt(N));
      expect(Math.abs(guided.mean[j]! - M_POST[j]!)).toBeLessThan(0.03);
      expect(Math.abs(guided.variance[j]! - A * A * start.variance[j]!)).toBeLessThan(1e-8);
      expect(Math.abs(guided.variance[j]! / (A * A * SIGMAS[0]! ** 2) - 1)).toBeLessThan(4 * Math.sqrt(2 / N));
      // The unguided run stays at the prior.
      expect(Math.abs(plain.mean[j]! - MU[j]!)).toBeLessThan(0.1);
    }
    console.log(`gradient guidance (Gaussian likelihood): mean ${plain.mean.map((v) => v.toFixed(4))} -> ${guided.mean.map((v) => v.toFixed(4))} (posterior ${M_POST.map((v) => v.toFixed(4))}), variance ${guided.variance.map((v) => v.toFixed(4))} (posterior ${V_POST})`);
    x.dispose();
  });

  it("on: 'x0' differentiates log p(c | x0_hat(x)) through the denoiser (one denoiser call)", () => {
    // log N(y; x0_hat, r^2): gradient a (y - D) / r^2 through D(x) = mu + a (x - mu).
    let calls = 0;
    const base = gaussianDenoiser(MU, S2);
    const counting: Denoiser<unknown> = (x, sigma, c) => {
      calls++;
      return base(x, sigma, c);
    };
    const logProb = (x0: Tensor) => {
      const d = sub(tensor([Y], undefined, F64), x0);
      return mul(sum(mul(d, d)), -1 / (2 * R2));
    };
    const scale = 0.7;
    const guided = gradientGuidance(counting, { logProb, scale, on: 'x0' });
    const x = randn([3, 2], new Generator(6), { dtype: 'float64', std: 2 });
    const xv = x.dataSync();
    for (const sigma of [0.1, 1, 10]) {
      calls = 0;
      const before = engine.memory().numTensors;
      const g = guided(x, sigma, null);
      expect(calls).toBe(1);
      expect(engine.memory().numTensors).toBe(before + 1);
      const a = S2 / (S2 + sigma * sigma);
      const expected = Array.from(xv, (v, i) => {
        const D = MU[i % 2]! + a * (v - MU[i % 2]!);
        return D + scale * sigma * sigma * a * ((Y[i % 2]! - D) / R2);
      });
      expect(maxAbsDiff(g.dataSync(), expected)).toBeLessThan(1e-12);
      g.dispose();
    }
    x.dispose();
  });

  it('a linear classifier log sigmoid(a·x + b) shifts the samples along a, more with a larger scale', async () => {
    const N = 1000;
    const a = [3, 0];
    const b = -1;
    // A classifier whose confidence fades with the noise level, as a noise-aware one's does
    // (a fixed sharp classifier's sigma^2-scaled gradient would fling every sample across at
    // sigma = 80): log sigmoid((a·x + b) / (1 + sigma^2)).
    const logProb = (x: Tensor, sigma: number) => sumLogSigmoid(mul(linearLogit(x, a, b), 1 / (1 + sigma * sigma)));
    const x = randn([N, 2], new Generator(7), { dtype: 'float64', std: SIGMAS[0]! });
    const plain = await run(gaussianDenoiser(MU, S2), null, x);
    const rows: string[] = [];
    let prevMean = moments(plain, 2).mean[0]!;
    let prevRate = successRate(plain, a, b);
    rows.push(`scale 0: mean x1 ${prevMean.toFixed(3)}, a·x+b>0 ${prevRate.toFixed(3)}`);
    for (const scale of [0.3, 1]) {
      const before = engine.memory().numTensors;
      const out = await run(gradientGuidance(gaussianDenoiser(MU, S2), { logProb, scale }), null, x);
      expect(engine.memory().numTensors).toBe(before);
      const m = moments(out, 2);
      const rate = successRate(out, a, b);
      rows.push(`scale ${scale}: mean x1 ${m.mean[0]!.toFixed(3)}, a·x+b>0 ${rate.toFixed(3)}`);
      // Moves along a, by more than sampling noise (sd 1 / sqrt(N) ≈ 0.03) ...
      expect(m.mean[0]! - prevMean).toBeGreaterThan(0.15);
      expect(rate).toBeGreaterThan(prevRate + 0.05);
      // ... and not at all across it: the gradient of log sigmoid(a·x + b) is along a, so the
      // second coordinate follows exactly the unguided path from the same start.
      let worst = 0;
      for (let i = 0; i < N; i++) worst = Math.max(worst, Math.abs(out[2 * i + 1]! - plain[2 * i + 1]!));
      expect(worst).toBeLessThan(1e-12);
      prevMean = m.mean[0]!;
      prevRate = rate;
    }
    console.log(`gradient guidance (linear classifier a = ${a}, b = ${b}): ${rows.join('; ')}`);
    x.dispose();
  });

  it('refuses to run inside noGrad() and checks its arguments', () => {
    const guided = gradientGuidance(gaussianDenoiser(MU, S2), { logProb: logLik, scale: 1 });
    const x = tensor([[1, 2]], undefined, F64);
    const before = engine.memory().numTensors;
    expect(() => noGrad(() => guided(x, 1, null))).toThrow(/gradientGuidance: gradients of the guidance term cannot be recorded inside noGrad\(\)/);
    expect(engine.memory().numTensors).toBe(before);
    // sigma = 0: the plain denoiser.
    const g0 = guided(x, 0, null);
    expect(Array.from(g0.dataSync())).toEqual([1, 2]);
    g0.dispose();
    expect(() => gradientGuidance(gaussianDenoiser(MU, S2), { logProb: logLik, scale: 1, on: 'eps' as never })).toThrow(/options.on must be 'x' or 'x0', got "eps"/);
    expect(() => gradientGuidance(gaussianDenoiser(MU, S2), { scale: 1 } as never)).toThrow(/gradientGuidance: options.logProb must be a function, got undefined/);
    const perSample = gradientGuidance(gaussianDenoiser(MU, S2), { logProb: (z: Tensor) => mul(z, 1), scale: 1 });
    expect(() => perSample(x, 1, null)).toThrow(/options.logProb must return a one-element tensor .* got shape \[1, 2\]/);
    expect(() => guided(x, -1, null)).toThrow(InvalidArgumentError);
    expect(engine.memory().numTensors).toBe(before);
    x.dispose();
  });
});

function successRate(values: ArrayLike<number>, a: readonly number[], b: number): number {
  const n = values.length / 2;
  let k = 0;
  for (let i = 0; i < n; i++) if (a[0]! * values[2 * i]! + a[1]! * values[2 * i + 1]! + b > 0) k++;
  return k / n;
}
