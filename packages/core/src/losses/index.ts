// Diffusion training losses and timestep samplers.
export { diffusionLoss, diffusionLossTerms, diffuseVP, predictionTarget } from './diffusion.js';
export type { DiffusionLossOptions, DiffusionLossTerms, DiffusionNet, PredictionType } from './diffusion.js';
export { uniformTimesteps, LossAwareSampler } from './timesteps.js';
export type { LossAwareSamplerOptions, TimestepDraw, TimestepDrawOptions } from './timesteps.js';
