// StableDiffusionPipeline end to end on tiny random-weight components (reference backend): every
// call returns images of the right size; seeds are per image; guidance, img2img strength and
// inpainting match the same computation written directly with core's sample(); progress,
// previews, cancellation, every argument error; loading from a diffusers folder; PNG output.

import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  AbortError, Generator, InvalidArgumentError, SAMPLER_NAMES, ShapeError, classifierFreeGuidance, dispose, getSampler, memory, mul, randn, sample, tidy, zeros, type Tensor,
} from '@denoise/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readPng, type RgbaImage } from '../images/png.js';
import { imagesToTensor } from '../images/tensor.js';
import { saveModel } from '../models/io.js';
import { gunzip, vocabularyFromBpeText } from '../tokenizer/vocabulary.js';
import { writePngs } from './images.js';
import { saveSingleFileCheckpoint } from '../convert/single-file.js';
import { loadSingleFilePipeline, loadStableDiffusionPipeline } from './load.js';
import { SD15_SCHEDULER, StableDiffusionPipeline } from './stable-diffusion.js';
import { SD_DDIM, SD_EULER, leftHalfMask, testImage, tinyPipeline, tinyUNet, tinyVAE } from './test-components.js';

const root = mkdtempSync(path.join(tmpdir(), 'ldm-pipelines-'));
let p: StableDiffusionPipeline;
beforeAll(async () => {
  p = await tinyPipeline();
});
afterAll(() => {
  p.dispose();
  rmSync(root, { recursive: true, force: true });
});

const same = (a: readonly RgbaImage[], b: readonly RgbaImage[]) => a.length === b.length && a.every((img, i) => Buffer.compare(img.data, b[i]!.data) === 0);

/** Runs a call that returns latents and frees them after `check`. */
async function latentsOf(run: Promise<{ images: RgbaImage[]; latents?: Tensor }>): Promise<{ images: RgbaImage[]; latents: Float32Array; shape: number[] }> {
  const r = await run;
  const latents = r.latents!;
  const out = { images: r.images, latents: latents.dataSync() as Float32Array, shape: [...latents.shape] };
  latents.dispose();
  return out;
}

const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
};

describe('textToImage', () => {
  it('returns RGBA images of the requested size, one per batch image, and frees what it made', async () => {
    const before = memory().numTensors;
    const r = await p.textToImage({ prompt: 'a photo of a cat', steps: 2, batch: 2, height: 16, width: 24 });
    expect(r.images.map((i) => [i.width, i.height, i.data.length])).toEqual([[24, 16, 24 * 16 * 4], [24, 16, 24 * 16 * 4]]);
    expect(r.images[0]!.data.some((v, i) => i % 4 !== 3 && v !== r.images[0]!.data[0])).toBe(true);
    expect(memory().numTensors).toBe(before);
    const d = await p.textToImage({ prompt: 'a photo of a cat', steps: 1 });
    expect([d.images[0]!.width, d.images[0]!.height]).toEqual([16, 16]); // sample_size 8 x the VAE's factor 2
  });

  it('the same seed gives the same images; image i of a batch equals seed + i alone (ancestral sampler too)', async () => {
    const run = (seed: number, batch: number) =>
      latentsOf(p.textToImage({ prompt: ['a cat', 'a dog'].slice(0, batch), steps: 3, seed, sampler: 'euler_ancestral', returnLatents: true, guidanceScale: 4 }));
    const batch = await run(5, 2);
    const again = await run(5, 2);
    expect(same(batch.images, again.images)).toBe(true);
    const alone = await latentsOf(p.textToImage({ prompt: 'a dog', steps: 3, seed: 6, sampler: 'euler_ancestral', returnLatents: true, guidanceScale: 4 }));
    const n = alone.latents.length;
    expect(maxDiff(batch.latents.subarray(n), alone.latents)).toBeLessThan(1e-6);
    expect(same([batch.images[1]!], alone.images)).toBe(true);
    const other = await run(7, 2);
    expect(maxDiff(batch.latents, other.latents)).toBeGreaterThan(0.1);
  });

  it('guidance 1 (and 0) is the conditional model alone; guidance w is x0_u + w (x0_c - x0_u): both equal a direct sample() run', async () => {
    const tokenizer = p.tokenizer!;
    const plan = p.scheduler.plan(3);
    const cond = p.textEncoder!.promptEmbeds([tokenizer.encode('a red cube').ids]);
    const uncond = p.textEncoder!.promptEmbeds([tokenizer.encode('blurry').ids]);
    const net = (x: Tensor, t: number, c: Tensor) => p.unet.forward(x, t, c);
    const direct = async (scale: number) => {
      const gen = new Generator(11);
      const x = tidy(() => mul(randn([1, 4, 8, 8], gen), plan.initNoiseSigma));
      const d = p.scheduler.denoiser(net, plan);
      const out = scale === 1
        ? await sample(getSampler('euler'), d, x, { sigmas: plan.sigmas, gen, cond })
        : await sample(getSampler('euler'), classifierFreeGuidance(d, { scale }), x, { sigmas: plan.sigmas, gen, cond: { cond, uncond } });
      const v = out.dataSync() as Float32Array;
      dispose([x, out]);
      return v;
    };
    const run = (guidanceScale: number) => latentsOf(p.textToImage({ prompt: 'a red cube', negativePrompt: 'blurry', steps: 3, seed: 11, guidanceScale, returnLatents: true }));
    const one = await run(1);
    expect(maxDiff(one.latents, await direct(1))).toBe(0);
    expect(maxDiff((await run(0)).latents, one.latents)).toBe(0);
    const guided = await run(3);
    expect(maxDiff(guided.latents, await direct(3))).toBeLessThan(1e-6);
    expect(maxDiff(guided.latents, one.latents)).toBeGreaterThan(1e-3);
    dispose([cond, uncond]);
  });

  it('negative prompts, clipSkip and long-prompt chunks change the conditioning', async () => {
    const run = (o: Record<string, unknown>) => latentsOf(p.textToImage({ prompt: 'a house', steps: 2, guidanceScale: 5, returnLatents: true, ...o }));
    const base = await run({});
    expect(maxDiff(base.latents, (await run({ negativePrompt: 'a tree' })).latents)).toBeGreaterThan(1e-4);
    expect(maxDiff(base.latents, (await run({ clipSkip: 1 })).latents)).toBeGreaterThan(1e-4);
    const long = Array.from({ length: 90 }, (_, i) => `word${i}`).join(' ');
    const truncated = await run({ prompt: long });
    const chunked = await run({ prompt: long, longPrompts: 'chunks' });
    expect(maxDiff(truncated.latents, chunked.latents)).toBeGreaterThan(1e-4);
  });

  it('runs with every core sampler by name (and sampler options)', async () => {
    const results = new Map<string, Float32Array>();
    for (const sampler of SAMPLER_NAMES) {
      const r = await latentsOf(p.textToImage({ prompt: 'x', steps: 2, guidanceScale: 1, sampler, returnLatents: true }));
      expect(r.images[0]!.width).toBe(16);
      expect(r.latents.every(Number.isFinite)).toBe(true);
      results.set(sampler, r.latents);
    }
    expect(maxDiff(results.get('euler')!, results.get('heun')!)).toBeGreaterThan(1e-4);
    const eta = await latentsOf(p.textToImage({ prompt: 'x', steps: 2, guidanceScale: 1, sampler: 'ddim', samplerOptions: { eta: 1 }, returnLatents: true }));
    expect(maxDiff(results.get('ddim')!, eta.latents)).toBeGreaterThan(1e-4);
  });
});

describe('imageToImage', () => {
  const image = testImage(16, 16);

  it('strength 1 starts from sigma_max noise: with image latents 0 it equals textToImage with the same seed', async () => {
    const zeroEncoder = tinyVAE();
    const params = new Map(zeroEncoder.namedParameters());
    for (const k of ['quant_conv.weight', 'quant_conv.bias']) {
      const param = params.get(k)!;
      param.set(mul(param.value, 0));
    }
    const q = await tinyPipeline({ vae: zeroEncoder });
    const i2i = await latentsOf(q.imageToImage({ prompt: 'a cat', image, strength: 1, encode: 'mean', steps: 3, seed: 2, returnLatents: true }));
    const t2i = await latentsOf(q.textToImage({ prompt: 'a cat', steps: 3, seed: 2, returnLatents: true }));
    expect(maxDiff(i2i.latents, t2i.latents)).toBe(0);
    q.dispose();
  });

  it('small strength stays close to the input latents; the image size sets the output size', async () => {
    const z0 = tidy(() => mul(p.vae.encode(imagesToTensor([image], { range: '-1,1' })).mean, p.vae.scalingFactor));
    const zv = z0.dataSync() as Float32Array;
    z0.dispose();
    const low = await latentsOf(p.imageToImage({ prompt: 'a cat', image, strength: 0.25, encode: 'mean', steps: 8, returnLatents: true }));
    const full = await latentsOf(p.imageToImage({ prompt: 'a cat', image, strength: 1, encode: 'mean', steps: 8, returnLatents: true }));
    const rms = (a: Float32Array) => Math.sqrt(a.reduce((s, v, i) => s + (v - zv[i]!) ** 2, 0) / a.length);
    expect(rms(low.latents)).toBeLessThan(0.5 * rms(full.latents));
    const wide = await p.imageToImage({ prompt: 'a cat', image: testImage(24, 8), steps: 2 });
    expect([wide.images[0]!.width, wide.images[0]!.height]).toEqual([24, 8]);
  });

  it('progress counts the steps that run after the start step', async () => {
    const seen: number[][] = [];
    await p.imageToImage({ prompt: 'a cat', image, strength: 0.5, steps: 4, onProgress: (q) => seen.push([q.step, q.total]) });
    expect(seen).toEqual([[1, 2], [2, 2]]);
  });
});

describe('inpaint', () => {
  const image = testImage(16, 16);
  const mask = leftHalfMask(16, 16);

  it('4-channel UNet: known latents are blended back every step, so unmasked latents end exactly as encoded', async () => {
    const z0 = tidy(() => mul(p.vae.encode(imagesToTensor([image], { range: '-1,1' })).mean, p.vae.scalingFactor));
    const zv = z0.dataSync() as Float32Array;
    z0.dispose();
    const before = memory().numTensors;
    for (const strength of [1, 0.6]) {
      const r = await latentsOf(p.inpaint({ prompt: 'a cat', image, mask, strength, encode: 'mean', steps: 3, returnLatents: true }));
      let kept = 0;
      let changed = 0;
      for (let i = 0; i < zv.length; i++) {
        const x = i % 8; // latent column; the mask keeps columns 4..7
        if (x >= 4) kept += r.latents[i] === zv[i] ? 1 : 0;
        else changed += Math.abs(r.latents[i]! - zv[i]!) > 1e-3 ? 1 : 0;
      }
      expect(kept).toBe(zv.length / 2);
      expect(changed).toBeGreaterThan(zv.length / 4);
      expect(r.images[0]!.width).toBe(16);
    }
    expect(memory().numTensors).toBe(before);
  });

  it('9-channel inpainting UNet: [latents, mask, masked-image latents] as input; strength below 1 too', async () => {
    const q = await tinyPipeline({ unet: tinyUNet({ in_channels: 9 }), scheduler: SD_DDIM });
    const before = memory().numTensors;
    const a = await q.inpaint({ prompt: 'a cat', image, mask, steps: 2, batch: 2 });
    expect(memory().numTensors).toBe(before);
    expect(a.images.map((i) => [i.width, i.height])).toEqual([[16, 16], [16, 16]]);
    const b = await q.inpaint({ prompt: 'a cat', image, mask: testImage(16, 16), steps: 2, batch: 2 });
    expect(same(a.images, b.images)).toBe(false); // the mask reaches the UNet
    const c = await q.inpaint({ prompt: 'a cat', image, mask, steps: 4, strength: 0.5, encode: 'mean' });
    expect(c.images[0]!.height).toBe(16);
    await expect(q.textToImage({ prompt: 'a', steps: 1 })).rejects.toThrow('textToImage: the UNet takes 9 input channels, this call gives it 4 (a 9-channel inpainting UNet: use inpaint())');
    q.dispose();
  });
});

describe('classConditional and upscale4x', () => {
  it('class-conditional UNet: one label per image, no text; guidance against an unconditional class', async () => {
    const q = await tinyPipeline({ unet: tinyUNet({ num_class_embeds: 10 }), textEncoder: null, tokenizer: null });
    const before = memory().numTensors;
    const r = await latentsOf(q.classConditional({ classLabels: [1, 7], steps: 2, seed: 3, returnLatents: true }));
    expect(memory().numTensors).toBe(before);
    expect(r.images.length).toBe(2);
    expect(r.shape).toEqual([2, 4, 8, 8]);
    const swapped = await latentsOf(q.classConditional({ classLabels: [7, 1], steps: 2, seed: 3, returnLatents: true }));
    expect(maxDiff(r.latents, swapped.latents)).toBeGreaterThan(1e-4);
    const guided = await latentsOf(q.classConditional({ classLabels: [1, 7], unconditionalClass: 0, guidanceScale: 3, steps: 2, seed: 3, returnLatents: true }));
    expect(maxDiff(r.latents, guided.latents)).toBeGreaterThan(1e-4);
    await expect(q.classConditional({ classLabels: [10], steps: 1 })).rejects.toThrow('classConditional: classLabels[0] must be a class id in [0, 9], got 10');
    await expect(q.classConditional({ classLabels: [1], guidanceScale: 2, steps: 1 })).rejects.toThrow(/guidanceScale 2 needs unconditionalClass/);
    await expect(q.textToImage({ prompt: 'a', steps: 1 })).rejects.toThrow(InvalidArgumentError);
    q.dispose();
  });

  it('upscale4x: the noised low-res image joins the latents (7 channels), the noise level is the class label; output = VAE factor x input', async () => {
    const q = await tinyPipeline({ unet: tinyUNet({ in_channels: 7, num_class_embeds: 1000 }), vae: tinyVAE(3) });
    const low = testImage(8, 8);
    const previews: number[][] = [];
    const before = memory().numTensors;
    const r = await q.upscale4x({ prompt: 'a cat', image: low, steps: 2, onProgress: (s) => previews.push([s.preview!.width, s.preview!.height]), previews: 'latent' });
    expect(memory().numTensors).toBe(before);
    expect([r.images[0]!.width, r.images[0]!.height]).toEqual([32, 32]);
    expect(previews).toEqual([[32, 32], [32, 32]]);
    const a = await latentsOf(q.upscale4x({ prompt: 'a cat', image: low, steps: 2, noiseLevel: 20, returnLatents: true }));
    const b = await latentsOf(q.upscale4x({ prompt: 'a cat', image: low, steps: 2, noiseLevel: 350, returnLatents: true }));
    expect(maxDiff(a.latents, b.latents)).toBeGreaterThan(1e-4);
    await expect(q.upscale4x({ prompt: 'a', image: low, noiseLevel: 1000 })).rejects.toThrow('upscale4x: noiseLevel must be an integer in [0, 999], got 1000');
    q.dispose();
  });
});

describe('progress, previews and cancellation', () => {
  it('onProgress is called once per step, with previews at the output size when asked for', async () => {
    const seen: unknown[] = [];
    await p.textToImage({ prompt: 'a', steps: 3, batch: 2, onProgress: (s) => seen.push([s.step, s.total, s.preview?.width, s.previews?.length]), previews: 'latent', height: 16, width: 24 });
    expect(seen).toEqual([[1, 3, 24, 2], [2, 3, 24, 2], [3, 3, 24, 2]]);
    const plain: unknown[] = [];
    await p.textToImage({ prompt: 'a', steps: 2, onProgress: (s) => plain.push(s.preview) });
    expect(plain).toEqual([undefined, undefined]);
    // 'taesd' without a TAESD falls back to the latent projection
    let taesd: RgbaImage | undefined;
    await p.textToImage({ prompt: 'a', steps: 1, guidanceScale: 1, previews: 'taesd', onProgress: (s) => (taesd = s.preview) });
    expect([taesd?.width, taesd?.height]).toEqual([16, 16]);
  });

  it('an AbortSignal stops the run with core\'s AbortError, and nothing leaks', async () => {
    const before = memory().numTensors;
    const controller = new AbortController();
    const steps: number[] = [];
    const run = p.textToImage({ prompt: 'a', steps: 4, signal: controller.signal, onProgress: (s) => (steps.push(s.step), s.step === 2 && controller.abort(new Error('user'))) });
    await expect(run).rejects.toSatisfy((e) => AbortError.isInstance(e) && /cancelled before step 2 \(user\)/.test((e as Error).message));
    expect(steps).toEqual([1, 2]);
    expect(memory().numTensors).toBe(before);
    await expect(p.imageToImage({ prompt: 'a', image: testImage(16, 16), signal: AbortSignal.abort() })).rejects.toSatisfy((e) => AbortError.isInstance(e));
  });
});

describe('argument checks', () => {
  const image = testImage(16, 16);
  const cases: [string, () => Promise<unknown>, string | RegExp, typeof InvalidArgumentError | typeof ShapeError][] = [
    ['height not a multiple of 8', () => p.textToImage({ prompt: 'a', height: 20 }), 'textToImage: height must be a positive multiple of 8, got 20', InvalidArgumentError],
    ['width', () => p.textToImage({ prompt: 'a', width: 0 }), 'textToImage: width must be a positive multiple of 8, got 0', InvalidArgumentError],
    ['steps', () => p.textToImage({ prompt: 'a', steps: 0 }), 'textToImage: steps must be an integer in [1, 1000], got 0', InvalidArgumentError],
    ['guidance in (0, 1)', () => p.textToImage({ prompt: 'a', guidanceScale: 0.5 }), 'textToImage: guidanceScale must be 0 (no guidance) or a finite number >= 1, got 0.5', InvalidArgumentError],
    ['batch', () => p.textToImage({ prompt: 'a', batch: 0 }), 'textToImage: batch must be an integer in [1, inf], got 0', InvalidArgumentError],
    ['prompt array vs batch', () => p.textToImage({ prompt: ['a', 'b'], batch: 3 }), 'textToImage: prompt must hold one entry per image (3, the batch), got 2', InvalidArgumentError],
    ['negative prompt array vs prompt', () => p.textToImage({ prompt: ['a', 'b'], negativePrompt: ['c'] }), 'textToImage: negativePrompt must hold one entry per image (2, the length of prompt), got 1', InvalidArgumentError],
    ['prompt type', () => p.textToImage({ prompt: 3 as never }), 'textToImage: prompt must be a string or an array of 1 strings, got 3', InvalidArgumentError],
    ['seed', () => p.textToImage({ prompt: 'a', seed: -1 }), /textToImage: seed must be a non-negative integer/, InvalidArgumentError],
    ['sampler', () => p.textToImage({ prompt: 'a', sampler: 'lms' as never }), /textToImage: sampler must be one of 'ddpm'/, InvalidArgumentError],
    ['previews', () => p.textToImage({ prompt: 'a', previews: 'full' as never }), "textToImage: previews must be one of 'none', 'taesd', 'latent', got \"full\"", InvalidArgumentError],
    ['clipSkip', () => p.textToImage({ prompt: 'a', clipSkip: 2 }), 'textToImage: clipSkip must be an integer in [0, 1] (this text encoder has 2 layers), got 2', InvalidArgumentError],
    ['strength 0', () => p.imageToImage({ prompt: 'a', image, strength: 0 }), 'imageToImage: strength must be a number in (0, 1], got 0', InvalidArgumentError],
    ['strength > 1', () => p.imageToImage({ prompt: 'a', image, strength: 1.5 }), 'imageToImage: strength must be a number in (0, 1], got 1.5', InvalidArgumentError],
    ['strength too small for the steps', () => p.imageToImage({ prompt: 'a', image, strength: 0.1, steps: 5 }), 'imageToImage: strength 0.1 with 5 steps runs no step (strength * steps must be at least 1)', InvalidArgumentError],
    ['image size', () => p.imageToImage({ prompt: 'a', image: testImage(12, 16) }), 'imageToImage: image must be a multiple of 8 pixels wide and high, got 12x16', InvalidArgumentError],
    ['images of two sizes', () => p.imageToImage({ prompt: 'a', image: [image, testImage(16, 8)] }), 'imageToImage: image[1] is 16x8, image[0] is 16x16; all must have one size', ShapeError],
    ['image count vs batch', () => p.imageToImage({ prompt: 'a', image: [image, image], batch: 3 }), 'imageToImage: image must hold one entry per image (3, the batch), got 2', InvalidArgumentError],
    ['image data', () => p.imageToImage({ prompt: 'a', image: { width: 16, height: 16, data: new Uint8Array(5) } }), /imageToImage: image: image.data must be a Uint8Array of width \* height \* 4 = 1024 RGBA bytes/, InvalidArgumentError],
    ['mask size', () => p.inpaint({ prompt: 'a', image, mask: leftHalfMask(8, 8) }), 'inpaint: mask is 8x8, image is 16x16; they must match', ShapeError],
    ['encode', () => p.imageToImage({ prompt: 'a', image, encode: 'mode' as never }), "imageToImage: encode must be one of 'sample', 'mean', got \"mode\"", InvalidArgumentError],
    ['class call on a text UNet', () => p.classConditional({ classLabels: [1] }), 'classConditional: the UNet has no class embedding (num_class_embeds / class_embed_type)', InvalidArgumentError],
    ['upscale on a text UNet', () => p.upscale4x({ prompt: 'a', image }), 'upscale4x: the UNet takes 4 input channels, this call gives it 7', ShapeError],
    ['options', () => p.textToImage(null as never), 'textToImage: options must be an object, got null', InvalidArgumentError],
    ['latents shape', () => withTensor([1, 4, 4, 4], (t) => p.textToImage({ prompt: 'a', latents: t })), 'textToImage: latents must be [1, 4, 8, 8], got [1, 4, 4, 4]', ShapeError],
    ['latents type', () => p.textToImage({ prompt: 'a', latents: [1, 2] as never }), /^textToImage: latents must be a Tensor \[1, 4, 8, 8\], got/, InvalidArgumentError],
    ['noise shape', () => withTensor([2, 4, 8, 8], (t) => p.imageToImage({ prompt: 'a', image, noise: t })), 'imageToImage: noise must be [1, 4, 8, 8], got [2, 4, 8, 8]', ShapeError],
  ];
  /** Runs `f` with a zeros tensor of `shape` and frees it after. */
  async function withTensor(shape: number[], f: (t: Tensor) => Promise<unknown>): Promise<unknown> {
    const t = zeros(shape);
    try {
      return await f(t);
    } finally {
      t.dispose();
    }
  }
  for (const [name, run, message, type] of cases) {
    it(name, async () => {
      const e = await run().then(() => null, (err: unknown) => err);
      expect(type.isInstance(e)).toBe(true);
      if (typeof message === 'string') expect((e as Error).message).toBe(message);
      else expect((e as Error).message).toMatch(message);
    });
  }

  it('components are checked when the pipeline is built', async () => {
    await expect(tinyPipeline({ unet: null as never })).rejects.toThrow('new StableDiffusionPipeline: components.unet must be a UNet2DConditionModel, got null');
    await expect(tinyPipeline({ scheduler: { _class_name: 'KarrasVeScheduler' } })).rejects.toThrow(/config._class_name must be one of/);
    const noText = await tinyPipeline({ textEncoder: null });
    await expect(noText.textToImage({ prompt: 'a' })).rejects.toThrow('textToImage: this pipeline has no text encoder; give components.textEncoder and components.tokenizer');
  });
});

describe('files', () => {
  it('loadStableDiffusionPipeline reads a diffusers folder and generates the same images', async () => {
    const dir = path.join(root, 'tiny-sd');
    mkdirSync(path.join(dir, 'scheduler'), { recursive: true });
    mkdirSync(path.join(dir, 'tokenizer'), { recursive: true });
    writeFileSync(path.join(dir, 'model_index.json'), JSON.stringify({
      _class_name: 'StableDiffusionPipeline', unet: ['diffusers', 'UNet2DConditionModel'], vae: ['diffusers', 'AutoencoderKL'],
      text_encoder: ['transformers', 'CLIPTextModel'], tokenizer: ['transformers', 'CLIPTokenizer'], scheduler: ['diffusers', 'EulerDiscreteScheduler'],
      safety_checker: [null, null],
    }));
    await saveModel(path.join(dir, 'unet'), p.unet);
    await saveModel(path.join(dir, 'vae'), p.vae);
    await saveModel(path.join(dir, 'text_encoder'), p.textEncoder!);
    writeFileSync(path.join(dir, 'scheduler', 'scheduler_config.json'), JSON.stringify(SD_EULER));
    const here = path.dirname(fileURLToPath(import.meta.url));
    const bpe = new TextDecoder().decode(await gunzip(new Uint8Array(readFileSync(path.join(here, '../../assets/bpe_simple_vocab_16e6.txt.gz')))));
    const v = vocabularyFromBpeText(bpe);
    writeFileSync(path.join(dir, 'tokenizer', 'vocab.json'), JSON.stringify(v.vocab));
    writeFileSync(path.join(dir, 'tokenizer', 'merges.txt'), `#version: 0.2\n${v.merges.join('\n')}\n`);
    const loaded = await loadStableDiffusionPipeline(dir);
    expect(loaded.scheduler.className).toBe('EulerDiscreteScheduler');
    const a = await latentsOf(p.textToImage({ prompt: 'a lighthouse', steps: 2, returnLatents: true }));
    const b = await latentsOf(loaded.textToImage({ prompt: 'a lighthouse', steps: 2, returnLatents: true }));
    expect(maxDiff(a.latents, b.latents)).toBe(0);
    loaded.dispose();
    rmSync(path.join(dir, 'vae'), { recursive: true });
    await expect(loadStableDiffusionPipeline(dir)).rejects.toThrow(/vae .* is missing/);
  });

  it('loadSingleFilePipeline reads a single file (ours, fp32 and fp16) with the shipped tokenizer and SD 1.x\'s scheduler', async () => {
    const file = path.join(root, 'tiny-sd.safetensors');
    const models = { unet: p.unet, vae: p.vae, textEncoder: p.textEncoder! };
    await saveSingleFileCheckpoint(file, models);
    const configs = { unetConfig: p.unet.config, vaeConfig: p.vae.config, clipConfig: p.textEncoder!.config };
    const loaded = await loadSingleFilePipeline(file, configs);
    expect(loaded.scheduler.className).toBe('PNDMScheduler');
    const run = (q: StableDiffusionPipeline) => latentsOf(q.textToImage({ prompt: 'a lighthouse', steps: 3, returnLatents: true }));
    // The same models under SD 1.x's scheduler (not disposed: they are p's).
    const pndm = new StableDiffusionPipeline({ unet: p.unet, vae: p.vae, textEncoder: p.textEncoder, tokenizer: p.tokenizer, scheduler: SD15_SCHEDULER });
    const b = await run(loaded);
    expect(maxDiff((await run(pndm)).latents, b.latents)).toBe(0);
    const a = await run(p);
    loaded.dispose();
    // From bytes, float16 weights, another scheduler.
    const half = path.join(root, 'tiny-sd-fp16.safetensors');
    await saveSingleFileCheckpoint(half, models, { float16: true });
    const fromBytes = await loadSingleFilePipeline(new Uint8Array(readFileSync(half)), { ...configs, scheduler: SD_EULER });
    expect(fromBytes.scheduler.className).toBe('EulerDiscreteScheduler');
    const c = await run(fromBytes);
    const err = maxDiff(a.latents, c.latents);
    expect(err).toBeGreaterThan(0);
    expect(err).toBeLessThan(0.05 * Math.max(1, maxDiff(a.latents, new Float32Array(a.latents.length))));
    fromBytes.dispose();
    // A mismatched config is one error naming the file keys.
    await expect(loadSingleFilePipeline(file, { ...configs, unetConfig: { ...p.unet.config, in_channels: 9 } })).rejects.toThrow(/model\.diffusion_model\.input_blocks\.0\.0\.weight/);
  });

  it('writePngs writes one file per image, numbered', async () => {
    const images = [testImage(8, 8), leftHalfMask(8, 8)];
    const paths = await writePngs(images, path.join(root, 'out.png'));
    expect(paths.map((f) => path.basename(f))).toEqual(['out-0.png', 'out-1.png']);
    for (const [i, f] of paths.entries()) expect(Buffer.compare((await readPng(f)).data, images[i]!.data)).toBe(0);
    expect((await writePngs([images[0]!], path.join(root, 'img-{i}.png'))).map((f) => path.basename(f))).toEqual(['img-0.png']);
  });
});
