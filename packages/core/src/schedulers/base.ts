// What every diffusers-style scheduler shares: the schedule tables, argument checks, the tensor
// ownership rules, and noise for stochastic steps.
//
// Ownership: every tensor a scheduler method returns is new and belongs to the caller (inside a
// tidy() it is freed with the scope). Tensors a scheduler keeps between steps (multistep history,
// Heun's first half-step) are its own copies, kept out of every scope, and freed when they drop
// out of the history, on setTimesteps(), and on reset().

import { DTypeError, InvalidArgumentError, ShapeError, describe } from '../errors/index.js';
import { engine } from '../engine/engine.js';
import { add, cast, div, maximum, minimum, mul, neg } from '../ops/elementwise.js';
import { randn } from '../random/index.js';
import { Generator } from '../random/philox.js';
import { shapesEqual } from '../tensor/shape.js';
import { Tensor } from '../tensor/tensor.js';
import { type DiffusersSchedulerConfig, type SchedulerClassName, resolveConfig } from './config.js';
import { type BetaScheduleName, cumprod32, f32, makeBetas, rescaleZeroTerminalSnr, thresholdScales } from './numerics.js';

/** Options of `step()`. Each scheduler reads only the ones diffusers' step takes; others are ignored. */
export interface SchedulerStepOptions {
  /** Randomness for stochastic steps (ancestral noise, DDIM with eta > 0, DDPM, SDE variants, Euler churn). */
  gen?: Generator;
  /**
   * The exact standard-normal noise a stochastic step adds, shaped like the sample (diffusers'
   * `variance_noise`; also how the tests inject the noise diffusers drew). Overrides `gen`:
   * the generator is then not advanced. Ignored by steps that draw no noise.
   */
  noise?: Tensor;
  /** DDIM: weight of the added noise, 0 (DDIM) to 1 (DDPM-like). Default 0. */
  eta?: number;
  /** DDIM: re-derive the noise prediction from the clipped x0. Default false. */
  useClippedModelOutput?: boolean;
  /** EulerDiscrete stochasticity ("churn", Karras et al. 2022). Defaults 0, 0, Infinity, 1. */
  sChurn?: number;
  sTmin?: number;
  sTmax?: number;
  sNoise?: number;
}

export interface SchedulerStepOutput {
  /** The sample at the next (lower-noise) timestep. */
  prevSample: Tensor;
  /**
   * The model's estimate of the clean sample made in this step, where the diffusers scheduler
   * returns one (DDIM, DDPM, Euler, Euler ancestral, Heun), plus DPM-Solver's dpmsolver++ and
   * sde-dpmsolver++ data prediction; null for PNDM and the (sde-)dpmsolver noise prediction.
   */
  predOriginalSample: Tensor | null;
}

/** The common surface of the diffusers-compatible schedulers (camelCase of diffusers' names). */
export interface DiffusersScheduler {
  /** diffusers class this instance reproduces. */
  readonly className: SchedulerClassName;
  /** The resolved config: every key the class takes, defaults filled in, snake_case. */
  readonly config: Readonly<Record<string, unknown>>;
  /** Model evaluations per step of the underlying solver (Heun: 2); as diffusers' `order`. */
  readonly order: number;
  /** Set by setTimesteps; null before. */
  readonly numInferenceSteps: number | null;
  /** diffusers' `scheduler.timesteps` as numbers: one entry per model evaluation. */
  readonly timesteps: readonly number[];
  /** diffusers' `scheduler.sigmas` (float32 values) for the sigma-based schedulers; null for DDIM, PNDM, DDPM. */
  readonly sigmas: readonly number[] | null;
  /** Scale of the initial noise: x_T = initNoiseSigma * randn(...). */
  readonly initNoiseSigma: number;
  /** The float32 training schedule. */
  readonly betas: readonly number[];
  readonly alphas: readonly number[];
  readonly alphasCumprod: readonly number[];
  setTimesteps(numInferenceSteps: number): void;
  /** The model input for `timestep` (a new tensor; a copy where diffusers returns the sample itself). */
  scaleModelInput(sample: Tensor, timestep: number): Tensor;
  step(modelOutput: Tensor, timestep: number, sample: Tensor, options?: SchedulerStepOptions): SchedulerStepOutput;
  /** step() on any backend: reads awaited (dynamic thresholding reads the predicted x0). */
  stepAsync(modelOutput: Tensor, timestep: number, sample: Tensor, options?: SchedulerStepOptions): Promise<SchedulerStepOutput>;
  /** Forward diffusion of `original` to `timesteps` (one per batch entry, or one for all). */
  addNoise(original: Tensor, noise: Tensor, timesteps: number | readonly number[]): Tensor;
  /** Back to the state right after setTimesteps (same timesteps); frees any retained tensors. */
  reset(): void;
}

/** Options of the scheduler constructors and createScheduler that are not part of the diffusers config. */
export interface SchedulerOptions {
  /**
   * Major version of NumPy in the Python environment to match (default 2). diffusers' timestep
   * lookup for Karras / exponential / Lu sigma ladders computes in float32 under NumPy 1 and in
   * float64 under NumPy 2, which moves those timesteps by about 1e-7 relative (and DPM-Solver's
   * truncated integer timesteps by one step at the ends of some ladders). No other effect.
   */
  numpy?: 1 | 2;
  /**
   * Major version of PyTorch to match (default 2). torch 1.x and 2.x compute torch.linspace (the
   * 'linear', 'scaled_linear' and 'sigmoid' beta schedules) differently in the last bit of some
   * float32 values; everything downstream moves by about 1e-7 relative. No other effect.
   */
  torch?: 1 | 2;
}

export interface BetaConfig {
  num_train_timesteps: number;
  beta_start: number;
  beta_end: number;
  beta_schedule: BetaScheduleName;
  trained_betas: number[] | null;
  rescale_betas_zero_snr?: boolean;
}

/** A copy of `x` (same backend and dtype). */
export function clone(x: Tensor): Tensor {
  return engine.runKernel('reshape', [x], {}, { shape: x.shape, dtype: x.dtype }, 'clone');
}

/** a * x + b * y with number coefficients. */
export function axpby(a: number, x: Tensor, b: number, y: Tensor): Tensor {
  return add(mul(x, a), mul(y, b));
}

export abstract class SchedulerBase implements DiffusersScheduler {
  abstract readonly className: SchedulerClassName;
  readonly config: Readonly<Record<string, unknown>>;
  readonly betas: readonly number[];
  readonly alphas: readonly number[];
  readonly alphasCumprod: readonly number[];
  /** NumPy promotion rules followed where diffusers' result depends on them (see SchedulerOptions.numpy). */
  readonly numpy: 1 | 2;
  /** PyTorch version whose torch.linspace is reproduced (see SchedulerOptions.torch). */
  readonly torch: 1 | 2;
  order = 1;
  numInferenceSteps: number | null = null;
  timesteps: readonly number[] = [];
  sigmas: readonly number[] | null = null;
  private retained = new Set<Tensor>();
  /** Scales of the thresholding of the stepAsync call in progress (null: read synchronously). */
  private pendingScales: number[] | null = null;

  /** Resolves `config` (defaults, type checks) for `className`; unknown keys are ignored. */
  constructor(className: SchedulerClassName, config: DiffusersSchedulerConfig, options: SchedulerOptions = {}) {
    if (config === null || typeof config !== 'object' || Array.isArray(config)) {
      throw new InvalidArgumentError(`new ${className}: config must be a scheduler_config.json object, got ${describe(config)}`);
    }
    if (options === null || typeof options !== 'object') throw new InvalidArgumentError(`new ${className}: options must be an object, got ${describe(options)}`);
    const numpy = options.numpy ?? 2;
    const torch = options.torch ?? 2;
    if (numpy !== 1 && numpy !== 2) throw new InvalidArgumentError(`new ${className}: options.numpy must be 1 or 2, got ${describe(numpy)}`);
    if (torch !== 1 && torch !== 2) throw new InvalidArgumentError(`new ${className}: options.torch must be 1 or 2, got ${describe(torch)}`);
    this.numpy = numpy;
    this.torch = torch;
    this.config = Object.freeze(resolveConfig(`new ${className}`, className, config as Record<string, unknown>));
    const c = this.config as unknown as BetaConfig;
    let betas = makeBetas(c.beta_schedule, c.num_train_timesteps, c.beta_start, c.beta_end, c.trained_betas, torch);
    if (c.rescale_betas_zero_snr) betas = rescaleZeroTerminalSnr(betas);
    this.betas = Object.freeze(betas);
    this.alphas = Object.freeze(betas.map((b) => f32(1 - b)));
    this.alphasCumprod = Object.freeze(cumprod32(this.alphas));
  }

  abstract get initNoiseSigma(): number;
  abstract setTimesteps(numInferenceSteps: number): void;
  abstract scaleModelInput(sample: Tensor, timestep: number): Tensor;
  abstract addNoise(original: Tensor, noise: Tensor, timesteps: number | readonly number[]): Tensor;
  protected abstract stepImpl(modelOutput: Tensor, timestep: number, sample: Tensor, options: SchedulerStepOptions): SchedulerStepOutput;
  /** Clears step state (indices, counters, history); retained tensors are freed by reset(). */
  protected abstract clearState(): void;

  step(modelOutput: Tensor, timestep: number, sample: Tensor, options: SchedulerStepOptions = {}): SchedulerStepOutput {
    this.checkStep(`${this.className}.step`, modelOutput, timestep, sample, options);
    const out = engine.tidy(() => this.stepImpl(modelOutput, timestep, sample, options));
    return out;
  }

  private checkStep(op: string, modelOutput: Tensor, timestep: number, sample: Tensor, options: SchedulerStepOptions): void {
    this.checkSample(op, 'sample', sample);
    this.checkSample(op, 'modelOutput', modelOutput);
    this.checkTimestep(op, timestep);
    if (options === null || typeof options !== 'object') throw new InvalidArgumentError(`${op}: options must be an object, got ${describe(options)}`);
    if (options.gen !== undefined && !(options.gen instanceof Generator)) {
      throw new InvalidArgumentError(`${op}: options.gen must be a Generator, got ${describe(options.gen)}`);
    }
    if (options.noise !== undefined) {
      if (!(options.noise instanceof Tensor)) throw new InvalidArgumentError(`${op}: options.noise must be a Tensor, got ${describe(options.noise)}`);
      options.noise._check(op);
      if (options.noise.dtype !== 'float32' && options.noise.dtype !== 'float64') throw new DTypeError(`${op}: options.noise must be float32 or float64, got ${options.noise.dtype}`);
      if (!shapesEqual(options.noise.shape, sample.shape)) {
        throw new ShapeError(`${op}: options.noise must be shaped like sample ${describe(sample.shape)}, got ${describe(options.noise.shape)}`);
      }
    }
  }

  /**
   * step() for any backend. Identical to step() except with `thresholding`, whose per-sample
   * quantile step() reads synchronously: here the predicted x0 is read with `await data()` first
   * (backends such as WebGPU read only asynchronously), then the step runs with those scales.
   */
  async stepAsync(modelOutput: Tensor, timestep: number, sample: Tensor, options: SchedulerStepOptions = {}): Promise<SchedulerStepOutput> {
    const op = `${this.className}.stepAsync`;
    this.checkStep(op, modelOutput, timestep, sample, options);
    if (this.config['thresholding'] && this.thresholdTarget) {
      const target = engine.tidy(() => this.thresholdTarget!(modelOutput, timestep, sample));
      let values: ArrayLike<number>;
      try {
        values = await target.data();
      } finally {
        if (target !== modelOutput && target !== sample) target.dispose();
      }
      const c = this.config;
      this.pendingScales = thresholdScales(values, target.shape[0] ?? 1, target.dtype === 'float32', c['dynamic_thresholding_ratio'] as number, c['sample_max_value'] as number);
    }
    try {
      return engine.tidy(() => this.stepImpl(modelOutput, timestep, sample, options));
    } finally {
      this.pendingScales = null;
    }
  }

  setBeginIndex?(beginIndex: number): void;

  reset(): void {
    for (const t of this.retained) t.dispose();
    this.retained.clear();
    this.clearState();
  }

  // ---- helpers for subclasses -----------------------------------------------------------------

  /** Keeps `t` across scopes as scheduler state (it must be the scheduler's own tensor). */
  protected retain(t: Tensor): Tensor {
    engine.keep(t);
    this.retained.add(t);
    return t;
  }

  /** Frees a retained tensor (no-op for null or tensors not retained). */
  protected release(t: Tensor | null | undefined): void {
    if (t && this.retained.delete(t)) t.dispose();
  }

  protected checkSample(op: string, arg: string, x: unknown): asserts x is Tensor {
    if (!(x instanceof Tensor)) throw new InvalidArgumentError(`${op}: ${arg} must be a Tensor, got ${describe(x)}`);
    x._check(op);
    if (x.dtype !== 'float32' && x.dtype !== 'float64') throw new DTypeError(`${op}: ${arg} must be float32 or float64, got ${x.dtype}`);
  }

  protected checkTimestep(op: string, timestep: unknown): asserts timestep is number {
    if (typeof timestep !== 'number' || !Number.isFinite(timestep)) {
      throw new InvalidArgumentError(`${op}: timestep must be a finite number (an entry of scheduler.timesteps), got ${describe(timestep)}`);
    }
  }

  protected checkSteps(op: string, n: unknown, max = Infinity): asserts n is number {
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > max) {
      throw new InvalidArgumentError(`${op}: numInferenceSteps must be an integer in [1, ${max === Infinity ? 'inf' : max}], got ${describe(n)}`);
    }
  }

  /** The training-table entry at an integer timestep (DDIM / PNDM / DDPM index by timestep). */
  protected alphaBarAt(op: string, t: number): number {
    const T = this.alphasCumprod.length;
    if (!Number.isInteger(t) || t < 0 || t >= T) {
      throw new InvalidArgumentError(`${op}: timestep must be an integer in [0, ${T - 1}], got ${describe(t)}`);
    }
    return this.alphasCumprod[t]!;
  }

  /** The noise of a stochastic step: options.noise, else randn(sample.shape, options.gen). */
  protected drawNoise(op: string, sample: Tensor, options: SchedulerStepOptions): Tensor {
    if (options.noise) return options.noise.dtype === sample.dtype ? options.noise : cast(options.noise, sample.dtype);
    if (!options.gen) {
      throw new InvalidArgumentError(`${op}: this step adds noise; pass options.gen (a Generator) or options.noise (a Tensor shaped like sample), got neither`);
    }
    return randn(sample.shape, options.gen, { dtype: sample.dtype as 'float32' | 'float64', backend: sample.backend });
  }

  /** Per-batch coefficients [c_0, ..., c_{L-1}] as a tensor of shape [L, 1, ..., 1] like `like` ([] for a rank-0 `like`). */
  protected coefficientTensor(values: readonly number[], like: Tensor): Tensor {
    const shape = like.rank === 0 && values.length === 1 ? [] : [values.length, ...new Array<number>(Math.max(0, like.rank - 1)).fill(1)];
    const arr = like.dtype === 'float64' ? Float64Array.from(values) : Float32Array.from(values);
    return engine.upload(arr, shape, like.dtype, like.backend);
  }

  protected timestepList(op: string, timesteps: number | readonly number[], original: Tensor, noise: Tensor): number[] {
    this.checkSample(op, 'original', original);
    this.checkSample(op, 'noise', noise);
    if (!shapesEqual(original.shape, noise.shape)) {
      throw new ShapeError(`${op}: noise must be shaped like original ${describe(original.shape)}, got ${describe(noise.shape)}`);
    }
    const list = typeof timesteps === 'number' ? [timesteps] : Array.isArray(timesteps) ? [...(timesteps as number[])] : null;
    if (!list || list.length === 0 || list.some((t) => typeof t !== 'number' || !Number.isFinite(t))) {
      throw new InvalidArgumentError(`${op}: timesteps must be a finite number or a non-empty array of them, got ${describe(timesteps)}`);
    }
    if (original.rank === 0 || (list.length !== 1 && list.length !== original.shape[0])) {
      throw new ShapeError(`${op}: timesteps must hold 1 entry or one per batch entry (${original.shape[0] ?? 'rank 0'}), got ${list.length}`);
    }
    return list;
  }

  /** diffusers' add_noise for the alpha-bar schedulers: sqrt(abar) * x0 + sqrt(1 - abar) * noise. */
  protected addNoiseAlphaBar(op: string, original: Tensor, noise: Tensor, timesteps: number | readonly number[]): Tensor {
    const list = this.timestepList(op, timesteps, original, noise);
    const abar = list.map((t) => this.alphaBarAt(op, t));
    // alphas_cumprod is cast to the sample dtype first, then the square roots are taken in it.
    const round = original.dtype === 'float32' ? f32 : (v: number) => v;
    const a = abar.map((v) => round(Math.sqrt(v)));
    const s = abar.map((v) => round(Math.sqrt(round(1 - v))));
    return engine.tidy(() => add(mul(this.coefficientTensor(a, original), original), mul(this.coefficientTensor(s, original), noise)));
  }

  /**
   * diffusers' _threshold_sample (Imagen's dynamic thresholding): per batch entry, s = the
   * `ratio` quantile of |x| clamped to [1, maxValue]; x -> clamp(x, -s, s) / s. The scales come
   * from stepAsync (which read x asynchronously) or else from a synchronous read of x.
   */
  protected thresholdSample(x: Tensor, ratio: number, maxValue: number): Tensor {
    const batch = x.shape[0] ?? 1;
    let scales = this.pendingScales;
    if (scales === null) {
      if (!x.backend.capabilities.syncRead) {
        throw new InvalidArgumentError(
          `${this.className}.step: thresholding reads the predicted x0 back to the host, and backend "${x.backend.name}" reads only asynchronously; use await scheduler.stepAsync(...)`,
        );
      }
      scales = thresholdScales(x.dataSync(), batch, x.dtype === 'float32', ratio, maxValue);
    } else if (scales.length !== batch) {
      throw new ShapeError(`${this.className}.stepAsync: the thresholded x0 has batch ${batch}, but ${scales.length} scales were read`);
    }
    const s = this.coefficientTensor(scales, x);
    return div(minimum(maximum(x, neg(s)), s), s);
  }

  /**
   * The tensor step() would threshold (the predicted x0, before thresholding), without changing
   * any state; schedulers that support `thresholding` implement it. Used by stepAsync.
   */
  protected thresholdTarget?(modelOutput: Tensor, timestep: number, sample: Tensor): Tensor;

}
