// Small pieces the sampler files share: option checks, fresh noise shaped like the sample, the
// ancestral split of a step into a deterministic part and fresh noise, and the common step
// quantities (sigma, next sigma, and eps = (x - x0) / sigma, the ODE's derivative dx/dsigma).

import { InvalidArgumentError, describe } from '../errors/index.js';
import { cast, div, sub } from '../ops/index.js';
import { randn } from '../random/index.js';
import type { Generator } from '../random/philox.js';
import type { Tensor } from '../tensor/tensor.js';

/** Throws on option keys a sampler does not know (a typo would otherwise be ignored silently). */
export function checkOptions(op: string, options: unknown, allowed: readonly string[]): Record<string, unknown> {
  if (options === undefined) return {};
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new InvalidArgumentError(`${op}: options must be an object, got ${describe(options)}`);
  }
  for (const key of Object.keys(options)) {
    if (!allowed.includes(key)) {
      throw new InvalidArgumentError(`${op}: unknown option ${describe(key)}; valid options: ${allowed.length ? allowed.join(', ') : '(none)'}`);
    }
  }
  return options as Record<string, unknown>;
}

/** eta >= 0, finite; `fallback` when undefined. */
export function checkEta(op: string, eta: unknown, fallback: number): number {
  if (eta === undefined) return fallback;
  if (typeof eta !== 'number' || !Number.isFinite(eta) || eta < 0) {
    throw new InvalidArgumentError(`${op}: options.eta must be a finite number >= 0, got ${describe(eta)}`);
  }
  return eta;
}

/** Standard normal noise shaped like x, on x's backend, in x's dtype, drawn from gen. */
export function noiseLike(x: Tensor, gen: Generator): Tensor {
  const dtype = x.dtype === 'float64' ? 'float64' : 'float32';
  const z = randn(x.shape, gen, { dtype, backend: x.backend });
  return x.dtype === dtype ? z : cast(z, x.dtype);
}

/** eps = (x - x0) / sigma: the noise a VE sample x = x0 + sigma eps carries (sigma > 0). */
export function epsOf(x: Tensor, x0: Tensor, sigma: number): Tensor {
  return div(sub(x, x0), sigma);
}

/**
 * k-diffusion's get_ancestral_step: splits a step sigma -> sigmaNext into a deterministic move
 * to sigmaDown and fresh noise of std sigmaUp, sigmaDown^2 + sigmaUp^2 = sigmaNext^2, with
 * sigmaUp = min(sigmaNext, eta sigmaNext sqrt(sigma^2 - sigmaNext^2) / sigma). eta = 1 is the
 * DDPM posterior; eta = 0 the deterministic (DDIM / Euler) step.
 */
export function ancestralStep(sigma: number, sigmaNext: number, eta: number): { sigmaDown: number; sigmaUp: number } {
  if (eta === 0 || sigmaNext === 0) return { sigmaDown: sigmaNext, sigmaUp: 0 };
  const up = Math.min(sigmaNext, (eta * sigmaNext * Math.sqrt(Math.max(0, sigma * sigma - sigmaNext * sigmaNext))) / sigma);
  return { sigmaDown: Math.sqrt(Math.max(0, sigmaNext * sigmaNext - up * up)), sigmaUp: up };
}
