import { describe, expect, it } from 'vitest';
import { engine } from '../engine/engine.js';
import { Generator } from '../random/philox.js';
import { tensor, variable } from '../ops/creation.js';
import { add, cast, mul } from '../ops/elementwise.js';
import { reshape } from '../ops/layout.js';
import { gradients } from '../autograd/index.js';
import { InvalidArgumentError, ShapeError, DTypeError } from '../errors/index.js';
import type { Tensor } from '../tensor/tensor.js';
import { asyncReadBackend } from '../testing/async-read.js';
import { LossAwareSampler, diffuseVP, diffusionLoss, diffusionLossTerms, predictionTarget, uniformTimesteps } from './index.js';

const F64 = { dtype: 'float64' } as const;

// A tiny fixed problem: B = 2 samples of 3 values, T = 3 timesteps.
const X0 = [
  [0.5, -1.0, 2.0],
  [1.5, 0.25, -0.75],
];
const EPS = [
  [0.3, 0.8, -1.2],
  [-0.4, 1.1, 0.6],
];
const T_IDX = [0, 2];
const ABAR = new Float64Array([0.9, 0.5, 0.2]);

/** The plain-JS loss for the same numbers (the reference the tensor code is checked against). */
function expectedLoss(prediction: 'epsilon' | 'sample' | 'v_prediction', out: (xt: number, b: number) => number, weights = [1, 1]) {
  const per: number[] = [];
  for (let b = 0; b < 2; b++) {
    const ab = ABAR[T_IDX[b]!]!;
    const a = Math.sqrt(ab);
    const s = Math.sqrt(1 - ab);
    let acc = 0;
    for (let j = 0; j < 3; j++) {
      const x0 = X0[b]![j]!;
      const e = EPS[b]![j]!;
      const xt = a * x0 + s * e;
      const target = prediction === 'epsilon' ? e : prediction === 'sample' ? x0 : a * e - s * x0;
      acc += (out(xt, b) - target) ** 2;
    }
    per.push(acc / 3);
  }
  return { per, loss: (per[0]! * weights[0]! + per[1]! * weights[1]!) / 2 };
}

describe('diffusionLoss', () => {
  const setup = () => ({
    x0: tensor(X0, undefined, F64),
    noise: tensor(EPS, undefined, F64),
    t: tensor(T_IDX, undefined, { dtype: 'int32' }),
  });

  for (const prediction of ['epsilon', 'sample', 'v_prediction'] as const) {
    it(`matches the hand-computed MSE (${prediction})`, () => {
      const { x0, noise, t } = setup();
      // net(xt, t) = 0.5 xt + 0.1 t (t enters per sample).
      const net = (xt: Tensor, tt: Tensor) => add(mul(xt, 0.5), mul(reshape(cast(tt, 'float64'), [2, 1]), 0.1));
      const ref = expectedLoss(prediction, (xt, b) => 0.5 * xt + 0.1 * T_IDX[b]!);
      const before = engine.memory().numTensors;
      const terms = diffusionLossTerms({ net, x0, t, noise, alphasCumprod: ABAR, prediction });
      expect(terms.loss.item()).toBeCloseTo(ref.loss, 12);
      const per = Array.from(terms.perSample.dataSync());
      expect(per[0]).toBeCloseTo(ref.per[0]!, 12);
      expect(per[1]).toBeCloseTo(ref.per[1]!, 12);
      terms.loss.dispose();
      terms.perSample.dispose();
      expect(engine.memory().numTensors).toBe(before);
      // Weighted: mean_b w_b L_b.
      const w = [0.25, 3];
      const loss = diffusionLoss({ net, x0, t, noise, alphasCumprod: ABAR, prediction, weights: w });
      expect(loss.item()).toBeCloseTo(expectedLoss(prediction, (xt, b) => 0.5 * xt + 0.1 * T_IDX[b]!, w).loss, 12);
      loss.dispose();
      const wt = tensor(w, undefined, F64);
      const loss2 = diffusionLoss({ net, x0, t, noise, alphasCumprod: Array.from(ABAR), prediction, weights: wt });
      expect(loss2.item()).toBeCloseTo(expectedLoss(prediction, (xt, b) => 0.5 * xt + 0.1 * T_IDX[b]!, w).loss, 12);
      for (const z of [loss2, wt, x0, noise, t]) z.dispose();
      expect(engine.memory().numTensors).toBe(before - 3);
    });
  }

  it('defaults to epsilon prediction (L_simple) and is differentiable in the network parameters', () => {
    const { x0, noise, t } = setup();
    const w = variable(tensor(0.7, [], F64));
    const net = (xt: Tensor) => mul(xt, w);
    // d/dw mean_b mean_j (w xt - eps)^2 = mean 2 (w xt - eps) xt.
    let g = 0;
    let l = 0;
    for (let b = 0; b < 2; b++) {
      const a = Math.sqrt(ABAR[T_IDX[b]!]!);
      const s = Math.sqrt(1 - ABAR[T_IDX[b]!]!);
      for (let j = 0; j < 3; j++) {
        const xt = a * X0[b]![j]! + s * EPS[b]![j]!;
        l += (0.7 * xt - EPS[b]![j]!) ** 2 / 6;
        g += (2 * (0.7 * xt - EPS[b]![j]!) * xt) / 6;
      }
    }
    const { value, grads } = gradients(() => diffusionLoss({ net, x0, t, noise, alphasCumprod: ABAR }), [w]);
    expect(value.item()).toBeCloseTo(l, 12);
    expect(grads[0]!.item()).toBeCloseTo(g, 12);
    for (const z of [value, ...grads, w, x0, noise, t]) z.dispose();
  });

  it('v-target identities: x0 = sqrt(abar) xt - sqrt(1-abar) v, eps = sqrt(1-abar) xt + sqrt(abar) v; an oracle net has zero loss', () => {
    const { x0, noise, t } = setup();
    const xt = diffuseVP(x0, t, noise, ABAR);
    const v = predictionTarget('v_prediction', x0, t, noise, ABAR);
    const xtA = xt.arraySync() as number[][];
    const vA = v.arraySync() as number[][];
    for (let b = 0; b < 2; b++) {
      const ab = ABAR[T_IDX[b]!]!;
      for (let j = 0; j < 3; j++) {
        const x = xtA[b]![j]!;
        const vv = vA[b]![j]!;
        expect(vv).toBeCloseTo(Math.sqrt(ab) * EPS[b]![j]! - Math.sqrt(1 - ab) * X0[b]![j]!, 14);
        expect(Math.sqrt(ab) * x - Math.sqrt(1 - ab) * vv).toBeCloseTo(X0[b]![j]!, 13);
        expect(Math.sqrt(1 - ab) * x + Math.sqrt(ab) * vv).toBeCloseTo(EPS[b]![j]!, 13);
      }
    }
    for (const prediction of ['epsilon', 'sample', 'v_prediction'] as const) {
      const tgt = predictionTarget(prediction, x0, t, noise, ABAR);
      const loss = diffusionLoss({ net: () => add(tgt, 0), x0, t, noise, alphasCumprod: ABAR, prediction });
      expect(loss.item()).toBe(0);
      loss.dispose();
      tgt.dispose();
    }
    for (const z of [xt, v, x0, noise, t]) z.dispose();
  });

  it('checks its arguments (function, argument, expected, actual)', () => {
    const { x0, noise, t } = setup();
    const net = (xt: Tensor) => add(xt, 0);
    const base = { net, x0, t, noise, alphasCumprod: ABAR };
    const t3 = tensor([0, 1, 2], undefined, { dtype: 'int32' });
    const tf = tensor([0, 1], undefined, F64);
    const tbad = tensor([0, 3], undefined, { dtype: 'int32' });
    expect(() => diffusionLoss({ ...base, t: t3 })).toThrow(ShapeError);
    expect(() => diffusionLoss({ ...base, t: t3 })).toThrow(/diffusionLoss: t must have shape \[2\].*got \[3\]/);
    expect(() => diffusionLoss({ ...base, t: tf })).toThrow(DTypeError);
    expect(() => diffusionLoss({ ...base, t: tbad })).toThrow(/indices must be in \[0, 3\), got 3/);
    expect(() => diffusionLoss({ ...base, alphasCumprod: [0.9, 0, 0.2] })).toThrow(/diffusionLoss: alphasCumprod\[1\] must be in \(0, 1\], got 0/);
    expect(() => diffusionLoss({ ...base, prediction: 'x0' as never })).toThrow(/options.prediction must be one of .*got "x0"/);
    expect(() => diffusionLoss({ ...base, weights: [1] })).toThrow(/options.weights must be a tensor or an array of 2 numbers/);
    expect(() => diffusionLoss({ ...base, net: () => tensor([1, 2], undefined, F64) })).toThrow(/network must return a tensor shaped like x0 \[2, 3\], got \[2\]/);
    expect(() => diffusionLoss({ ...base, noise: t3 as never })).toThrow(/noise must have x0's shape/);
    for (const z of [x0, noise, t, t3, tf, tbad]) z.dispose();
  });
});

describe('timestep samplers', () => {
  it('uniformTimesteps: int32 in [0, T), seeded, roughly uniform', () => {
    const t = uniformTimesteps(4000, 5, new Generator(1));
    expect(t.dtype).toBe('int32');
    expect(t.shape).toEqual([4000]);
    const v = t.dataSync();
    const again = uniformTimesteps(4000, 5, new Generator(1));
    expect(Array.from(again.dataSync())).toEqual(Array.from(v));
    const counts = [0, 0, 0, 0, 0];
    for (const x of v) counts[x]!++;
    // Each count ~ Binomial(4000, 0.2): sd 25.3; 5 sd.
    for (const c of counts) expect(Math.abs(c - 800)).toBeLessThan(5 * 25.3);
    t.dispose();
    again.dispose();
    expect(() => uniformTimesteps(0, 5, new Generator(1))).toThrow(/uniformTimesteps: batch must be an integer >= 1, got 0/);
    expect(() => uniformTimesteps(2, 5, {} as Generator)).toThrow(InvalidArgumentError);
  });

  // A fixed loss table: timestep t always reports L_t (constant history).
  const TABLE = [0.1, 0.5, 2.0, 0.05, 1.0, 0.3];

  function warmSampler(table: readonly number[][]): LossAwareSampler {
    const s = new LossAwareSampler(table.length);
    for (let j = 0; j < 10; j++) s.update(table.map((_, t) => t), table.map((h) => h[j % h.length]!));
    return s;
  }

  it('LossAwareSampler: uniform with weight 1 until every timestep has 10 losses', () => {
    const s = new LossAwareSampler(6);
    const gen = new Generator(3);
    for (let j = 0; j < 9; j++) s.update([0, 1, 2, 3, 4, 5], TABLE);
    s.update([0, 1, 2, 3, 4], TABLE.slice(0, 5));
    expect(s.warmedUp).toBe(false);
    const d = s.sample(8, gen);
    expect(Array.from(d.importance)).toEqual(new Array(8).fill(1));
    expect(Array.from(s.probabilities())).toEqual(new Array(6).fill(1 / 6));
    d.t.dispose();
    d.weights.dispose();
    s.update([5], [TABLE[5]!]);
    expect(s.warmedUp).toBe(true);
  });

  it('LossAwareSampler: p_t = 0.999 sqrt(E[L_t^2]) / sum + 0.001 / T; the weighted loss is unbiased', () => {
    const s = warmSampler(TABLE.map((l) => [l]));
    const p = s.probabilities();
    const total = TABLE.reduce((a, b) => a + b, 0);
    TABLE.forEach((l, t) => expect(p[t]).toBeCloseTo(0.999 * (l / total) + 0.001 / 6, 14));
    // Exactly: E_{t~p}[w_t L_t] = sum_t p_t L_t / (T p_t) = mean_t L_t.
    const meanL = total / 6;
    const exact = TABLE.reduce((acc, l, t) => acc + p[t]! * (l / (6 * p[t]!)), 0);
    expect(exact).toBeCloseTo(meanL, 14);
    // By sampling: the average of w_t L_t over many draws.
    const n = 20000;
    const d = s.sample(n, new Generator(11), { dtype: 'float64' });
    const w = d.weights.dataSync();
    let sum = 0;
    let sum2 = 0;
    let worst = 0;
    for (let i = 0; i < n; i++) {
      worst = Math.max(worst, Math.abs(w[i]! - d.importance[i]!), Math.abs(d.importance[i]! - 1 / (6 * p[d.timesteps[i]!]!)));
      const y = d.importance[i]! * TABLE[d.timesteps[i]!]!;
      sum += y;
      sum2 += y * y;
    }
    expect(worst).toBeLessThan(1e-12);
    const est = sum / n;
    const sd = Math.sqrt(Math.max(sum2 / n - est * est, 0));
    // With p ∝ L the estimator is almost constant (only the 0.1% uniform mix varies it).
    expect(Math.abs(est - meanL)).toBeLessThanOrEqual(5 * (sd / Math.sqrt(n)) + 1e-12);
    // ... and its variance is far below the uniform sampler's (the variance of L_t over t).
    const uniformVar = TABLE.reduce((a, l) => a + (l - meanL) ** 2, 0) / 6;
    expect(sd * sd).toBeLessThan(0.01 * uniformVar);
    d.t.dispose();
    d.weights.dispose();
  });

  it('LossAwareSampler favours high-variance timesteps (same mean loss, larger second moment)', () => {
    // Every timestep has mean loss 1; timestep 2 alternates 0 / 2 (E[L^2] = 2), timestep 4
    // alternates 0.5 / 1.5 (1.25), the others are constant 1 (E[L^2] = 1).
    const table = [[1], [1], [0, 2], [1], [0.5, 1.5], [1]];
    const s = warmSampler(table);
    const p = s.probabilities();
    expect(p[2]).toBeGreaterThan(p[4]!);
    expect(p[4]).toBeGreaterThan(p[0]!);
    const z = Math.SQRT2 + Math.sqrt(1.25) + 4;
    expect(p[2]).toBeCloseTo(0.999 * (Math.SQRT2 / z) + 0.001 / 6, 14);
    const n = 12000;
    const d = s.sample(n, new Generator(5));
    const counts = new Array(6).fill(0);
    for (const t of d.timesteps) counts[t]++;
    for (let t = 0; t < 6; t++) expect(Math.abs(counts[t] / n - p[t]!)).toBeLessThan(5 * Math.sqrt((p[t]! * (1 - p[t]!)) / n));
    expect(counts[2]).toBeGreaterThan(counts[0]);
    d.t.dispose();
    d.weights.dispose();
  });

  it('LossAwareSampler keeps only the last 10 losses per timestep and validates updates', () => {
    const s = new LossAwareSampler(2);
    for (let j = 0; j < 10; j++) s.update([0, 1], [100, 1]);
    // Ten new losses at t = 0 push all the 100s out.
    for (let j = 0; j < 10; j++) s.update([0], [1]);
    const p = s.probabilities();
    expect(p[0]).toBeCloseTo(0.5, 14);
    const ts = tensor([0, 1], undefined, { dtype: 'int32' });
    const ls = tensor([3, 3], undefined, F64);
    s.update(ts, ls);
    ts.dispose();
    ls.dispose();
    expect(() => s.update([0, 2], [1, 1])).toThrow(/LossAwareSampler.update: ts\[1\] must be an integer in \[0, 2\), got 2/);
    expect(() => s.update([0], [NaN])).toThrow(/losses\[0\] must be a finite number, got NaN/);
    expect(() => s.update([0, 1], [1])).toThrow(ShapeError);
    expect(() => new LossAwareSampler(0)).toThrow(/LossAwareSampler: numTimesteps must be an integer >= 1, got 0/);
    expect(() => new LossAwareSampler(4, { uniformProb: 2 })).toThrow(/options.uniformProb must be a number in \[0, 1\], got 2/);
  });

  it('LossAwareSampler.updateAsync takes tensors on a backend without synchronous reads and records what update() records', async () => {
    const asyncOnly = asyncReadBackend();
    const sync = new LossAwareSampler(4, { historyPerTerm: 3 });
    const viaAsync = new LossAwareSampler(4, { historyPerTerm: 3 });
    const gen = new Generator(3);
    for (let j = 0; j < 6; j++) {
      const ts = Array.from(gen.uniformArray(5, 'float64'), (u) => Math.floor(u * 4));
      const ls = Array.from(gen.uniformArray(5, 'float64'), (u) => 0.1 + u);
      sync.update(ts, ls);
      const tt = tensor(ts, undefined, { dtype: 'int32', backend: asyncOnly });
      const lt = tensor(ls, undefined, { dtype: 'float64', backend: asyncOnly });
      expect(() => viaAsync.update(tt, lt)).toThrow('Tensor.dataSync: backend "reference-async-read" cannot read synchronously; use await tensor.data()');
      await viaAsync.updateAsync(tt, lt);
      tt.dispose();
      lt.dispose();
    }
    expect(viaAsync.warmedUp).toBe(sync.warmedUp);
    expect(Array.from(viaAsync.probabilities())).toEqual(Array.from(sync.probabilities()));
    await expect(viaAsync.updateAsync([0, 4], [1, 1])).rejects.toThrow(/LossAwareSampler.updateAsync: ts\[1\] must be an integer in \[0, 4\), got 4/);
    expect(asyncOnly.memory().buffers).toBe(0);
  });
});
