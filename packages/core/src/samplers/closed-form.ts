// Exact denoisers for Gaussian and Gaussian-mixture data, and the exact probability-flow ODE
// solution for Gaussian data: the oracles of the sampler tests, and small worked examples of the
// Denoiser contract. x is [..., d]: the last axis holds the data coordinates, leading axes are
// independent samples; means and stds are numbers (shared by every coordinate) or d-vectors.
//
// Data x0 ~ N(mu, diag(s^2)), noisy x = x0 + sigma eps:
//   D(x, sigma) = E[x0 | x] = mu + s^2 / (s^2 + sigma^2) (x - mu)
//   PF-ODE dx/dsigma = (x - D) / sigma = sigma (x - mu) / (s^2 + sigma^2), solved by
//   x(sigma) = mu + sqrt((s^2 + sigma^2) / (s^2 + sigma0^2)) (x(sigma0) - mu).
// Mixture sum_k w_k N(mu_k, diag(s_k^2)): D = sum_k r_k(x) D_k(x) with posterior weights
//   r_k ∝ w_k N(x; mu_k, diag(s_k^2 + sigma^2)), computed with core ops (any backend).

import { InvalidArgumentError, ShapeError, describe } from '../errors/index.js';
import { engine } from '../engine/engine.js';
import { add, concat, mul, softmax, sliceAxis, square, sub, sum, tensor } from '../ops/index.js';
import type { Tensor } from '../tensor/tensor.js';
import type { Denoiser } from './types.js';

export interface GaussianSpec {
  /** Mean: one number for every coordinate, or one per coordinate (length d). */
  mean: number | readonly number[];
  /** Standard deviation (> 0): a number or one per coordinate. */
  std: number | readonly number[];
}

export interface MixtureComponent extends GaussianSpec {
  /** Mixture weight (> 0); weights are normalised. */
  weight: number;
}

function checkVec(op: string, arg: string, v: unknown, positive: boolean): number[] {
  const list = typeof v === 'number' ? [v] : v;
  if (!Array.isArray(list) || list.length === 0 || list.some((e) => typeof e !== 'number' || !Number.isFinite(e) || (positive && !(e > 0)))) {
    throw new InvalidArgumentError(`${op}: ${arg} must be a finite number${positive ? ' > 0' : ''} or a non-empty array of them, got ${describe(v)}`);
  }
  return list as number[];
}

function checkSpec(op: string, arg: string, spec: unknown): { mean: number[]; std: number[] } {
  if (typeof spec !== 'object' || spec === null) throw new InvalidArgumentError(`${op}: ${arg} must be { mean, std }, got ${describe(spec)}`);
  const s = spec as GaussianSpec;
  return { mean: checkVec(op, `${arg}.mean`, s.mean, false), std: checkVec(op, `${arg}.std`, s.std, true) };
}

/** A constant shaped to broadcast against x's last axis, on x's backend and in x's dtype. */
function vec(x: Tensor, op: string, arg: string, values: readonly number[]): Tensor | number {
  if (values.length === 1) return values[0]!;
  const d = x.shape[x.shape.length - 1];
  if (x.rank === 0 || d !== values.length) {
    throw new ShapeError(`${op}: ${arg} has ${values.length} entries, so x must be [..., ${values.length}], got ${describe(x.shape)}`);
  }
  return tensor([...values], [values.length], { dtype: x.dtype, backend: x.backend });
}

function checkX(op: string, x: Tensor): void {
  x._check(op);
  if (x.dtype !== 'float32' && x.dtype !== 'float64') throw new InvalidArgumentError(`${op}: x must be float32 or float64, got ${x.dtype}`);
}

function checkSigma(op: string, sigma: unknown): asserts sigma is number {
  if (typeof sigma !== 'number' || !(sigma >= 0) || !Number.isFinite(sigma)) {
    throw new InvalidArgumentError(`${op}: sigma must be a finite number >= 0, got ${describe(sigma)}`);
  }
}

/** D(x, sigma) = mu + s^2 / (s^2 + sigma^2) (x - mu) for data ~ N(mu, diag(s^2)). */
function gaussianD(x: Tensor, sigma: number, mean: readonly number[], std: readonly number[], op: string): Tensor {
  const mu = vec(x, op, 'mean', mean);
  const gain = vec(x, op, 'std', std.map((s) => (s * s) / (s * s + sigma * sigma)));
  return add(mu, mul(sub(x, mu), gain));
}

/** The exact denoiser E[x0 | x] for data ~ N(mean, diag(std^2)). */
export function gaussianDenoiser(spec: GaussianSpec): Denoiser {
  const op = 'gaussianDenoiser';
  const { mean, std } = checkSpec(op, 'spec', spec);
  return (x, sigma) => {
    checkX(op, x);
    checkSigma(op, sigma);
    return engine.tidy(() => gaussianD(x, sigma, mean, std, op));
  };
}

/** The exact denoiser for a mixture of diagonal Gaussians (any number of components >= 1). */
export function gaussianMixtureDenoiser(components: readonly MixtureComponent[]): Denoiser {
  const op = 'gaussianMixtureDenoiser';
  if (!Array.isArray(components) || components.length === 0) throw new InvalidArgumentError(`${op}: components must be a non-empty array of { weight, mean, std }, got ${describe(components)}`);
  const comps = components.map((c, k) => {
    const { mean, std } = checkSpec(op, `components[${k}]`, c);
    const w = (c as MixtureComponent).weight;
    if (typeof w !== 'number' || !(w > 0) || !Number.isFinite(w)) throw new InvalidArgumentError(`${op}: components[${k}].weight must be a finite number > 0, got ${describe(w)}`);
    return { mean, std, w };
  });
  const total = comps.reduce((a, c) => a + c.w, 0);
  return (x, sigma) => {
    checkX(op, x);
    checkSigma(op, sigma);
    if (x.rank === 0) throw new ShapeError(`${op}: x must be [..., d] with the data coordinates last, got a scalar`);
    return engine.tidy(() => {
      // log r_k = log w_k - 1/2 sum_d [(x - mu_k)^2 / v_k + log v_k] + const, v_k = s_k^2 + sigma^2.  [..., 1] each
      const logits = comps.map((c) => {
        const mu = vec(x, op, 'mean', c.mean);
        const v = c.std.map((s) => s * s + sigma * sigma);
        const invV = vec(x, op, 'std', v.map((e) => 1 / e));
        const logV = vec(x, op, 'std', v.map(Math.log));
        // [..., d], broadcast to x's shape so that a shared std counts once per coordinate.
        const perCoord = add(mul(square(sub(x, mu)), invV), logV);
        return add(mul(sum(perCoord, -1, true), -0.5), Math.log(c.w / total));
      });
      const r = softmax(concat(logits, -1)); // [..., K]
      let out = mul(sliceAxis(r, -1, 0, 1), gaussianD(x, sigma, comps[0]!.mean, comps[0]!.std, op));
      for (let k = 1; k < comps.length; k++) {
        out = add(out, mul(sliceAxis(r, -1, k, k + 1), gaussianD(x, sigma, comps[k]!.mean, comps[k]!.std, op)));
      }
      return out;
    });
  };
}

/**
 * The exact probability-flow ODE solution for data ~ N(mean, diag(std^2)): the sample at noise
 * level sigma reached from x at sigma0.
 */
export function gaussianPfOdeSolution(x: Tensor, sigma0: number, sigma: number, spec: GaussianSpec): Tensor {
  const op = 'gaussianPfOdeSolution';
  const { mean, std } = checkSpec(op, 'spec', spec);
  checkX(op, x);
  checkSigma(op, sigma0);
  checkSigma(op, sigma);
  return engine.tidy(() => {
    const mu = vec(x, op, 'mean', mean);
    const gain = vec(x, op, 'std', std.map((s) => Math.sqrt((s * s + sigma * sigma) / (s * s + sigma0 * sigma0))));
    return add(mu, mul(sub(x, mu), gain));
  });
}

