// Shared argument checks of the guidance combinators.

import { InvalidArgumentError, ShapeError, describe } from '../errors/index.js';
import { Tensor } from '../tensor/tensor.js';

/** A guidance weight: a constant, or a function of the noise level (guidance schedules). */
export type GuidanceScale = number | ((sigma: number) => number);

export function checkScale(op: string, scale: unknown): asserts scale is GuidanceScale {
  if (typeof scale === 'function') return;
  if (typeof scale !== 'number' || !Number.isFinite(scale)) {
    throw new InvalidArgumentError(`${op}: options.scale must be a finite number or a function of sigma, got ${describe(scale)}`);
  }
}

export function resolveScale(op: string, scale: GuidanceScale, sigma: number): number {
  const w = typeof scale === 'function' ? scale(sigma) : scale;
  if (typeof w !== 'number' || !Number.isFinite(w)) {
    throw new InvalidArgumentError(`${op}: options.scale(${sigma}) must return a finite number, got ${describe(w)}`);
  }
  return w;
}

export function checkFunction(op: string, arg: string, f: unknown): void {
  if (typeof f !== 'function') throw new InvalidArgumentError(`${op}: ${arg} must be a function, got ${describe(f)}`);
}

export function checkOptionsObject(op: string, options: unknown, needs: string): void {
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError(`${op}: options must be an object with ${needs}, got ${describe(options)}`);
}

export function checkSigma(op: string, sigma: unknown): void {
  if (typeof sigma !== 'number' || !(sigma >= 0) || !Number.isFinite(sigma)) {
    throw new InvalidArgumentError(`${op}: sigma must be a finite number >= 0, got ${describe(sigma)}`);
  }
}

/** Throws unless `out` is a tensor shaped like `like` (what a denoiser must return). */
export function checkLike(op: string, what: string, out: unknown, like: Tensor): asserts out is Tensor {
  if (!(out instanceof Tensor)) throw new InvalidArgumentError(`${op}: ${what} must return a Tensor, got ${describe(out)}`);
  if (out.shape.length !== like.shape.length || out.shape.some((d, i) => d !== like.shape[i])) {
    throw new ShapeError(`${op}: ${what} must return a tensor shaped like x ${describe(like.shape)}, got ${describe(out.shape)}`);
  }
}

/** Throws unless `value` is a one-element float tensor (a summed log-probability). */
export function checkScalarLogProb(op: string, value: unknown): asserts value is Tensor {
  if (!(value instanceof Tensor)) throw new InvalidArgumentError(`${op}: options.logProb must return a Tensor, got ${describe(value)}`);
  if (value.size !== 1) {
    throw new ShapeError(`${op}: options.logProb must return a one-element tensor (the per-sample log p(c | x) summed over the batch), got shape ${describe(value.shape)}`);
  }
}
