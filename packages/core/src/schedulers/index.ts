// A diffusers-compatible scheduler adapter: the vocabulary (timesteps, sigmas, scale_model_input,
// step, add_noise) and the exact numbers of Hugging Face diffusers' schedulers, for people moving
// pipelines from Python. Entry point: createScheduler (./create.ts).

export { createScheduler } from './create.js';
export type { AnyDiffusersScheduler, CreateSchedulerOptions } from './create.js';
export { SCHEDULER_CLASSES } from './config.js';
export type { DiffusersSchedulerConfig, SchedulerClassName } from './config.js';
export type { DiffusersScheduler, SchedulerOptions, SchedulerStepOptions, SchedulerStepOutput } from './base.js';
export { DDIMScheduler } from './ddim.js';
export { PNDMScheduler } from './pndm.js';
export { EulerDiscreteScheduler, EulerAncestralDiscreteScheduler } from './euler.js';
export { HeunDiscreteScheduler } from './heun.js';
export { DPMSolverMultistepScheduler } from './dpmsolver.js';
export { DDPMScheduler } from './ddpm.js';
