// Diffusion-LM's end-to-end training objective (Li et al. 2022, eq. 2 with the x0
// parameterisation of section 4.2; the release's training_losses_e2e), for a batch of word ids w:
//
//   x0 ~ q(x0 | w) = N(EMB(w), (1 - abar_0) I)              the embedding step
//   x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps             t ~ U{0, .., T-1}
//   L_simple     = || f(x_t, t) - x0 ||^2                     (t > 0)
//   L_embedding  = || f(x_t, t) - EMB(w) ||^2                 (t = 0: the x1 -> x0 term)
//   L_prior      = || sqrt(abar_{T-1}) x0 ||^2                keeps embedding norms in check
//   L_rounding   = -log p(w | x0) = CE(x0 EMB^T, w)          the rounding step
//
// Squared errors are means over the sequence and embedding axes (the release's mean_flat), the
// rounding term a mean over positions, everything then a mean over the batch.

import {
  type Backend,
  type Generator,
  type Tensor,
  InvalidArgumentError,
  add,
  crossEntropy,
  describe,
  engine,
  mean,
  mul,
  reshape,
  square,
  sub,
  sqrtBetas,
  alphasCumprodFromBetas,
  tensor,
} from '@denoise/core';
import { type DiffusionLMConfig, type Params, denoise, embed, roundingLogits } from './model.js';

/** The noise schedule of a config: Diffusion-LM's sqrt schedule over T steps. */
export interface Schedule {
  readonly T: number;
  /** abar_t for t = 0 .. T-1. */
  readonly alphasCumprod: Float64Array;
}

export function sqrtSchedule(T: number): Schedule {
  return { T, alphasCumprod: alphasCumprodFromBetas(sqrtBetas(T)) };
}

/** One training batch: ids and the random draws of the objective (made on the host by makeBatch). */
export interface DiffusionLMBatch {
  /** Word ids [B, n] (int32). */
  readonly ids: Tensor;
  /** Timesteps as floats [B] (for the time embedding). */
  readonly t: Tensor;
  /** sqrt(abar_t) [B, 1, 1]. */
  readonly sqrtAbar: Tensor;
  /** sqrt(1 - abar_t) [B, 1, 1]. */
  readonly sqrtOneMinusAbar: Tensor;
  /** 1 where t = 0, else 0: [B]. */
  readonly isT0: Tensor;
  /** The embedding step's noise [B, n, d]. */
  readonly noise0: Tensor;
  /** The forward process's noise [B, n, d]. */
  readonly noise: Tensor;
}

export interface LossTerms {
  /** The objective: mean over the batch of (L_simple or L_embedding) + L_prior + L_rounding. */
  readonly loss: Tensor;
  /** Per-example terms [B]. */
  readonly simple: Tensor;
  readonly prior: Tensor;
  readonly rounding: Tensor;
}

/** Mean over every axis but the first: [B, ...] -> [B]. */
function meanFlat(x: Tensor): Tensor {
  return mean(x, x.shape.map((_, i) => i).slice(1));
}

/**
 * The terms from the model's output: `out` = f(x_t, t), `xStart` the sampled x0, `xStartMean`
 * = EMB(w). Separated from the network so that it can be checked against hand-computed values.
 */
export function lossTerms(p: Params, ids: Tensor, xStartMean: Tensor, xStart: Tensor, out: Tensor, isT0: Tensor, sqrtAbarLast: number): LossTerms {
  const simpleAll = meanFlat(square(sub(xStart, out)));
  const embTerm = meanFlat(square(sub(xStartMean, out)));
  // where(t == 0, L_embedding, L_simple), written as a blend so that it is differentiable in both.
  const simple = add(mul(embTerm, isT0), mul(simpleAll, sub(1, isT0)));
  const prior = meanFlat(square(mul(xStart, sqrtAbarLast)));
  const [B, n] = ids.shape as [number, number];
  const rounding = mean(reshape(crossEntropy(roundingLogits(p, xStart), ids, { reduction: 'none' }), [B, n]), [1]);
  return { loss: mean(add(add(simple, prior), rounding)), simple, prior, rounding };
}

/** The whole objective for a batch (forward pass included). */
export function diffusionLMLoss(p: Params, c: DiffusionLMConfig, schedule: Schedule, batch: DiffusionLMBatch): LossTerms {
  const abar = schedule.alphasCumprod;
  const xStartMean = embed(p, batch.ids);
  const xStart = add(xStartMean, mul(batch.noise0, Math.sqrt(1 - abar[0]!)));
  const xt = add(mul(xStart, batch.sqrtAbar), mul(batch.noise, batch.sqrtOneMinusAbar));
  const out = denoise(p, c, xt, batch.t);
  return lossTerms(p, batch.ids, xStartMean, xStart, out, batch.isT0, Math.sqrt(abar[schedule.T - 1]!));
}

/**
 * Draws a batch's timesteps (uniform over 0 .. T-1) and noise with `gen`, for word ids [B * n]
 * laid out row by row, and uploads everything to `backend`.
 */
export function makeBatch(ids: Int32Array, B: number, c: DiffusionLMConfig, schedule: Schedule, gen: Generator, backend?: Backend): DiffusionLMBatch {
  const n = c.seqLen;
  if (!(ids instanceof Int32Array) || ids.length !== B * n) throw new InvalidArgumentError(`makeBatch: ids must be an Int32Array of B * seqLen = ${B * n} ids, got ${describe(ids)}`);
  const b = backend ?? engine.backend;
  const ts = gen.randintArray(B, 0, schedule.T);
  const abar = schedule.alphasCumprod;
  const f = (values: ArrayLike<number>, shape: number[]): Tensor => tensor(Float32Array.from(values), shape, { backend: b });
  return {
    ids: tensor(ids, [B, n], { dtype: 'int32', backend: b }),
    t: f(ts, [B]),
    sqrtAbar: f(Array.from(ts, (t) => Math.sqrt(abar[t]!)), [B, 1, 1]),
    sqrtOneMinusAbar: f(Array.from(ts, (t) => Math.sqrt(1 - abar[t]!)), [B, 1, 1]),
    isT0: f(Array.from(ts, (t) => (t === 0 ? 1 : 0)), [B]),
    noise0: f(gen.normalArray(B * n * c.embedDim), [B, n, c.embedDim]),
    noise: f(gen.normalArray(B * n * c.embedDim), [B, n, c.embedDim]),
  };
}

/** Frees a batch's tensors. */
export function disposeBatch(batch: DiffusionLMBatch): void {
  for (const t of Object.values(batch)) t.dispose();
}
