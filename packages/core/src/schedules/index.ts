// Noise schedules as plain functions returning arrays: beta schedules of VP models, conversions
// between betas, alphas-cumprod, sigmas and timesteps, sampling ladders (Karras, diffusers'
// timestep spacings). Samplers (../samplers) consume the sigma ladders; the diffusers-vocabulary
// adapter (../schedulers) builds on the same functions.
export { linearBetas, scaledLinearBetas, cosineBetas, sqrtBetas, betasForAlphaBar, cosineAlphaBar, sqrtAlphaBar } from './betas.js';
export {
  alphasCumprodFromBetas, betasFromAlphasCumprod, sigmasFromAlphasCumprod, alphasCumprodFromSigmas,
  sigmaToTimestep, timestepToSigma, timestepLookup,
} from './conversions.js';
export type { TimestepLookup } from './conversions.js';
export { karrasSigmas, exponentialSigmas, appendZero } from './sigmas.js';
export { timestepsLeading, timestepsTrailing, timestepsLinspace, samplingSigmas } from './spacing.js';
export type { TimestepSpacing, SamplingSigmasOptions } from './spacing.js';
export type { NumberArray } from './util.js';
