// Schedules at closed-form points: betas against the alpha-bar formulas they discretise, known
// Stable Diffusion values, Karras endpoints and spacing, diffusers' timestep spacings against
// hand-derived arrays, conversions and the continuous timestep map.
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../errors/index.js';
import {
  alphasCumprodFromBetas, alphasCumprodFromSigmas, appendZero, betasFromAlphasCumprod, cosineBetas, exponentialSigmas, karrasSigmas,
  linearBetas, samplingSigmas, scaledLinearBetas, sigmaToTimestep, sigmasFromAlphasCumprod, sqrtBetas, timestepToSigma,
  timestepsLeading, timestepsLinspace, timestepsTrailing,
} from './index.js';

const range = (n: number, f: (i: number) => number) => Array.from({ length: n }, (_, i) => f(i));

function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, rel = 1e-12): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const e = expected[i]!;
    const a = actual[i]!;
    if (Math.abs(a - e) > rel * Math.max(1, Math.abs(e))) expect.fail(`entry ${i}: expected ${e}, got ${a}`);
  }
}

function expectRel(actual: number, expected: number, rel = 1e-12): void {
  if (!(Math.abs(actual - expected) <= rel * Math.abs(expected))) expect.fail(`expected ${expected} (relative tolerance ${rel}), got ${actual}`);
}

describe('beta schedules', () => {
  it('linear: evenly spaced from betaStart to betaEnd', () => {
    const b = linearBetas(5, 0.1, 0.5);
    expectClose(b, [0.1, 0.2, 0.3, 0.4, 0.5]);
    const d = linearBetas(1000);
    expect(d[0]).toBe(1e-4);
    expect(d[999]).toBe(0.02);
    expect(d[500]).toBeCloseTo(1e-4 + (500 * (0.02 - 1e-4)) / 999, 15);
  });

  it('scaled linear (Stable Diffusion): linspace in sqrt(beta), abar[999] ~ 0.0047, sigma range 0.0292..14.61', () => {
    const b = scaledLinearBetas();
    const a0 = Math.sqrt(0.00085);
    const step = (Math.sqrt(0.012) - a0) / 999;
    expect(b[0]).toBeCloseTo(0.00085, 15);
    expect(b[999]).toBeCloseTo(0.012, 15);
    expect(b[400]).toBeCloseTo((a0 + 400 * step) ** 2, 15);
    const abar = alphasCumprodFromBetas(b);
    // Independently: abar[999] = exp(sum log(1 - (a0 + i step)^2)).
    let logSum = 0;
    for (let i = 999; i >= 0; i--) logSum += Math.log1p(-((a0 + i * step) ** 2));
    expect(abar[999]).toBeCloseTo(Math.exp(logSum), 14);
    expect(abar[999]).toBeCloseTo(0.0046601, 7); // 0.00466009851...
    const sigmas = sigmasFromAlphasCumprod(abar);
    expect(sigmas[999]).toBeCloseTo(14.614641, 5); // k-diffusion / ComfyUI's SD sigma_max
    expect(sigmas[0]).toBeCloseTo(0.0291672, 6); // and sigma_min
  });

  it('cosine: cumulative products equal abar((i+1)/T) / abar(0) until the maxBeta clip', () => {
    const T = 1000;
    const f = (t: number) => Math.cos(((t + 0.008) / 1.008) * (Math.PI / 2)) ** 2;
    const abar = alphasCumprodFromBetas(cosineBetas(T));
    for (const i of [0, 1, 10, 250, 500, 900, 990, 998]) expect(abar[i]! / (f((i + 1) / T) / f(0))).toBeCloseTo(1, 10);
    const b = cosineBetas(T);
    expect(b[T - 1]).toBe(0.999); // abar(1) = 0: clipped
    expect(Math.max(...b)).toBe(0.999);
    expect(b[0]).toBeCloseTo(1 - f(1 / T) / f(0), 15);
    expect(cosineBetas(10, 0.008, 0.5)[9]).toBe(0.5);
  });

  it('sqrt (Diffusion-LM): beta_i = min(1 - abar((i+1)/T) / abar(i/T), 0.999) with abar(t) = 1 - sqrt(t + 1e-4)', () => {
    const f = (t: number) => 1 - Math.sqrt(t + 0.0001);
    for (const T of [2000, 1000, 10]) {
      const b = sqrtBetas(T);
      expect(b.length).toBe(T);
      expect(b[0]).toBeCloseTo(1 - f(1 / T) / 0.99, 15);
      expect(b[T - 1]).toBe(0.999); // abar(1) = 1 - sqrt(1.0001) < 0
      const abar = alphasCumprodFromBetas(b);
      for (const i of [0, 1, Math.floor(T / 3), Math.floor(T / 2), T - 2]) expect(abar[i]! / (f((i + 1) / T) / f(0))).toBeCloseTo(1, 10);
    }
    // T = 2000 (the Diffusion-LM release's setting): abar after the first step is 1 - sqrt(1/2000 + 1e-4), over 0.99.
    expect(alphasCumprodFromBetas(sqrtBetas(2000))[0]).toBeCloseTo((1 - Math.sqrt(0.0006)) / 0.99, 15);
  });

  it('validate their arguments with exact messages', () => {
    expect(() => linearBetas(0)).toThrow(InvalidArgumentError);
    expect(() => linearBetas(0)).toThrow('linearBetas: T must be a positive integer, got 0');
    expect(() => linearBetas(10, 0, 0.02)).toThrow('linearBetas: betaStart must be a finite number in (0, 1], got 0');
    expect(() => scaledLinearBetas(2.5)).toThrow('scaledLinearBetas: T must be a positive integer, got 2.5');
    expect(() => cosineBetas(10, 0.008, 1.5)).toThrow('cosineBetas: maxBeta must be a finite number in (0, 1], got 1.5');
    expect(() => sqrtBetas(10, -1)).toThrow('sqrtBetas: s must be a finite number in (0, 1), got -1');
  });
});

describe('conversions', () => {
  const betas = linearBetas(1000);
  const abar = alphasCumprodFromBetas(betas);
  const table = sigmasFromAlphasCumprod(abar);

  it('round-trip betas <-> alphas-cumprod <-> sigmas', () => {
    expectClose(betasFromAlphasCumprod(abar), betas, 1e-9);
    expectClose(alphasCumprodFromSigmas(table), abar, 1e-12);
    expect(abar[0]).toBe(1 - 1e-4);
    expectRel(table[0]!, Math.sqrt(1e-4 / (1 - 1e-4)));
    expectClose(sigmasFromAlphasCumprod([0.5, 0.2]), [1, 2]);
    expect(() => betasFromAlphasCumprod([0.5, 0.6])).toThrow('betasFromAlphasCumprod: alphasCumprod must be non-increasing, but alphasCumprod[1] = 0.6 exceeds alphasCumprod[0] = 0.5');
    expect(() => sigmasFromAlphasCumprod([0.5, 0])).toThrow('sigmasFromAlphasCumprod: alphasCumprod[1] must be a finite number in (0, 1], got 0');
    expect(() => alphasCumprodFromBetas('x' as never)).toThrow('alphasCumprodFromBetas: betas must be an array of numbers, got "x"');
  });

  it('sigmaToTimestep / timestepToSigma interpolate log-sigma between integer timesteps (k-diffusion DiscreteSchedule)', () => {
    for (const t of [0, 1, 17, 500, 999]) {
      expect(sigmaToTimestep(table[t]!, table)).toBeCloseTo(t, 9);
      expectRel(timestepToSigma(t, table), table[t]!);
    }
    // The geometric mean of neighbouring sigmas sits half-way between their timesteps.
    expect(sigmaToTimestep(Math.sqrt(table[3]! * table[4]!), table)).toBeCloseTo(3.5, 9);
    expectRel(timestepToSigma(3.5, table), Math.sqrt(table[3]! * table[4]!));
    expectRel(timestepToSigma(sigmaToTimestep(1.2345, table), table), 1.2345);
    const w = 0.3;
    expectRel(timestepToSigma(10 + w, table), table[10]! ** (1 - w) * table[11]! ** w);
    // Outside the table: clamped to the end timesteps.
    expect(sigmaToTimestep(0, table)).toBe(0);
    expect(sigmaToTimestep(table[0]! / 2, table)).toBe(0);
    expect(sigmaToTimestep(1e6, table)).toBe(999);
    expect(() => timestepToSigma(1000, table)).toThrow('timestepToSigma: t must be a number in [0, 999], got 1000');
    expect(() => sigmaToTimestep(-1, table)).toThrow('sigmaToTimestep: sigma must be a finite number >= 0, got -1');
    expect(() => sigmaToTimestep(1, [2, 1])).toThrow('sigmaToTimestep: sigmasTable must be strictly increasing (sigma per training timestep), but sigmasTable[1] = 1 follows 2');
  });
});

describe('sigma ladders', () => {
  it('karrasSigmas: n levels from sigmaMax to sigmaMin, evenly spaced in sigma^(1/rho), no trailing 0', () => {
    const s = karrasSigmas(10, 0.002, 80);
    expect(s.length).toBe(10);
    expect(s[0]).toBeCloseTo(80, 12);
    expect(s[9]).toBeCloseTo(0.002, 15);
    const r = s.map((v) => v ** (1 / 7));
    const gaps = r.slice(1).map((v, i) => v - r[i]!);
    for (const g of gaps) expect(g).toBeCloseTo((0.002 ** (1 / 7) - 80 ** (1 / 7)) / 9, 12);
    expectClose(karrasSigmas(5, 1, 5, 1), [5, 4, 3, 2, 1]);
    expect(karrasSigmas(1, 1, 5).length).toBe(1);
    expectRel(karrasSigmas(1, 1, 5)[0]!, 5);
    expect(appendZero(s)).toEqual([...s, 0]);
    expect(() => karrasSigmas(4, 2, 1)).toThrow('karrasSigmas: sigmaMax must exceed sigmaMin, got sigmaMin 2, sigmaMax 1');
    expect(() => karrasSigmas(4, 0, 1)).toThrow('karrasSigmas: sigmaMin must be a finite number in (0, Infinity), got 0');
  });

  it('exponentialSigmas: evenly spaced in log sigma', () => {
    expectClose(exponentialSigmas(4, 1, 1000), [1000, 100, 10, 1], 1e-12);
  });
});

describe('timestep spacings (diffusers semantics), T = 1000', () => {
  it('leading: floor(T/n) * [n-1..0] + stepsOffset', () => {
    expect(timestepsLeading(1000, 10)).toEqual([900, 800, 700, 600, 500, 400, 300, 200, 100, 0]);
    expect(timestepsLeading(1000, 10, 1)).toEqual([901, 801, 701, 601, 501, 401, 301, 201, 101, 1]);
    expect(timestepsLeading(1000, 50)).toEqual(range(50, (i) => 980 - 20 * i));
    expect(timestepsLeading(1000, 50, 1)).toEqual(range(50, (i) => 981 - 20 * i));
    expect(timestepsLeading(1000, 50, 1).slice(0, 4)).toEqual([981, 961, 941, 921]);
    expect(timestepsLeading(1000, 30)).toEqual(range(30, (i) => 33 * (29 - i))); // floor(1000/30) = 33
    expect(() => timestepsLeading(1000, 1000, 1)).toThrow('timestepsLeading: stepsOffset 1 pushes the first timestep to 1000, past the last training timestep 999 (T = 1000, n = 1000)');
  });

  it('trailing: round(T - i T/n) - 1, starting at T - 1', () => {
    expect(timestepsTrailing(1000, 10)).toEqual([999, 899, 799, 699, 599, 499, 399, 299, 199, 99]);
    expect(timestepsTrailing(1000, 50)).toEqual(range(50, (i) => 999 - 20 * i));
    expect(timestepsTrailing(1000, 3)).toEqual([999, 666, 332]); // 1000, 666.67, 333.33 rounded, minus 1
    // numpy's arange would give 62 entries (ending in -1) here; we return exactly n.
    const t61 = timestepsTrailing(1000, 61);
    expect(t61.length).toBe(61);
    expect(t61[60]).toBe(15);
    expect(timestepsTrailing(1000, 400).slice(0, 4)).toEqual([999, 997, 994, 991]); // 1000, 997.5 -> 998, 995, 992.5 -> 992 (half to even), minus 1
  });

  it('linspace: round(linspace(0, T-1, n)) reversed', () => {
    expect(timestepsLinspace(1000, 10)).toEqual([999, 888, 777, 666, 555, 444, 333, 222, 111, 0]);
    const t50 = timestepsLinspace(1000, 50);
    expect(t50.slice(0, 8)).toEqual([999, 979, 958, 938, 917, 897, 877, 856]);
    expect(t50).toEqual(range(50, (i) => Math.round(((49 - i) * 999) / 49))); // 999 i / 49 never ends in .5
    expect(t50[49]).toBe(0);
    expect(() => timestepsLinspace(10, 11)).toThrow('timestepsLinspace: n must be at most T = 10 (one sampling step per training timestep at most), got 11');
  });

  it('samplingSigmas: the sigmas of those timesteps, then 0; karras between the table extremes', () => {
    const abar = alphasCumprodFromBetas(scaledLinearBetas());
    const table = sigmasFromAlphasCumprod(abar);
    const lead = samplingSigmas({ alphasCumprod: abar, steps: 10, spacing: 'leading', stepsOffset: 1 });
    expect(lead).toEqual([...timestepsLeading(1000, 10, 1).map((t) => table[t]!), 0]);
    expect(samplingSigmas({ alphasCumprod: abar, steps: 10, spacing: 'trailing' })[0]).toBe(table[999]);
    expect(samplingSigmas({ alphasCumprod: abar, steps: 10, spacing: 'linspace' })).toEqual([...timestepsLinspace(1000, 10).map((t) => table[t]!), 0]);
    const k = samplingSigmas({ alphasCumprod: abar, steps: 20, spacing: 'karras' });
    expect(k.length).toBe(21);
    expect(k[0]).toBeCloseTo(14.614641, 5);
    expect(k[19]).toBeCloseTo(0.0291672, 6);
    expect(k[20]).toBe(0);
    expect(samplingSigmas({ alphasCumprod: abar, steps: 5, spacing: 'karras', rho: 1 })).toEqual([...karrasSigmas(5, table[0]!, table[999]!, 1), 0]);
    expect(() => samplingSigmas({ alphasCumprod: abar, steps: 10, spacing: 'uniform' as never })).toThrow(
      "samplingSigmas: options.spacing must be one of 'leading', 'trailing', 'linspace', 'karras', got \"uniform\"",
    );
    expect(() => samplingSigmas({ alphasCumprod: abar, steps: 0, spacing: 'leading' })).toThrow('samplingSigmas: options.steps must be a positive integer, got 0');
  });
});
