// Samplers over the VE denoiser contract (types.ts), the shared loop (sample.ts), network
// wrappers (denoiser.ts), exact Gaussian oracles (closed-form.ts) and the by-name registry.
export type {
  AsyncDenoiser, Denoiser, Sampler, SamplerContext, SamplerState, SamplerStepResult, SampleOptions, StepInfo, ProgressInfo,
} from './types.js';
export { sample } from './sample.js';
export { vpDenoiser, vpDenoiserAsync, veDenoiser, asyncDenoiser, isAsyncDenoiser, epsFromX0, x0FromEps } from './denoiser.js';
export { ASYNC_DENOISER } from './types.js';
export type { AsyncVPNetwork, Prediction, VPNetwork, VENetwork, VPDenoiserOptions, VEDenoiserOptions } from './denoiser.js';
export { ddpm } from './ddpm.js';
export { ddim } from './ddim.js';
export type { DDIMOptions } from './ddim.js';
export { plms, adamsBashforthWeights } from './plms.js';
export type { PLMSOptions } from './plms.js';
export { euler } from './euler.js';
export { eulerAncestral } from './euler-ancestral.js';
export type { EulerAncestralOptions } from './euler-ancestral.js';
export { heun } from './heun.js';
export { dpmpp2m } from './dpmpp-2m.js';
export { dpmpp2mSde } from './dpmpp-2m-sde.js';
export type { DPMpp2MSDEOptions } from './dpmpp-2m-sde.js';
export { SAMPLERS, SAMPLER_NAMES, getSampler } from './registry.js';
export type { SamplerName, SamplerOptionsFor } from './registry.js';
export { gaussianDenoiser, gaussianMixtureDenoiser, gaussianPfOdeSolution } from './closed-form.js';
export type { GaussianSpec, MixtureComponent } from './closed-form.js';
export { ancestralStep } from './util.js';
