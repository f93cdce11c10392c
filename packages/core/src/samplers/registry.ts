// Samplers by name, for configuration files, CLIs and UIs: SAMPLERS maps each name to its
// factory; getSampler(name, options) builds one and names the valid choices on a typo.

import { InvalidArgumentError, describe } from '../errors/index.js';
import { ddim } from './ddim.js';
import { ddpm } from './ddpm.js';
import { dpmpp2m } from './dpmpp-2m.js';
import { dpmpp2mSde } from './dpmpp-2m-sde.js';
import { euler } from './euler.js';
import { eulerAncestral } from './euler-ancestral.js';
import { heun } from './heun.js';
import { plms } from './plms.js';
import type { Sampler } from './types.js';

export const SAMPLERS = {
  ddpm,
  ddim,
  plms,
  euler,
  euler_ancestral: eulerAncestral,
  heun,
  dpmpp_2m: dpmpp2m,
  dpmpp_2m_sde: dpmpp2mSde,
} as const;

export type SamplerName = keyof typeof SAMPLERS;
/** The options object each named sampler's factory accepts. */
export type SamplerOptionsFor<N extends SamplerName> = NonNullable<Parameters<(typeof SAMPLERS)[N]>[0]>;

export const SAMPLER_NAMES = Object.keys(SAMPLERS) as SamplerName[];

/** Builds the sampler called `name` ('ddpm', 'ddim', 'plms', 'euler', 'euler_ancestral', 'heun', 'dpmpp_2m', 'dpmpp_2m_sde'). */
export function getSampler<N extends SamplerName>(name: N, options?: SamplerOptionsFor<N>): Sampler {
  if (typeof name !== 'string' || !Object.prototype.hasOwnProperty.call(SAMPLERS, name)) {
    throw new InvalidArgumentError(`getSampler: name must be one of ${SAMPLER_NAMES.map((n) => `'${n}'`).join(', ')}, got ${describe(name)}`);
  }
  return (SAMPLERS[name] as (o?: unknown) => Sampler)(options);
}
