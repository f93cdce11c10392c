// Conversions between the parameterisations of one noise schedule:
//   betas  <->  alphas-cumprod (abar)  <->  sigmas, with sigma^2 = (1 - abar) / abar.
// A VP sample x_t = sqrt(abar) x0 + sqrt(1 - abar) eps, divided by sqrt(abar), is the VE sample
// x = x0 + sigma eps the samplers work with. Tables are indexed by training timestep t = 0..T-1,
// so a sigmas table is increasing. sigmaToTimestep / timestepToSigma map between continuous
// timesteps and sigmas by interpolating log(sigma) linearly between integer timesteps, exactly
// like k-diffusion's DiscreteSchedule.sigma_to_t / t_to_sigma.

import { InvalidArgumentError, describe } from '../errors/index.js';
import { type NumberArray, checkArray } from './util.js';

/** abar_t = prod_{i<=t} (1 - beta_i). */
export function alphasCumprodFromBetas(betas: NumberArray): Float64Array {
  const b = checkArray('alphasCumprodFromBetas', 'betas', betas, (v) => v > 0 && v <= 1, 'in (0, 1]');
  const out = new Float64Array(b.length);
  let p = 1;
  for (let i = 0; i < b.length; i++) out[i] = p *= 1 - b[i]!;
  return out;
}

/** Inverse of alphasCumprodFromBetas: beta_0 = 1 - abar_0, beta_t = 1 - abar_t / abar_{t-1}. */
export function betasFromAlphasCumprod(alphasCumprod: NumberArray): Float64Array {
  const op = 'betasFromAlphasCumprod';
  const a = checkArray(op, 'alphasCumprod', alphasCumprod, (v) => v > 0 && v <= 1, 'in (0, 1]');
  const out = new Float64Array(a.length);
  for (let i = 0; i < a.length; i++) {
    if (i > 0 && !(a[i]! <= a[i - 1]!)) throw new InvalidArgumentError(`${op}: alphasCumprod must be non-increasing, but alphasCumprod[${i}] = ${a[i]} exceeds alphasCumprod[${i - 1}] = ${a[i - 1]}`);
    out[i] = 1 - a[i]! / (i > 0 ? a[i - 1]! : 1);
  }
  return out;
}

/** sigma_t = sqrt((1 - abar_t) / abar_t): the VE noise level of each timestep (increasing in t). */
export function sigmasFromAlphasCumprod(alphasCumprod: NumberArray): Float64Array {
  const a = checkArray('sigmasFromAlphasCumprod', 'alphasCumprod', alphasCumprod, (v) => v > 0 && v <= 1, 'in (0, 1]');
  const out = new Float64Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = Math.sqrt((1 - a[i]!) / a[i]!);
  return out;
}

/** abar = 1 / (1 + sigma^2), the inverse of sigmasFromAlphasCumprod. */
export function alphasCumprodFromSigmas(sigmas: NumberArray): Float64Array {
  const s = checkArray('alphasCumprodFromSigmas', 'sigmas', sigmas, (v) => v >= 0, '>= 0');
  const out = new Float64Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = 1 / (1 + s[i]! * s[i]!);
  return out;
}

/** A precomputed continuous timestep <-> sigma map over one sigmas table (checked once). */
export interface TimestepLookup {
  /** Number of training timesteps T. */
  readonly T: number;
  readonly sigmaMin: number;
  readonly sigmaMax: number;
  sigmaToTimestep(sigma: number): number;
  timestepToSigma(t: number): number;
}

/**
 * Builds the map for a table of sigmas indexed by timestep (strictly increasing, > 0, at least 2
 * entries). Use it where the map is evaluated often (a denoiser wrapper); the free functions
 * below check the table on every call.
 */
export function timestepLookup(sigmasTable: NumberArray, op = 'timestepLookup'): TimestepLookup {
  const table = checkArray(op, 'sigmasTable', sigmasTable, (v) => v > 0, '> 0', 2);
  const T = table.length;
  const logs = new Float64Array(T);
  for (let i = 0; i < T; i++) {
    if (i > 0 && !(table[i]! > table[i - 1]!)) {
      throw new InvalidArgumentError(`${op}: sigmasTable must be strictly increasing (sigma per training timestep), but sigmasTable[${i}] = ${table[i]} follows ${table[i - 1]}`);
    }
    logs[i] = Math.log(table[i]!);
  }
  return {
    T,
    sigmaMin: table[0]!,
    sigmaMax: table[T - 1]!,
    sigmaToTimestep(sigma: number): number {
      if (typeof sigma !== 'number' || !(sigma >= 0) || !Number.isFinite(sigma)) {
        throw new InvalidArgumentError(`sigmaToTimestep: sigma must be a finite number >= 0, got ${describe(sigma)}`);
      }
      const ls = Math.log(sigma);
      // low = the last index whose log-sigma is <= ls, clamped so that [low, low + 1] exists.
      let lo = 0;
      let hi = T - 1;
      if (ls < logs[0]!) return 0;
      if (ls >= logs[T - 1]!) return T - 1;
      while (hi - lo > 1) {
        const mid = (lo + hi) >> 1;
        if (logs[mid]! <= ls) lo = mid;
        else hi = mid;
      }
      const w = (logs[lo]! - ls) / (logs[lo]! - logs[lo + 1]!);
      return (1 - w) * lo + w * (lo + 1);
    },
    timestepToSigma(t: number): number {
      if (typeof t !== 'number' || !(t >= 0 && t <= T - 1)) {
        throw new InvalidArgumentError(`timestepToSigma: t must be a number in [0, ${T - 1}], got ${describe(t)}`);
      }
      const lo = Math.floor(t);
      const hi = Math.ceil(t);
      const w = t - lo;
      return Math.exp((1 - w) * logs[lo]! + w * logs[hi]!);
    },
  };
}

/**
 * The continuous timestep of noise level `sigma` in a table of sigmas indexed by timestep
 * (sigmasFromAlphasCumprod): log(sigma) interpolated linearly between neighbouring integer
 * timesteps. Sigmas below the table's first entry map to 0, above its last to T - 1, as in
 * k-diffusion. Round the result for networks trained on integer timesteps only.
 */
export function sigmaToTimestep(sigma: number, sigmasTable: NumberArray): number {
  return timestepLookup(sigmasTable, 'sigmaToTimestep').sigmaToTimestep(sigma);
}

/** The noise level of a continuous timestep t in [0, T - 1]; inverse of sigmaToTimestep. */
export function timestepToSigma(t: number, sigmasTable: NumberArray): number {
  return timestepLookup(sigmasTable, 'timestepToSigma').timestepToSigma(t);
}
