// Test fixtures for the guidance tests: a condition-dependent Gaussian denoiser, a linear
// classifier and plain-JS moments. Not exported from the package.

import type { Tensor } from '../tensor/tensor.js';
import { tensor } from '../ops/creation.js';
import { abs, add, exp, log1p, minimum, mul, neg, sub } from '../ops/elementwise.js';
import { matmul } from '../ops/linalg.js';
import { sum } from '../ops/reduce.js';
import type { Denoiser } from '../samplers/types.js';

/**
 * The exact denoiser of data N(mu, s^2 I) with the mean taken from the condition (a tensor [B, d]
 * or [1, d]): E[x0 | x] = mu + s^2 / (s^2 + sigma^2) (x - mu). (closed-form.ts's gaussianDenoiser
 * takes a fixed mean.)
 */
export const condGaussianDenoiser =
  (s2: number): Denoiser<Tensor> =>
  (x, sigma, mu) =>
    add(mu, mul(sub(x, mu), s2 / (s2 + sigma * sigma)));

/** Per-column mean and (biased) variance of a [N, d] host array. */
export function moments(values: ArrayLike<number>, d: number): { mean: number[]; variance: number[] } {
  const n = values.length / d;
  const mean = new Array<number>(d).fill(0);
  const variance = new Array<number>(d).fill(0);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) mean[j]! += values[i * d + j]! / n;
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) variance[j]! += (values[i * d + j]! - mean[j]!) ** 2 / n;
  return { mean, variance };
}

/** sum over rows of a row-vector dot product: x [N, d] · a [d] + b, per row (as a tensor [N, 1]). */
export function linearLogit(x: Tensor, a: readonly number[], b: number): Tensor {
  const at = tensor(a.map((v) => [v]), undefined, { dtype: x.dtype });
  return add(matmul(x, at), b);
}

/** sum_rows log sigmoid(logit) = -sum softplus(-logit), computed stably. */
export function sumLogSigmoid(logit: Tensor): Tensor {
  return sum(logSigmoid(logit));
}

/** log sigmoid(z) = min(z, 0) - log(1 + exp(-|z|)). */
export function logSigmoid(z: Tensor): Tensor {
  return sub(minimum(z, 0), log1p(exp(neg(abs(z)))));
}
