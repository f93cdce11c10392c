// Training utilities: gradient clipping, an exponential moving average of parameters, and
// learning-rate schedules (plain functions of the step, as the samplers' noise schedules are).

import { InvalidArgumentError, ShapeError, describe } from '../errors/index.js';
import { engine } from '../engine/engine.js';
import { Tensor } from '../tensor/tensor.js';
import { shapesEqual } from '../tensor/shape.js';
import { add, cast, mul, sqrt, minimum, div } from '../ops/elementwise.js';
import { fullOn, variable } from '../ops/creation.js';
import { sum } from '../ops/reduce.js';

function checkClipArgs(op: string, grads: readonly Tensor[], maxNorm: number, eps: number): void {
  if (!(typeof maxNorm === 'number' && maxNorm > 0)) throw new InvalidArgumentError(`${op}: maxNorm must be a positive number, got ${describe(maxNorm)}`);
  if (!(typeof eps === 'number' && eps >= 0 && Number.isFinite(eps))) throw new InvalidArgumentError(`${op}: eps must be a non-negative finite number, got ${describe(eps)}`);
  if (!Array.isArray(grads)) throw new InvalidArgumentError(`${op}: grads must be an array of tensors, got ${describe(grads)}`);
  grads.forEach((g, i) => {
    if (!(g instanceof Tensor)) throw new InvalidArgumentError(`${op}: grads[${i}] must be a Tensor, got ${describe(g)}`);
    g._check(op);
  });
}

/** The clipped gradients and the norm as a scalar tensor (the caller reads and frees it). */
function clipWithNormTensor(grads: readonly Tensor[], maxNorm: number, eps: number): { grads: Tensor[]; normT: Tensor } {
  return engine.noGrad(() => {
    const normT = engine.tidy(() => sqrt(grads.map((g) => sum(mul(g, g))).reduce((a, b) => add(a, b))));
    const scale = engine.tidy(() => minimum(div(maxNorm, add(normT, eps)), 1));
    // The scale has the widest dtype among the gradients: each gradient keeps its own dtype.
    const out = grads.map((g) => (g.dtype === scale.dtype ? mul(g, scale) : engine.tidy(() => mul(g, cast(scale, g.dtype)))));
    scale.dispose();
    return { grads: out, normT };
  });
}

/**
 * Scales gradients so that their global L2 norm is at most `maxNorm` (torch's
 * clip_grad_norm_). Returns new gradient tensors and the norm before clipping; the inputs are
 * left as they are (dispose them if they are no longer needed). The norm is read back
 * synchronously: on backends that read only asynchronously (WebGPU) use clipGradNormAsync.
 */
export function clipGradNorm(grads: readonly Tensor[], maxNorm: number, eps = 1e-6): { grads: Tensor[]; norm: number } {
  checkClipArgs('clipGradNorm', grads, maxNorm, eps);
  // No gradients: the norm of nothing is 0 (as torch), nothing to scale.
  if (grads.length === 0) return { grads: [], norm: 0 };
  const { grads: out, normT } = clipWithNormTensor(grads, maxNorm, eps);
  try {
    return { grads: out, norm: normT.item() };
  } finally {
    normT.dispose();
  }
}

/** clipGradNorm with the norm read back asynchronously (every backend, WebGPU included). */
export async function clipGradNormAsync(grads: readonly Tensor[], maxNorm: number, eps = 1e-6): Promise<{ grads: Tensor[]; norm: number }> {
  checkClipArgs('clipGradNormAsync', grads, maxNorm, eps);
  if (grads.length === 0) return { grads: [], norm: 0 };
  const { grads: out, normT } = clipWithNormTensor(grads, maxNorm, eps);
  try {
    return { grads: out, norm: (await normT.data())[0] as number };
  } catch (e) {
    for (const g of out) g.dispose();
    throw e;
  } finally {
    normT.dispose();
  }
}

export interface EMAOptions {
  /** Default 0.9999. */
  decay?: number;
  /**
   * When set, the n-th update (n = 1, 2, ...) uses min(decay, (1 + n) / (warmup + n)), the schedule of
   * the DDPM / LDM training code, so early averages do not stick to the initialisation.
   */
  warmup?: number;
}

/** An exponential moving average of parameters (shadow copies kept as variables). */
export class EMA {
  readonly params: readonly Tensor[];
  readonly shadow: Tensor[];
  readonly decay: number;
  readonly warmup: number | undefined;
  private steps = 0;

  constructor(params: readonly Tensor[], options: EMAOptions = {}) {
    if (!Array.isArray(params) || params.length === 0) throw new InvalidArgumentError(`EMA: params must be a non-empty array of tensors, got ${describe(params)}`);
    params.forEach((p, i) => {
      if (!(p instanceof Tensor)) throw new InvalidArgumentError(`EMA: params[${i}] must be a Tensor, got ${describe(p)}`);
      p._check('EMA');
    });
    this.decay = options.decay ?? 0.9999;
    if (!(typeof this.decay === 'number' && this.decay >= 0 && this.decay <= 1)) throw new InvalidArgumentError(`EMA: options.decay must be in [0, 1], got ${describe(options.decay)}`);
    if (options.warmup !== undefined && !(typeof options.warmup === 'number' && options.warmup >= 1 && Number.isFinite(options.warmup))) {
      // Below 1 the ramp (1 + step) / (warmup + step) starts above 1 or divides by zero.
      throw new InvalidArgumentError(`EMA: options.warmup must be a finite number >= 1, got ${describe(options.warmup)}`);
    }
    this.warmup = options.warmup;
    this.params = [...params];
    this.shadow = params.map((p, i) => variable(p, `ema.${i}`));
  }

  get stepCount(): number {
    return this.steps;
  }

  /** The decay the next update uses. */
  currentDecay(): number {
    if (this.warmup === undefined) return this.decay;
    // LDM's LitEma counts the update first: the n-th update (n = 1, 2, ...) uses (1 + n) / (warmup + n).
    const n = this.steps + 1;
    return Math.min(this.decay, (1 + n) / (this.warmup + n));
  }

  /**
   * shadow = d * shadow + (1 - d) * param. Can be recorded into a graph: the decay then comes
   * from scalar variables that a host step writes before each replay.
   */
  update(): void {
    if (engine.capturing) {
      const vars = this.decayVariables();
      engine.hostStep(() => {
        const d = this.currentDecay();
        this.steps++;
        engine.noGrad(() =>
          vars.forEach(([dv, rv]) => {
            engine.tidy(() => dv.assign(fullOn(dv, [], d, dv.dtype)));
            engine.tidy(() => rv.assign(fullOn(rv, [], 1 - d, rv.dtype)));
          }),
        );
      });
      const byDtype = new Map(vars.map((v) => [v[0].dtype, v]));
      engine.noGrad(() =>
        this.shadow.forEach((s, i) => {
          const [dv, rv] = byDtype.get(s.dtype)!;
          engine.tidy(() => s.assign(add(mul(s, dv), mul(this.params[i]!, rv))));
        }),
      );
      return;
    }
    const d = this.currentDecay();
    this.steps++;
    engine.noGrad(() =>
      this.shadow.forEach((s, i) => engine.tidy(() => s.assign(add(mul(s, d), mul(this.params[i]!, 1 - d))))),
    );
  }

  /** [d, 1 - d] scalar variables per shadow dtype, for recorded updates. */
  private decayVars: [Tensor, Tensor][] | null = null;
  private decayVariables(): [Tensor, Tensor][] {
    if (!this.decayVars) {
      const seen = new Map<string, Tensor>();
      for (const s of this.shadow) if (!seen.has(s.dtype)) seen.set(s.dtype, s);
      this.decayVars = engine.withoutInterceptor(() =>
        engine.noGrad(() =>
          [...seen.values()].map((like) => {
            const mk = (name: string): Tensor => {
              const z = fullOn(like, [], 0, like.dtype);
              const v = variable(z, name);
              z.dispose();
              return v;
            };
            return [mk('ema.decay'), mk('ema.oneMinusDecay')] as [Tensor, Tensor];
          }),
        ),
      );
    }
    return this.decayVars;
  }

  /** Copies the averaged values into the parameters (for evaluation or export). */
  copyTo(targets: readonly Tensor[] = this.params): void {
    if (!Array.isArray(targets) || targets.length !== this.shadow.length) {
      throw new InvalidArgumentError(`EMA.copyTo: targets must hold one variable per parameter (${this.shadow.length}), got ${describe(Array.isArray(targets) ? targets.length : targets)}`);
    }
    targets.forEach((t, i) => {
      if (!(t instanceof Tensor)) throw new InvalidArgumentError(`EMA.copyTo: targets[${i}] must be a variable, got ${describe(t)}`);
      if (!shapesEqual(t.shape, this.shadow[i]!.shape)) throw new ShapeError(`EMA.copyTo: targets[${i}] must have shape ${describe(this.shadow[i]!.shape)}, got ${describe(t.shape)}`);
    });
    engine.noGrad(() => targets.forEach((t, i) => engine.tidy(() => t.assign(add(this.shadow[i]!, 0)))));
  }

  /**
   * Restores a saved average (for resumed training): copies `shadow` values into the shadow
   * variables and sets the update count that the warmup ramp depends on.
   */
  loadState(shadow: readonly Tensor[], stepCount: number): void {
    if (!Number.isInteger(stepCount) || stepCount < 0) throw new InvalidArgumentError(`EMA.loadState: stepCount must be a non-negative integer, got ${describe(stepCount)}`);
    if (!Array.isArray(shadow) || shadow.length !== this.shadow.length) {
      throw new InvalidArgumentError(`EMA.loadState: shadow must hold one tensor per parameter (${this.shadow.length}), got ${describe(Array.isArray(shadow) ? shadow.length : shadow)}`);
    }
    shadow.forEach((t, i) => {
      if (!(t instanceof Tensor)) throw new InvalidArgumentError(`EMA.loadState: shadow[${i}] must be a Tensor, got ${describe(t)}`);
      if (!shapesEqual(t.shape, this.shadow[i]!.shape)) throw new ShapeError(`EMA.loadState: shadow[${i}] must have shape ${describe(this.shadow[i]!.shape)}, got ${describe(t.shape)}`);
    });
    engine.noGrad(() => shadow.forEach((t, i) => engine.tidy(() => this.shadow[i]!.assign(cast(add(t, 0), this.shadow[i]!.dtype)))));
    this.steps = stepCount;
  }

  dispose(): void {
    for (const s of this.shadow) s.dispose();
    for (const pair of this.decayVars ?? []) for (const t of pair) t.dispose();
    this.decayVars = null;
  }
}

export type LRSchedule = (step: number) => number;

export interface WarmupDecayOptions {
  /** Peak learning rate. */
  lr: number;
  /** Linear warmup steps from 0 to lr. Default 0. */
  warmupSteps?: number;
  /** Step at which the decay ends. */
  totalSteps: number;
  /** Final learning rate. Default 0. */
  minLr?: number;
}

function checkSchedule(op: string, o: WarmupDecayOptions): Required<WarmupDecayOptions> {
  const warmupSteps = o.warmupSteps ?? 0;
  const minLr = o.minLr ?? 0;
  if (!(typeof o.lr === 'number' && o.lr >= 0 && Number.isFinite(o.lr))) throw new InvalidArgumentError(`${op}: lr must be a finite number >= 0, got ${describe(o.lr)}`);
  if (!(typeof minLr === 'number' && minLr >= 0 && Number.isFinite(minLr))) throw new InvalidArgumentError(`${op}: minLr must be a finite number >= 0, got ${describe(o.minLr)}`);
  if (!Number.isInteger(warmupSteps) || warmupSteps < 0) throw new InvalidArgumentError(`${op}: warmupSteps must be a non-negative integer, got ${describe(o.warmupSteps)}`);
  if (!Number.isInteger(o.totalSteps) || o.totalSteps <= warmupSteps) {
    throw new InvalidArgumentError(`${op}: totalSteps must be an integer > warmupSteps (${warmupSteps}), got ${describe(o.totalSteps)}`);
  }
  return { lr: o.lr, warmupSteps, totalSteps: o.totalSteps, minLr };
}

/** Constant learning rate after an optional linear warmup. */
export function constantSchedule(lr: number, warmupSteps = 0): LRSchedule {
  if (!(typeof lr === 'number' && lr >= 0 && Number.isFinite(lr))) throw new InvalidArgumentError(`constantSchedule: lr must be a finite number >= 0, got ${describe(lr)}`);
  if (!Number.isInteger(warmupSteps) || warmupSteps < 0) throw new InvalidArgumentError(`constantSchedule: warmupSteps must be a non-negative integer, got ${describe(warmupSteps)}`);
  return (step) => (warmupSteps > 0 && step < warmupSteps ? (lr * (step + 1)) / warmupSteps : lr);
}

/** Linear warmup, then linear decay to minLr at totalSteps (held there afterwards). */
export function warmupLinearSchedule(options: WarmupDecayOptions): LRSchedule {
  const o = checkSchedule('warmupLinearSchedule', options);
  return (step) => {
    if (step < o.warmupSteps) return (o.lr * (step + 1)) / o.warmupSteps;
    const t = Math.min(1, (step - o.warmupSteps) / (o.totalSteps - o.warmupSteps));
    return o.lr + (o.minLr - o.lr) * t;
  };
}

/** Linear warmup, then half-cosine decay to minLr at totalSteps (held there afterwards). */
export function warmupCosineSchedule(options: WarmupDecayOptions): LRSchedule {
  const o = checkSchedule('warmupCosineSchedule', options);
  return (step) => {
    if (step < o.warmupSteps) return (o.lr * (step + 1)) / o.warmupSteps;
    const t = Math.min(1, (step - o.warmupSteps) / (o.totalSteps - o.warmupSteps));
    return o.minLr + 0.5 * (o.lr - o.minLr) * (1 + Math.cos(Math.PI * t));
  };
}
