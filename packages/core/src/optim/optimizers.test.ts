// @denoise/core — tests for optim/optimizers.ts. Every update is checked against an independent
// reference of torch.optim's update rules written below with plain JS numbers on Float64Array
// (no tensor ops), run on float64 variables of the float64 reference backend.

import { describe, it, expect } from 'vitest';
import { DTypeError, InvalidArgumentError, ShapeError, DenoiseError } from '../errors/index.js';
import { Generator } from '../random/index.js';
import { tensor, variable } from '../ops/creation.js';
import type { Tensor } from '../tensor/tensor.js';
import { memory } from '../index.js';
import { SGD, Adam, AdamW, Adagrad, type Optimizer } from './optimizers.js';

// ---- helpers -------------------------------------------------------------------------------

const f64 = (values: ArrayLike<number>, shape: readonly number[]): Tensor => tensor(Float64Array.from(values), shape, { dtype: 'float64' });
const var64 = (values: ArrayLike<number>, shape: readonly number[]): Tensor => {
  const t = f64(values, shape);
  const v = variable(t);
  t.dispose();
  return v;
};
const read = (t: Tensor): Float64Array => Float64Array.from(t.dataSync() as Float64Array);

/** |a - e| <= rel * max(|e|, 1e-3), element by element. */
function expectAllClose(actual: ArrayLike<number>, expected: ArrayLike<number>, rel = 1e-12, what = ''): void {
  expect(actual.length, `${what} length`).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    const tol = rel * Math.max(Math.abs(e), 1e-3);
    if (!(Math.abs(a - e) <= tol)) {
      throw new Error(`${what}[${i}]: got ${a}, expected ${e} (|diff| ${Math.abs(a - e)} > ${tol})`);
    }
  }
}

function expectThrowsKind(fn: () => unknown, cls: { isInstance(e: unknown): boolean; name: string }, ...fragments: string[]): void {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err, `expected ${cls.name}`).toBeDefined();
  expect(cls.isInstance(err), `expected ${cls.name}, got ${String(err)}`).toBe(true);
  for (const f of fragments) expect((err as Error).message).toContain(f);
}

// ---- the independent reference (torch.optim semantics, plain numbers) ------------------------

interface RefOptimizer {
  /** Updates `params` in place from `grads` with learning rate `lr`. */
  step(params: Float64Array[], grads: Float64Array[], lr: number): void;
}

function refSGD(o: { momentum?: number; nesterov?: boolean; weightDecay?: number }): RefOptimizer {
  const momentum = o.momentum ?? 0;
  const wd = o.weightDecay ?? 0;
  const bufs: Array<Float64Array | undefined> = [];
  return {
    step(params, grads, lr) {
      params.forEach((p, k) => {
        const g = grads[k]!;
        // torch: momentum_buffer is None on the first step, then buf = clone(d).
        const first = bufs[k] === undefined;
        const buf = (bufs[k] ??= new Float64Array(p.length));
        for (let i = 0; i < p.length; i++) {
          let d = g[i]!;
          if (wd !== 0) d = d + wd * p[i]!;
          if (momentum !== 0) {
            buf[i] = first ? d : momentum * buf[i]! + d;
            d = o.nesterov ? d + momentum * buf[i]! : buf[i]!;
          }
          p[i] = p[i]! - lr * d;
        }
      });
    },
  };
}

function refAdam(o: { beta1?: number; beta2?: number; eps?: number; weightDecay?: number }, decoupled: boolean): RefOptimizer {
  const b1 = o.beta1 ?? 0.9;
  const b2 = o.beta2 ?? 0.999;
  const eps = o.eps ?? 1e-8;
  const wd = o.weightDecay ?? (decoupled ? 0.01 : 0);
  const ms: Float64Array[] = [];
  const vs: Float64Array[] = [];
  let t = 0;
  return {
    step(params, grads, lr) {
      t++;
      params.forEach((p, k) => {
        const m = (ms[k] ??= new Float64Array(p.length));
        const v = (vs[k] ??= new Float64Array(p.length));
        const g = grads[k]!;
        for (let i = 0; i < p.length; i++) {
          let gi = g[i]!;
          let pi = p[i]!;
          if (wd !== 0) {
            if (decoupled) pi = pi * (1 - lr * wd);
            else gi = gi + wd * p[i]!;
          }
          m[i] = b1 * m[i]! + (1 - b1) * gi;
          v[i] = b2 * v[i]! + (1 - b2) * gi * gi;
          const bc1 = 1 - b1 ** t;
          const bc2 = 1 - b2 ** t;
          const denom = Math.sqrt(v[i]!) / Math.sqrt(bc2) + eps;
          p[i] = pi - (lr / bc1) * (m[i]! / denom);
        }
      });
    },
  };
}

function refAdagrad(o: { eps?: number; initialAccumulator?: number; weightDecay?: number; lrDecay?: number }): RefOptimizer {
  const eps = o.eps ?? 1e-10;
  const init = o.initialAccumulator ?? 0;
  const wd = o.weightDecay ?? 0;
  const lrDecay = o.lrDecay ?? 0;
  const sums: Float64Array[] = [];
  let t = 0;
  return {
    step(params, grads, lr) {
      t++;
      const clr = lr / (1 + (t - 1) * lrDecay);
      params.forEach((p, k) => {
        const s = (sums[k] ??= new Float64Array(p.length).fill(init));
        const g = grads[k]!;
        for (let i = 0; i < p.length; i++) {
          const gi = wd !== 0 ? g[i]! + wd * p[i]! : g[i]!;
          s[i] = s[i]! + gi * gi;
          p[i] = p[i]! - (clr * gi) / (Math.sqrt(s[i]!) + eps);
        }
      });
    },
  };
}

// ---- a shared driver ---------------------------------------------------------------------------

const SHAPES: number[][] = [[2, 3], [4], []];

interface RunResult {
  initial: Float64Array[];
  actual: Float64Array[];
  expected: Float64Array[];
}

/**
 * Runs `steps` steps of `make` and of the reference on the same seeded parameters and gradients,
 * with a learning rate that changes every step (as a schedule would set it).
 */
function runBoth(make: (params: Tensor[]) => Optimizer, ref: RefOptimizer, steps: number, seed: number, lr0: number): RunResult {
  const gen = new Generator(seed);
  const init = SHAPES.map((s) => gen.normalArray(s.reduce((a, b) => a * b, 1), 'float64'));
  const params = init.map((v, i) => var64(v, SHAPES[i]!));
  const host = init.map((v) => Float64Array.from(v));
  const opt = make(params);
  for (let t = 0; t < steps; t++) {
    // Varying gradients (different scales per step, sometimes tiny), from the seeded generator.
    const scale = t % 3 === 2 ? 1e-3 : 1 + t * 0.5;
    const gHost = SHAPES.map((s) => Float64Array.from(gen.normalArray(s.reduce((a, b) => a * b, 1), 'float64'), (x) => x * scale));
    const g = gHost.map((v, i) => f64(v, SHAPES[i]!));
    const lr = lr0 * (1 + 0.25 * Math.sin(t));
    opt.lr = lr;
    opt.step(g);
    ref.step(host, gHost, lr);
    for (const x of g) x.dispose();
    expect(opt.stepCount).toBe(t + 1);
  }
  const actual = params.map(read);
  opt.dispose();
  for (const p of params) p.dispose();
  return { initial: init.map((v) => Float64Array.from(v)), actual, expected: host };
}

function expectRun(r: RunResult, rel = 1e-12): void {
  r.actual.forEach((a, i) => expectAllClose(a, r.expected[i]!, rel, `param ${i}`));
  // Every entry moved well beyond the tolerance, so the comparison is not vacuous.
  r.actual.forEach((a, i) => a.forEach((x, j) => expect(Math.abs(x - r.initial[i]![j]!)).toBeGreaterThan(1e-6)));
}

// ---- hand-computed first steps (checks the reference itself) ----------------------------------

describe('hand-computed updates on a scalar', () => {
  it('SGD with momentum: buffer starts as the gradient', () => {
    const p = var64([1], [1]);
    const opt = new SGD([p], { lr: 0.1, momentum: 0.9 });
    opt.step([f64([1], [1])]); // buf = 1, p = 1 - 0.1
    expect(read(p)[0]).toBeCloseTo(0.9, 15);
    opt.step([f64([2], [1])]); // buf = 0.9 * 1 + 2 = 2.9, p = 0.9 - 0.29
    expect(read(p)[0]).toBeCloseTo(0.61, 15);
    opt.dispose();
  });

  it('SGD with Nesterov momentum', () => {
    const p = var64([1], [1]);
    const opt = new SGD([p], { lr: 0.1, momentum: 0.9, nesterov: true });
    opt.step([f64([1], [1])]); // buf = 1, d = 1 + 0.9 = 1.9
    expect(read(p)[0]).toBeCloseTo(0.81, 15);
    opt.step([f64([2], [1])]); // buf = 2.9, d = 2 + 2.61 = 4.61
    expect(read(p)[0]).toBeCloseTo(0.349, 15);
    opt.dispose();
  });

  it('SGD weight decay adds wd * p to the gradient', () => {
    const p = var64([2], [1]);
    const opt = new SGD([p], { lr: 0.5, weightDecay: 0.1 });
    opt.step([f64([1], [1])]); // d = 1 + 0.2, p = 2 - 0.6
    expect(read(p)[0]).toBeCloseTo(1.4, 15);
  });

  it('Adam: the first step moves by lr * g / (|g| + eps)', () => {
    const p = var64([1, -1, 0.5], [3]);
    const opt = new Adam([p], { lr: 0.01 });
    opt.step([f64([4, -0.25, 1e-9], [3])]);
    const out = read(p);
    expect(out[0]).toBeCloseTo(1 - 0.01 * (4 / (4 + 1e-8)), 14);
    expect(out[1]).toBeCloseTo(-1 + 0.01 * (0.25 / (0.25 + 1e-8)), 14);
    // A tiny gradient is damped by eps: 1e-9 / (1e-9 + 1e-8) = 1 / 11.
    expect(out[2]).toBeCloseTo(0.5 - 0.01 / 11, 14);
    opt.dispose();
  });

  it('AdamW decays the parameter before the Adam step; Adam puts decay in the gradient', () => {
    const pw = var64([2], [1]);
    const pa = var64([2], [1]);
    const w = new AdamW([pw], { lr: 0.1, weightDecay: 0.5 });
    const a = new Adam([pa], { lr: 0.1, weightDecay: 0.5 });
    w.step([f64([3], [1])]);
    a.step([f64([3], [1])]);
    // AdamW: p = 2 * (1 - 0.05) - 0.1 * 3 / (3 + 1e-8)
    expect(read(pw)[0]).toBeCloseTo(1.9 - 0.1 * (3 / (3 + 1e-8)), 14);
    // Adam: g = 3 + 1 = 4, p = 2 - 0.1 * 4 / (4 + 1e-8)
    expect(read(pa)[0]).toBeCloseTo(2 - 0.1 * (4 / (4 + 1e-8)), 14);
    w.dispose();
    a.dispose();
  });

  it('AdamW defaults weightDecay to 0.01 and Adam to 0', () => {
    const p = var64([1], [1]);
    expect(new AdamW([p], { lr: 1e-3 }).weightDecay).toBe(0.01);
    expect(new Adam([p], { lr: 1e-3 }).weightDecay).toBe(0);
    expect(new Adagrad([p], { lr: 1e-3 }).eps).toBe(1e-10);
  });

  it('Adagrad: accumulator, lr decay and initial value', () => {
    const p = var64([1], [1]);
    const opt = new Adagrad([p], { lr: 0.1, lrDecay: 0.5, initialAccumulator: 5 });
    const eps = 1e-10;
    opt.step([f64([2], [1])]); // sum = 5 + 4 = 9, clr = 0.1, p = 1 - 0.1 * 2 / (3 + eps)
    const p1 = 1 - (0.1 * 2) / (3 + eps);
    expect(read(p)[0]).toBeCloseTo(p1, 15);
    opt.step([f64([4], [1])]); // sum = 25, clr = 0.1 / (1 + 0.5), p -= clr * 4 / (5 + eps)
    expect(read(p)[0]).toBeCloseTo(p1 - ((0.1 / 1.5) * 4) / (5 + eps), 15);
    opt.dispose();
  });
});

// ---- against the reference, many steps ----------------------------------------------------

describe('SGD matches torch.optim.SGD', () => {
  const cases: Array<[string, { momentum?: number; nesterov?: boolean; weightDecay?: number }]> = [
    ['plain', {}],
    ['weight decay', { weightDecay: 0.05 }],
    ['momentum', { momentum: 0.9 }],
    ['momentum + weight decay', { momentum: 0.8, weightDecay: 0.01 }],
    ['nesterov', { momentum: 0.9, nesterov: true }],
    ['nesterov + weight decay', { momentum: 0.7, nesterov: true, weightDecay: 0.1 }],
  ];
  cases.forEach(([name, o], k) => {
    it(name, () => {
      expectRun(runBoth((ps) => new SGD(ps, { lr: 0.05, ...o }), refSGD(o), 12, 100 + k, 0.05));
    });
  });
});

describe('Adam matches torch.optim.Adam (L2 weight decay)', () => {
  const cases: Array<[string, { beta1?: number; beta2?: number; eps?: number; weightDecay?: number }]> = [
    ['defaults', {}],
    ['custom betas and eps', { beta1: 0.5, beta2: 0.9, eps: 1e-3 }],
    ['weight decay', { weightDecay: 0.1 }],
    ['beta1 = 0', { beta1: 0, beta2: 0.99 }],
  ];
  cases.forEach(([name, o], k) => {
    it(name, () => {
      expectRun(runBoth((ps) => new Adam(ps, { lr: 0.01, ...o }), refAdam(o, false), 15, 200 + k, 0.01));
    });
  });
});

describe('AdamW matches torch.optim.AdamW (decoupled decay)', () => {
  const cases: Array<[string, { beta1?: number; beta2?: number; eps?: number; weightDecay?: number }]> = [
    ['default decay 0.01', {}],
    ['decay 0.2, custom betas', { weightDecay: 0.2, beta1: 0.8, beta2: 0.95 }],
    ['no decay equals Adam', { weightDecay: 0 }],
  ];
  cases.forEach(([name, o], k) => {
    it(name, () => {
      expectRun(runBoth((ps) => new AdamW(ps, { lr: 0.02, ...o }), refAdam(o, true), 15, 300 + k, 0.02));
    });
  });

  it('differs from Adam with the same weightDecay', () => {
    const a = runBoth((ps) => new Adam(ps, { lr: 0.02, weightDecay: 0.2 }), refAdam({ weightDecay: 0.2 }, false), 5, 310, 0.02);
    const w = runBoth((ps) => new AdamW(ps, { lr: 0.02, weightDecay: 0.2 }), refAdam({ weightDecay: 0.2 }, true), 5, 310, 0.02);
    expect(Math.abs(a.actual[0]![0]! - w.actual[0]![0]!)).toBeGreaterThan(1e-6);
  });
});

describe('Adagrad matches torch.optim.Adagrad', () => {
  const cases: Array<[string, { eps?: number; initialAccumulator?: number; weightDecay?: number; lrDecay?: number }]> = [
    ['defaults', {}],
    ['lr decay', { lrDecay: 0.1 }],
    ['initial accumulator', { initialAccumulator: 0.5 }],
    ['weight decay + eps', { weightDecay: 0.05, eps: 1e-6 }],
    ['everything', { lrDecay: 0.3, initialAccumulator: 0.1, weightDecay: 0.02, eps: 1e-4 }],
  ];
  cases.forEach(([name, o], k) => {
    it(name, () => {
      expectRun(runBoth((ps) => new Adagrad(ps, { lr: 0.1, ...o }), refAdagrad(o), 20, 400 + k, 0.1));
    });
  });
});

// ---- convergence ----------------------------------------------------------------------------

describe('fits y = 3x - 1', () => {
  // Fixed inputs from the seeded generator; MSE gradients computed on the host.
  const xs = Array.from(new Generator(7).uniformArray(16, 'float64'), (u) => 4 * u - 2);
  const ys = xs.map((x) => 3 * x - 1);

  function fit(make: (ps: Tensor[]) => Optimizer, steps: number): [number, number] {
    const w = var64([0], [1]);
    const b = var64([0], [1]);
    const opt = make([w, b]);
    for (let s = 0; s < steps; s++) {
      const wv = w.dataSync()[0]!;
      const bv = b.dataSync()[0]!;
      let gw = 0;
      let gb = 0;
      xs.forEach((x, i) => {
        const r = wv * x + bv - ys[i]!;
        gw += (2 * r * x) / xs.length;
        gb += (2 * r) / xs.length;
      });
      const g = [f64([gw], [1]), f64([gb], [1])];
      opt.step(g);
      g.forEach((t) => t.dispose());
    }
    const out: [number, number] = [w.dataSync()[0]!, b.dataSync()[0]!];
    opt.dispose();
    w.dispose();
    b.dispose();
    return out;
  }

  const cases: Array<[string, (ps: Tensor[]) => Optimizer, number]> = [
    ['SGD', (ps) => new SGD(ps, { lr: 0.05 }), 500],
    ['SGD momentum', (ps) => new SGD(ps, { lr: 0.02, momentum: 0.9 }), 500],
    ['SGD nesterov', (ps) => new SGD(ps, { lr: 0.02, momentum: 0.9, nesterov: true }), 500],
    ['Adam', (ps) => new Adam(ps, { lr: 0.05 }), 1500],
    ['AdamW', (ps) => new AdamW(ps, { lr: 0.05, weightDecay: 0 }), 1500],
    ['Adagrad', (ps) => new Adagrad(ps, { lr: 0.5 }), 1500],
  ];
  for (const [name, make, steps] of cases) {
    it(name, () => {
      const [w, b] = fit(make, steps);
      expect(Math.abs(w - 3)).toBeLessThan(1e-3);
      expect(Math.abs(b + 1)).toBeLessThan(1e-3);
    });
  }

  it('AdamW with its default decay still lands near the solution, pulled slightly toward 0', () => {
    const [w, b] = fit((ps) => new AdamW(ps, { lr: 0.05 }), 1500);
    expect(Math.abs(w - 3)).toBeLessThan(0.05);
    expect(Math.abs(b + 1)).toBeLessThan(0.05);
  });
});

// ---- argument checking ------------------------------------------------------------------------

describe('bad options', () => {
  const p = var64([1, 2], [2]);
  const cases: Array<[string, () => unknown, string]> = [
    ['SGD lr < 0', () => new SGD([p], { lr: -1 }), 'options.lr'],
    ['SGD lr NaN', () => new SGD([p], { lr: NaN }), 'options.lr'],
    ['SGD lr Infinity', () => new SGD([p], { lr: Infinity }), 'options.lr'],
    ['SGD lr missing', () => new SGD([p], {} as never), 'options.lr'],
    ['SGD momentum < 0', () => new SGD([p], { lr: 0.1, momentum: -0.5 }), 'options.momentum'],
    ['SGD weightDecay < 0', () => new SGD([p], { lr: 0.1, weightDecay: -1 }), 'options.weightDecay'],
    ['SGD nesterov without momentum', () => new SGD([p], { lr: 0.1, nesterov: true }), 'nesterov'],
    ['SGD no options', () => new SGD([p], undefined as never), 'options'],
    ['Adam lr string', () => new Adam([p], { lr: '0.1' as never }), 'options.lr'],
    ['Adam beta1 = 1', () => new Adam([p], { lr: 0.1, beta1: 1 }), 'options.beta1'],
    ['Adam beta2 < 0', () => new Adam([p], { lr: 0.1, beta2: -0.1 }), 'options.beta2'],
    ['Adam beta2 NaN', () => new Adam([p], { lr: 0.1, beta2: NaN }), 'options.beta2'],
    ['Adam beta1 string', () => new Adam([p], { lr: 0.1, beta1: '0.5' as never }), 'options.beta1'],
    ['Adam eps = 0', () => new Adam([p], { lr: 0.1, eps: 0 }), 'options.eps'],
    ['Adam weightDecay < 0', () => new Adam([p], { lr: 0.1, weightDecay: -0.1 }), 'options.weightDecay'],
    ['AdamW beta1 > 1', () => new AdamW([p], { lr: 0.1, beta1: 2 }), 'AdamW: options.beta1'],
    ['Adagrad eps = 0', () => new Adagrad([p], { lr: 0.1, eps: 0 }), 'options.eps'],
    ['Adagrad initialAccumulator < 0', () => new Adagrad([p], { lr: 0.1, initialAccumulator: -1 }), 'options.initialAccumulator'],
    ['Adagrad lrDecay < 0', () => new Adagrad([p], { lr: 0.1, lrDecay: -1 }), 'options.lrDecay'],
    ['Adagrad weightDecay NaN', () => new Adagrad([p], { lr: 0.1, weightDecay: NaN }), 'options.weightDecay'],
    ['empty params', () => new SGD([], { lr: 0.1 }), 'params'],
    ['params not an array', () => new Adam(p as never, { lr: 0.1 }), 'params'],
    ['params[i] not a tensor', () => new Adagrad([3 as never], { lr: 0.1 }), 'params[0]'],
  ];
  for (const [name, fn, fragment] of cases) {
    it(name, () => expectThrowsKind(fn, InvalidArgumentError, fragment));
  }

  it('a plain tensor (not a variable) is rejected, naming its index', () => {
    const plain = f64([1], [1]);
    expectThrowsKind(() => new SGD([p, plain], { lr: 0.1 }), InvalidArgumentError, 'params[1]', 'variable');
    plain.dispose();
  });

  it('an int32 variable is rejected with a DTypeError', () => {
    const t = tensor([1, 2], [2], { dtype: 'int32' });
    const v = variable(t);
    expectThrowsKind(() => new Adam([v], { lr: 0.1 }), DTypeError, 'params[0]', 'int32');
    t.dispose();
    v.dispose();
  });

  it('a disposed parameter is rejected', () => {
    const v = var64([1], [1]);
    v.dispose();
    expect(() => new SGD([v], { lr: 0.1 })).toThrow(/disposed/);
  });

  it('an lr set to a bad value is caught at step time, before anything changes', () => {
    const q = var64([1, 2], [2]);
    const opt = new SGD([q], { lr: 0.1, momentum: 0.5 });
    opt.lr = -0.1;
    const g = f64([1, 1], [2]);
    expectThrowsKind(() => opt.step([g]), InvalidArgumentError, 'lr');
    expect(opt.stepCount).toBe(0);
    expect(Array.from(read(q))).toEqual([1, 2]);
    expect(Object.keys(opt.state())).toEqual([]);
    opt.dispose();
  });
});

describe('step with bad gradients', () => {
  function setup() {
    const a = var64([1, 2, 3, 4, 5, 6], [2, 3]);
    const b = var64([7], [1]);
    const opt = new Adam([a, b], { lr: 0.1 });
    return { a, b, opt };
  }

  it('wrong number of gradients', () => {
    const { a, b, opt } = setup();
    expectThrowsKind(() => opt.step([f64([1, 2, 3, 4, 5, 6], [2, 3])]), InvalidArgumentError, '(2)', 'got 1');
    expectThrowsKind(() => opt.step([]), InvalidArgumentError, 'got 0');
    expectThrowsKind(() => opt.step(undefined as never), InvalidArgumentError, 'grads');
    expect(opt.stepCount).toBe(0);
    opt.dispose();
    a.dispose();
    b.dispose();
  });

  it('wrong shape: ShapeError naming the gradient, nothing updated', () => {
    const { a, b, opt } = setup();
    const g0 = f64([1, 1, 1, 1, 1, 1], [2, 3]);
    const bad = f64([1, 1], [2]);
    expectThrowsKind(() => opt.step([g0, bad]), ShapeError, 'grads[1]', '[1]', '[2]');
    const transposed = f64([1, 1, 1, 1, 1, 1], [3, 2]);
    expectThrowsKind(() => opt.step([transposed, f64([1], [1])]), ShapeError, 'grads[0]');
    expect(opt.stepCount).toBe(0);
    // The first parameter, whose gradient was fine, was not updated either.
    expect(Array.from(read(a))).toEqual([1, 2, 3, 4, 5, 6]);
    expect(Array.from(read(b))).toEqual([7]);
    opt.dispose();
  });

  it('wrong dtype: DTypeError, nothing updated', () => {
    const { a, b, opt } = setup();
    const g0 = f64([1, 1, 1, 1, 1, 1], [2, 3]);
    const g1 = tensor([1], [1], { dtype: 'float32' });
    expectThrowsKind(() => opt.step([g0, g1]), DTypeError, 'grads[1]', 'float64', 'float32');
    expect(opt.stepCount).toBe(0);
    expect(Array.from(read(a))).toEqual([1, 2, 3, 4, 5, 6]);
    // A later good step then behaves as a first step (bias correction with t = 1).
    opt.step([g0, f64([1], [1])]);
    expect(read(b)[0]).toBeCloseTo(7 - 0.1 * (1 / (1 + 1e-8)), 14);
    opt.dispose();
  });

  it('a gradient that is not a tensor, or is disposed', () => {
    const { a, opt } = setup();
    expectThrowsKind(() => opt.step([f64([1, 1, 1, 1, 1, 1], [2, 3]), 1 as never]), InvalidArgumentError, 'grads[1]');
    const d = f64([1], [1]);
    d.dispose();
    expect(() => opt.step([f64([1, 1, 1, 1, 1, 1], [2, 3]), d])).toThrow(/disposed/);
    expect(opt.stepCount).toBe(0);
    expect(Array.from(read(a))).toEqual([1, 2, 3, 4, 5, 6]);
    opt.dispose();
  });
});

// ---- state / loadState ----------------------------------------------------------------------

describe('state() / loadState()', () => {
  const makers: Array<[string, (ps: Tensor[]) => Optimizer, string[]]> = [
    ['SGD momentum', (ps) => new SGD(ps, { lr: 0.05, momentum: 0.9, nesterov: true, weightDecay: 0.01 }), ['momentum']],
    ['Adam', (ps) => new Adam(ps, { lr: 0.01, weightDecay: 0.05 }), ['m', 'v']],
    ['AdamW', (ps) => new AdamW(ps, { lr: 0.01 }), ['m', 'v']],
    ['Adagrad', (ps) => new Adagrad(ps, { lr: 0.1, lrDecay: 0.2, initialAccumulator: 0.3 }), ['sum']],
  ];

  for (const [name, make, kinds] of makers) {
    it(`${name}: a restored optimizer resumes identically`, () => {
      const gen = new Generator(900);
      const shapes = [[3, 2], [5]];
      const n = (s: number[]) => s.reduce((x, y) => x * y, 1);
      const grads = Array.from({ length: 10 }, () => shapes.map((s) => gen.normalArray(n(s), 'float64')));
      const paramsA = shapes.map((s) => var64(gen.normalArray(n(s), 'float64'), s));
      const a = make(paramsA);
      const k = 4;
      const stepWith = (opt: Optimizer, t: number) => {
        const g = grads[t]!.map((v, i) => f64(v, shapes[i]!));
        opt.step(g);
        g.forEach((x) => x.dispose());
      };
      for (let t = 0; t < k; t++) stepWith(a, t);

      const state = a.state();
      expect(Object.keys(state).sort()).toEqual(kinds.flatMap((kind) => [0, 1].map((i) => `${kind}.${i}`)).sort());
      for (const [key, t] of Object.entries(state)) expect(t.shape).toEqual(shapes[Number(key.split('.')[1])]);

      // B: fresh parameters with A's current values, state restored from A.
      const paramsB = paramsA.map((p) => var64(read(p), p.shape));
      const b = make(paramsB);
      b.loadState(state, a.stepCount);
      expect(b.stepCount).toBe(k);
      // loadState copies: B's state tensors are not A's.
      for (const [key, t] of Object.entries(b.state())) {
        expect(t).not.toBe(state[key]);
        expect(Array.from(read(t))).toEqual(Array.from(read(state[key]!)));
      }
      for (let t = k; t < 10; t++) {
        stepWith(a, t);
        stepWith(b, t);
      }
      paramsA.forEach((p, i) => expect(Array.from(read(paramsB[i]!))).toEqual(Array.from(read(p))));
      a.dispose();
      b.dispose();
      [...paramsA, ...paramsB].forEach((p) => p.dispose());
    });
  }

  it('without the restore the continuation differs (the state matters)', () => {
    const pA = var64([1, -2], [2]);
    const pB = var64([1, -2], [2]);
    const a = new Adam([pA], { lr: 0.1 });
    const b = new Adam([pB], { lr: 0.1 });
    a.step([f64([1, 1], [2])]);
    b.step([f64([1, 1], [2])]);
    const fresh = new Adam([pB], { lr: 0.1 });
    a.step([f64([-3, 0.5], [2])]);
    fresh.step([f64([-3, 0.5], [2])]);
    expect(read(pA)[0]).not.toBe(read(pB)[0]);
    a.dispose();
    b.dispose();
    fresh.dispose();
  });

  it('SGD: restored momentum is used even when stepCount is given as 0', () => {
    const p1 = var64([1], [1]);
    const p2 = var64([1], [1]);
    const a = new SGD([p1], { lr: 0.1, momentum: 0.9 });
    a.step([f64([1], [1])]); // buf = 1, p = 0.9
    const b = new SGD([p2], { lr: 0.1, momentum: 0.9 });
    b.loadState(a.state(), 0);
    p2.assign(f64([0.9], [1]));
    a.step([f64([2], [1])]);
    b.step([f64([2], [1])]); // buf = 0.9 + 2 = 2.9, not 2
    expect(read(p2)[0]).toBe(read(p1)[0]);
    expect(read(p2)[0]).toBeCloseTo(0.61, 15);
    a.dispose();
    b.dispose();
  });

  it('float32 state (e.g. from a float32 checkpoint) is cast to the float64 parameters', () => {
    const p = var64([1, 2], [2]);
    const opt = new Adam([p], { lr: 0.1 });
    const m = tensor([0.5, -0.25], [2], { dtype: 'float32' });
    const v = tensor([0.25, 1], [2], { dtype: 'float32' });
    opt.loadState({ 'm.0': m, 'v.0': v }, 3);
    const st = opt.state();
    expect(st['m.0']!.dtype).toBe('float64');
    expect(Array.from(read(st['m.0']!))).toEqual([0.5, -0.25]);
    // The loaded tensors are left alive and unchanged (the optimizer copied them).
    expect(m.isDisposed).toBe(false);
    expect(Array.from(m.dataSync())).toEqual([0.5, -0.25]);
    opt.dispose();
  });

  it('bad state is rejected before anything changes', () => {
    const p = var64([1, 2], [2]);
    const opt = new Adagrad([p], { lr: 0.1, initialAccumulator: 0.5 });
    opt.step([f64([1, 1], [2])]);
    const before = Array.from(read(opt.state()['sum.0']!));
    const good = f64([9, 9], [2]);
    expectThrowsKind(() => opt.loadState({ 'sum.0': good, bogus: good }, 1), InvalidArgumentError, 'bogus');
    expectThrowsKind(() => opt.loadState({ 'sum.0': good, 'sum.1': good }, 1), InvalidArgumentError, 'sum.1', 'parameter 1');
    expectThrowsKind(() => opt.loadState({ 'sum.0': good, 'm.0': good }, 1), InvalidArgumentError, 'm.0');
    expectThrowsKind(() => opt.loadState({ 'sum.0': f64([1, 2, 3], [3]) }, 1), ShapeError, 'sum.0', '[2]', '[3]');
    expectThrowsKind(() => opt.loadState({ 'sum.0': tensor([1, 2], [2], { dtype: 'int32' }) }, 1), DTypeError, 'sum.0');
    expectThrowsKind(() => opt.loadState({ 'sum.0': good }, -1), InvalidArgumentError, 'stepCount');
    expectThrowsKind(() => opt.loadState({ 'sum.0': good }, 1.5), InvalidArgumentError, 'stepCount');
    expect(Array.from(read(opt.state()['sum.0']!))).toEqual(before);
    expect(opt.stepCount).toBe(1);
    opt.dispose();
  });

  it('Adagrad: a slot created by a partial loadState starts from initialAccumulator', () => {
    const p0 = var64([1], [1]);
    const p1 = var64([1], [1]);
    const opt = new Adagrad([p0, p1], { lr: 0.1, initialAccumulator: 3 });
    opt.loadState({ 'sum.0': f64([7], [1]) }, 0);
    const st = opt.state();
    expect(read(st['sum.0']!)[0]).toBe(7);
    expect(read(st['sum.1']!)[0]).toBe(3);
    opt.dispose();
  });
});

// ---- memory -----------------------------------------------------------------------------------

describe('memory', () => {
  const makers: Array<[string, (ps: Tensor[]) => Optimizer, number]> = [
    ['SGD (no momentum)', (ps) => new SGD(ps, { lr: 0.1, weightDecay: 0.1 }), 0],
    ['SGD momentum', (ps) => new SGD(ps, { lr: 0.1, momentum: 0.9, nesterov: true }), 1],
    ['Adam', (ps) => new Adam(ps, { lr: 0.1, weightDecay: 0.1 }), 2],
    ['AdamW', (ps) => new AdamW(ps, { lr: 0.1 }), 2],
    ['Adagrad', (ps) => new Adagrad(ps, { lr: 0.1, weightDecay: 0.1, initialAccumulator: 1 }), 1],
  ];
  for (const [name, make, slotsPerParam] of makers) {
    it(`${name}: steps free their temporaries and dispose() frees the state`, () => {
      const params = [var64([1, 2, 3], [3]), var64([4, 5], [2])];
      const grads = [f64([0.1, 0.2, 0.3], [3]), f64([-1, 1], [2])];
      const base = memory().numTensors;
      const opt = make(params);
      expect(memory().numTensors).toBe(base);
      opt.step(grads);
      expect(memory().numTensors).toBe(base + slotsPerParam * params.length);
      for (let i = 0; i < 5; i++) opt.step(grads);
      expect(memory().numTensors).toBe(base + slotsPerParam * params.length);
      const st = Object.values(opt.state());
      expect(st.length).toBe(slotsPerParam * params.length);
      opt.dispose();
      expect(memory().numTensors).toBe(base);
      for (const t of st) expect(t.isDisposed).toBe(true);
      expect(Object.keys(opt.state())).toEqual([]);
      // The parameters and gradients themselves are untouched by dispose().
      for (const t of [...params, ...grads]) expect(t.isDisposed).toBe(false);
      // loadState leaves no temporaries behind either.
      const src = make(params.map((p) => var64(read(p), p.shape)));
      src.step(grads);
      const before = memory().numTensors;
      const dst = make(params);
      dst.loadState(src.state(), src.stepCount);
      expect(memory().numTensors).toBe(before + slotsPerParam * params.length);
      dst.dispose();
      src.dispose();
      for (const p of src.params) p.dispose();
      for (const t of [...params, ...grads]) t.dispose();
    });
  }

  it('errors are DenoiseErrors', () => {
    let err: unknown;
    try {
      new SGD([], { lr: 1 });
    } catch (e) {
      err = e;
    }
    expect(DenoiseError.isInstance(err)).toBe(true);
  });
});
