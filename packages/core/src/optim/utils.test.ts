// @denoise/core — tests for optim/utils.ts: gradient clipping, EMA and learning-rate schedules,
// against values computed by hand or by plain-number recurrences in the test.

import { describe, it, expect } from 'vitest';
import { InvalidArgumentError, ShapeError } from '../errors/index.js';
import { Generator } from '../random/index.js';
import { tensor, variable } from '../ops/creation.js';
import type { Tensor } from '../tensor/tensor.js';
import { memory } from '../index.js';
import { EMA, clipGradNorm, constantSchedule, warmupCosineSchedule, warmupLinearSchedule } from './utils.js';

const f64 = (values: ArrayLike<number>, shape: readonly number[]): Tensor => tensor(Float64Array.from(values), shape, { dtype: 'float64' });
const var64 = (values: ArrayLike<number>, shape: readonly number[]): Tensor => {
  const t = f64(values, shape);
  const v = variable(t);
  t.dispose();
  return v;
};
const read = (t: Tensor): number[] => Array.from(t.dataSync() as Float64Array);

function expectAllClose(actual: ArrayLike<number>, expected: ArrayLike<number>, rel = 1e-12): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const tol = rel * Math.max(Math.abs(expected[i]!), 1e-3);
    if (!(Math.abs(actual[i]! - expected[i]!) <= tol)) throw new Error(`[${i}]: got ${actual[i]}, expected ${expected[i]}`);
  }
}

function expectInvalid(fn: () => unknown, ...fragments: string[]): void {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(InvalidArgumentError.isInstance(err), `expected InvalidArgumentError, got ${String(err)}`).toBe(true);
  for (const f of fragments) expect((err as Error).message).toContain(f);
}

// ---- clipGradNorm ---------------------------------------------------------------------------

describe('clipGradNorm', () => {
  it('scales by maxNorm / (norm + eps) when the global norm is larger (hand-computed)', () => {
    // Global norm: sqrt(1 + 4 + 4 + 16 + 0) = 5.
    const g1 = f64([1, 2, 2], [3]);
    const g2 = f64([4, 0], [2, 1]);
    const { grads, norm } = clipGradNorm([g1, g2], 1);
    expect(norm).toBe(5);
    const s = 1 / (5 + 1e-6);
    expectAllClose(read(grads[0]!), [s, 2 * s, 2 * s]);
    expectAllClose(read(grads[1]!), [4 * s, 0]);
    expect(grads[1]!.shape).toEqual([2, 1]);
    // The inputs are left as they were.
    expect(read(g1)).toEqual([1, 2, 2]);
    expect(read(g2)).toEqual([4, 0]);
    // The clipped global norm is maxNorm (up to eps).
    const clipped = Math.hypot(...read(grads[0]!), ...read(grads[1]!));
    expect(clipped).toBeCloseTo(1, 6);
    expect(clipped).toBeLessThan(1);
  });

  it('uses the given eps', () => {
    const { grads, norm } = clipGradNorm([f64([3, 4], [2])], 2, 0.5);
    expect(norm).toBe(5);
    expectAllClose(read(grads[0]!), [3 * (2 / 5.5), 4 * (2 / 5.5)]);
    expectAllClose(read(clipGradNorm([f64([3, 4], [2])], 2, 0).grads[0]!), [1.2, 1.6]);
  });

  it('leaves gradients bit-identical when the norm is below maxNorm', () => {
    const gen = new Generator(11);
    const a = gen.normalArray(7, 'float64');
    const b = gen.normalArray(5, 'float64');
    const expectedNorm = Math.sqrt([...a, ...b].reduce((acc, x) => acc + x * x, 0));
    const { grads, norm } = clipGradNorm([f64(a, [7]), f64(b, [5])], expectedNorm * 2);
    expectAllClose([norm], [expectedNorm]);
    expect(read(grads[0]!)).toEqual(Array.from(a));
    expect(read(grads[1]!)).toEqual(Array.from(b));
  });

  it('random gradients: norm and scaled values match a host computation', () => {
    const gen = new Generator(12);
    const shapes = [[3, 4], [10], [2, 2, 2]];
    const host = shapes.map((s) => Float64Array.from(gen.normalArray(s.reduce((x, y) => x * y, 1), 'float64'), (x) => 3 * x));
    let sq = 0;
    for (const h of host) for (const x of h) sq += x * x;
    const expectedNorm = Math.sqrt(sq);
    const maxNorm = 0.75;
    const { grads, norm } = clipGradNorm(host.map((h, i) => f64(h, shapes[i]!)), maxNorm);
    expectAllClose([norm], [expectedNorm]);
    const scale = maxNorm / (expectedNorm + 1e-6);
    grads.forEach((g, i) => {
      expect(g.shape).toEqual(shapes[i]);
      expect(g.dtype).toBe('float64');
      expectAllClose(read(g), Array.from(host[i]!, (x) => x * scale));
    });
  });

  it('float32 gradients stay float32; mixed dtypes each keep their own', () => {
    const a = tensor([3, 0], [2], { dtype: 'float32' });
    const b = f64([0, 4], [2]);
    const { grads, norm } = clipGradNorm([a, b], 1);
    expect(norm).toBe(5);
    expect(grads.map((g) => g.dtype)).toEqual(['float32', 'float64']);
    expect(Array.from(grads[0]!.dataSync())[0]).toBeCloseTo(0.6, 6);
    expectAllClose(read(grads[1]!), [0, 4 / (5 + 1e-6)]);
  });

  it('no gradients: norm 0, nothing returned', () => {
    expect(clipGradNorm([], 1)).toEqual({ grads: [], norm: 0 });
  });

  it('all-zero gradients stay zero', () => {
    const { grads, norm } = clipGradNorm([f64([0, 0], [2])], 1);
    expect(norm).toBe(0);
    expect(read(grads[0]!)).toEqual([0, 0]);
  });

  it('creates only its outputs', () => {
    const gs = [f64([1, 2], [2]), f64([3], [1])];
    const before = memory().numTensors;
    const { grads } = clipGradNorm(gs, 0.1);
    expect(memory().numTensors).toBe(before + 2);
    grads.forEach((g) => g.dispose());
    expect(memory().numTensors).toBe(before);
  });

  it('bad arguments', () => {
    const g = f64([1], [1]);
    expectInvalid(() => clipGradNorm([g], 0), 'maxNorm');
    expectInvalid(() => clipGradNorm([g], -1), 'maxNorm');
    expectInvalid(() => clipGradNorm([g], NaN), 'maxNorm');
    expectInvalid(() => clipGradNorm([g], '1' as never), 'maxNorm');
    expectInvalid(() => clipGradNorm([g], 1, -1), 'eps');
    expectInvalid(() => clipGradNorm(g as never, 1), 'grads');
    expectInvalid(() => clipGradNorm([g, 2 as never], 1), 'grads[1]');
  });
});

// ---- EMA ------------------------------------------------------------------------------------

describe('EMA', () => {
  /** Runs `steps` updates with the parameters changed before each, checked against plain numbers. */
  function check(decay: number, warmup: number | undefined, expectedDecays: number[] | null, seed: number): void {
    const gen = new Generator(seed);
    const init = [gen.normalArray(6, 'float64'), gen.normalArray(1, 'float64')];
    const shapes = [[2, 3], []];
    const params = init.map((v, i) => var64(v, shapes[i]!));
    const ema = new EMA(params, warmup === undefined ? { decay } : { decay, warmup });
    const shadow = init.map((v) => Array.from(v));
    const decays: number[] = [];
    const steps = expectedDecays?.length ?? 8;
    for (let t = 0; t < steps; t++) {
      const next = init.map((v) => Array.from(gen.normalArray(v.length, 'float64')));
      params.forEach((p, i) => p.assign(f64(next[i]!, shapes[i]!)));
      // The manual recurrence (LDM's LitEma): the n-th update, n = t + 1, uses min(decay, (1 + n) / (warmup + n)).
      const d = warmup === undefined ? decay : Math.min(decay, (2 + t) / (warmup + 1 + t));
      expect(ema.currentDecay()).toBe(d);
      decays.push(d);
      ema.update();
      expect(ema.stepCount).toBe(t + 1);
      shadow.forEach((s, i) => s.forEach((x, j) => (s[j] = d * x + (1 - d) * next[i]![j]!)));
      ema.shadow.forEach((s, i) => expectAllClose(read(s), shadow[i]!));
    }
    if (expectedDecays) expectedDecays.forEach((e, t) => expect(decays[t]).toBeCloseTo(e, 15));
    ema.dispose();
    params.forEach((p) => p.dispose());
  }

  it('fixed decay follows shadow = d * shadow + (1 - d) * param', () => check(0.9, undefined, null, 21));
  it('default decay is 0.9999', () => {
    const p = var64([1], [1]);
    expect(new EMA([p]).decay).toBe(0.9999);
    expect(new EMA([p]).currentDecay()).toBe(0.9999);
    check(0.9999, undefined, null, 22);
  });
  it('warmup ramps (1 + n) / (warmup + n) for the n-th update, capped at decay', () => {
    // warmup 3, decay 0.6: 2/4, 3/5 = 0.6, then capped at 0.6.
    check(0.6, 3, [0.5, 0.6, 0.6, 0.6, 0.6], 23);
  });
  it('warmup 10 as in the LDM code (uncapped for these steps)', () => {
    check(0.9999, 10, [2 / 11, 3 / 12, 4 / 13, 5 / 14, 6 / 15, 7 / 16], 24);
  });
  it('decay 0 tracks the parameter; decay 1 freezes the shadow', () => {
    const p = var64([1, 2], [2]);
    const e0 = new EMA([p], { decay: 0 });
    const e1 = new EMA([p], { decay: 1 });
    p.assign(f64([5, -5], [2]));
    e0.update();
    e1.update();
    expect(read(e0.shadow[0]!)).toEqual([5, -5]);
    expect(read(e1.shadow[0]!)).toEqual([1, 2]);
    e0.dispose();
    e1.dispose();
  });

  it('the shadow is a copy, not an alias of the parameter', () => {
    const p = var64([1, 2], [2]);
    const ema = new EMA([p], { decay: 0.5 });
    expect(ema.shadow[0]).not.toBe(p);
    expect(ema.shadow[0]!.isVariable).toBe(true);
    p.assign(f64([3, 4], [2]));
    expect(read(ema.shadow[0]!)).toEqual([1, 2]);
    ema.update();
    expect(read(ema.shadow[0]!)).toEqual([2, 3]);
    ema.dispose();
  });

  it('copyTo writes the averages into the parameters (default) or other targets', () => {
    const p = var64([0, 10], [2]);
    const ema = new EMA([p], { decay: 0.75 });
    p.assign(f64([4, 2], [2]));
    ema.update(); // shadow = 0.75 * [0, 10] + 0.25 * [4, 2] = [1, 8]
    expect(read(ema.shadow[0]!)).toEqual([1, 8]);
    const other = var64([0, 0], [2]);
    ema.copyTo([other]);
    expect(read(other)).toEqual([1, 8]);
    expect(read(p)).toEqual([4, 2]);
    ema.copyTo();
    expect(read(p)).toEqual([1, 8]);
    // Later changes to the parameter do not reach the shadow, and vice versa.
    p.assign(f64([100, 100], [2]));
    expect(read(ema.shadow[0]!)).toEqual([1, 8]);
    expect(read(other)).toEqual([1, 8]);
    ema.dispose();
    other.dispose();
  });

  it('copyTo checks its targets', () => {
    const p = var64([0, 1], [2]);
    const q = var64([2], [1]);
    const ema = new EMA([p, q]);
    expectInvalid(() => ema.copyTo([p]), 'targets', '(2)');
    let err: unknown;
    try {
      ema.copyTo([p, var64([1, 2], [2])]);
    } catch (e) {
      err = e;
    }
    expect(ShapeError.isInstance(err)).toBe(true);
    expect((err as Error).message).toContain('targets[1]');
    expect(read(p)).toEqual([0, 1]);
    ema.dispose();
  });

  it('update creates no lasting tensors; dispose frees the shadows', () => {
    const ps = [var64([1, 2, 3], [3]), var64([4], [1])];
    const before = memory().numTensors;
    const ema = new EMA(ps, { decay: 0.9, warmup: 5 });
    expect(memory().numTensors).toBe(before + 2);
    for (let i = 0; i < 4; i++) ema.update();
    ema.copyTo();
    expect(memory().numTensors).toBe(before + 2);
    ema.dispose();
    expect(memory().numTensors).toBe(before);
    expect(ema.shadow.every((s) => s.isDisposed)).toBe(true);
    expect(ps.every((p) => !p.isDisposed)).toBe(true);
  });

  it('bad arguments', () => {
    const p = var64([1], [1]);
    expectInvalid(() => new EMA([p], { decay: 1.5 }), 'decay');
    expectInvalid(() => new EMA([p], { decay: -0.1 }), 'decay');
    expectInvalid(() => new EMA([p], { decay: NaN }), 'decay');
    expectInvalid(() => new EMA([p], { warmup: 0 }), 'warmup');
    expectInvalid(() => new EMA([p], { warmup: -10 }), 'warmup');
    expectInvalid(() => new EMA([p], { warmup: NaN }), 'warmup');
    expectInvalid(() => new EMA([]), 'params');
    expectInvalid(() => new EMA([{} as never]), 'params[0]');
  });
});

// ---- schedules -------------------------------------------------------------------------------

describe('warmupLinearSchedule', () => {
  // lr 1, 4 warmup steps, decay to 0.2 at step 12.
  const f = warmupLinearSchedule({ lr: 1, warmupSteps: 4, totalSteps: 12, minLr: 0.2 });
  it.each([
    [0, 0.25], // first warmup step: lr * 1 / 4
    [1, 0.5],
    [2, 0.75], // mid-warmup
    [3, 1], // last warmup step reaches lr
    [4, 1], // end of warmup: decay starts at lr
    [6, 0.8], // t = 2 / 8: 1 - 0.8 * 0.25
    [8, 0.6], // middle of the decay: halfway between 1 and 0.2
    [12, 0.2], // end
    [13, 0.2], // beyond the end: held at minLr
    [1000, 0.2],
  ])('step %i -> %f', (step, expected) => {
    expect(f(step)).toBeCloseTo(expected, 14);
  });

  it('without warmup and minLr: lr at step 0, linear to 0', () => {
    const g = warmupLinearSchedule({ lr: 0.01, totalSteps: 100 });
    expect(g(0)).toBe(0.01);
    expect(g(25)).toBeCloseTo(0.0075, 16);
    expect(g(50)).toBeCloseTo(0.005, 16);
    expect(g(100)).toBe(0);
    expect(g(150)).toBe(0);
  });
});

describe('warmupCosineSchedule', () => {
  const f = warmupCosineSchedule({ lr: 1, warmupSteps: 4, totalSteps: 12, minLr: 0.2 });
  it.each([
    [0, 0.25],
    [2, 0.75],
    [3, 1],
    [4, 1], // end of warmup: cos(0) = 1
    [6, 0.2 + 0.4 * (1 + Math.SQRT1_2)], // t = 1/4: cos(pi/4)
    [8, 0.6], // midpoint: cos(pi/2) = 0, halfway between lr and minLr
    [10, 0.2 + 0.4 * (1 - Math.SQRT1_2)], // t = 3/4
    [12, 0.2],
    [20, 0.2],
  ])('step %i -> %f', (step, expected) => {
    expect(f(step)).toBeCloseTo(expected, 14);
  });

  it('is symmetric about the midpoint and decreasing', () => {
    const g = warmupCosineSchedule({ lr: 3e-4, totalSteps: 1000, minLr: 1e-5 });
    const mid = (3e-4 + 1e-5) / 2;
    expect(g(0)).toBeCloseTo(3e-4, 18);
    expect(g(500)).toBeCloseTo(mid, 18);
    for (const k of [100, 250, 400]) expect(g(500 - k) - mid).toBeCloseTo(mid - g(500 + k), 18);
    for (let s = 1; s <= 1000; s += 37) expect(g(s)).toBeLessThan(g(s - 1));
  });
});

describe('constantSchedule', () => {
  it('with warmup', () => {
    const f = constantSchedule(0.3, 3);
    expect(f(0)).toBeCloseTo(0.1, 16);
    expect(f(1)).toBeCloseTo(0.2, 16);
    expect(f(2)).toBe(0.3);
    expect(f(3)).toBe(0.3);
    expect(f(1e6)).toBe(0.3);
  });
  it('without warmup', () => {
    const f = constantSchedule(0.02);
    expect([0, 1, 50, 1e9].map(f)).toEqual([0.02, 0.02, 0.02, 0.02]);
  });
});

describe('schedule arguments', () => {
  for (const [name, make] of [
    ['warmupLinearSchedule', warmupLinearSchedule],
    ['warmupCosineSchedule', warmupCosineSchedule],
  ] as const) {
    it(name, () => {
      expectInvalid(() => make({ lr: -1, totalSteps: 10 }), name, 'lr');
      expectInvalid(() => make({ lr: NaN, totalSteps: 10 }), 'lr');
      expectInvalid(() => make({ lr: Infinity, totalSteps: 10 }), 'lr');
      expectInvalid(() => make({ lr: 1, warmupSteps: -1, totalSteps: 10 }), 'warmupSteps');
      expectInvalid(() => make({ lr: 1, warmupSteps: 1.5, totalSteps: 10 }), 'warmupSteps');
      expectInvalid(() => make({ lr: 1, warmupSteps: 10, totalSteps: 10 }), 'totalSteps');
      expectInvalid(() => make({ lr: 1, warmupSteps: 5, totalSteps: 3 }), 'totalSteps');
      expectInvalid(() => make({ lr: 1, totalSteps: 10.5 }), 'totalSteps');
      expectInvalid(() => make({ lr: 1, totalSteps: undefined as never }), 'totalSteps');
      expectInvalid(() => make({ lr: 1, totalSteps: 10, minLr: -0.1 }), 'minLr');
      expectInvalid(() => make({ lr: 1, totalSteps: 10, minLr: NaN }), 'minLr');
      expect(make({ lr: 0, totalSteps: 1 })(0)).toBe(0);
    });
  }
  it('constantSchedule', () => {
    expectInvalid(() => constantSchedule(-1), 'constantSchedule', 'lr');
    expectInvalid(() => constantSchedule(NaN), 'lr');
    expectInvalid(() => constantSchedule(1, -2), 'warmupSteps');
    expectInvalid(() => constantSchedule(1, 2.5), 'warmupSteps');
  });
});

describe('EMA.loadState', () => {
  it('resumes exactly: k updates, save, restore into a new EMA, m more = k + m updates in one go', () => {
    const run = (updates: number[]) => {
      const p = variable(tensor([1, -2], [2], { dtype: 'float64' }));
      const ema = new EMA([p], { decay: 0.9, warmup: 4 });
      for (const u of updates) {
        p.assign(tensor([u, -u], [2], { dtype: 'float64' }));
        ema.update();
      }
      return { p, ema };
    };
    const whole = run([3, 1, 4, 1, 5, 9]);
    const first = run([3, 1, 4]);
    const p2 = variable(tensor([4, -4], [2], { dtype: 'float64' }));
    const resumed = new EMA([p2], { decay: 0.9, warmup: 4 });
    resumed.loadState(first.ema.shadow, first.ema.stepCount);
    expect(resumed.stepCount).toBe(3);
    for (const u of [1, 5, 9]) {
      p2.assign(tensor([u, -u], [2], { dtype: 'float64' }));
      resumed.update();
    }
    expect(Array.from(resumed.shadow[0]!.dataSync())).toEqual(Array.from(whole.ema.shadow[0]!.dataSync()));
    expect(() => resumed.loadState(first.ema.shadow, -1)).toThrow('EMA.loadState: stepCount must be a non-negative integer, got -1');
    expect(() => resumed.loadState([tensor([1, 2, 3], [3], { dtype: 'float64' })], 1)).toThrow('EMA.loadState: shadow[0] must have shape [2], got [3]');
  });
});
