// StableDiffusionPipeline: text-to-image, image-to-image, inpainting, class-conditional
// generation and 4x latent upscaling over one set of components (UNet, VAE, CLIP text encoder
// and tokenizer, a diffusers scheduler_config.json), as diffusers' StableDiffusion*Pipeline
// classes compute them, on core's sampling loop:
//
//   1. check every argument (typed errors naming it) and the UNet's input layout;
//   2. prompt embeddings (conditional, and negative when guiding), clipSkip, long prompts;
//   3. per-image generators (seed + i): the initial noise first, then any posterior sample or
//      low-res noise the call needs, then the sampler's own noise;
//   4. the starting sample in VE form: initNoiseSigma * noise, or image latents + sigma * noise
//      at the start step (img2img strength);
//   5. core's sample() with the scheduler's sigma ladder and sampler, the UNet wrapped once by
//      vpDenoiser (concatenated conditioning channels after the input scaling, as diffusers
//      concatenates after scale_model_input), classifier-free guidance by core's batched
//      combinator, inpainting's blend of known latents as an onStep hook;
//   6. progress (with TAESD or latent-projection previews), cancellation between steps;
//   7. VAE decoding of latents / scaling_factor into RGBA images.
//
// On a backend that compiles (Backend.compile: the onnx backend), the UNet evaluation and the VAE
// decode run as recorded programs (one per input shape, kept for later calls) through the async
// forms of the same wrappers; everything else runs eagerly.

import {
  InvalidArgumentError, ShapeError, add, classifierFreeGuidanceBatched, concat, createScheduler, describe, dispose, getBackend, isTensor, keep, mul, randn, resize, sample, sub, tensor, tidy,
  zeros, type AsyncDenoiser, type Backend, type CompiledFunction, type Denoiser, type DiffusersSchedulerConfig, type ProgressInfo, type Sampler, type SamplerName, type StepInfo, type Tensor,
} from '@denoise/core';
import type { RgbaImage } from '../images/png.js';
import { imagesToTensor } from '../images/tensor.js';
import { CLIPTextModel } from '../models/clip/clip-text.js';
import { Embedding } from '../models/nn/layers.js';
import { UNet2DConditionModel } from '../models/unet/unet.js';
import { AutoencoderKL } from '../models/vae/autoencoder-kl.js';
import { TinyAutoencoder } from '../taesd/taesd.js';
import { ClipTokenizer } from '../tokenizer/clip-tokenizer.js';
import {
  checkGuidance, checkInteger, checkOneOf, checkOptional, checkPixelSize, checkSeed, checkSignal, checkStrength, promptList, resolveBatch, throwIfAborted,
} from './checks.js';
import { BatchGenerator } from './generator.js';
import { defaultLatentRgbFactors, masksToTensor, planesToRgba, toRgbaImages, type RgbaInput } from './images.js';
import { encodePromptLists, type LongPrompts } from './prompt.js';
import { PipelineScheduler, type SamplingPlan } from './scheduler.js';

/** diffusers' low_res_scheduler of the SD x4 upscaler: the noise added to the low-resolution image. */
export const X4_LOW_RES_SCHEDULER: DiffusersSchedulerConfig = Object.freeze({
  _class_name: 'DDPMScheduler', num_train_timesteps: 1000, beta_schedule: 'scaled_linear', beta_start: 0.0001, beta_end: 0.02,
});

/** Stable Diffusion 1.x's scheduler_config.json (PNDM, as the released pipelines ship it): the default for single files. */
export const SD15_SCHEDULER: DiffusersSchedulerConfig = Object.freeze({
  _class_name: 'PNDMScheduler', num_train_timesteps: 1000, beta_schedule: 'scaled_linear', beta_start: 0.00085, beta_end: 0.012,
  set_alpha_to_one: false, skip_prk_steps: true, steps_offset: 1, trained_betas: null, clip_sample: false,
});

export interface StableDiffusionComponents {
  unet: UNet2DConditionModel;
  vae: AutoencoderKL;
  /** A scheduler_config.json object (or a PipelineScheduler built from one). */
  scheduler: DiffusersSchedulerConfig | PipelineScheduler;
  /** Text conditioning (every call but classConditional needs both). */
  textEncoder?: CLIPTextModel | null;
  tokenizer?: ClipTokenizer | null;
  /** The x4 upscaler's low-res noise schedule (default X4_LOW_RES_SCHEDULER). */
  lowResScheduler?: DiffusersSchedulerConfig | null;
  /** A TAESD for fast previews (its latent channels must match the VAE's). */
  taesd?: TinyAutoencoder | null;
  /** The latent-to-RGB projection of previews without TAESD: one [r, g, b] row per latent channel. */
  latentRgbFactors?: readonly (readonly number[])[];
  /**
   * Run the UNet and the VAE decode as compiled programs: 'auto' (default) where the current
   * backend can compile (the onnx backend), true to require it (an error elsewhere), false never.
   */
  compile?: boolean | 'auto';
}

export type PreviewMode = 'none' | 'taesd' | 'latent';

export interface PipelineProgress {
  /** Steps done in this call and the total (after an img2img start step). */
  readonly step: number;
  readonly total: number;
  /** Noise level reached. */
  readonly sigma: number;
  /** The current prediction of image 0 (with `previews` other than 'none'), at the output size. */
  readonly preview?: RgbaImage;
  /** Every image's prediction. */
  readonly previews?: readonly RgbaImage[];
}

export interface GenerationOptions {
  /** Sampling steps (diffusers' num_inference_steps). Default 50 (upscale4x: 75). */
  steps?: number;
  /** Classifier-free guidance weight: > 1 guides, 0 or 1 run the conditional model alone. Default 7.5 (upscale4x 9, classConditional 1). */
  guidanceScale?: number;
  /** Any core sampler by name (or a Sampler), instead of the scheduler class's. */
  sampler?: SamplerName | Sampler;
  /** Options of the sampler named by `sampler` (e.g. `{ eta: 1 }` for 'ddim'). */
  samplerOptions?: Record<string, unknown>;
  /** Image i draws its randomness from a generator seeded seed + i. Default 0. */
  seed?: number;
  /** Number of images. Default: the length of a per-image array argument, else 1. */
  batch?: number;
  /** Called once per step. */
  onProgress?: (progress: PipelineProgress) => void;
  /** 'taesd': decode previews with the pipeline's TAESD (the latent projection without one); 'latent': the projection; 'none' (default). */
  previews?: PreviewMode;
  /** Cancels between steps (and stages) with core's AbortError. */
  signal?: AbortSignal;
  /** Also return the final latents (scaled, as the UNet sees them; the caller disposes them). */
  returnLatents?: boolean;
}

export interface PromptOptions extends GenerationOptions {
  /** One prompt for every image, or one per image. */
  prompt: string | readonly string[];
  /** Used when guiding: one for every image, or one per image. Default ''. */
  negativePrompt?: string | readonly string[];
  /** Condition on the output of layer N - clipSkip (1: the penultimate layer), through the final layer norm. Default 0. */
  clipSkip?: number;
  /** Prompts over 75 tokens: 'truncate' (default, diffusers) or 'chunks' (75-token windows, concatenated). */
  longPrompts?: LongPrompts;
}

export interface TextToImageOptions extends PromptOptions {
  /** Output size in pixels, multiples of 8 (and of the VAE's factor). Default: the UNet's sample_size times the VAE's factor. */
  height?: number;
  width?: number;
  /**
   * The starting noise (diffusers' `latents`): [batch, latent channels, height / f, width / f],
   * N(0, I) draws, scaled by the scheduler's initial noise level here. Default: drawn from the
   * seeds. The sampler's own noise (ancestral samplers) still comes from the seeds.
   */
  latents?: Tensor;
}

export interface ImageToImageOptions extends PromptOptions {
  /** The input image(s): one for every batch image, or one each; sizes multiples of 8. */
  image: RgbaInput | readonly RgbaInput[];
  /** How far to noise the input: 1 = all the way (steps all run), small = little change. Default 0.8 (inpaint: 1). */
  strength?: number;
  /** Latents of the input: a seeded posterior sample (default, as diffusers) or the posterior mean. */
  encode?: 'sample' | 'mean';
  /**
   * The N(0, I) noise added to the input's latents at the start step: [batch, latent channels,
   * height / f, width / f]. Default: drawn from the seeds. With `encode: 'mean'` this makes a run
   * reproducible elsewhere (diffusers: `scheduler.add_noise(latents, noise, t_start)`).
   */
  noise?: Tensor;
}

export interface InpaintOptions extends ImageToImageOptions {
  /** White (luminance >= 0.5) repaints, black keeps; same size as the image. */
  mask: RgbaInput | readonly RgbaInput[];
}

export interface ClassConditionalOptions extends GenerationOptions {
  /** The starting noise, as TextToImageOptions.latents. */
  latents?: Tensor;
  /** One label per image: class ids (num_class_embeds table), numbers ('timestep'), or vectors (projection types). */
  classLabels: readonly number[] | readonly (readonly number[])[];
  /** The label of the unconditional branch, needed for guidanceScale > 1 (e.g. a null class). */
  unconditionalClass?: number | readonly number[];
  height?: number;
  width?: number;
}

export interface Upscale4xOptions extends PromptOptions {
  /** The low-resolution image(s); the output is the VAE's factor (4) times larger. */
  image: RgbaInput | readonly RgbaInput[];
  /** Noise added to the low-res image, a timestep of the low-res scheduler (class label of the UNet). Default 20. */
  noiseLevel?: number;
  /** The starting noise, as TextToImageOptions.latents ([batch, latent channels, low-res height, low-res width]). */
  latents?: Tensor;
  /** The N(0, I) noise the low-res scheduler adds to the image ([batch, 3, low-res height, low-res width]). Default: drawn from the seeds. */
  imageNoise?: Tensor;
}

export interface PipelineResult {
  readonly images: RgbaImage[];
  /** With returnLatents: the final latents [B, C, h, w] (yours to dispose). */
  readonly latents?: Tensor;
}

/** What the UNet is given besides x_t and t. */
interface UNetCond {
  /** [B, T, D] text embeddings (zeros without text). */
  readonly context: Tensor;
  readonly classLabels: Tensor | null;
  /** Channels concatenated after the latents: [mask, masked-image latents] or the noisy low-res image. */
  readonly extra: Tensor | null;
}

/** The options every call shares, checked. */
interface Resolved {
  readonly op: string;
  readonly batch: number;
  readonly seed: number;
  readonly guidance: number;
  readonly guided: boolean;
  readonly sampler: Sampler;
  readonly plan: SamplingPlan;
  readonly previews: PreviewMode;
  readonly onProgress: ((p: PipelineProgress) => void) | undefined;
  readonly signal: AbortSignal | undefined;
  readonly returnLatents: boolean;
}

interface DenoiseSpec {
  /** The starting sample at plan.sigmas[startStep] (freed here). */
  readonly x: Tensor;
  readonly startStep: number;
  readonly cond: UNetCond;
  readonly uncond: UNetCond | null;
  readonly onStep?: (info: StepInfo) => Tensor;
  /** Output size in pixels. */
  readonly height: number;
  readonly width: number;
}

const joinConds = (a: UNetCond, b: UNetCond): UNetCond => ({
  context: concat([a.context, b.context], 0),
  classLabels: a.classLabels && b.classLabels ? concat([a.classLabels, b.classLabels], 0) : null,
  extra: a.extra && b.extra ? concat([a.extra, b.extra], 0) : null,
});

const promptArgs = (o: PromptOptions) => [{ arg: 'prompt', value: o.prompt as unknown }, { arg: 'negativePrompt', value: o.negativePrompt as unknown }];

/**
 * N(0, I) noise of `shape` drawn from the generators, or the caller's tensor of that shape (a
 * copy: the caller keeps its own). Drawn in both cases, so that later draws do not depend on it.
 */
function givenOrDrawn(op: string, arg: string, given: Tensor | undefined, shape: number[], gen: BatchGenerator): Tensor {
  const drawn = randn(shape, gen);
  if (given === undefined) return drawn;
  drawn.dispose();
  if (!isTensor(given)) throw new InvalidArgumentError(`${op}: ${arg} must be a Tensor ${describe(shape)}, got ${describe(given)}`);
  given._check(op);
  if (given.rank !== shape.length || given.shape.some((d, i) => d !== shape[i])) throw new ShapeError(`${op}: ${arg} must be ${describe(shape)}, got ${describe(given.shape)}`);
  if (given.dtype !== 'float32') throw new InvalidArgumentError(`${op}: ${arg} must be float32, got ${given.dtype}`);
  return mul(given, 1);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export class StableDiffusionPipeline {
  readonly unet: UNet2DConditionModel;
  readonly vae: AutoencoderKL;
  readonly textEncoder: CLIPTextModel | null;
  readonly tokenizer: ClipTokenizer | null;
  readonly scheduler: PipelineScheduler;
  readonly lowResScheduler: DiffusersSchedulerConfig;
  readonly taesd: TinyAutoencoder | null;
  readonly latentRgbFactors: readonly (readonly number[])[];
  readonly compile: boolean | 'auto';
  /** Compiled UNet / decode programs per backend (made on first use). */
  private readonly compiled = new Map<Backend, { unet: CompiledFunction; decode: CompiledFunction }>();

  constructor(components: StableDiffusionComponents) {
    const op = 'new StableDiffusionPipeline';
    if (!isObject(components)) throw new InvalidArgumentError(`${op}: components must be an object { unet, vae, scheduler, textEncoder?, tokenizer?, ... }, got ${describe(components)}`);
    const c = components;
    if (!(c.unet instanceof UNet2DConditionModel)) throw new InvalidArgumentError(`${op}: components.unet must be a UNet2DConditionModel, got ${describe(c.unet)}`);
    if (!(c.vae instanceof AutoencoderKL)) throw new InvalidArgumentError(`${op}: components.vae must be an AutoencoderKL, got ${describe(c.vae)}`);
    if (c.textEncoder != null && !(c.textEncoder instanceof CLIPTextModel)) throw new InvalidArgumentError(`${op}: components.textEncoder must be a CLIPTextModel or null, got ${describe(c.textEncoder)}`);
    if (c.tokenizer != null && !(c.tokenizer instanceof ClipTokenizer)) throw new InvalidArgumentError(`${op}: components.tokenizer must be a ClipTokenizer or null, got ${describe(c.tokenizer)}`);
    if (c.taesd != null && !(c.taesd instanceof TinyAutoencoder)) throw new InvalidArgumentError(`${op}: components.taesd must be a TinyAutoencoder or null, got ${describe(c.taesd)}`);
    this.unet = c.unet;
    this.vae = c.vae;
    this.textEncoder = c.textEncoder ?? null;
    this.tokenizer = c.tokenizer ?? null;
    this.taesd = c.taesd ?? null;
    this.scheduler = c.scheduler instanceof PipelineScheduler ? c.scheduler : new PipelineScheduler(c.scheduler);
    this.lowResScheduler = c.lowResScheduler ?? X4_LOW_RES_SCHEDULER;
    if (c.compile !== undefined && c.compile !== 'auto' && typeof c.compile !== 'boolean') throw new InvalidArgumentError(`${op}: components.compile must be true, false or 'auto', got ${describe(c.compile)}`);
    this.compile = c.compile ?? 'auto';
    const latent = this.vae.config.latent_channels;
    const factors = c.latentRgbFactors ?? defaultLatentRgbFactors(latent);
    if (!Array.isArray(factors) || factors.length !== latent || !factors.every((r) => Array.isArray(r) && r.length === 3 && r.every(Number.isFinite))) {
      throw new InvalidArgumentError(`${op}: components.latentRgbFactors must be ${latent} rows (one per latent channel) of 3 finite numbers, got ${describe(factors)}`);
    }
    this.latentRgbFactors = factors;
    if (this.taesd && this.taesd.config.latentChannels !== latent) {
      throw new InvalidArgumentError(`${op}: components.taesd has ${this.taesd.config.latentChannels} latent channels, the VAE ${latent}`);
    }
    if (this.textEncoder && this.textEncoder.config.hidden_size !== this.contextDim) {
      throw new InvalidArgumentError(`${op}: the text encoder's hidden_size ${this.textEncoder.config.hidden_size} is not the UNet's context width ${this.contextDim} (cross_attention_dim / encoder_hid_dim)`);
    }
  }

  /** Pixels per latent pixel (8 for SD, 4 for the x4 upscaler's VAE). */
  get vaeFactor(): number {
    return this.vae.downsamplingFactor;
  }

  /** Image sizes must be multiples of this: 8 and the VAE's factor (their least common multiple). */
  get sizeMultiple(): number {
    const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
    return (8 * this.vaeFactor) / gcd(8, this.vaeFactor);
  }

  /** Width of the UNet's text context. */
  get contextDim(): number {
    const u = this.unet.config;
    return u.encoder_hid_dim ?? (Array.isArray(u.cross_attention_dim) ? u.cross_attention_dim[0]! : u.cross_attention_dim);
  }

  /** Frees every component's weights (and releases compiled programs). */
  dispose(): void {
    for (const c of this.compiled.values()) {
      void c.unet.dispose();
      void c.decode.dispose();
    }
    this.compiled.clear();
    this.unet.dispose();
    this.vae.dispose();
    this.textEncoder?.dispose();
    this.taesd?.dispose();
  }

  // ---- the five calls ---------------------------------------------------------------------------

  /** Images from text (diffusers' StableDiffusionPipeline). */
  async textToImage(options: TextToImageOptions): Promise<PipelineResult> {
    const op = 'textToImage';
    const { o, r } = this.begin(op, options, 'plain', { steps: 50, guidance: 7.5 }, promptArgs);
    const { height, width } = this.outputSize(op, o);
    throwIfAborted(op, r.signal, 'encoding the prompt');
    const [cond, uncond] = this.textConds(r, o);
    try {
      const gen = new BatchGenerator(r.seed, r.batch);
      const x = tidy(() => mul(this.initialNoise(r, gen, height, width, o.latents), r.plan.initNoiseSigma));
      return await this.denoise(r, gen, { x, startStep: 0, cond, uncond, height, width });
    } finally {
      dispose([cond.context, uncond?.context]);
    }
  }

  /** Images from an input image and text (StableDiffusionImg2ImgPipeline): the image noised to the strength's step, then denoised. */
  async imageToImage(options: ImageToImageOptions): Promise<PipelineResult> {
    const op = 'imageToImage';
    const { o, r } = this.begin(op, options, 'plain', { steps: 50, guidance: 7.5 }, (q) => [...promptArgs(q), { arg: 'image', value: q.image }]);
    const images = this.inputImages(op, 'image', o.image, r.batch);
    const { height, width } = images[0]!;
    const strength = checkStrength(op, o.strength ?? 0.8);
    const startStep = this.startStep(op, r.plan, strength);
    const encode = checkOneOf(op, 'encode', o.encode ?? 'sample', ['sample', 'mean'] as const);
    throwIfAborted(op, r.signal, 'encoding the prompt');
    const [cond, uncond] = this.textConds(r, o);
    try {
      const gen = new BatchGenerator(r.seed, r.batch);
      const x = tidy(() => {
        const noise = this.initialNoise(r, gen, height, width, o.noise, 'noise');
        const z0 = this.encodeImages(imagesToTensor(images, { range: '-1,1' }), encode, gen);
        return add(z0, mul(noise, r.plan.sigmas[startStep]!));
      });
      return await this.denoise(r, gen, { x, startStep, cond, uncond, height, width });
    } finally {
      dispose([cond.context, uncond?.context]);
    }
  }

  /**
   * Repaints the mask's white area (StableDiffusionInpaintPipeline). 9-channel inpainting UNets
   * take [latents, mask, masked-image latents]; ordinary 4-channel UNets get the known latents,
   * noised to the current level, blended back in after every step (the clean latents after the
   * last), so unmasked latents come out exactly as encoded.
   */
  async inpaint(options: InpaintOptions): Promise<PipelineResult> {
    const op = 'inpaint';
    const { o, r, layout } = this.begin(op, options, 'inpaint', { steps: 50, guidance: 7.5 }, (q) => [...promptArgs(q), { arg: 'image', value: q.image }, { arg: 'mask', value: q.mask }]);
    const images = this.inputImages(op, 'image', o.image, r.batch);
    const masks = toRgbaImages(op, 'mask', o.mask, r.batch);
    const { height, width } = images[0]!;
    if (masks[0]!.width !== width || masks[0]!.height !== height) throw new ShapeError(`${op}: mask is ${masks[0]!.width}x${masks[0]!.height}, image is ${width}x${height}; they must match`);
    const strength = checkStrength(op, o.strength ?? 1);
    const startStep = this.startStep(op, r.plan, strength);
    const encode = checkOneOf(op, 'encode', o.encode ?? 'sample', ['sample', 'mean'] as const);
    throwIfAborted(op, r.signal, 'encoding the prompt');
    const [cond0, uncond0] = this.textConds(r, o);
    const held: Tensor[] = [cond0.context, ...(uncond0 ? [uncond0.context] : [])];
    try {
      const gen = new BatchGenerator(r.seed, r.batch);
      const h = height / this.vaeFactor;
      const w = width / this.vaeFactor;
      const prepared = tidy(() => {
        const noise = this.initialNoise(r, gen, height, width, o.noise, 'noise');
        const image = imagesToTensor(images, { range: '-1,1' });
        const mask = masksToTensor(masks); // [B, 1, H, W], 1 = repaint
        const maskLatent = resize(mask, { size: [h, w], mode: 'nearest' });
        const z0 = layout === 'blend' || strength < 1 ? this.encodeImages(image, encode, gen) : null;
        const extra = layout === 'concat' ? concat([maskLatent, this.encodeImages(mul(image, sub(1, mask)), encode, gen)], 1) : null;
        const x = strength === 1 ? mul(noise, r.plan.initNoiseSigma) : add(z0!, mul(noise, r.plan.sigmas[startStep]!));
        return { noise, maskLatent, z0, extra, x };
      });
      const { noise, maskLatent, z0, extra, x } = prepared;
      held.push(noise, maskLatent, ...(z0 ? [z0] : []), ...(extra ? [extra] : []));
      const keepMask = layout === 'blend' ? keep(tidy(() => sub(1, maskLatent))) : null;
      if (keepMask) held.push(keepMask);
      // x_next = m x + (1 - m) (z0 + sigma_next noise); the clean z0 after the last step (in VE
      // form z0 / finalScale where the run ends above sigma 0, so that the VP result holds z0).
      const onStep = keepMask
        ? (info: StepInfo) => {
          const known = info.i === info.total - 1 ? (r.plan.finalScale === 1 ? z0! : mul(z0!, 1 / r.plan.finalScale)) : add(z0!, mul(noise, info.sigmaNext));
          return add(mul(info.x, maskLatent), mul(known, keepMask));
        }
        : undefined;
      const cond = { ...cond0, extra };
      const uncond = uncond0 ? { ...uncond0, extra } : null;
      return await this.denoise(r, gen, { x, startStep, cond, uncond, height, width, ...(onStep ? { onStep } : {}) });
    } finally {
      dispose(held);
    }
  }

  /** Images of given classes from a UNet with class embeddings, no text (guidance needs `unconditionalClass`). */
  async classConditional(options: ClassConditionalOptions): Promise<PipelineResult> {
    const op = 'classConditional';
    const { o, r } = this.begin(op, options, 'class', { steps: 50, guidance: 1 }, (q) => {
      if (!Array.isArray(q.classLabels)) throw new InvalidArgumentError(`${op}: classLabels must be an array with one label per image, got ${describe(q.classLabels)}`);
      return [{ arg: 'classLabels', value: q.classLabels }];
    });
    const { height, width } = this.outputSize(op, o);
    if (r.guided && o.unconditionalClass === undefined) {
      throw new InvalidArgumentError(`${op}: guidanceScale ${r.guidance} needs unconditionalClass (the label of the unconditional branch); use guidanceScale 1 for none`);
    }
    throwIfAborted(op, r.signal, 'sampling');
    const held: Tensor[] = [];
    try {
      const context = keep(zeros([r.batch, 1, this.contextDim]));
      held.push(context);
      const labels = keep(this.classLabelTensor(op, 'classLabels', o.classLabels));
      held.push(labels);
      let uncond: UNetCond | null = null;
      if (r.guided) {
        const u = o.unconditionalClass!;
        const ul = keep(this.classLabelTensor(op, 'unconditionalClass', new Array(r.batch).fill(u) as number[] | number[][]));
        held.push(ul);
        uncond = { context, classLabels: ul, extra: null };
      }
      const gen = new BatchGenerator(r.seed, r.batch);
      const x = tidy(() => mul(this.initialNoise(r, gen, height, width, o.latents), r.plan.initNoiseSigma));
      return await this.denoise(r, gen, { x, startStep: 0, cond: { context, classLabels: labels, extra: null }, uncond, height, width });
    } finally {
      dispose(held);
    }
  }

  /**
   * 4x upscaling with the SD x4 upscaler's layout (StableDiffusionUpscalePipeline): the low-res
   * image, noised to `noiseLevel` by the low-res scheduler, is concatenated to the latents
   * (4 + 3 = 7 channels) and the noise level is the UNet's class label.
   */
  async upscale4x(options: Upscale4xOptions): Promise<PipelineResult> {
    const op = 'upscale4x';
    const { o, r } = this.begin(op, options, 'upscale', { steps: 75, guidance: 9 }, (q) => [...promptArgs(q), { arg: 'image', value: q.image }]);
    const images = toRgbaImages(op, 'image', o.image, r.batch);
    const { height: lh, width: lw } = images[0]!;
    const lowRes = createScheduler(this.lowResScheduler);
    const classes = this.unet.class_embedding instanceof Embedding ? this.unet.config.num_class_embeds! : lowRes.alphasCumprod.length;
    const noiseLevel = checkInteger(op, 'noiseLevel', o.noiseLevel ?? 20, 0, Math.min(lowRes.alphasCumprod.length, classes) - 1);
    throwIfAborted(op, r.signal, 'encoding the prompt');
    const held: Tensor[] = [];
    const [cond0, uncond0] = this.textConds(r, o);
    held.push(cond0.context, ...(uncond0 ? [uncond0.context] : []));
    try {
      const gen = new BatchGenerator(r.seed, r.batch);
      const f = this.vaeFactor;
      const { x, image, labels } = tidy(() => {
        const noise = givenOrDrawn(op, 'latents', o.latents, [r.batch, this.vae.config.latent_channels, lh, lw], gen);
        const imageNoise = givenOrDrawn(op, 'imageNoise', o.imageNoise, [r.batch, 3, lh, lw], gen);
        return {
          x: mul(noise, r.plan.initNoiseSigma),
          image: lowRes.addNoise(imagesToTensor(images, { range: '-1,1' }), imageNoise, noiseLevel),
          labels: tensor(new Float32Array(r.batch).fill(noiseLevel), [r.batch]),
        };
      });
      held.push(image, labels);
      const cond = { context: cond0.context, classLabels: labels, extra: image };
      const uncond = uncond0 ? { context: uncond0.context, classLabels: labels, extra: image } : null;
      return await this.denoise(r, gen, { x, startStep: 0, cond, uncond, height: lh * f, width: lw * f });
    } finally {
      dispose(held);
    }
  }

  // ---- shared steps -----------------------------------------------------------------------------

  /** The checks every call starts with: the options object, the batch (from `perImage` lists), shared options, the UNet's layout. */
  private begin<T extends GenerationOptions>(
    op: string, options: T, kind: 'plain' | 'inpaint' | 'class' | 'upscale', defaults: { steps: number; guidance: number }, perImage: (o: T) => { arg: string; value: unknown }[],
  ): { o: T; r: Resolved; layout: 'plain' | 'blend' | 'concat' } {
    if (!isObject(options)) throw new InvalidArgumentError(`${op}: options must be an object, got ${describe(options)}`);
    const r = this.resolve(op, options, defaults, resolveBatch(op, options.batch, perImage(options)));
    return { o: options, r, layout: this.checkLayout(op, kind) };
  }

  private resolve(op: string, o: GenerationOptions, defaults: { steps: number; guidance: number }, batch: number): Resolved {
    const steps = checkInteger(op, 'steps', o.steps ?? defaults.steps, 1, this.scheduler.numTrainTimesteps);
    const guidance = checkGuidance(op, o.guidanceScale ?? defaults.guidance);
    const seed = checkSeed(op, o.seed ?? 0, batch);
    const previews = checkOneOf(op, 'previews', o.previews ?? 'none', ['none', 'taesd', 'latent'] as const);
    checkOptional(op, 'onProgress', o.onProgress, 'function');
    checkOptional(op, 'returnLatents', o.returnLatents, 'boolean');
    const signal = checkSignal(op, o.signal);
    const sampler = this.scheduler.sampler({ ...(o.sampler !== undefined ? { sampler: o.sampler } : {}), ...(o.samplerOptions !== undefined ? { samplerOptions: o.samplerOptions } : {}) }, op);
    return {
      op, batch, seed, guidance, guided: guidance > 1, sampler, plan: this.scheduler.plan(steps), previews, onProgress: o.onProgress, signal,
      returnLatents: o.returnLatents ?? false,
    };
  }

  /** Checks the UNet's inputs against the call: 'plain' z; 'inpaint' z (blend) or [z, mask, z] (concat); 'class'; 'upscale' [z, rgb]. */
  private checkLayout(op: string, kind: 'plain' | 'inpaint' | 'class' | 'upscale'): 'plain' | 'blend' | 'concat' {
    const u = this.unet.config;
    const c = this.vae.config.latent_channels;
    const classEmbed = this.unet.class_embedding !== null || u.class_embed_type === 'identity';
    if (u.out_channels !== c) throw new ShapeError(`${op}: the UNet predicts ${u.out_channels} channels, the VAE's latents have ${c}`);
    const expected = kind === 'upscale' ? [c + 3] : kind === 'inpaint' ? [c, 2 * c + 1] : [c];
    if (!expected.includes(u.in_channels)) {
      const hint = u.in_channels === 2 * c + 1 ? ' (a 9-channel inpainting UNet: use inpaint())' : u.in_channels === c + 3 ? ' (an x4 upscaler UNet: use upscale4x())' : '';
      throw new ShapeError(`${op}: the UNet takes ${u.in_channels} input channels, this call gives it ${expected.join(' or ')}${hint}`);
    }
    if ((kind === 'class' || kind === 'upscale') && !classEmbed) throw new InvalidArgumentError(`${op}: the UNet has no class embedding (num_class_embeds / class_embed_type)`);
    if ((kind === 'plain' || kind === 'inpaint') && classEmbed) throw new InvalidArgumentError(`${op}: the UNet is class-conditioned (needs class labels): use classConditional() or upscale4x()`);
    if (kind === 'inpaint') return u.in_channels === c ? 'blend' : 'concat';
    return 'plain';
  }

  private outputSize(op: string, o: { height?: number; width?: number }): { height: number; width: number } {
    const f = this.vaeFactor;
    const multiple = this.sizeMultiple;
    const s = this.unet.config.sample_size;
    const [sh, sw] = s === null ? [null, null] : Array.isArray(s) ? s : [s, s];
    const pick = (arg: 'height' | 'width', v: unknown, fallback: number | null) => {
      if (v === undefined && fallback === null) throw new InvalidArgumentError(`${op}: ${arg} is required (the UNet config has no sample_size)`);
      return checkPixelSize(op, arg, v ?? fallback! * f, multiple);
    };
    return { height: pick('height', o.height, sh), width: pick('width', o.width, sw) };
  }

  private inputImages(op: string, arg: string, input: unknown, batch: number): RgbaImage[] {
    const images = toRgbaImages(op, arg, input as RgbaInput, batch);
    const multiple = this.sizeMultiple;
    const { width, height } = images[0]!;
    if (width % multiple !== 0 || height % multiple !== 0) throw new InvalidArgumentError(`${op}: ${arg} must be a multiple of ${multiple} pixels wide and high, got ${width}x${height}`);
    return images;
  }

  /** The ladder index img2img starts from: diffusers' t_start = N - min(int(N strength), N). */
  private startStep(op: string, plan: SamplingPlan, strength: number): number {
    const n = plan.sigmas.length - 1;
    const run = Math.min(Math.floor(n * strength), n);
    if (run < 1) throw new InvalidArgumentError(`${op}: strength ${strength} with ${n} steps runs no step (strength * steps must be at least 1)`);
    return n - run;
  }

  /** Conditional and (when guiding) negative prompt embeddings as UNet conditions. */
  private textConds(r: Resolved, o: PromptOptions): [UNetCond, UNetCond | null] {
    const { op, batch } = r;
    if (!this.textEncoder || !this.tokenizer) throw new InvalidArgumentError(`${op}: this pipeline has no ${this.textEncoder ? 'tokenizer' : 'text encoder'}; give components.textEncoder and components.tokenizer`);
    const prompts = promptList(op, 'prompt', o.prompt, batch);
    const negative = o.negativePrompt === undefined ? new Array<string>(batch).fill('') : promptList(op, 'negativePrompt', o.negativePrompt, batch);
    const clipSkip = o.clipSkip ?? 0;
    const longPrompts = checkOneOf(op, 'longPrompts', o.longPrompts ?? 'truncate', ['truncate', 'chunks'] as const);
    const lists = r.guided ? [prompts, negative] : [prompts];
    const [cond, uncond] = encodePromptLists(op, { textEncoder: this.textEncoder, tokenizer: this.tokenizer }, lists, { clipSkip, longPrompts }).map(keep);
    return [{ context: cond!, classLabels: null, extra: null }, uncond ? { context: uncond, classLabels: null, extra: null } : null];
  }

  /** Class labels as the UNet's class embedding takes them, checked. */
  private classLabelTensor(op: string, arg: string, labels: readonly (number | readonly number[])[]): Tensor {
    const u = this.unet.config;
    const table = this.unet.class_embedding instanceof Embedding;
    const vectors = u.class_embed_type === 'projection' || u.class_embed_type === 'simple_projection' || u.class_embed_type === 'identity';
    if (vectors) {
      const dim = u.class_embed_type === 'identity' ? this.unet.resolved.timeEmbedDim : u.projection_class_embeddings_input_dim!;
      labels.forEach((l, i) => {
        if (!Array.isArray(l) || l.length !== dim || !l.every(Number.isFinite)) throw new InvalidArgumentError(`${op}: ${arg}[${i}] must be a vector of ${dim} finite numbers (class_embed_type ${u.class_embed_type}), got ${describe(l)}`);
      });
      return tensor(Float32Array.from((labels as number[][]).flat()), [labels.length, dim]);
    }
    labels.forEach((l, i) => {
      const ok = table ? Number.isInteger(l) && (l as number) >= 0 && (l as number) < u.num_class_embeds! : typeof l === 'number' && Number.isFinite(l);
      if (!ok) throw new InvalidArgumentError(`${op}: ${arg}[${i}] must be ${table ? `a class id in [0, ${u.num_class_embeds! - 1}]` : 'a finite number (a timestep)'}, got ${describe(l)}`);
    });
    return table ? tensor(Int32Array.from(labels as number[]), [labels.length], { dtype: 'int32' }) : tensor(Float32Array.from(labels as number[]), [labels.length]);
  }

  /** The first draw of every image's generator: standard normal latents [B, C, H/f, W/f]. */
  private initialNoise(r: Resolved, gen: BatchGenerator, height: number, width: number, given?: Tensor, arg = 'latents'): Tensor {
    return givenOrDrawn(r.op, arg, given, [r.batch, this.vae.config.latent_channels, height / this.vaeFactor, width / this.vaeFactor], gen);
  }

  /** Diffusion latents of images in [-1, 1]: (z - shift_factor) * scaling_factor, z the posterior mean or a seeded sample. */
  private encodeImages(images: Tensor, mode: 'sample' | 'mean', gen: BatchGenerator): Tensor {
    return tidy(() => {
      const posterior = this.vae.encode(images);
      const z = mode === 'mean' ? posterior.mean : posterior.sample(gen);
      const shift = this.vae.config.shift_factor;
      return mul(shift === null ? z : sub(z, shift), this.vae.scalingFactor);
    });
  }

  /** VAE input of diffusion latents: x / scaling_factor + shift_factor. */
  private decodeLatents(x: Tensor): Tensor {
    return tidy(() => {
      const shift = this.vae.config.shift_factor;
      const z = mul(x, 1 / this.vae.scalingFactor);
      return this.vae.decode(shift === null ? z : add(z, shift));
    });
  }

  /** Preview images of x0 at the output size: TAESD when asked for and present, else the latent projection (read asynchronously: GPU backends too). */
  private async previewImages(mode: PreviewMode, x0: Tensor, height: number, width: number): Promise<RgbaImage[]> {
    const taesd = mode === 'taesd' && this.taesd ? this.taesd : null;
    const img = taesd ? tidy(() => taesd.decode(x0)) : x0;
    let values: Float32Array;
    try {
      values = (await img.data()) as Float32Array;
    } finally {
      if (img !== x0) img.dispose();
    }
    const shape = img.shape as [number, number, number, number];
    return taesd
      ? planesToRgba(values, shape, { range: '0,1', outHeight: height, outWidth: width })
      : planesToRgba(values, shape, { range: '-1,1', outHeight: height, outWidth: width, factors: this.latentRgbFactors });
  }

  /** The compiled UNet and decode for the current backend, or null where the pipeline runs eagerly. */
  private programs(op: string): { unet: CompiledFunction; decode: CompiledFunction } | null {
    if (this.compile === false) return null;
    const backend = getBackend();
    if (typeof backend.compile !== 'function') {
      if (this.compile === true) throw new InvalidArgumentError(`${op}: components.compile is true but backend "${backend.name}" cannot compile (use the onnx backend, or compile: 'auto')`);
      return null;
    }
    let p = this.compiled.get(backend);
    if (!p) {
      const unet = this.unet;
      p = {
        unet: backend.compile((x: Tensor, t: Tensor, context: Tensor, classLabels?: Tensor) => unet.forward(x, t, context, classLabels ? { classLabels } : {}), { name: 'unet' }),
        decode: backend.compile((z: Tensor) => this.decodeLatents(z), { name: 'vae_decoder' }),
      };
      this.compiled.set(backend, p);
    }
    return p;
  }

  /** The VP denoiser over the UNet: eager, or awaiting the compiled program. */
  private unetDenoiser(r: Resolved, programs: { unet: CompiledFunction } | null): Denoiser<UNetCond> | AsyncDenoiser<UNetCond> {
    const unet = this.unet;
    if (!programs) {
      return this.scheduler.denoiser<UNetCond>((xIn, t, c) =>
        unet.forward(c.extra ? concat([xIn, c.extra], 1) : xIn, t, c.context, c.classLabels ? { classLabels: c.classLabels } : {}), r.plan,
      );
    }
    return this.scheduler.denoiserAsync<UNetCond>(async (xIn, t, c) => {
      const batch = xIn.shape[0]!;
      // Made here and freed after the run: the concatenated input and the timestep tensor.
      const made = tidy(() => ({ x: c.extra ? concat([xIn, c.extra], 1) : null, t: tensor(new Float32Array(batch).fill(t), [batch]) }));
      try {
        const args = [made.x ?? xIn, made.t, c.context, ...(c.classLabels ? [c.classLabels] : [])];
        return (await programs.unet(...args)) as Tensor;
      } finally {
        made.x?.dispose();
        made.t.dispose();
      }
    }, r.plan);
  }

  /** Runs the sampler from spec.x, then decodes. Frees spec.x and everything made here. */
  private async denoise(r: Resolved, gen: BatchGenerator, spec: DenoiseSpec): Promise<PipelineResult> {
    let latents: Tensor | null = null;
    try {
      const programs = this.programs(r.op);
      const base = this.unetDenoiser(r, programs);
      const guided = spec.uncond !== null;
      const denoiser = (guided ? classifierFreeGuidanceBatched(base as AsyncDenoiser<UNetCond>, { scale: r.guidance, concat: joinConds }) : base) as Denoiser<unknown>;
      const cond = guided ? { cond: spec.cond, uncond: spec.uncond } : spec.cond;
      const onProgress = r.onProgress
        ? async (p: ProgressInfo) => {
          const previews = r.previews === 'none' ? null : await this.previewImages(r.previews, p.x0, spec.height, spec.width);
          r.onProgress!({ step: p.step, total: p.total, sigma: p.sigma, ...(previews ? { preview: previews[0]!, previews } : {}) });
        }
        : undefined;
      latents = await sample(r.sampler, denoiser, spec.x, {
        sigmas: r.plan.sigmas, gen, cond, startStep: spec.startStep,
        ...(spec.onStep ? { onStep: spec.onStep } : {}), ...(onProgress ? { onProgress } : {}), ...(r.signal ? { signal: r.signal } : {}),
      });
      if (r.plan.finalScale !== 1) {
        const ve = latents;
        latents = tidy(() => mul(ve, r.plan.finalScale));
        ve.dispose();
      }
      throwIfAborted(r.op, r.signal, 'decoding');
      const decoded = programs ? ((await programs.decode(latents)) as Tensor) : this.decodeLatents(latents);
      let values: ArrayLike<number>;
      try {
        values = (await decoded.data()) as Float32Array;
      } finally {
        decoded.dispose();
      }
      const images = planesToRgba(values, decoded.shape as [number, number, number, number], { range: '-1,1' });
      if (!r.returnLatents) return { images };
      const out = { images, latents };
      latents = null;
      return out;
    } finally {
      spec.x.dispose();
      latents?.dispose();
    }
  }
}
