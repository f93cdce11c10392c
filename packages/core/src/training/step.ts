// One optimisation step: loss and gradients by core autograd, optional global-norm clipping, the
// optimizer's update, and the EMA update. Everything the step allocates is freed; only the
// parameters and the optimizer / EMA state persist.

import { InvalidArgumentError, describe } from '../errors/index.js';
import { Tensor } from '../tensor/tensor.js';
import { gradients } from '../autograd/index.js';
import type { Optimizer } from '../optim/optimizers.js';
import { EMA, clipGradNorm, clipGradNormAsync } from '../optim/utils.js';

export interface TrainingStepOptions {
  /** The tensors to differentiate, aligned with optimizer.params (the same variables, same order). Default: optimizer.params. */
  params?: readonly Tensor[];
  optimizer: Optimizer;
  /** Computes the scalar loss (run under the gradient tape; its temporaries are freed). */
  lossFn: () => Tensor;
  /** Updated after the optimizer step. */
  ema?: EMA;
  /** Clips the gradients to this global L2 norm (and reports the norm before clipping). */
  clipNorm?: number;
  /** Sets optimizer.lr before the step (e.g. from a schedule). */
  lr?: number;
  /**
   * Skip the update (optimizer and EMA) when the loss, or the gradient norm when clipping, is not
   * finite, instead of writing NaN into the parameters. Default true.
   */
  skipNonFinite?: boolean;
}

export interface TrainingStepResult {
  loss: number;
  /** The global gradient norm before clipping (only when clipNorm is set). */
  gradNorm?: number;
  /** True when the update was skipped because of a non-finite loss or gradient norm. */
  skipped?: boolean;
}

interface CheckedStep {
  optimizer: Optimizer;
  params: readonly Tensor[];
  lossFn: () => Tensor;
  ema: EMA | undefined;
  clipNorm: number | undefined;
  skipNonFinite: boolean;
}

function checkStep(op: string, options: TrainingStepOptions): CheckedStep {
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError(`${op}: options must be an object with optimizer and lossFn, got ${describe(options)}`);
  const { optimizer, lossFn, ema, clipNorm, lr } = options;
  if (typeof optimizer !== 'object' || optimizer === null || typeof optimizer.step !== 'function' || !Array.isArray(optimizer.params)) {
    throw new InvalidArgumentError(`${op}: options.optimizer must be an Optimizer (SGD, Adam, AdamW, Adagrad), got ${describe(optimizer)}`);
  }
  if (typeof lossFn !== 'function') throw new InvalidArgumentError(`${op}: options.lossFn must be a function returning the scalar loss, got ${describe(lossFn)}`);
  const params = options.params ?? optimizer.params;
  if (!Array.isArray(params) || params.length !== optimizer.params.length || params.some((p, i) => p !== optimizer.params[i])) {
    throw new InvalidArgumentError(
      `${op}: options.params must be the optimizer's parameters in the same order (${optimizer.params.length} tensors), got ${describe(Array.isArray(params) ? `${params.length} tensors, not all the optimizer's` : params)}`,
    );
  }
  if (ema !== undefined && !(ema instanceof EMA)) throw new InvalidArgumentError(`${op}: options.ema must be an EMA, got ${describe(ema)}`);
  if (clipNorm !== undefined && !(typeof clipNorm === 'number' && clipNorm > 0)) throw new InvalidArgumentError(`${op}: options.clipNorm must be a positive number, got ${describe(clipNorm)}`);
  if (lr !== undefined) {
    if (!(typeof lr === 'number' && lr >= 0 && Number.isFinite(lr))) throw new InvalidArgumentError(`${op}: options.lr must be a finite number >= 0, got ${describe(lr)}`);
    optimizer.lr = lr;
  }
  return { optimizer, params, lossFn, ema, clipNorm, skipNonFinite: options.skipNonFinite ?? true };
}

/** The update after the reads: skipped when a read value is not finite (and skipNonFinite). */
function finish(s: CheckedStep, loss: number, gradNorm: number | undefined, update: readonly Tensor[]): TrainingStepResult {
  const result: TrainingStepResult = gradNorm === undefined ? { loss } : { loss, gradNorm };
  if (s.skipNonFinite && (!Number.isFinite(loss) || (gradNorm !== undefined && !Number.isFinite(gradNorm)))) {
    result.skipped = true;
    return result;
  }
  s.optimizer.step(update);
  s.ema?.update();
  return result;
}

/**
 * Runs one training step and returns the loss (read back synchronously, so the backend needs
 * synchronous reads, as clipGradNorm does; trainingStepAsync reads asynchronously) and, when
 * clipping, the gradient norm.
 */
export function trainingStep(options: TrainingStepOptions): TrainingStepResult {
  const s = checkStep('trainingStep', options);
  const { value, grads } = gradients(s.lossFn, s.params);
  let clipped: Tensor[] | null = null;
  try {
    const loss = value.item();
    let gradNorm: number | undefined;
    if (s.clipNorm !== undefined) {
      const c = clipGradNorm(grads, s.clipNorm);
      clipped = c.grads;
      gradNorm = c.norm;
    }
    return finish(s, loss, gradNorm, clipped ?? grads);
  } finally {
    value.dispose();
    for (const g of grads) g.dispose();
    if (clipped) for (const g of clipped) g.dispose();
  }
}

/** trainingStep with the loss and gradient norm read back asynchronously: every backend, WebGPU included. Same result. */
export async function trainingStepAsync(options: TrainingStepOptions): Promise<TrainingStepResult> {
  const s = checkStep('trainingStepAsync', options);
  const { value, grads } = gradients(s.lossFn, s.params);
  let clipped: Tensor[] | null = null;
  try {
    let gradNorm: number | undefined;
    if (s.clipNorm !== undefined) {
      const c = await clipGradNormAsync(grads, s.clipNorm);
      clipped = c.grads;
      gradNorm = c.norm;
    }
    const loss = (await value.data())[0] as number;
    return finish(s, loss, gradNorm, clipped ?? grads);
  } finally {
    value.dispose();
    for (const g of grads) g.dispose();
    if (clipped) for (const g of clipped) g.dispose();
  }
}
