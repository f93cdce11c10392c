// The latent diffusion pipelines: text-to-image, image-to-image, inpainting, class-conditional
// generation and 4x upscaling over core's samplers, the scheduler_config.json adapter, per-image
// seeded generators, and PNG output.
export { SD15_SCHEDULER, StableDiffusionPipeline, X4_LOW_RES_SCHEDULER } from './stable-diffusion.js';
export type {
  StableDiffusionComponents, GenerationOptions, PromptOptions, TextToImageOptions, ImageToImageOptions, InpaintOptions, ClassConditionalOptions, Upscale4xOptions,
  PipelineResult, PipelineProgress, PreviewMode,
} from './stable-diffusion.js';
export { loadSingleFilePipeline, loadStableDiffusionPipeline } from './load.js';
export type { LoadPipelineOptions, LoadSingleFilePipelineOptions } from './load.js';
export { PipelineScheduler, schedulerFromConfig, PIPELINE_SCHEDULER_CLASSES } from './scheduler.js';
export type { PipelineSchedulerClass, PipelineSchedulerOptions, SamplingPlan } from './scheduler.js';
export { BatchGenerator } from './generator.js';
export { writePngs, SD_LATENT_RGB_FACTORS, defaultLatentRgbFactors } from './images.js';
export type { RgbaInput } from './images.js';
export type { LongPrompts } from './prompt.js';
