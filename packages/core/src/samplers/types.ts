// The sampler contract. Samplers work in the "sigma" (variance-exploding) form of
// Karras et al. / k-diffusion: a noisy sample is x = x0 + sigma * eps, and a model is wrapped
// once into a Denoiser that predicts x0 from (x, sigma). eps-, x0- and v-predicting networks,
// variance-preserving or not, become Denoisers in samplers/denoiser.ts, so no sampler branches
// on the parameterisation. A sampler is a small step function; one shared loop (sample.ts)
// handles start steps (img2img), per-step hooks (inpainting, Diffusion-LM's control loop),
// progress reports, cancellation and memory.

import type { Generator } from '../random/philox.js';
import type { Tensor } from '../tensor/tensor.js';

/** Predicts the clean sample x0 from a noisy x at noise level sigma, given a condition. */
export type Denoiser<C = unknown> = (x: Tensor, sigma: number, cond: C) => Tensor;

/**
 * A denoiser whose network runs asynchronously (an ONNX Runtime session, a worker). Made with
 * `asyncDenoiser(fn)` or `vpDenoiserAsync(net, ...)`, which mark it so that `sample` knows to
 * await it. It receives an x that stays alive until its promise settles, and is awaited
 * outside any tidy scope.
 */
export type AsyncDenoiser<C = unknown> = ((x: Tensor, sigma: number, cond: C) => Promise<Tensor>) & { readonly [ASYNC_DENOISER]: true };

/** The mark of an AsyncDenoiser. */
export const ASYNC_DENOISER: unique symbol = Symbol.for('@denoise/core.asyncDenoiser');

/** Tensors (or numbers) a multistep sampler carries from one step to the next. */
export type SamplerState = Readonly<Record<string, Tensor | number | null>>;

export interface SamplerContext {
  /** The current sample, at noise level sigmas[i]. */
  readonly x: Tensor;
  /** Index of the current step: goes from sigmas[i] to sigmas[i + 1]. */
  readonly i: number;
  /** The whole noise-level ladder, decreasing, usually ending in 0. */
  readonly sigmas: readonly number[];
  /** The denoiser with the condition bound (each call is one network evaluation). */
  readonly denoise: (x: Tensor, sigma: number) => Tensor;
  /** The generator every random draw of the step must use. */
  readonly gen: Generator;
  /** What the previous step returned as state (empty on the first step). */
  readonly state: SamplerState;
}

export interface SamplerStepResult {
  /** The sample at sigmas[i + 1]. */
  readonly x: Tensor;
  /** The prediction of x0 made during this step (for progress previews). */
  readonly x0: Tensor;
  /** State for the next step. Old state tensors not carried over are freed by the loop. */
  readonly state?: SamplerState;
  /**
   * Stochastic steps: the mean and standard deviation of the Gaussian the new x was drawn from,
   * x = mean + std * z. Hooks that need log p(x_next | x) (Diffusion-LM's controls) use them.
   */
  readonly mean?: Tensor;
  readonly std?: number;
}

export interface Sampler {
  readonly name: string;
  /** Whether steps draw fresh noise. */
  readonly stochastic: boolean;
  step(ctx: SamplerContext): SamplerStepResult;
}

export interface StepInfo {
  /** Step index (0-based) and total number of steps in the ladder. */
  readonly i: number;
  readonly total: number;
  /** Noise level before and after this step. */
  readonly sigma: number;
  readonly sigmaNext: number;
  /** The sample before the step (at sigma). */
  readonly xPrev: Tensor;
  /** The sample after the step (at sigmaNext). */
  readonly x: Tensor;
  readonly x0: Tensor;
  readonly mean?: Tensor;
  readonly std?: number;
  readonly denoise: (x: Tensor, sigma: number) => Tensor;
  readonly gen: Generator;
}

export interface ProgressInfo {
  /** Steps done so far and the total for this run (after the start step). */
  readonly step: number;
  readonly total: number;
  readonly sigma: number;
  /** The current prediction of the clean sample; valid only during the callback. */
  readonly x0: Tensor;
}

export interface SampleOptions<C = unknown> {
  /** Noise levels, strictly decreasing, typically ending in 0 (see schedules/). */
  sigmas: readonly number[];
  /** Every random draw (ancestral noise, SDE noise) comes from it. */
  gen: Generator;
  /** Passed to the denoiser. */
  cond?: C;
  /**
   * Index into sigmas to start from (img2img: x is already noised to sigmas[startStep]).
   * Default 0.
   */
  startStep?: number;
  /**
   * Called after each step; may return a replacement for the new sample (inpainting re-imposes
   * known regions; Diffusion-LM's control loop returns an optimised sample). The loop frees the
   * replaced tensor; the hook must not free the tensors it is given.
   */
  onStep?: (info: StepInfo) => Tensor | void;
  /**
   * Called after each step with the predicted x0 (alive until the callback returns, or until the
   * promise it returns settles: the loop awaits it, so a callback may read x0 asynchronously).
   */
  onProgress?: (info: ProgressInfo) => unknown;
  /** Cancels between steps with an AbortError. */
  signal?: AbortSignal;
}
