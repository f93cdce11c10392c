// The one sampling loop shared by every sampler: validates the ladder, runs each step in a
// scope, carries multistep state, applies the per-step hook, reports progress, honours an
// AbortSignal between steps, and frees everything it does not return.

import { AbortError, InvalidArgumentError, ShapeError, describe } from '../errors/index.js';
import { engine, collectTensors } from '../engine/engine.js';
import { Generator } from '../random/philox.js';
import { Tensor } from '../tensor/tensor.js';
import type { AsyncDenoiser, Denoiser, SampleOptions, Sampler, SamplerState } from './types.js';
import { isAsyncDenoiser } from './denoiser.js';

/** Thrown inside a step that needs an async evaluation the loop has not awaited yet. */
class PendingEvaluation {
  constructor(
    readonly x: Tensor,
    readonly sigma: number,
  ) {}
}

function copyOf(t: Tensor): Tensor {
  return engine.runKernel('reshape', [t], {}, { shape: t.shape, dtype: t.dtype }, 'sample');
}

/** Lets timers and abort events run between steps (browsers and Node alike). */
export function yieldToEventLoop(): Promise<void> {
  const g = globalThis as { setImmediate?: (cb: () => void) => unknown };
  return new Promise((resolve) => (g.setImmediate ? g.setImmediate(resolve) : setTimeout(resolve, 0)));
}

export function checkSigmas(op: string, sigmas: readonly number[]): void {
  if (!Array.isArray(sigmas) || sigmas.length < 2) throw new InvalidArgumentError(`${op}: sigmas must hold at least two noise levels, got ${describe(sigmas)}`);
  for (let i = 0; i < sigmas.length; i++) {
    const s = sigmas[i]!;
    if (typeof s !== 'number' || !(s >= 0) || !Number.isFinite(s)) throw new InvalidArgumentError(`${op}: sigmas[${i}] must be a finite number >= 0, got ${describe(s)}`);
    if (i > 0 && !(s < sigmas[i - 1]!)) throw new InvalidArgumentError(`${op}: sigmas must be strictly decreasing, but sigmas[${i}] = ${s} follows ${sigmas[i - 1]}`);
  }
}

function throwIfAborted(op: string, signal: AbortSignal | undefined, step: number): void {
  if (signal?.aborted) {
    const reason = signal.reason instanceof Error ? signal.reason.message : signal.reason !== undefined ? String(signal.reason) : 'aborted';
    throw new AbortError(`${op}: cancelled before step ${step} (${reason})`, { cause: signal.reason });
  }
}

function stateTensors(state: SamplerState | undefined): Set<Tensor> {
  const s = new Set<Tensor>();
  if (state) collectTensors(state, s);
  return s;
}

/**
 * Runs `sampler` over `options.sigmas` from x (at sigmas[startStep]) and returns the final
 * sample (at the last sigma). `x` itself is left alive; everything else made here is freed.
 *
 * The denoiser may be an AsyncDenoiser (`vpDenoiserAsync`, `asyncDenoiser`): sampler steps are
 * synchronous, so a step that asks for an evaluation the loop does not have yet is stopped, the
 * loop awaits that evaluation, and the step runs again from the same sample, state and generator
 * position with the result in hand. A step with k evaluations thus runs k + 1 times; only its
 * arithmetic repeats, never a network call. onStep hooks cannot call an async denoiser.
 */
export async function sample<C>(sampler: Sampler, denoiser: Denoiser<C> | AsyncDenoiser<C>, x: Tensor, options: SampleOptions<C>): Promise<Tensor> {
  const op = `sample(${sampler.name})`;
  checkSigmas(op, options.sigmas);
  if (!(x instanceof Tensor)) throw new InvalidArgumentError(`${op}: x must be a Tensor, got ${describe(x)}`);
  x._check(op);
  if (!(options.gen instanceof Generator)) throw new InvalidArgumentError(`${op}: options.gen must be a Generator, got ${describe(options.gen)}`);
  const sigmas = options.sigmas;
  const steps = sigmas.length - 1;
  const start = options.startStep ?? 0;
  if (!Number.isInteger(start) || start < 0 || start >= steps) throw new InvalidArgumentError(`${op}: options.startStep must be an integer in [0, ${steps - 1}], got ${describe(start)}`);
  const cond = options.cond as C;
  const checkX0 = (xi: Tensor, out: unknown): Tensor => {
    if (!(out instanceof Tensor) || out.shape.length !== xi.shape.length || out.shape.some((d, k) => d !== xi.shape[k])) {
      const hint = out instanceof Promise ? ' (a Promise: mark async denoisers with asyncDenoiser() or use vpDenoiserAsync)' : '';
      throw new ShapeError(`${op}: the denoiser must return x0 shaped like x ${describe(xi.shape)}, got ${out instanceof Tensor ? describe(out.shape) : describe(out)}${hint}`);
    }
    return out;
  };
  const isAsync = isAsyncDenoiser(denoiser);
  // Async evaluations awaited for the step in flight, in the order the step asks for them.
  let evals: { sigma: number; x0: Tensor }[] = [];
  let evalIndex = 0;
  let inHook = false;
  const denoise = (xi: Tensor, sigma: number): Tensor => {
    if (!isAsync) return checkX0(xi, (denoiser as Denoiser<C>)(xi, sigma, cond));
    if (inHook) throw new InvalidArgumentError(`${op}: an onStep hook cannot evaluate an async denoiser (it would have to be awaited inside a synchronous hook)`);
    const done = evals[evalIndex];
    if (done) {
      if (done.sigma !== sigma) throw new InvalidArgumentError(`${op}: the sampler asked for sigma ${sigma} where its previous run of this step asked for ${done.sigma}; async denoisers need deterministic steps`);
      evalIndex++;
      return copyOf(done.x0);
    }
    throw new PendingEvaluation(engine.keep(copyOf(xi)), sigma);
  };
  const runStep = async (i: number): Promise<ReturnType<Sampler['step']>> => {
    if (!isAsync) return engine.tidy(() => sampler.step({ x: current, i, sigmas, denoise, gen: options.gen, state }));
    const genState = options.gen.state;
    try {
      for (;;) {
        evalIndex = 0;
        try {
          return engine.tidy(() => sampler.step({ x: current, i, sigmas, denoise, gen: options.gen, state }));
        } catch (e) {
          if (!(e instanceof PendingEvaluation)) throw e;
          options.gen.setState(genState);
          try {
            const x0 = checkX0(e.x, await (denoiser as AsyncDenoiser<C>)(e.x, e.sigma, cond));
            evals.push({ sigma: e.sigma, x0: engine.keep(x0) });
          } finally {
            e.x.dispose();
          }
          throwIfAborted(op, options.signal, i);
        }
      }
    } finally {
      for (const ev of evals) ev.x0.dispose();
      evals = [];
    }
  };

  let current = x;
  let state: SamplerState = {};
  // The caller's x is never freed here, even when a sampler keeps it in its state (a denoiser
  // may return its input as x0). `pending` holds the tensors of the step in flight, freed if the
  // hook or the progress callback throws before the step is committed.
  const free = (t: Tensor): void => {
    if (t !== x) t.dispose();
  };
  let pending = new Set<Tensor>();
  try {
    for (let i = start; i < steps; i++) {
      throwIfAborted(op, options.signal, i);
      const result = await runStep(i);
      const newState = stateTensors(result.state);
      pending = new Set([...newState, result.x, result.x0, ...(result.mean ? [result.mean] : [])]);
      let next = result.x;
      if (options.onStep) {
        inHook = true;
        let replaced: Tensor | void;
        try {
          replaced = engine.tidy(() =>
            options.onStep!({
              i, total: steps, sigma: sigmas[i]!, sigmaNext: sigmas[i + 1]!, xPrev: current, x: next, x0: result.x0,
              ...(result.mean ? { mean: result.mean } : {}), ...(result.std !== undefined ? { std: result.std } : {}), denoise, gen: options.gen,
            }),
          );
        } finally {
          inHook = false;
        }
        if (replaced instanceof Tensor && replaced !== next) {
          pending.add(replaced);
          if (replaced.shape.length !== next.shape.length || replaced.shape.some((d, k) => d !== next.shape[k])) {
            throw new ShapeError(`${op}: onStep must return a sample shaped like x ${describe(next.shape)}, got ${describe(replaced.shape)}`);
          }
          if (!newState.has(next)) free(next);
          next = replaced;
        }
      }
      const progressed = options.onProgress?.({ step: i - start + 1, total: steps - start, sigma: sigmas[i + 1]!, x0: result.x0 });
      // An async callback (reading x0 back from a GPU) is awaited while x0 is alive.
      if (progressed instanceof Promise) await progressed;
      // Free what this step no longer needs: the previous sample (not the caller's), the x0 and
      // mean of this step, and old state that the new state does not carry over.
      const keep = newState;
      keep.add(next);
      for (const t of stateTensors(state)) if (!keep.has(t)) free(t);
      if (!keep.has(current)) free(current);
      for (const t of [result.x0, result.mean]) if (t && !keep.has(t)) free(t);
      pending = new Set();
      current = next;
      state = result.state ?? {};
      if (i + 1 < steps) await yieldToEventLoop();
    }
  } catch (e) {
    for (const t of [...pending, ...stateTensors(state), current]) free(t);
    throw e;
  }
  for (const t of stateTensors(state)) if (t !== current) free(t);
  return current;
}
