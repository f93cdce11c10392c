// Guidance: denoiser combinators (classifier-free and gradient guidance) and Diffusion-LM's
// per-step control loop (an onStep hook for samplers/sample.ts).
export { classifierFreeGuidance, classifierFreeGuidanceBatched } from './cfg.js';
export type { CFGCond, ClassifierFreeGuidanceOptions, ClassifierFreeGuidanceBatchedOptions } from './cfg.js';
export { gradientGuidance } from './gradient.js';
export type { GradientGuidanceOptions } from './gradient.js';
export { diffusionLMControl } from './diffusion-lm.js';
export type { DiffusionLMControlOptions } from './diffusion-lm.js';
export type { GuidanceScale } from './scale.js';
