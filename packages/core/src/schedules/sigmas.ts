// Sigma ladders for sampling: decreasing noise levels handed to sample() (see
// samplers/types.ts). karrasSigmas and exponentialSigmas return n levels from sigmaMax down to
// sigmaMin WITHOUT a trailing 0 (k-diffusion's get_sigmas_* append one); call appendZero to end
// the ladder at the clean sample, or leave it off to stop at sigmaMin.

import { InvalidArgumentError } from '../errors/index.js';
import { type NumberArray, checkArray, checkNumberIn, checkPositiveInt, linspace } from './util.js';

function checkRange(op: string, n: number, sigmaMin: number, sigmaMax: number): void {
  checkPositiveInt(op, 'n', n);
  checkNumberIn(op, 'sigmaMin', sigmaMin, 0, Infinity, true, true);
  checkNumberIn(op, 'sigmaMax', sigmaMax, 0, Infinity, true, true);
  if (!(sigmaMax > sigmaMin)) throw new InvalidArgumentError(`${op}: sigmaMax must exceed sigmaMin, got sigmaMin ${sigmaMin}, sigmaMax ${sigmaMax}`);
}

/**
 * Karras et al. 2022, eq. 5: sigma_i = (sigmaMax^(1/rho) + i/(n-1) (sigmaMin^(1/rho) -
 * sigmaMax^(1/rho)))^rho for i = 0..n-1, i.e. evenly spaced in sigma^(1/rho). rho = 7 spends
 * more steps at low noise; rho = 1 is linear in sigma. n = 1 gives [sigmaMax].
 */
export function karrasSigmas(n: number, sigmaMin: number, sigmaMax: number, rho = 7): number[] {
  const op = 'karrasSigmas';
  checkRange(op, n, sigmaMin, sigmaMax);
  checkNumberIn(op, 'rho', rho, 0, Infinity, true, true);
  const ramp = linspace(0, 1, n);
  const minInv = sigmaMin ** (1 / rho);
  const maxInv = sigmaMax ** (1 / rho);
  return Array.from(ramp, (r) => (maxInv + r * (minInv - maxInv)) ** rho);
}

/** n levels evenly spaced in log(sigma) from sigmaMax to sigmaMin (k-diffusion's get_sigmas_exponential). */
export function exponentialSigmas(n: number, sigmaMin: number, sigmaMax: number): number[] {
  checkRange('exponentialSigmas', n, sigmaMin, sigmaMax);
  const ramp = linspace(Math.log(sigmaMax), Math.log(sigmaMin), n);
  return Array.from(ramp, Math.exp);
}

/** The ladder with a final 0 appended (the clean sample). */
export function appendZero(sigmas: NumberArray): number[] {
  const s = checkArray('appendZero', 'sigmas', sigmas, (v) => v > 0, '> 0');
  return [...s, 0];
}
