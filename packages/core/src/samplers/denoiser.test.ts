// Network wrappers and the closed-form oracles: eps-, x0- and v-predicting VP networks built
// from the same exact Gaussian model must give the same denoiser; hand-worked outputs for each
// parameterisation; the mixture denoiser against a host computation; the Gaussian PF-ODE solution
// against its differential equation.
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError, ShapeError } from '../errors/index.js';
import { engine } from '../engine/engine.js';
import { full, mul, sub, tensor } from '../ops/index.js';
import { alphasCumprodFromBetas, cosineBetas, sigmaToTimestep, sigmasFromAlphasCumprod, timestepToSigma } from '../schedules/index.js';
import type { Tensor } from '../tensor/tensor.js';
import { gaussianDenoiser, gaussianMixtureDenoiser, gaussianPfOdeSolution } from './closed-form.js';
import { epsFromX0, veDenoiser, vpDenoiser, x0FromEps } from './denoiser.js';

const read = (t: Tensor) => Array.from(t.dataSync());
const f64 = (v: number[][]) => tensor(v, undefined, { dtype: 'float64' });

function expectAllClose(actual: readonly number[], expected: readonly number[], tol = 1e-12): void {
  expect(actual.length).toBe(expected.length);
  actual.forEach((a, i) => {
    if (!(Math.abs(a - expected[i]!) <= tol * Math.max(1, Math.abs(expected[i]!)))) expect.fail(`entry ${i}: expected ${expected[i]}, got ${a}`);
  });
}

describe('vpDenoiser / veDenoiser', () => {
  const abar = alphasCumprodFromBetas(cosineBetas(1000));
  const table = sigmasFromAlphasCumprod(abar);
  const spec = { mean: [0.5, -1], std: [0.8, 0.3] };
  const exact = gaussianDenoiser(spec);
  // VP networks that are exact for this data: they undo the VP scaling at the timestep's sigma.
  const vpParts = (xIn: Tensor, t: number) => {
    const sigma = timestepToSigma(t, table);
    const alpha = 1 / Math.sqrt(1 + sigma * sigma);
    const x = mul(xIn, 1 / alpha);
    const x0 = exact(x, sigma, undefined);
    const eps = epsFromX0(x, sigma, x0);
    return { sigma, alpha, x0, eps };
  };
  const epsNet = (xIn: Tensor, t: number) => vpParts(xIn, t).eps;
  const x0Net = (xIn: Tensor, t: number) => vpParts(xIn, t).x0;
  const vNet = (xIn: Tensor, t: number) => {
    const { sigma, alpha, x0, eps } = vpParts(xIn, t);
    return sub(mul(eps, alpha), mul(x0, sigma * alpha)); // v = alpha eps - sigma_vp x0
  };

  it('eps-, x0- and v-predicting wrappers of the same exact model agree with the exact denoiser', () => {
    const x = f64([[3, -2], [0.1, 0.4], [-5, 7]]);
    for (const sigma of [table[0]! * 1.5, 0.05, 0.7, 3, 40]) {
      const want = read(exact(x, sigma, undefined));
      for (const [prediction, net] of [['epsilon', epsNet], ['sample', x0Net], ['v_prediction', vNet]] as const) {
        const d = vpDenoiser(net, { alphasCumprod: abar, prediction });
        expectAllClose(read(engine.tidy(() => d(x, sigma, undefined))), want, 1e-9);
      }
    }
  });

  it('hand-worked outputs: a network that returns 2 everywhere at sigma = 1', () => {
    const x = f64([[4, -2]]);
    const two = (xIn: Tensor) => full(xIn.shape, 2, xIn.dtype);
    const opts = { alphasCumprod: abar };
    expectAllClose(read(vpDenoiser(two, { ...opts, prediction: 'epsilon' })(x, 1, undefined)), [4 - 2, -2 - 2]);
    expectAllClose(read(vpDenoiser(two, { ...opts, prediction: 'sample' })(x, 1, undefined)), [2, 2]);
    // v: alpha = 1/sqrt(2), x_t = alpha x, x0 = alpha x_t - sigma alpha v = x / 2 - sqrt(2).
    expectAllClose(read(vpDenoiser(two, { ...opts, prediction: 'v_prediction' })(x, 1, undefined)), [2 - Math.SQRT2, -1 - Math.SQRT2]);
    expectAllClose(read(veDenoiser(two, { prediction: 'epsilon' })(x, 0.5, undefined)), [3, -3]);
    expectAllClose(read(veDenoiser(two, { prediction: 'sample' })(x, 0.5, undefined)), [2, 2]);
    expectAllClose(read(x0FromEps(x, 0.5, full([1, 2], 2, 'float64'))), [3, -3]);
    expectAllClose(read(epsFromX0(x, 0.5, full([1, 2], 2, 'float64'))), [4, -8]);
  });

  it('feed the VP-scaled input and the continuous (or rounded) timestep', () => {
    const seen: Array<{ t: number; xIn: number[] }> = [];
    const spy = (xIn: Tensor, t: number) => {
      seen.push({ t, xIn: read(xIn) });
      return xIn;
    };
    const x = f64([[2, -6]]);
    vpDenoiser(spy, { alphasCumprod: abar, prediction: 'sample' })(x, 0.75, undefined);
    vpDenoiser(spy, { alphasCumprod: abar, prediction: 'sample', quantize: true })(x, 0.75, undefined);
    const tc = sigmaToTimestep(0.75, table);
    expect(seen[0]!.t).toBeCloseTo(tc, 12);
    expect(Number.isInteger(tc)).toBe(false);
    expect(seen[1]!.t).toBe(Math.round(tc));
    expectAllClose(seen[0]!.xIn, [2 / Math.sqrt(1.5625), -6 / Math.sqrt(1.5625)]);
    // Outside the training range the timestep clamps, the scaling still uses the true sigma.
    vpDenoiser(spy, { alphasCumprod: abar, prediction: 'sample' })(x, 1e5, undefined);
    expect(seen[2]!.t).toBe(999);
  });

  it('free their intermediates and check their arguments', () => {
    const x = f64([[1, 2]]);
    const d = vpDenoiser(vNet, { alphasCumprod: abar, prediction: 'v_prediction' });
    const before = engine.memory().numTensors;
    const out = d(x, 0.3, undefined);
    expect(engine.memory().numTensors).toBe(before + 1);
    out.dispose();
    expect(() => vpDenoiser(epsNet, { alphasCumprod: abar, prediction: 'v' as never })).toThrow(
      "vpDenoiser: options.prediction must be one of 'epsilon', 'sample', 'v_prediction', got \"v\"",
    );
    expect(() => vpDenoiser(epsNet, { alphasCumprod: [0.9, 0.95], prediction: 'epsilon' })).toThrow(InvalidArgumentError);
    expect(() => veDenoiser(epsNet as never, { prediction: 'v_prediction' as never })).toThrow("veDenoiser: options.prediction must be 'epsilon' or 'sample', got \"v_prediction\"");
    const bad = vpDenoiser(() => full([3], 0, 'float64'), { alphasCumprod: abar, prediction: 'epsilon' });
    expect(() => bad(x, 1, undefined)).toThrow(ShapeError);
    expect(() => bad(x, 1, undefined)).toThrow('vpDenoiser: net must return a tensor shaped like x [1, 2], got [3]');
    expect(() => d(x, -1, undefined)).toThrow('vpDenoiser: sigma must be a finite number >= 0, got -1');
    expect(() => epsFromX0(x, 0, x)).toThrow('epsFromX0: sigma must be a finite number > 0, got 0');
  });
});

describe('closed-form Gaussian oracles', () => {
  const comps = [
    { weight: 0.3, mean: [-2, 0], std: 0.4 },
    { weight: 0.7, mean: [2, 1], std: [0.6, 0.3] },
  ];
  const at = (v: number | number[], d: number) => (Array.isArray(v) ? v[d]! : v);
  function hostMixtureD(x: number[], sigma: number): number[] {
    const logs = comps.map((c) => {
      let l = Math.log(c.weight);
      for (let d = 0; d < x.length; d++) {
        const v = at(c.std, d) ** 2 + sigma * sigma;
        l -= 0.5 * ((x[d]! - at(c.mean, d)) ** 2 / v + Math.log(v));
      }
      return l;
    });
    const m = Math.max(...logs);
    const r = logs.map((l) => Math.exp(l - m));
    const z = r[0]! + r[1]!;
    return x.map((xd, d) => comps.reduce((acc, c, k) => {
      const s2 = at(c.std, d) ** 2;
      return acc + (r[k]! / z) * (at(c.mean, d) + (s2 / (s2 + sigma * sigma)) * (xd - at(c.mean, d)));
    }, 0));
  }

  it('the Gaussian denoiser is mu + s^2/(s^2 + sigma^2) (x - mu), per coordinate', () => {
    const D = gaussianDenoiser({ mean: [1, -1], std: [0.5, 2] });
    expectAllClose(read(D(f64([[3, 3]]), 1, undefined)), [1 + 0.2 * 2, -1 + 0.8 * 4]);
    expectAllClose(read(gaussianDenoiser({ mean: 0, std: 1 })(f64([[3, -4]]), 0, undefined)), [3, -4]);
    expect(() => D(f64([[1, 2, 3]]), 1, undefined)).toThrow('gaussianDenoiser: mean has 2 entries, so x must be [..., 2], got [1, 3]');
    expect(() => gaussianDenoiser({ mean: 0, std: 0 })).toThrow('gaussianDenoiser: spec.std must be a finite number > 0 or a non-empty array of them, got 0');
  });

  it('the mixture denoiser matches a host computation, on float64 and float32', () => {
    const D = gaussianMixtureDenoiser(comps);
    const pts = [[10, 3], [-7, 12], [0.1, 0.5], [-1.9, 0.1], [2, 1]];
    for (const sigma of [0, 0.1, 0.7, 3, 20]) {
      const want = pts.flatMap((p) => hostMixtureD(p, sigma));
      expectAllClose(read(D(f64(pts), sigma, undefined)), want, 1e-12);
      expectAllClose(read(D(tensor(pts), sigma, undefined)), want, 1e-5);
    }
    // One component is the Gaussian denoiser; far from a component its weight vanishes.
    const one = gaussianMixtureDenoiser([{ weight: 2, mean: [1, -1], std: [0.5, 2] }]);
    expectAllClose(read(one(f64(pts), 0.8, undefined)), read(gaussianDenoiser({ mean: [1, -1], std: [0.5, 2] })(f64(pts), 0.8, undefined)));
    expect(() => gaussianMixtureDenoiser([{ weight: 0, mean: 0, std: 1 }])).toThrow('gaussianMixtureDenoiser: components[0].weight must be a finite number > 0, got 0');
  });

  it('the PF-ODE solution solves dx/dsigma = (x - D(x, sigma)) / sigma and composes', () => {
    const spec = { mean: [1, -2], std: [0.5, 1.5] };
    const D = gaussianDenoiser(spec);
    const x = f64([[4, 1], [-3, 6]]);
    const sol = (s: number) => read(gaussianPfOdeSolution(x, 5, s, spec));
    for (const s of [0.3, 1, 4]) {
      const h = 1e-5;
      const deriv = sol(s + h).map((v, k) => (v - sol(s - h)[k]!) / (2 * h));
      const xs = tensor(sol(s), [2, 2], { dtype: 'float64' });
      const rhs = read(D(xs, s, undefined)).map((d, k) => (sol(s)[k]! - d) / s);
      expectAllClose(deriv, rhs, 1e-8);
    }
    const mid = gaussianPfOdeSolution(x, 5, 1, spec);
    expectAllClose(read(gaussianPfOdeSolution(mid, 1, 0.1, spec)), sol(0.1));
    expectAllClose(sol(5), read(x));
  });
});
