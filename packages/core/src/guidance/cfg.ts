// Classifier-free guidance (Ho & Salimans 2022) as a Denoiser combinator.
//
// The guided prediction is x0 = x0_u + w (x0_c - x0_u). Guiding the x0 prediction is the same as
// guiding the noise prediction, because both branches see the same x: in the sigma form
// eps = (x - x0) / sigma, so
//   eps_u + w (eps_c - eps_u) = (x - x0_u)/sigma + w ((x - x0_c) - (x - x0_u))/sigma
//                            = (x - [x0_u + w (x0_c - x0_u)]) / sigma,
// which is the eps of the guided x0 (and likewise for v-prediction and for the VP form, where
// eps, x0 and v are all affine in the network output with coefficients that depend only on x and
// the noise level). w = 1 is the conditional model, w = 0 the unconditional one, w > 1 is the
// usual "guidance scale" (Stable Diffusion's 7.5).
//
// Both combinators accept an AsyncDenoiser (a network run by ONNX Runtime or read back from a
// GPU) and then return one: the branches are awaited, the result is the same x0.

import { InvalidArgumentError, ShapeError, describe } from '../errors/index.js';
import { collectTensors, engine } from '../engine/engine.js';
import { Tensor } from '../tensor/tensor.js';
import { add, mul, sub } from '../ops/elementwise.js';
import { concat, split } from '../ops/layout.js';
import { asyncDenoiser, isAsyncDenoiser } from '../samplers/denoiser.js';
import type { AsyncDenoiser, Denoiser } from '../samplers/types.js';
import { type GuidanceScale, checkFunction, checkLike, checkOptionsObject, checkScale, checkSigma, resolveScale } from './scale.js';

/** The condition a classifier-free-guided denoiser takes: both branches' conditions. */
export interface CFGCond<C> {
  readonly cond: C;
  readonly uncond: C;
}

export interface ClassifierFreeGuidanceOptions {
  /** Guidance weight w (constant or a function of sigma): x0 = x0_u + w (x0_c - x0_u). */
  scale: GuidanceScale;
}

export interface ClassifierFreeGuidanceBatchedOptions<C, B> extends ClassifierFreeGuidanceOptions {
  /**
   * Joins the conditional and unconditional conditions into the condition of one batch of
   * twice the size, conditional rows first (e.g. `(a, b) => concat([a, b], 0)` for embeddings).
   */
  concat: (cond: C, uncond: C) => B;
}

function checkCFGCond(op: string, c: unknown): asserts c is CFGCond<unknown> {
  if (typeof c !== 'object' || c === null || !('cond' in c) || !('uncond' in c)) {
    throw new InvalidArgumentError(`${op}: cond must be an object { cond, uncond }, got ${describe(c)}`);
  }
}

/** Checks one call's arguments (a batch axis when `batched`); returns the guidance weight at sigma. */
function checkCall(op: string, scale: GuidanceScale, x: unknown, sigma: number, c: unknown, batched: boolean): number {
  if (!(x instanceof Tensor)) throw new InvalidArgumentError(`${op}: x must be a Tensor, got ${describe(x)}`);
  x._check(op);
  if (batched && x.rank < 1) throw new ShapeError(`${op}: x must have a batch axis (rank >= 1), got shape ${describe(x.shape)}`);
  checkSigma(op, sigma);
  checkCFGCond(op, c);
  return resolveScale(op, scale, sigma);
}

/** x0_u + w (x0_c - x0_u). */
function combine(x0c: Tensor, x0u: Tensor, w: number): Tensor {
  return add(x0u, mul(sub(x0c, x0u), w));
}

/** Frees the tensors in `values` except those also found in `keep` (the caller's). */
function disposeExcept(keep: unknown, ...values: unknown[]): void {
  const theirs = new Set<Tensor>();
  collectTensors(keep, theirs);
  const set = new Set<Tensor>();
  for (const v of values) collectTensors(v, set);
  for (const t of set) if (!theirs.has(t)) t.dispose();
}

/**
 * Classifier-free guidance: evaluates `denoiser` with the conditional and the unconditional
 * condition (two calls) and returns x0_u + scale (x0_c - x0_u). The returned denoiser takes
 * `{ cond, uncond }` as its condition. Intermediates are freed; only the result is returned.
 * An AsyncDenoiser gives an AsyncDenoiser (the two calls one after the other).
 */
export function classifierFreeGuidance<C>(denoiser: AsyncDenoiser<C>, options: ClassifierFreeGuidanceOptions): AsyncDenoiser<CFGCond<C>>;
export function classifierFreeGuidance<C>(denoiser: Denoiser<C>, options: ClassifierFreeGuidanceOptions): Denoiser<CFGCond<C>>;
export function classifierFreeGuidance<C>(denoiser: Denoiser<C> | AsyncDenoiser<C>, options: ClassifierFreeGuidanceOptions): Denoiser<CFGCond<C>> | AsyncDenoiser<CFGCond<C>> {
  const op = 'classifierFreeGuidance';
  checkFunction(op, 'denoiser', denoiser);
  checkOptionsObject(op, options, 'scale');
  checkScale(op, options.scale);
  const scale = options.scale;
  const checkArgs = (x: Tensor, sigma: number, c: CFGCond<C>): number => checkCall(op, scale, x, sigma, c, false);
  if (isAsyncDenoiser(denoiser)) {
    return asyncDenoiser(async (x: Tensor, sigma: number, c: CFGCond<C>): Promise<Tensor> => {
      const w = checkArgs(x, sigma, c);
      let x0c: Tensor | undefined;
      let x0u: Tensor | undefined;
      try {
        x0c = await denoiser(x, sigma, c.cond);
        checkLike(op, 'the denoiser (conditional branch)', x0c, x);
        x0u = await denoiser(x, sigma, c.uncond);
        checkLike(op, 'the denoiser (unconditional branch)', x0u, x);
        const [a, b] = [x0c, x0u];
        return engine.tidy(() => combine(a, b, w));
      } finally {
        disposeExcept([x, c], x0c, x0u);
      }
    });
  }
  const sync = denoiser as Denoiser<C>;
  return (x: Tensor, sigma: number, c: CFGCond<C>): Tensor => {
    const w = checkArgs(x, sigma, c);
    const denoiser = sync;
    return engine.tidy(() => {
      const x0c = denoiser(x, sigma, c.cond);
      checkLike(op, 'the denoiser (conditional branch)', x0c, x);
      const x0u = denoiser(x, sigma, c.uncond);
      checkLike(op, 'the denoiser (unconditional branch)', x0u, x);
      return combine(x0c, x0u, w);
    });
  };
}

/**
 * Classifier-free guidance in one network call: x is repeated along the batch axis, the two
 * conditions are joined with `options.concat` (conditional first), and the [2B, ...] output is
 * split back into the two halves. For a denoiser that treats batch rows independently the result
 * equals `classifierFreeGuidance`'s (bit for bit on the reference backend). An AsyncDenoiser
 * gives an AsyncDenoiser; the joined condition and the doubled batch live until it settles.
 */
export function classifierFreeGuidanceBatched<C, B>(denoiser: AsyncDenoiser<B>, options: ClassifierFreeGuidanceBatchedOptions<C, B>): AsyncDenoiser<CFGCond<C>>;
export function classifierFreeGuidanceBatched<C, B>(denoiser: Denoiser<B>, options: ClassifierFreeGuidanceBatchedOptions<C, B>): Denoiser<CFGCond<C>>;
export function classifierFreeGuidanceBatched<C, B>(denoiser: Denoiser<B> | AsyncDenoiser<B>, options: ClassifierFreeGuidanceBatchedOptions<C, B>): Denoiser<CFGCond<C>> | AsyncDenoiser<CFGCond<C>> {
  const op = 'classifierFreeGuidanceBatched';
  checkFunction(op, 'denoiser', denoiser);
  checkOptionsObject(op, options, 'scale and concat');
  checkScale(op, options.scale);
  checkFunction(op, 'options.concat', options.concat);
  const { scale, concat: join } = options;
  const checkArgs = (x: Tensor, sigma: number, c: CFGCond<C>): number => checkCall(op, scale, x, sigma, c, true);
  if (isAsyncDenoiser(denoiser)) {
    return asyncDenoiser(async (x: Tensor, sigma: number, c: CFGCond<C>): Promise<Tensor> => {
      const w = checkArgs(x, sigma, c);
      // Made in a scope of their own and kept (tidy keeps what it returns) until the call settles.
      const inputs = engine.tidy(() => ({ xx: concat([x, x], 0), joined: join(c.cond, c.uncond) }));
      let out: Tensor | undefined;
      try {
        out = await denoiser(inputs.xx, sigma, inputs.joined);
        checkLike(op, 'the denoiser (on the doubled batch)', out, inputs.xx);
        const o = out;
        return engine.tidy(() => {
          const [x0c, x0u] = split(o, 2, 0) as [Tensor, Tensor];
          return combine(x0c, x0u, w);
        });
      } finally {
        disposeExcept([x, c], inputs, out);
      }
    });
  }
  const sync = denoiser as Denoiser<B>;
  return (x: Tensor, sigma: number, c: CFGCond<C>): Tensor => {
    const w = checkArgs(x, sigma, c);
    const denoiser = sync;
    return engine.tidy(() => {
      const xx = concat([x, x], 0);
      const out = denoiser(xx, sigma, join(c.cond, c.uncond));
      checkLike(op, 'the denoiser (on the doubled batch)', out, xx);
      const [x0c, x0u] = split(out, 2, 0) as [Tensor, Tensor];
      return combine(x0c, x0u, w);
    });
  };
}
