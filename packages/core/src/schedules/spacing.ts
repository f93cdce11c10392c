// Which training timesteps a short sampling run visits, with diffusers' timestep_spacing
// semantics ("leading", "trailing", "linspace"; Lin et al. 2023, table 2), and the sigma ladder
// that results (samplingSigmas). Timesteps come back as descending integer arrays.
//
// One deliberate difference: diffusers builds "trailing" with np.arange(T, 0, -T/n), whose
// floating-point length is n + 1 for some n (e.g. T = 1000, n = 61), which appends a timestep
// of -1. timestepsTrailing always returns exactly n timesteps, round(T - i T/n) - 1 for
// i = 0..n-1; wherever diffusers returns n timesteps the two agree.

import { InvalidArgumentError, describe } from '../errors/index.js';
import { sigmasFromAlphasCumprod } from './conversions.js';
import { karrasSigmas } from './sigmas.js';
import { type NumberArray, checkNonNegativeInt, checkPositiveInt, linspace, roundHalfEven } from './util.js';

function checkSteps(op: string, T: number, n: number): void {
  checkPositiveInt(op, 'T', T);
  checkPositiveInt(op, 'n', n);
  if (n > T) throw new InvalidArgumentError(`${op}: n must be at most T = ${T} (one sampling step per training timestep at most), got ${n}`);
}

/**
 * "leading": floor(T / n) * [n-1, ..., 1, 0] + stepsOffset (DDIM, and Stable Diffusion with
 * stepsOffset = 1). Never reaches T - 1 unless n divides T and stepsOffset = T/n - 1.
 */
export function timestepsLeading(T: number, n: number, stepsOffset = 0): number[] {
  const op = 'timestepsLeading';
  checkSteps(op, T, n);
  checkNonNegativeInt(op, 'stepsOffset', stepsOffset);
  const ratio = Math.floor(T / n);
  const out: number[] = [];
  for (let i = n - 1; i >= 0; i--) out.push(i * ratio + stepsOffset);
  if (out[0]! > T - 1) {
    throw new InvalidArgumentError(`${op}: stepsOffset ${stepsOffset} pushes the first timestep to ${out[0]}, past the last training timestep ${T - 1} (T = ${T}, n = ${n})`);
  }
  return out;
}

/** "trailing": round(T - i T/n) - 1 for i = 0..n-1, always starting at T - 1 (Lin et al. 2023). */
export function timestepsTrailing(T: number, n: number): number[] {
  checkSteps('timestepsTrailing', T, n);
  const ratio = T / n;
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(roundHalfEven(T - i * ratio) - 1);
  return out;
}

/** "linspace": round(linspace(0, T - 1, n)) reversed; starts at T - 1 and ends at 0. */
export function timestepsLinspace(T: number, n: number): number[] {
  checkSteps('timestepsLinspace', T, n);
  return Array.from(linspace(0, T - 1, n), roundHalfEven).reverse();
}

export type TimestepSpacing = 'leading' | 'trailing' | 'linspace' | 'karras';

export interface SamplingSigmasOptions {
  /** The model's alphas-cumprod table, one entry per training timestep. */
  alphasCumprod: NumberArray;
  /** Number of sampling steps (the ladder has steps + 1 entries, the last 0). */
  steps: number;
  /** How the steps are placed; 'karras' ignores the timesteps and spaces sigmas by eq. 5. */
  spacing: TimestepSpacing;
  /** Added to 'leading' timesteps only, as diffusers does (Stable Diffusion uses 1). Default 0. */
  stepsOffset?: number;
  /** Karras rho (spacing 'karras' only). Default 7. */
  rho?: number;
}

const SPACINGS: readonly TimestepSpacing[] = ['leading', 'trailing', 'linspace', 'karras'];

/**
 * The decreasing sigma ladder, ending in 0, for sampling a discrete-time VP model with `steps`
 * steps: sigma of each chosen timestep (sigmasFromAlphasCumprod), then 0. With 'karras', steps
 * Karras sigmas between the table's smallest and largest sigma, then 0.
 */
export function samplingSigmas(options: SamplingSigmasOptions): number[] {
  const op = 'samplingSigmas';
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError(`${op}: options must be an object, got ${describe(options)}`);
  const { alphasCumprod, steps, spacing, stepsOffset = 0, rho = 7 } = options;
  if (!SPACINGS.includes(spacing)) throw new InvalidArgumentError(`${op}: options.spacing must be one of ${SPACINGS.map((s) => `'${s}'`).join(', ')}, got ${describe(spacing)}`);
  const table = sigmasFromAlphasCumprod(alphasCumprod);
  const T = table.length;
  for (let i = 1; i < T; i++) {
    if (!(table[i]! > table[i - 1]!)) throw new InvalidArgumentError(`${op}: options.alphasCumprod must be strictly decreasing, but entry ${i} (${alphasCumprod[i]}) does not fall below entry ${i - 1} (${alphasCumprod[i - 1]})`);
  }
  checkPositiveInt(op, 'options.steps', steps);
  if (spacing === 'karras') {
    if (!(table[0]! > 0)) throw new InvalidArgumentError(`${op}: spacing 'karras' needs alphasCumprod[0] < 1 (sigma_min > 0), got ${alphasCumprod[0]}`);
    return [...karrasSigmas(steps, table[0]!, table[T - 1]!, rho), 0];
  }
  const ts = spacing === 'leading' ? timestepsLeading(T, steps, stepsOffset) : spacing === 'trailing' ? timestepsTrailing(T, steps) : timestepsLinspace(T, steps);
  const out = ts.map((t) => table[t]!);
  // A timestep of 0 with abar_0 = 1 has sigma 0 already; do not repeat it.
  if (out[out.length - 1] !== 0) out.push(0);
  return out;
}
