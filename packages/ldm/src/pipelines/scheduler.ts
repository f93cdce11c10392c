// The pipelines' scheduler adapter: a diffusers scheduler_config.json onto core's samplers.
// diffusers couples a noise ladder and an update rule in one scheduler class; core keeps them
// apart (a sigma ladder handed to sample(), and a Sampler step). This file reads the config
// through core's diffusers-compatible schedulers (src/schedulers: the class's defaults, float32
// beta tables, timestep spacings, Karras / exponential ladders, interpolation), takes the
// ladder those schedulers produce, and names the core sampler that performs the class's update:
//
//   DDIMScheduler                    ddim (eta 0)
//   PNDMScheduler                    plms with PNDM's fixed weights, pseudo-improved-Euler warm-up (PNDM's PLMS without PRK)
//   LMSDiscreteScheduler             plms, Euler warm-up (k-diffusion's sample_lms; order 4)
//   EulerDiscreteScheduler           euler
//   EulerAncestralDiscreteScheduler  euler_ancestral
//   HeunDiscreteScheduler            heun
//   DPMSolverMultistepScheduler      dpmpp_2m (sde-dpmsolver++: dpmpp_2m_sde; solver_order 1: ddim)
//   DDPMScheduler                    ddpm
//
// Where the VE form changes the bookkeeping (samplers/denoiser.ts): the first sample is
// initNoiseSigma * randn, where initNoiseSigma is the class's init_noise_sigma for the sigma
// schedulers (Euler, Heun, LMS) and sqrt(1 + sigma_0^2) for the schedulers that work on VP
// samples (DDIM, PNDM, DDPM, DPM-Solver), whose x_T = randn is x_T / sqrt(abar_T) in VE form;
// where those stop above sigma 0 (set_alpha_to_one false: at alphas_cumprod[0]) the last VE
// sample is scaled back to the VP sample the class returns (plan.finalScale).
// src/pipelines/diffusers.test.ts checks whole runs against diffusers' own loop and classes.
// Known differences from diffusers: DDIM steps to the next listed timestep (diffusers steps to
// t - T / N, the same for 'leading' spacing); PNDM's PRK warm-up (skip_prk_steps false) is
// replaced by PLMS's; DPM-Solver's third order runs as second order. LMSDiscreteScheduler has no
// class in core: its ladder is the Euler ladder over the same keys (diffusers builds both
// alike: np.interp over the training sigmas, optional Karras / exponential ladders).

import {
  InvalidArgumentError, SAMPLER_NAMES, SCHEDULER_CLASSES, createScheduler, describe, getSampler, sigmasFromAlphasCumprod, timestepLookup, vpDenoiser, vpDenoiserAsync,
  type AsyncDenoiser, type AsyncVPNetwork, type Denoiser, type DiffusersSchedulerConfig, type Prediction, type Sampler, type SamplerName, type SchedulerClassName, type VPNetwork,
} from '@denoise/core';

/** Every scheduler class a pipeline's scheduler_config.json may name. */
export const PIPELINE_SCHEDULER_CLASSES = [...SCHEDULER_CLASSES, 'LMSDiscreteScheduler'] as const;
export type PipelineSchedulerClass = (typeof PIPELINE_SCHEDULER_CLASSES)[number];

/** The keys diffusers' LMSDiscreteScheduler takes (the Euler scheduler reads the same ones alike). */
const LMS_KEYS = [
  'num_train_timesteps', 'beta_start', 'beta_end', 'beta_schedule', 'trained_betas', 'use_karras_sigmas', 'use_exponential_sigmas', 'use_beta_sigmas',
  'prediction_type', 'timestep_spacing', 'steps_offset',
] as const;

/** Schedulers whose model sees integer timesteps (diffusers indexes or truncates them). */
const INTEGER_TIMESTEPS = new Set<PipelineSchedulerClass>(['DDIMScheduler', 'PNDMScheduler', 'DDPMScheduler', 'DPMSolverMultistepScheduler']);
/** Schedulers that keep VP samples (x_T = randn); the others keep VE samples (x_T = sigma * randn). */
const VP_SAMPLES = new Set<PipelineSchedulerClass>(['DDIMScheduler', 'PNDMScheduler', 'DDPMScheduler', 'DPMSolverMultistepScheduler']);

/** What one run with a given step count samples over. */
export interface SamplingPlan {
  /** Noise levels for core's sample(): strictly decreasing, ending in 0 (or the class's final sigma). */
  readonly sigmas: readonly number[];
  /** The network timestep at each sigma but the last: what the UNet is given (the class's timesteps, each once). */
  readonly timesteps: readonly number[];
  /** x_T = initNoiseSigma * randn in the VE form core's samplers use. */
  readonly initNoiseSigma: number;
  /**
   * The sampler's final VE sample times this is the class's final sample: 1 / sqrt(1 + sigma^2)
   * of the last sigma for the classes that keep VP samples and stop above 0 (DDIM / PNDM with
   * set_alpha_to_one false end at alphas_cumprod[0], where x_VP = sqrt(abar_0) x_VE); else 1.
   */
  readonly finalScale: number;
}

export interface PipelineSchedulerOptions {
  /** Any of core's samplers by name (or a sampler object), instead of the one the class maps to. */
  sampler?: SamplerName | Sampler;
  /** Options for a sampler given by name (e.g. `{ eta: 1 }` for 'ddim'). */
  samplerOptions?: Record<string, unknown>;
}

/** The core sampler that performs a scheduler class's update, with its options. */
function defaultSampler(cls: PipelineSchedulerClass, config: Readonly<Record<string, unknown>>): { name: SamplerName; options: Record<string, unknown> } {
  switch (cls) {
    case 'DDIMScheduler':
      return { name: 'ddim', options: {} };
    case 'PNDMScheduler':
      return { name: 'plms', options: { warmup: 'heun', weights: 'fixed' } };
    case 'LMSDiscreteScheduler':
      return { name: 'plms', options: { warmup: 'euler' } };
    case 'EulerDiscreteScheduler':
      return { name: 'euler', options: {} };
    case 'EulerAncestralDiscreteScheduler':
      return { name: 'euler_ancestral', options: {} };
    case 'HeunDiscreteScheduler':
      return { name: 'heun', options: {} };
    case 'DDPMScheduler':
      return { name: 'ddpm', options: {} };
    case 'DPMSolverMultistepScheduler': {
      if (config['algorithm_type'] === 'sde-dpmsolver++' || config['algorithm_type'] === 'sde-dpmsolver') return { name: 'dpmpp_2m_sde', options: {} };
      // DPM-Solver-1 is DDIM (Lu et al. 2022, section 3.3).
      return config['solver_order'] === 1 ? { name: 'ddim', options: {} } : { name: 'dpmpp_2m', options: {} };
    }
  }
}

/** Drops entries equal to their predecessor (Heun's doubled sigmas, PNDM's repeated timestep). */
function dedupe(values: readonly number[]): number[] {
  return values.filter((v, i) => i === 0 || v !== values[i - 1]);
}

/** A scheduler_config.json read onto core: the training table, the ladder for N steps, the sampler. */
export class PipelineScheduler {
  /** The class the config names (or options.className). */
  readonly className: PipelineSchedulerClass;
  /** The resolved config (the class's keys, defaults filled in; LMS: the Euler scheduler's). */
  readonly config: Readonly<Record<string, unknown>>;
  /** What the network predicts (prediction_type). */
  readonly prediction: Prediction;
  /** diffusers' float32 alphas_cumprod (a zero-SNR last entry raised to 2^-24, as diffusers' sigma schedulers do). */
  readonly alphasCumprod: readonly number[];
  /** The sampler this class maps to, and its options. */
  readonly samplerName: SamplerName;
  readonly samplerOptions: Readonly<Record<string, unknown>>;
  /** Round off-ladder network timesteps to integers (classes whose model sees integer timesteps). */
  readonly quantize: boolean;
  private readonly source: DiffusersSchedulerConfig;
  private readonly coreClass: SchedulerClassName;
  private readonly plans = new Map<number, SamplingPlan>();
  /** Per plan: core's continuous timestep of each ladder sigma → the class's timestep. */
  private readonly networkTimesteps = new WeakMap<SamplingPlan, ReadonlyMap<number, number>>();

  constructor(config: DiffusersSchedulerConfig, options: { className?: PipelineSchedulerClass } = {}) {
    const op = 'PipelineScheduler';
    if (config === null || typeof config !== 'object' || Array.isArray(config)) {
      throw new InvalidArgumentError(`${op}: config must be a scheduler_config.json object, got ${describe(config)}`);
    }
    const name = options.className ?? config._class_name;
    if (typeof name !== 'string' || !(PIPELINE_SCHEDULER_CLASSES as readonly string[]).includes(name)) {
      throw new InvalidArgumentError(`${op}: config._class_name must be one of ${PIPELINE_SCHEDULER_CLASSES.join(', ')}, got ${describe(name)}`);
    }
    this.className = name as PipelineSchedulerClass;
    if (this.className === 'LMSDiscreteScheduler') {
      const lms: Record<string, unknown> = {};
      for (const k of LMS_KEYS) if (k in config) lms[k] = config[k];
      this.source = lms;
      this.coreClass = 'EulerDiscreteScheduler';
    } else if (this.className === 'PNDMScheduler') {
      this.source = { ...config, skip_prk_steps: true };
      this.coreClass = 'PNDMScheduler';
    } else {
      this.source = config;
      this.coreClass = this.className;
    }
    const probe = createScheduler(this.source, { className: this.coreClass });
    this.config = probe.config;
    this.prediction = (this.config['prediction_type'] === 'original_sample' ? 'sample' : this.config['prediction_type']) as Prediction;
    if (this.config['timestep_type'] === 'continuous' && this.prediction === 'v_prediction') {
      // The network then takes 0.25 log(sigma) (EDM's c_noise), not a training timestep.
      throw new InvalidArgumentError(`${op}: ${this.className} config.timestep_type = 'continuous' with v_prediction is not supported by the pipelines; supported: 'discrete'`);
    }
    const abar = [...probe.alphasCumprod];
    if (abar[abar.length - 1] === 0) abar[abar.length - 1] = 2 ** -24;
    this.alphasCumprod = Object.freeze(abar);
    const d = defaultSampler(this.className, this.config);
    this.samplerName = d.name;
    this.samplerOptions = Object.freeze(d.options);
    this.quantize = INTEGER_TIMESTEPS.has(this.className);
  }

  /** Number of training timesteps. */
  get numTrainTimesteps(): number {
    return this.alphasCumprod.length;
  }

  /** The ladder, the network timesteps and the initial noise scale for `steps` sampling steps (cached). */
  plan(steps: number): SamplingPlan {
    const cached = this.plans.get(steps);
    if (cached) return cached;
    const op = `${this.className}.plan`;
    const T = this.numTrainTimesteps;
    if (!Number.isInteger(steps) || steps < 1 || steps > T) throw new InvalidArgumentError(`${op}: steps must be an integer in [1, ${T}], got ${describe(steps)}`);
    const s = createScheduler(this.source, { className: this.coreClass });
    s.setTimesteps(steps);
    const table = sigmasFromAlphasCumprod(this.alphasCumprod);
    let sigmas: number[];
    if (s.sigmas) {
      sigmas = dedupe(s.sigmas);
    } else {
      // DDIM / PNDM / DDPM: the sigma of each timestep, then the final alpha-bar's (1 with
      // set_alpha_to_one, DDPM always; else alphas_cumprod[0]).
      const ts = dedupe(s.timesteps);
      const finalAbar = this.className === 'DDPMScheduler' || this.config['set_alpha_to_one'] === true ? 1 : this.alphasCumprod[0]!;
      sigmas = dedupe([...ts.map((t) => table[t]!), Math.sqrt((1 - finalAbar) / finalAbar)]);
    }
    // The network timestep of each ladder sigma is the class's own (diffusers feeds the model
    // its timesteps, e.g. 832.5 for a linspace step, while the sigma came from a float32
    // interpolation); core's continuous sigma-to-timestep map stands in wherever the two lists
    // do not pair up (Euler's log_linear ladder has one sigma more).
    const lookup = timestepLookup(table, op);
    const continuous = sigmas.slice(0, -1).map((sigma) => lookup.sigmaToTimestep(sigma));
    const own = dedupe(s.timesteps).slice(0, continuous.length);
    const timesteps = own.length === continuous.length ? own : continuous.map((t) => (this.quantize ? Math.round(t) : t));
    const first = sigmas[0]!;
    const initNoiseSigma = VP_SAMPLES.has(this.className) ? Math.sqrt(1 + first * first) : s.initNoiseSigma;
    const last = sigmas[sigmas.length - 1]!;
    const finalScale = VP_SAMPLES.has(this.className) && last > 0 ? 1 / Math.sqrt(1 + last * last) : 1;
    const plan: SamplingPlan = Object.freeze({ sigmas: Object.freeze(sigmas), timesteps: Object.freeze(timesteps), initNoiseSigma, finalScale });
    this.plans.set(steps, plan);
    this.networkTimesteps.set(plan, new Map(continuous.map((t, i) => [t, timesteps[i]!])));
    return plan;
  }

  /** The class's sampler, or `options.sampler` (a core sampler name or object); `op` prefixes error messages. */
  sampler(options: PipelineSchedulerOptions = {}, op = 'PipelineScheduler.sampler'): Sampler {
    const chosen = options.sampler;
    if (options.samplerOptions !== undefined && (typeof options.samplerOptions !== 'object' || options.samplerOptions === null)) {
      throw new InvalidArgumentError(`${op}: samplerOptions must be an object, got ${describe(options.samplerOptions)}`);
    }
    if (chosen === undefined) return getSampler(this.samplerName, (options.samplerOptions ?? this.samplerOptions) as never);
    if (typeof chosen === 'object' && chosen !== null && typeof chosen.step === 'function') return chosen;
    if (typeof chosen !== 'string' || !(SAMPLER_NAMES as readonly string[]).includes(chosen)) {
      throw new InvalidArgumentError(`${op}: sampler must be one of ${SAMPLER_NAMES.map((n) => `'${n}'`).join(', ')} (or a Sampler), got ${describe(chosen)}`);
    }
    return getSampler(chosen, options.samplerOptions as never);
  }

  /**
   * Wraps a VP network (x_t, t, cond) into the VE denoiser core's samplers use, with this
   * class's table and prediction. With the run's `plan`, the network gets plan.timesteps at the
   * ladder's sigmas; elsewhere the continuous timestep of the sigma (rounded for classes whose
   * model sees integer timesteps).
   */
  denoiser<C>(net: VPNetwork<C>, plan?: SamplingPlan): Denoiser<C> {
    const timestep = this.timestepFor('denoiser', plan);
    return vpDenoiser((xIn, t, cond: C) => net(xIn, timestep(t), cond), { alphasCumprod: this.alphasCumprod, prediction: this.prediction });
  }

  /** `denoiser` for a network that runs asynchronously (a compiled UNet): the same timesteps and scaling, awaited. */
  denoiserAsync<C>(net: AsyncVPNetwork<C>, plan?: SamplingPlan): AsyncDenoiser<C> {
    const timestep = this.timestepFor('denoiserAsync', plan);
    return vpDenoiserAsync((xIn, t, cond: C) => net(xIn, timestep(t), cond), { alphasCumprod: this.alphasCumprod, prediction: this.prediction });
  }

  private timestepFor(op: string, plan: SamplingPlan | undefined): (t: number) => number {
    const exact = plan ? this.networkTimesteps.get(plan) : undefined;
    if (plan && !exact) throw new InvalidArgumentError(`${this.className}.${op}: plan must come from this scheduler's plan()`);
    const round = this.quantize;
    return (t: number) => exact?.get(t) ?? (round ? Math.round(t) : t);
  }
}

/** A PipelineScheduler from a diffusers scheduler_config.json object. */
export function schedulerFromConfig(config: DiffusersSchedulerConfig, options: { className?: PipelineSchedulerClass } = {}): PipelineScheduler {
  return new PipelineScheduler(config, options);
}
