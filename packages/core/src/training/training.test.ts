import { describe, expect, it } from 'vitest';
import { engine } from '../engine/engine.js';
import { Generator } from '../random/philox.js';
import { randn } from '../random/index.js';
import { tensor, variable, zeros } from '../ops/creation.js';
import { add, mul, sub } from '../ops/elementwise.js';
import { sum } from '../ops/reduce.js';
import { gather } from '../ops/indexing.js';
import { AdamW, SGD } from '../optim/optimizers.js';
import { EMA } from '../optim/utils.js';
import type { Tensor } from '../tensor/tensor.js';
import { LossAwareSampler, diffusionLossTerms } from '../losses/index.js';
import { trainingStep, trainingStepAsync } from './index.js';
import { clipGradNorm, clipGradNormAsync } from '../optim/utils.js';

const F64 = { dtype: 'float64' } as const;

describe('trainingStep', () => {
  // loss(w) = sum((w - c)^2): gradient 2 (w - c).
  const C = [1, -2, 0.5];
  const quad = (w: Tensor) => () => {
    const d = sub(w, tensor(C, undefined, F64));
    return sum(mul(d, d));
  };

  it('takes one optimizer step on the autograd gradient and reports the loss', () => {
    const w = variable(tensor([0, 0, 0], undefined, F64));
    const opt = new SGD([w], { lr: 0.1 });
    const before = engine.memory().numTensors;
    const r = trainingStep({ params: [w], optimizer: opt, lossFn: quad(w) });
    expect(r.loss).toBeCloseTo(1 + 4 + 0.25, 14);
    expect(r.gradNorm).toBeUndefined();
    expect(r.skipped).toBeUndefined();
    // w - 0.1 * 2 (w - c) = 0.2 c.
    (w.dataSync() as Float64Array).forEach((v, i) => expect(v).toBeCloseTo(0.2 * C[i]!, 14));
    expect(engine.memory().numTensors).toBe(before);
    // lr is set before the step; params default to the optimizer's.
    const r2 = trainingStep({ optimizer: opt, lossFn: quad(w), lr: 0.5 });
    expect(opt.lr).toBe(0.5);
    expect(r2.loss).toBeCloseTo(0.64 * (1 + 4 + 0.25), 12);
    // 0.5 step on a quadratic with curvature 2 lands on c.
    (w.dataSync() as Float64Array).forEach((v, i) => expect(v).toBeCloseTo(C[i]!, 12));
    opt.dispose();
    w.dispose();
  });

  it('clips to the global norm (reporting the norm before clipping) and updates the EMA after the step', () => {
    const w = variable(tensor([0, 0, 0], undefined, F64));
    const opt = new SGD([w], { lr: 1 });
    const ema = new EMA([w], { decay: 0.5 });
    const r = trainingStep({ params: [w], optimizer: opt, lossFn: quad(w), clipNorm: 1, ema });
    // grad = -2 c, norm 2 |c| = 2 sqrt(5.25); clipped to norm 1: w = c / |c|.
    const norm = 2 * Math.sqrt(5.25);
    expect(r.gradNorm).toBeCloseTo(norm, 12);
    const wv = Array.from(w.dataSync());
    wv.forEach((v, i) => expect(v).toBeCloseTo(((2 * C[i]!) / norm) * (1 / (1 + 1e-6 / norm)), 10));
    // shadow = 0.5 * 0 + 0.5 * w.
    Array.from(ema.shadow[0]!.dataSync()).forEach((v, i) => expect(v).toBeCloseTo(0.5 * wv[i]!, 14));
    expect(ema.stepCount).toBe(1);
    // Below the threshold nothing is scaled.
    const r2 = trainingStep({ optimizer: opt, lossFn: () => mul(sum(w), 0), clipNorm: 10 });
    expect(r2.gradNorm).toBe(0);
    ema.dispose();
    opt.dispose();
    w.dispose();
  });

  it('trainingStepAsync and clipGradNormAsync read asynchronously and give exactly the synchronous results', async () => {
    const run = async (async: boolean) => {
      const w = variable(tensor([0, 0, 0], undefined, F64));
      const opt = new AdamW([w], { lr: 0.3, weightDecay: 0.01 });
      const ema = new EMA([w], { decay: 0.7 });
      const results = [];
      let before = 0;
      for (let i = 0; i < 6; i++) {
        const options = { optimizer: opt, lossFn: quad(w), clipNorm: 1.5, ema };
        results.push(async ? await trainingStepAsync(options) : trainingStep(options));
        if (i === 0) before = engine.memory().numTensors; // after AdamW made its moments
      }
      // A non-finite loss is skipped the same way.
      const bad = { optimizer: opt, lossFn: () => mul(sum(w), Number.NaN) };
      results.push(async ? await trainingStepAsync(bad) : trainingStep(bad));
      expect(engine.memory().numTensors).toBe(before);
      const out = { results, w: Array.from(w.dataSync()), shadow: Array.from(ema.shadow[0]!.dataSync()) };
      ema.dispose();
      opt.dispose();
      w.dispose();
      return out;
    };
    const sync = await run(false);
    const async = await run(true);
    expect(async).toEqual(sync);
    expect(sync.results[0]!.gradNorm).toBeGreaterThan(1.5);
    expect(sync.results[6]!.skipped).toBe(true);
    await expect(trainingStepAsync({ optimizer: null as never, lossFn: () => tensor(0) })).rejects.toThrow('trainingStepAsync: options.optimizer must be an Optimizer');
    // clipGradNormAsync = clipGradNorm.
    const g = [tensor([3, 4], undefined, F64), tensor([12], undefined, F64)];
    const a = clipGradNorm(g, 2);
    const b = await clipGradNormAsync(g, 2);
    expect(b.norm).toBe(13);
    expect(b.norm).toBe(a.norm);
    b.grads.forEach((t, i) => expect(Array.from(t.dataSync())).toEqual(Array.from(a.grads[i]!.dataSync())));
    await expect(clipGradNormAsync(g, -1)).rejects.toThrow('clipGradNormAsync: maxNorm must be a positive number, got -1');
    for (const t of [...g, ...a.grads, ...b.grads]) t.dispose();
  });

  it('skips the update on a non-finite loss (unless told not to)', () => {
    const w = variable(tensor([1, 2], undefined, F64));
    const opt = new SGD([w], { lr: 0.1 });
    const ema = new EMA([w], { decay: 0.9 });
    const nanLoss = () => mul(sum(w), NaN);
    const r = trainingStep({ optimizer: opt, lossFn: nanLoss, ema });
    expect(r.skipped).toBe(true);
    expect(Number.isNaN(r.loss)).toBe(true);
    expect(Array.from(w.dataSync())).toEqual([1, 2]);
    expect(opt.stepCount).toBe(0);
    expect(ema.stepCount).toBe(0);
    trainingStep({ optimizer: opt, lossFn: nanLoss, skipNonFinite: false });
    expect(Number.isNaN(w.dataSync()[0])).toBe(true);
    ema.dispose();
    opt.dispose();
    w.dispose();
  });

  it('checks its arguments', () => {
    const a = variable(tensor([1], undefined, F64));
    const b = variable(tensor([2], undefined, F64));
    const opt = new SGD([a, b], { lr: 0.1 });
    expect(() => trainingStep({ params: [b, a], optimizer: opt, lossFn: () => sum(a) })).toThrow(/trainingStep: options.params must be the optimizer's parameters in the same order \(2 tensors\)/);
    expect(() => trainingStep({ optimizer: {} as never, lossFn: () => sum(a) })).toThrow(/trainingStep: options.optimizer must be an Optimizer/);
    expect(() => trainingStep({ optimizer: opt, lossFn: 3 as never })).toThrow(/options.lossFn must be a function/);
    expect(() => trainingStep({ optimizer: opt, lossFn: () => sum(a), clipNorm: 0 })).toThrow(/options.clipNorm must be a positive number, got 0/);
    expect(() => trainingStep({ optimizer: opt, lossFn: () => sum(a), lr: -1 })).toThrow(/options.lr must be a finite number >= 0, got -1/);
    expect(() => trainingStep({ optimizer: opt, lossFn: () => add(a, b) as Tensor, ema: {} as never })).toThrow(/options.ema must be an EMA/);
    opt.dispose();
    a.dispose();
    b.dispose();
  });

  it('trains a tiny eps-prediction model for 200 steps without leaking (AdamW, clipping, EMA, importance-sampled t)', () => {
    // Data N(mu, 0.3^2) in 2-D; T = 10 VP steps; net(xt, t) = xt * S[t] + E[t] (per-timestep
    // scale and bias: the optimal eps predictor of Gaussian data has exactly this form).
    const T = 10;
    const abar = new Float64Array(T);
    let prod = 1;
    for (let t = 0; t < T; t++) abar[t] = prod *= 1 - (0.05 + (0.4 * t) / (T - 1));
    const gen = new Generator(7);
    const S = variable(zeros([T, 2], 'float64'), 'S');
    const E = variable(zeros([T, 2], 'float64'), 'E');
    const opt = new AdamW([S, E], { lr: 0.05, weightDecay: 0 });
    const ema = new EMA([S, E], { decay: 0.9, warmup: 1 });
    const sampler = new LossAwareSampler(T);
    const mu = tensor([[1, -0.5]], undefined, F64);
    const net = (xt: Tensor, t: Tensor) => add(mul(xt, gather(S, t, 0)), gather(E, t, 0));
    const step = () => {
      const draw = sampler.sample(16, gen, { dtype: 'float64' });
      const r = trainingStep({
        optimizer: opt,
        ema,
        clipNorm: 5,
        lossFn: () => {
          const x0 = add(mul(randn([16, 2], gen, F64), 0.3), mu);
          const noise = randn([16, 2], gen, F64);
          const { loss, perSample } = diffusionLossTerms({ net, x0, t: draw.t, noise, alphasCumprod: abar, weights: draw.weights });
          sampler.update(draw.timesteps, perSample.dataSync());
          return loss;
        },
      });
      draw.t.dispose();
      draw.weights.dispose();
      return r.loss;
    };
    const first = step();
    const start = engine.memory().numTensors;
    const startBytes = engine.memory().backend.bytes;
    const losses: number[] = [];
    for (let i = 0; i < 200; i++) losses.push(step());
    expect(engine.memory().numTensors).toBe(start);
    expect(engine.memory().backend.bytes).toBe(startBytes);
    expect(sampler.warmedUp).toBe(true);
    const tail = losses.slice(-50).reduce((a, b) => a + b, 0) / 50;
    console.log(`tiny diffusion training: first loss ${first.toFixed(4)}, mean of the last 50 ${tail.toFixed(4)}; live tensors ${start} -> ${engine.memory().numTensors}`);
    // From ~1 (eps has unit variance, the zero net predicts 0) to well below.
    expect(first).toBeGreaterThan(0.5);
    expect(tail).toBeLessThan(0.6 * first);
    for (const t of [mu, S, E]) t.dispose();
    opt.dispose();
    ema.dispose();
  });
});
