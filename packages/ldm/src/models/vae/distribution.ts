// The encoder's posterior q(z|x) = N(mean, diag(exp(logvar))) (diffusers'
// DiagonalGaussianDistribution): the moments split along channels, logvar clamped to [-30, 20],
// std = exp(0.5 logvar); sampling draws z = mean + std * eps with an explicit generator.

import { ShapeError, add, clip, describe, dispose, exp, mul, randn, split, sub, sum, type Generator, type Tensor } from '@denoise/core';

export class DiagonalGaussianDistribution {
  /** [B, c, h, w] */
  readonly mean: Tensor;
  /** Clamped to [-30, 20]. */
  readonly logvar: Tensor;
  readonly std: Tensor;
  readonly var: Tensor;

  /** moments [B, 2c, h, w]: the mean's channels, then the log-variance's. */
  constructor(moments: Tensor) {
    if (moments.rank !== 4 || moments.shape[1]! % 2 !== 0) throw new ShapeError(`DiagonalGaussianDistribution: moments must be [B, 2c, h, w], got ${describe(moments.shape)}`);
    const [mean, logvar] = split(moments, 2, 1) as [Tensor, Tensor];
    this.mean = mean;
    this.logvar = clip(logvar, -30, 20);
    this.std = exp(mul(this.logvar, 0.5));
    this.var = exp(this.logvar);
  }

  /** z = mean + std * eps, eps ~ N(0, I) from `gen`. */
  sample(gen: Generator): Tensor {
    const eps = randn(this.mean.shape, gen, { backend: this.mean.backend });
    const z = this.sampleWith(eps);
    eps.dispose();
    return z;
  }

  /** z = mean + std * noise for given standard normal noise (reproducing another library's draw). */
  sampleWith(noise: Tensor): Tensor {
    if (noise.shape.length !== 4 || noise.shape.some((d, i) => d !== this.mean.shape[i])) throw new ShapeError(`DiagonalGaussianDistribution.sampleWith: noise must be ${describe(this.mean.shape)}, got ${describe(noise.shape)}`);
    return add(this.mean, mul(this.std, noise));
  }

  /** The mode (the mean). */
  mode(): Tensor {
    return this.mean;
  }

  /** KL(q || N(0, I)) per sample: 0.5 sum(mean^2 + var - 1 - logvar) over c, h, w. */
  kl(): Tensor {
    return mul(sum(sub(add(mul(this.mean, this.mean), this.var), add(this.logvar, 1)), [1, 2, 3]), 0.5);
  }

  dispose(): void {
    dispose([this.mean, this.logvar, this.std, this.var]);
  }
}
