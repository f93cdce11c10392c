import { describe, expect, it } from 'vitest';
import { engine } from '../engine/engine.js';
import { Generator } from '../random/philox.js';
import { randn } from '../random/index.js';
import { tensor } from '../ops/creation.js';
import { mul } from '../ops/elementwise.js';
import { sum } from '../ops/reduce.js';
import { noGrad } from '../autograd/index.js';
import type { Tensor } from '../tensor/tensor.js';
import { sample } from '../samplers/sample.js';
import { ddpm } from '../samplers/ddpm.js';
import { euler } from '../samplers/euler.js';
import { appendZero, karrasSigmas } from '../schedules/sigmas.js';
import type { StepInfo } from '../samplers/types.js';
import { diffusionLMControl } from './index.js';
import { gaussianMixtureDenoiser } from '../samplers/closed-form.js';
import { linearLogit, moments, sumLogSigmoid } from './test-gaussians.js';

const F64 = { dtype: 'float64' } as const;

describe('diffusionLMControl: the update rule', () => {
  const X = [0.3, -0.2, 1.0, 0.5];
  const MEAN = [0.1, 0.0, 1.2, 0.4];
  const A = [2, -1];
  // logProb = sum_rows a·x: its gradient is a in every row.
  const logProb = (x: Tensor) => sum(linearLogit(x, A, 0));

  function info(x: Tensor, extra: Partial<StepInfo> = {}): StepInfo {
    return {
      i: 3, total: 10, sigma: 1, sigmaNext: 0.6, xPrev: x, x, x0: x,
      denoise: () => {
        throw new Error('not used');
      },
      gen: new Generator(0),
      ...extra,
    };
  }

  /** Plain-JS Adagrad on loss = lambda ||x - mean||^2 / (2 std^2) - sum a·x. */
  function reference(lambda: number, std: number, K: number, lr: number, reset: boolean, mean = MEAN): number[] {
    const x = [...X];
    let acc = new Array<number>(4).fill(0);
    for (let k = 0; k < K; k++) {
      if (reset) acc = new Array<number>(4).fill(0);
      for (let i = 0; i < 4; i++) {
        const g = (lambda * (x[i]! - mean[i]!)) / (std * std) - A[i % 2]!;
        acc[i]! += g * g;
        x[i]! -= (lr * g) / (Math.sqrt(acc[i]!) + 1e-10);
      }
    }
    return x;
  }

  it('runs K Adagrad updates on lambda log N(x; mean, std^2) + log p(c | x), from the sampled x, freeing everything', () => {
    const x = tensor([X.slice(0, 2), X.slice(2)], undefined, F64);
    const mean = tensor([MEAN.slice(0, 2), MEAN.slice(2)], undefined, F64);
    for (const reset of [true, false]) {
      for (const [lambda, K] of [[0.5, 3], [4, 1], [0, 2]] as const) {
        const hook = diffusionLMControl({ logProb, lambda, steps: K, stepSize: 0.1, resetAccumulator: reset });
        const before = engine.memory().numTensors;
        const out = hook(info(x, { mean, std: 0.5 }));
        expect(engine.memory().numTensors).toBe(before + 1);
        expect(out).not.toBe(x);
        expect(out.isVariable).toBe(false);
        const ref = reference(lambda, 0.5, K, 0.1, reset);
        Array.from(out.dataSync()).forEach((v, i) => expect(v).toBeCloseTo(ref[i]!, 12));
        out.dispose();
      }
    }
    // With a fresh accumulator every update is about stepSize * sign(gradient) per coordinate.
    const hook = diffusionLMControl({ logProb, lambda: 0, steps: 1, stepSize: 0.1 });
    const out = hook(info(x, { mean, std: 0.5 }));
    Array.from(out.dataSync()).forEach((v, i) => expect(v - X[i]!).toBeCloseTo(0.1 * Math.sign(A[i % 2]!), 9));
    out.dispose();
    x.dispose();
    mean.dispose();
  });

  it('deterministic steps (no mean / std): the mean is x and the std the ancestral sigma_up', () => {
    const x = tensor([X.slice(0, 2), X.slice(2)], undefined, F64);
    const hook = diffusionLMControl({ logProb, lambda: 2, steps: 3, stepSize: 0.05 });
    const out = hook(info(x));
    // sigma 1 -> 0.6: sigma_up = 0.6 sqrt(1 - 0.36) / 1 = 0.48.
    const ref = reference(2, 0.48, 3, 0.05, true, X);
    Array.from(out.dataSync()).forEach((v, i) => expect(v).toBeCloseTo(ref[i]!, 12));
    out.dispose();
    // A custom fallback.
    const hook2 = diffusionLMControl({ logProb, lambda: 2, steps: 3, stepSize: 0.05, fallbackStd: (s, sn) => sn });
    const out2 = hook2(info(x));
    const ref2 = reference(2, 0.6, 3, 0.05, true, X);
    Array.from(out2.dataSync()).forEach((v, i) => expect(v).toBeCloseTo(ref2[i]!, 12));
    out2.dispose();
    // A step that reports std 0 (it drew no noise) counts as deterministic too.
    const out3 = hook(info(x, { mean: x, std: 0 }));
    Array.from(out3.dataSync()).forEach((v, i) => expect(v).toBeCloseTo(ref[i]!, 12));
    out3.dispose();
    x.dispose();
  });

  it('leaves x unchanged for K = 0, std = 0 (the step to sigma 0) and sigmaNext <= minSigma; clamps with clip', () => {
    const x = tensor([X.slice(0, 2), X.slice(2)], undefined, F64);
    const before = engine.memory().numTensors;
    expect(diffusionLMControl({ logProb, lambda: 1, steps: 0, stepSize: 0.1 })(info(x, { mean: x, std: 0.3 }))).toBe(x);
    expect(diffusionLMControl({ logProb, lambda: 1, steps: 3, stepSize: 0.1 })(info(x, { mean: x, std: 0, sigmaNext: 0 }))).toBe(x);
    expect(diffusionLMControl({ logProb, lambda: 1, steps: 3, stepSize: 0.1 })(info(x, { sigmaNext: 0 }))).toBe(x);
    expect(diffusionLMControl({ logProb, lambda: 1, steps: 3, stepSize: 0.1, minSigma: 0.6 })(info(x, { mean: x, std: 0.3 }))).toBe(x);
    expect(engine.memory().numTensors).toBe(before);
    const out = diffusionLMControl({ logProb, lambda: 0, steps: 10, stepSize: 0.5, clip: 1 })(info(x, { mean: x, std: 0.3 }));
    // Ten updates of 0.5 along sign(a) = (+, -), clamped to [-1, 1].
    expect(Array.from(out.dataSync())).toEqual([1, -1, 1, -1]);
    out.dispose();
    const out2 = diffusionLMControl({ logProb, lambda: 0, steps: 10, stepSize: 0.5, clip: [-0.25, 2] })(info(x, { mean: x, std: 0.3 }));
    expect(Array.from(out2.dataSync())).toEqual([2, -0.25, 2, -0.25]);
    out2.dispose();
    x.dispose();
  });

  it('checks its arguments and refuses to run inside noGrad()', () => {
    const x = tensor([[1, 2]], undefined, F64);
    expect(() => diffusionLMControl({ logProb, lambda: -1, steps: 1, stepSize: 0.1 })).toThrow(/diffusionLMControl: options.lambda must be a finite number >= 0, got -1/);
    expect(() => diffusionLMControl({ logProb, lambda: 1, steps: 1.5, stepSize: 0.1 })).toThrow(/options.steps must be an integer >= 0, got 1.5/);
    expect(() => diffusionLMControl({ logProb, lambda: 1, steps: 1, stepSize: NaN })).toThrow(/options.stepSize must be a finite number >= 0, got NaN/);
    expect(() => diffusionLMControl({ logProb, lambda: 1, steps: 1, stepSize: 0.1, clip: [1, 0] })).toThrow(/options.clip must be a positive number or a \[lo, hi\] pair with lo < hi, got \[1, 0\]/);
    expect(() => diffusionLMControl({ lambda: 1, steps: 1, stepSize: 0.1 } as never)).toThrow(/options.logProb must be a function, got undefined/);
    const before = engine.memory().numTensors;
    const hook = diffusionLMControl({ logProb, lambda: 1, steps: 2, stepSize: 0.1 });
    expect(() => noGrad(() => hook(info(x, { mean: x, std: 0.3 })))).toThrow(/diffusionLMControl: gradients cannot be recorded inside noGrad\(\)/);
    const perRow = diffusionLMControl({ logProb: (z: Tensor) => mul(z, 1), lambda: 1, steps: 2, stepSize: 0.1 });
    expect(() => perRow(info(x, { mean: x, std: 0.3 }))).toThrow(/options.logProb must return a one-element tensor/);
    expect(engine.memory().numTensors).toBe(before);
    x.dispose();
  });
});

describe('diffusionLMControl in the sampling loop (two-class Gaussian data)', () => {
  // Data: an even mixture of N(-(1, 0.5), 0.1 I) and N((1, 0.5), 0.1 I), sampled exactly by DDPM
  // with the closed-form mixture denoiser; the control target is the class a·x + b > 0 of the
  // linear classifier p(c | x) = sigmoid(a·x + b).
  const MUS = [[-1, -0.5], [1, 0.5]];
  const S2 = 0.1;
  const A = [2, 1];
  const B = 0;
  const N = 400;
  const SIGMAS = appendZero(karrasSigmas(20, 0.01, 10));
  const denoiser = gaussianMixtureDenoiser(MUS.map((mean) => ({ weight: 0.5, mean, std: Math.sqrt(S2) })));
  const classifier = (a: readonly number[]) => (x: Tensor) => sumLogSigmoid(linearLogit(x, a, B));
  const rate = (v: ArrayLike<number>) => {
    let k = 0;
    for (let i = 0; i < N; i++) if (A[0]! * v[2 * i]! + A[1]! * v[2 * i + 1]! + B > 0) k++;
    return k / N;
  };
  // Common random numbers: every run starts from the same x and draws the same noise.
  async function run(onStep?: (info: StepInfo) => Tensor, sampler = ddpm()): Promise<Float64Array> {
    const x = randn([N, 2], new Generator(7), { dtype: 'float64', std: SIGMAS[0]! });
    const out = await sample(sampler, denoiser, x, { sigmas: SIGMAS, gen: new Generator(1), ...(onStep ? { onStep } : {}) });
    const v = Float64Array.from(out.dataSync());
    out.dispose();
    x.dispose();
    return v;
  }

  it('the success rate rises as lambda falls and K rises', async () => {
    const before = engine.memory().numTensors;
    const unguided = rate(await run());
    const lambdas = [10, 1, 0.1];
    const Ks = [1, 3, 10];
    const grid: number[][] = [];
    for (const lambda of lambdas) {
      const row: number[] = [];
      for (const K of Ks) row.push(rate(await run(diffusionLMControl({ logProb: classifier(A), lambda, steps: K, stepSize: 0.05 }))));
      grid.push(row);
    }
    expect(engine.memory().numTensors).toBe(before);
    console.log(`Diffusion-LM control success rate (unguided ${unguided}; rows lambda ${lambdas}, columns K ${Ks}):\n${grid.map((r, i) => `  lambda ${lambdas[i]}: ${r.join('  ')}`).join('\n')}`);
    // The unguided sampler hits either class half the time (binomial sd 0.025).
    expect(Math.abs(unguided - 0.5)).toBeLessThan(0.1);
    for (let i = 0; i < 3; i++) {
      for (let j = 0; j < 3; j++) {
        expect(grid[i]![j]!).toBeGreaterThanOrEqual(unguided);
        if (j > 0) expect(grid[i]![j]!).toBeGreaterThanOrEqual(grid[i]![j - 1]!);
        if (i > 0) expect(grid[i]![j]!).toBeGreaterThanOrEqual(grid[i - 1]![j]!);
      }
    }
    // ... and by far more than sampling noise across the grid.
    expect(grid[2]![2]! - grid[0]![0]!).toBeGreaterThan(0.3);
    expect(grid[2]![2]!).toBeGreaterThan(0.95);
  });

  it('works with a deterministic sampler too (std from sigmaNext)', async () => {
    const plain = rate(await run(undefined, euler()));
    const guided = rate(await run(diffusionLMControl({ logProb: classifier(A), lambda: 0.1, steps: 3, stepSize: 0.05 }), euler()));
    console.log(`Diffusion-LM control with Euler: success ${plain} -> ${guided}`);
    expect(guided).toBeGreaterThan(plain + 0.15);
  });

  it('with a zero classifier weight the samples stay close to the unguided distribution', async () => {
    const plain = moments(await run(), 2);
    const zero = classifier([0, 0]);
    const small = moments(await run(diffusionLMControl({ logProb: zero, lambda: 1, steps: 3, stepSize: 0.01 })), 2);
    const large = moments(await run(diffusionLMControl({ logProb: zero, lambda: 1, steps: 3, stepSize: 0.05 })), 2);
    const otherLambda = moments(await run(diffusionLMControl({ logProb: zero, lambda: 10, steps: 3, stepSize: 0.05 })), 2);
    console.log(
      `Diffusion-LM control, zero classifier: unguided mean ${fmt(plain.mean)} var ${fmt(plain.variance)}; stepSize 0.01: mean ${fmt(small.mean)} var ${fmt(small.variance)}; stepSize 0.05: mean ${fmt(large.mean)} var ${fmt(large.variance)}`,
    );
    for (let j = 0; j < 2; j++) {
      // Means: within 4 standard errors of the unguided run's.
      const se = Math.sqrt(plain.variance[j]! / N);
      expect(Math.abs(small.mean[j]! - plain.mean[j]!)).toBeLessThan(4 * se);
      expect(Math.abs(large.mean[j]! - plain.mean[j]!)).toBeLessThan(4 * se);
      // Variances: with no noise re-added (as in the release), the fluency term alone pulls x
      // towards the step's mean by up to K * stepSize per step, so the spread shrinks a little,
      // more for larger steps: within 10% at stepSize 0.01, 20% at 0.05 here.
      expect(small.variance[j]! / plain.variance[j]!).toBeGreaterThan(0.9);
      expect(small.variance[j]! / plain.variance[j]!).toBeLessThan(1.02);
      expect(large.variance[j]! / plain.variance[j]!).toBeGreaterThan(0.8);
      expect(large.variance[j]!).toBeLessThan(small.variance[j]!);
      // The updates are (about) stepSize * sign(gradient): lambda does not matter without a classifier.
      expect(Math.abs(otherLambda.mean[j]! - large.mean[j]!)).toBeLessThan(1e-6);
      expect(Math.abs(otherLambda.variance[j]! - large.variance[j]!)).toBeLessThan(1e-6);
    }
  });
});

function fmt(v: readonly number[]): string {
  return `(${v.map((x) => x.toFixed(3)).join(', ')})`;
}
