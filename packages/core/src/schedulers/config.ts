// Reading a diffusers scheduler_config.json object: which keys each scheduler class takes, their
// defaults (per class, as in the diffusers constructors), their types, and the values this
// adapter supports. Keys a class does not take are ignored, like diffusers ignores them (a
// pipeline's config often carries keys of another scheduler class); a key of the class with a
// wrong type or an unsupported value is an InvalidArgumentError that names the key and lists
// what is accepted.

import { InvalidArgumentError, describe } from '../errors/index.js';

export const SCHEDULER_CLASSES = [
  'DDIMScheduler',
  'PNDMScheduler',
  'EulerDiscreteScheduler',
  'EulerAncestralDiscreteScheduler',
  'HeunDiscreteScheduler',
  'DPMSolverMultistepScheduler',
  'DDPMScheduler',
] as const;

export type SchedulerClassName = (typeof SCHEDULER_CLASSES)[number];

/** A diffusers scheduler_config.json object (snake_case, as saved by diffusers). */
export interface DiffusersSchedulerConfig {
  _class_name?: string;
  _diffusers_version?: string;
  num_train_timesteps?: number;
  beta_start?: number;
  beta_end?: number;
  beta_schedule?: string;
  trained_betas?: readonly number[] | null;
  prediction_type?: string;
  timestep_spacing?: string;
  steps_offset?: number;
  set_alpha_to_one?: boolean;
  clip_sample?: boolean;
  clip_sample_range?: number;
  thresholding?: boolean;
  dynamic_thresholding_ratio?: number;
  sample_max_value?: number;
  rescale_betas_zero_snr?: boolean;
  skip_prk_steps?: boolean;
  use_karras_sigmas?: boolean | null;
  use_exponential_sigmas?: boolean | null;
  use_beta_sigmas?: boolean | null;
  use_lu_lambdas?: boolean;
  use_flow_sigmas?: boolean;
  sigma_min?: number | null;
  sigma_max?: number | null;
  interpolation_type?: string;
  timestep_type?: string;
  final_sigmas_type?: string;
  algorithm_type?: string;
  solver_order?: number;
  solver_type?: string;
  lower_order_final?: boolean;
  euler_at_final?: boolean;
  lambda_min_clipped?: number;
  variance_type?: string | null;
  use_dynamic_shifting?: boolean;
  [key: string]: unknown;
}

type Kind = 'int' | 'number' | 'bool' | 'string' | 'numbers';

interface KeySpec {
  kind: Kind;
  default: unknown;
  /** null is accepted (and kept) when the diffusers signature allows None. */
  nullable?: boolean;
  /** For strings: the values this adapter supports. */
  values?: readonly string[];
  /** For strings: values diffusers knows but this adapter does not implement (better message). */
  unsupported?: readonly string[];
  /** Values diffusers rewrites on construction (e.g. DPM-Solver's algorithm_type 'deis'). */
  aliases?: Readonly<Record<string, string>>;
  /** For options diffusers has but this adapter only supports at one value (false / null). */
  only?: unknown;
  /** Extra validity check for numbers / ints. */
  check?: (v: number) => string | null;
}

const positiveInt = (v: number) => (v >= 1 ? null : 'must be >= 1');
const nonNegativeInt = (v: number) => (v >= 0 ? null : 'must be >= 0');
const finite = (v: number) => (Number.isFinite(v) ? null : 'must be finite');
const unit = (v: number) => (v > 0 && v <= 1 ? null : 'must be in (0, 1]');

const common = {
  num_train_timesteps: { kind: 'int', default: 1000, check: positiveInt },
  beta_start: { kind: 'number', default: 0.0001, check: finite },
  beta_end: { kind: 'number', default: 0.02, check: finite },
  trained_betas: { kind: 'numbers', default: null, nullable: true },
  steps_offset: { kind: 'int', default: 0, check: nonNegativeInt },
} satisfies Record<string, KeySpec>;

const BETA3 = ['linear', 'scaled_linear', 'squaredcos_cap_v2'] as const;
const SPACINGS = ['leading', 'trailing', 'linspace'] as const;
const thresholdKeys = {
  thresholding: { kind: 'bool', default: false },
  dynamic_thresholding_ratio: { kind: 'number', default: 0.995, check: unit },
  sample_max_value: { kind: 'number', default: 1.0, check: finite },
} satisfies Record<string, KeySpec>;

const SPECS: Record<SchedulerClassName, Record<string, KeySpec>> = {
  DDIMScheduler: {
    ...common,
    beta_schedule: { kind: 'string', default: 'linear', values: BETA3 },
    clip_sample: { kind: 'bool', default: true },
    set_alpha_to_one: { kind: 'bool', default: true },
    prediction_type: { kind: 'string', default: 'epsilon', values: ['epsilon', 'sample', 'v_prediction'] },
    ...thresholdKeys,
    clip_sample_range: { kind: 'number', default: 1.0, check: finite },
    timestep_spacing: { kind: 'string', default: 'leading', values: SPACINGS },
    rescale_betas_zero_snr: { kind: 'bool', default: false },
  },
  PNDMScheduler: {
    ...common,
    beta_schedule: { kind: 'string', default: 'linear', values: BETA3 },
    skip_prk_steps: { kind: 'bool', default: false },
    set_alpha_to_one: { kind: 'bool', default: false },
    prediction_type: { kind: 'string', default: 'epsilon', values: ['epsilon', 'v_prediction'] },
    timestep_spacing: { kind: 'string', default: 'leading', values: SPACINGS },
  },
  EulerDiscreteScheduler: {
    ...common,
    beta_schedule: { kind: 'string', default: 'linear', values: BETA3 },
    prediction_type: { kind: 'string', default: 'epsilon', values: ['epsilon', 'v_prediction', 'sample', 'original_sample'] },
    interpolation_type: { kind: 'string', default: 'linear', values: ['linear', 'log_linear'] },
    use_karras_sigmas: { kind: 'bool', default: false, nullable: true },
    use_exponential_sigmas: { kind: 'bool', default: false, nullable: true },
    use_beta_sigmas: { kind: 'bool', default: false, nullable: true, only: false },
    sigma_min: { kind: 'number', default: null, nullable: true, check: finite },
    sigma_max: { kind: 'number', default: null, nullable: true, check: finite },
    timestep_spacing: { kind: 'string', default: 'linspace', values: SPACINGS },
    timestep_type: { kind: 'string', default: 'discrete', values: ['discrete', 'continuous'] },
    rescale_betas_zero_snr: { kind: 'bool', default: false },
    final_sigmas_type: { kind: 'string', default: 'zero', values: ['zero', 'sigma_min'] },
  },
  EulerAncestralDiscreteScheduler: {
    ...common,
    beta_schedule: { kind: 'string', default: 'linear', values: BETA3 },
    // diffusers accepts 'sample' here but raises NotImplementedError in step().
    prediction_type: { kind: 'string', default: 'epsilon', values: ['epsilon', 'v_prediction'], unsupported: ['sample'] },
    timestep_spacing: { kind: 'string', default: 'linspace', values: SPACINGS },
    rescale_betas_zero_snr: { kind: 'bool', default: false },
  },
  HeunDiscreteScheduler: {
    ...common,
    beta_start: { kind: 'number', default: 0.00085, check: finite },
    beta_end: { kind: 'number', default: 0.012, check: finite },
    beta_schedule: { kind: 'string', default: 'linear', values: [...BETA3, 'exp'] },
    prediction_type: { kind: 'string', default: 'epsilon', values: ['epsilon', 'v_prediction', 'sample'] },
    use_karras_sigmas: { kind: 'bool', default: false, nullable: true },
    use_exponential_sigmas: { kind: 'bool', default: false, nullable: true },
    use_beta_sigmas: { kind: 'bool', default: false, nullable: true, only: false },
    clip_sample: { kind: 'bool', default: false },
    clip_sample_range: { kind: 'number', default: 1.0, check: finite },
    timestep_spacing: { kind: 'string', default: 'linspace', values: SPACINGS },
  },
  DPMSolverMultistepScheduler: {
    ...common,
    beta_schedule: { kind: 'string', default: 'linear', values: BETA3 },
    solver_order: { kind: 'int', default: 2, check: (v) => (v >= 1 && v <= 3 ? null : 'must be 1, 2 or 3') },
    prediction_type: { kind: 'string', default: 'epsilon', values: ['epsilon', 'sample', 'v_prediction'], unsupported: ['flow_prediction'] },
    ...thresholdKeys,
    algorithm_type: {
      kind: 'string',
      default: 'dpmsolver++',
      values: ['dpmsolver++', 'dpmsolver', 'sde-dpmsolver++', 'sde-dpmsolver'],
      aliases: { deis: 'dpmsolver++' },
    },
    solver_type: { kind: 'string', default: 'midpoint', values: ['midpoint', 'heun'], aliases: { logrho: 'midpoint', bh1: 'midpoint', bh2: 'midpoint' } },
    lower_order_final: { kind: 'bool', default: true },
    euler_at_final: { kind: 'bool', default: false },
    use_karras_sigmas: { kind: 'bool', default: false, nullable: true },
    use_exponential_sigmas: { kind: 'bool', default: false, nullable: true },
    use_beta_sigmas: { kind: 'bool', default: false, nullable: true, only: false },
    use_lu_lambdas: { kind: 'bool', default: false, nullable: true },
    use_flow_sigmas: { kind: 'bool', default: false, nullable: true, only: false },
    flow_shift: { kind: 'number', default: 1.0, nullable: true },
    final_sigmas_type: { kind: 'string', default: 'zero', values: ['zero', 'sigma_min'] },
    lambda_min_clipped: { kind: 'number', default: -Infinity },
    variance_type: { kind: 'string', default: null, nullable: true, values: ['learned', 'learned_range'] },
    timestep_spacing: { kind: 'string', default: 'linspace', values: SPACINGS },
    rescale_betas_zero_snr: { kind: 'bool', default: false },
    use_dynamic_shifting: { kind: 'bool', default: false, only: false },
    time_shift_type: { kind: 'string', default: 'exponential', values: ['exponential'] },
  },
  DDPMScheduler: {
    ...common,
    beta_schedule: { kind: 'string', default: 'linear', values: [...BETA3, 'laplace', 'sigmoid'] },
    variance_type: {
      kind: 'string',
      default: 'fixed_small',
      values: ['fixed_small', 'fixed_small_log', 'fixed_large', 'learned', 'learned_range'],
      // diffusers takes the square root of log(beta) < 0 for it: every noisy step is NaN.
      unsupported: ['fixed_large_log'],
    },
    clip_sample: { kind: 'bool', default: true },
    prediction_type: { kind: 'string', default: 'epsilon', values: ['epsilon', 'sample', 'v_prediction'] },
    ...thresholdKeys,
    clip_sample_range: { kind: 'number', default: 1.0, check: finite },
    timestep_spacing: { kind: 'string', default: 'leading', values: SPACINGS },
    rescale_betas_zero_snr: { kind: 'bool', default: false },
  },
};

/** The option keys a class reads (in the order of its diffusers constructor). */
export function configKeys(className: SchedulerClassName): string[] {
  return Object.keys(SPECS[className]);
}

const list = (xs: readonly unknown[]) => xs.map((x) => (typeof x === 'string' ? `'${x}'` : String(x))).join(', ');

/**
 * Fills in the class defaults and checks every key the class takes. Returns a plain object with
 * exactly the class's keys (snake_case, like diffusers' `scheduler.config`).
 */
export function resolveConfig(op: string, className: SchedulerClassName, config: Record<string, unknown>): Record<string, unknown> {
  const specs = SPECS[className];
  const out: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(specs)) {
    const has = Object.prototype.hasOwnProperty.call(config, key) && config[key] !== undefined;
    let value = has ? config[key] : spec.default;
    const where = `${op}: ${className} config.${key}`;
    if (value === null) {
      if (!spec.nullable) throw new InvalidArgumentError(`${where} must not be null (expected ${expected(spec)})`);
      // diffusers treats None as "off" for the optional booleans
      out[key] = spec.kind === 'bool' ? false : null;
      continue;
    }
    switch (spec.kind) {
      case 'int':
        if (typeof value !== 'number' || !Number.isInteger(value)) throw new InvalidArgumentError(`${where} must be an integer, got ${describe(value)}`);
        break;
      case 'number':
        if (typeof value !== 'number' || Number.isNaN(value)) throw new InvalidArgumentError(`${where} must be a number, got ${describe(value)}`);
        break;
      case 'bool':
        if (typeof value !== 'boolean') throw new InvalidArgumentError(`${where} must be a boolean, got ${describe(value)}`);
        break;
      case 'string':
        if (typeof value !== 'string') throw new InvalidArgumentError(`${where} must be a string, got ${describe(value)}`);
        if (spec.aliases && Object.prototype.hasOwnProperty.call(spec.aliases, value)) value = spec.aliases[value];
        if (spec.values && !spec.values.includes(value as string)) {
          const why = spec.unsupported?.includes(value as string) ? 'is not supported by this adapter' : 'is not a known value';
          throw new InvalidArgumentError(`${where} = ${describe(value)} ${why}; supported: ${list(spec.values)}`);
        }
        break;
      case 'numbers':
        if (!Array.isArray(value) || value.some((v) => typeof v !== 'number' || !Number.isFinite(v))) {
          throw new InvalidArgumentError(`${where} must be an array of finite numbers or null, got ${describe(value)}`);
        }
        break;
    }
    if (spec.check && typeof value === 'number') {
      const problem = spec.check(value);
      if (problem) throw new InvalidArgumentError(`${where} ${problem}, got ${describe(value)}`);
    }
    if ('only' in spec && value !== spec.only) {
      throw new InvalidArgumentError(`${where} = ${describe(value)} is not supported by this adapter; supported: ${describe(spec.only)}`);
    }
    out[key] = value;
  }
  const betas = out['trained_betas'];
  if (Array.isArray(betas) && betas.length !== out['num_train_timesteps']) {
    throw new InvalidArgumentError(
      `${op}: ${className} config.trained_betas must hold num_train_timesteps = ${describe(out['num_train_timesteps'])} values, got ${betas.length}`,
    );
  }
  crossCheck(op, className, out);
  return out;
}

/** Combinations diffusers rejects (or crashes on), checked up front. */
function crossCheck(op: string, className: SchedulerClassName, c: Record<string, unknown>): void {
  const where = `${op}: ${className} config`;
  const ladders = ['use_karras_sigmas', 'use_exponential_sigmas', 'use_beta_sigmas'].filter((k) => c[k] === true);
  if (ladders.length > 1) {
    throw new InvalidArgumentError(`${where} may enable only one of use_karras_sigmas, use_exponential_sigmas, use_beta_sigmas, got ${ladders.join(' and ')}`);
  }
  if (className === 'DPMSolverMultistepScheduler') {
    const algo = c['algorithm_type'];
    if ((algo === 'dpmsolver' || algo === 'sde-dpmsolver') && c['final_sigmas_type'] === 'zero') {
      throw new InvalidArgumentError(
        `${where}.final_sigmas_type = 'zero' is not supported with algorithm_type '${algo}'; supported: 'sigma_min' (or algorithm_type 'dpmsolver++' / 'sde-dpmsolver++')`,
      );
    }
    if (algo === 'sde-dpmsolver' && c['solver_order'] === 3) {
      throw new InvalidArgumentError(
        `${where}.solver_order = 3 is not supported with algorithm_type 'sde-dpmsolver' (diffusers has no third-order update for it); supported: 1, 2`,
      );
    }
  }
}

function expected(spec: KeySpec): string {
  switch (spec.kind) {
    case 'int':
      return 'an integer';
    case 'number':
      return 'a number';
    case 'bool':
      return 'a boolean';
    case 'numbers':
      return 'an array of numbers';
    case 'string':
      return spec.values ? `one of ${list(spec.values)}` : 'a string';
  }
}
