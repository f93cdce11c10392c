// The pipeline against diffusers' own denoising loop: a tiny Stable Diffusion (diffusers' and
// transformers' model classes, float16 weights in the diffusers layout) was run by
// test-fixtures/pipelines/generate.py through StableDiffusionPipeline.__call__'s loop with
// diffusers' scheduler classes (PNDM as SD 1.x ships it, DDIM, Euler, DPM-Solver++ 2M), from fixed
// starting latents, classifier-free guidance 7.5, a negative prompt, 6 steps. Here the same
// folders load through this package and textToImage runs with the same latents: the final
// latents and the decoded image must agree to float32 rounding. The same for image-to-image
// (StableDiffusionImg2ImgPipeline's loop; the posterior mean of an 8-bit image, a fixed noise)
// and for inpainting with a 4-channel UNet (StableDiffusionInpaintPipeline's blend) and with a
// 9-channel inpainting UNet, and for the x4 upscaler (StableDiffusionUpscalePipeline's loop,
// DDIM with v-prediction).

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadSafetensors, type DiffusersSchedulerConfig, type Tensor } from '@denoise/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadAutoencoderKL, loadCLIPTextModel, loadUNet2DConditionModel } from '../models/io.js';
import type { AutoencoderKL } from '../models/vae/autoencoder-kl.js';
import type { UNet2DConditionModel } from '../models/unet/unet.js';
import type { CLIPTextModel } from '../models/clip/clip-text.js';
import { loadClipTokenizer } from '../tokenizer/load.js';
import { StableDiffusionPipeline } from './stable-diffusion.js';
import { leftHalfMask } from './test-components.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const FIXTURES = path.resolve(here, '../../test-fixtures/pipelines');
const runs = JSON.parse(readFileSync(path.join(FIXTURES, 'runs.json'), 'utf8')) as {
  prompt: string; negative_prompt: string; prompt_ids: number[]; negative_ids: number[]; guidance_scale: number; steps: number;
  cases: Record<string, { scheduler: DiffusersSchedulerConfig; timesteps: number[] }>;
  img2img: { strength: number; cases: string[] };
  inpaint: { cases: string[] };
  inpaint9: { cases: string[] };
  x4: { scheduler: DiffusersSchedulerConfig; low_res_scheduler: DiffusersSchedulerConfig; noise_level: number };
};

let unet: UNet2DConditionModel;
let vae: AutoencoderKL;
let textEncoder: CLIPTextModel;
const measured: Record<string, string> = {};
beforeAll(async () => {
  unet = await loadUNet2DConditionModel(path.join(FIXTURES, 'unet'));
  vae = await loadAutoencoderKL(path.join(FIXTURES, 'vae'));
  textEncoder = await loadCLIPTextModel(path.join(FIXTURES, 'text_encoder'));
});
afterAll(() => {
  for (const m of [unet, vae, textEncoder]) m.dispose();
  for (const [k, v] of Object.entries(measured)) console.log(`[ldm] vs diffusers, ${k}: ${v}`);
});

const maxAbs = (a: ArrayLike<number>) => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]!));
  return m;
};
const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
};

describe('textToImage equals diffusers\' StableDiffusionPipeline loop', () => {
  it('the shipped tokenizer gives the ids the fixtures were made with', async () => {
    const tok = await loadClipTokenizer();
    expect(tok.encode(runs.prompt).ids).toEqual(runs.prompt_ids);
    expect(tok.encode(runs.negative_prompt).ids).toEqual(runs.negative_ids);
  });

  for (const [name, c] of Object.entries(runs.cases)) {
    it(`${c.scheduler._class_name as string}: final latents and image`, async () => {
      const io = await loadSafetensors(path.join(FIXTURES, `run-${name}.safetensors`));
      const get = (k: string) => io.tensors.get(k)!;
      // Components shared by the cases: the pipeline is not disposed (that would free them).
      const sd = new StableDiffusionPipeline({ unet, vae, textEncoder, tokenizer: await loadClipTokenizer(), scheduler: c.scheduler });
      const r = await sd.textToImage({
        prompt: runs.prompt, negativePrompt: runs.negative_prompt, guidanceScale: runs.guidance_scale, steps: runs.steps,
        latents: get('start'), height: 16, width: 16, returnLatents: true,
      });
      await expectSame(name, r, get('latents'), get('image'));
      for (const t of io.tensors.values()) (t as Tensor).dispose();
    });
  }

  for (const name of runs.img2img.cases) {
    const c = runs.cases[name]!;
    it(`image-to-image, ${c.scheduler._class_name as string}, strength ${runs.img2img.strength}: final latents and image`, async () => {
      const io = await loadSafetensors(path.join(FIXTURES, `img2img-${name}.safetensors`));
      const get = (k: string) => io.tensors.get(k)!;
      const pixels = (await get('pixels').data()) as Float32Array;
      const rgba = new Uint8Array(16 * 16 * 4);
      for (let i = 0; i < 16 * 16; i++) rgba.set([pixels[3 * i]!, pixels[3 * i + 1]!, pixels[3 * i + 2]!, 255], 4 * i);
      const sd = new StableDiffusionPipeline({ unet, vae, textEncoder, tokenizer: await loadClipTokenizer(), scheduler: c.scheduler });
      const r = await sd.imageToImage({
        prompt: runs.prompt, negativePrompt: runs.negative_prompt, guidanceScale: runs.guidance_scale, steps: runs.steps,
        image: { width: 16, height: 16, data: rgba }, strength: runs.img2img.strength, encode: 'mean', noise: get('noise'), returnLatents: true,
      });
      await expectSame(`img2img ${name}`, r, get('latents'), get('image'));
      for (const t of io.tensors.values()) (t as Tensor).dispose();
    });
  }

  for (const name of runs.inpaint.cases) {
    const c = runs.cases[name]!;
    it(`inpainting (4-channel UNet, blended), ${c.scheduler._class_name as string}: final latents and image`, async () => {
      const src = await loadSafetensors(path.join(FIXTURES, `img2img-${name}.safetensors`));
      const io = await loadSafetensors(path.join(FIXTURES, `inpaint-${name}.safetensors`));
      const pixels = (await src.tensors.get('pixels')!.data()) as Float32Array;
      const rgba = new Uint8Array(16 * 16 * 4);
      for (let i = 0; i < 16 * 16; i++) rgba.set([pixels[3 * i]!, pixels[3 * i + 1]!, pixels[3 * i + 2]!, 255], 4 * i);
      const sd = new StableDiffusionPipeline({ unet, vae, textEncoder, tokenizer: await loadClipTokenizer(), scheduler: c.scheduler });
      const r = await sd.inpaint({
        prompt: runs.prompt, negativePrompt: runs.negative_prompt, guidanceScale: runs.guidance_scale, steps: runs.steps,
        image: { width: 16, height: 16, data: rgba }, mask: leftHalfMask(16, 16), encode: 'mean', noise: src.tensors.get('noise')!, returnLatents: true,
      });
      await expectSame(`inpaint ${name}`, r, io.tensors.get('latents')!, io.tensors.get('image')!);
      for (const t of [...src.tensors.values(), ...io.tensors.values()]) (t as Tensor).dispose();
    });
  }

  for (const name of runs.inpaint9.cases) {
    const c = runs.cases[name]!;
    it(`inpainting (9-channel UNet), ${c.scheduler._class_name as string}: final latents and image`, async () => {
      const unet9 = await loadUNet2DConditionModel(path.join(FIXTURES, 'unet-inpaint'));
      const src = await loadSafetensors(path.join(FIXTURES, 'img2img-ddim.safetensors'));
      const io = await loadSafetensors(path.join(FIXTURES, `inpaint9-${name}.safetensors`));
      const pixels = (await src.tensors.get('pixels')!.data()) as Float32Array;
      const rgba = new Uint8Array(16 * 16 * 4);
      for (let i = 0; i < 16 * 16; i++) rgba.set([pixels[3 * i]!, pixels[3 * i + 1]!, pixels[3 * i + 2]!, 255], 4 * i);
      const sd = new StableDiffusionPipeline({ unet: unet9, vae, textEncoder, tokenizer: await loadClipTokenizer(), scheduler: c.scheduler });
      const r = await sd.inpaint({
        prompt: runs.prompt, negativePrompt: runs.negative_prompt, guidanceScale: runs.guidance_scale, steps: runs.steps,
        image: { width: 16, height: 16, data: rgba }, mask: leftHalfMask(16, 16), encode: 'mean', noise: src.tensors.get('noise')!, returnLatents: true,
      });
      await expectSame(`inpaint9 ${name}`, r, io.tensors.get('latents')!, io.tensors.get('image')!);
      for (const t of [...src.tensors.values(), ...io.tensors.values()]) (t as Tensor).dispose();
      unet9.dispose();
    });
  }

  it('x4 upscaling, DDIM with v-prediction: final latents and image', async () => {
    const unet4 = await loadUNet2DConditionModel(path.join(FIXTURES, 'unet-x4'));
    const vae4 = await loadAutoencoderKL(path.join(FIXTURES, 'vae-x4'));
    const io = await loadSafetensors(path.join(FIXTURES, 'x4.safetensors'));
    const get = (k: string) => io.tensors.get(k)!;
    const pixels = (await get('pixels').data()) as Float32Array;
    const rgba = new Uint8Array(8 * 8 * 4);
    for (let i = 0; i < 8 * 8; i++) rgba.set([pixels[3 * i]!, pixels[3 * i + 1]!, pixels[3 * i + 2]!, 255], 4 * i);
    const sd = new StableDiffusionPipeline({
      unet: unet4, vae: vae4, textEncoder, tokenizer: await loadClipTokenizer(), scheduler: runs.x4.scheduler, lowResScheduler: runs.x4.low_res_scheduler,
    });
    const r = await sd.upscale4x({
      prompt: runs.prompt, negativePrompt: runs.negative_prompt, guidanceScale: runs.guidance_scale, steps: runs.steps,
      image: { width: 8, height: 8, data: rgba }, noiseLevel: runs.x4.noise_level, latents: get('start'), imageNoise: get('image_noise'), returnLatents: true,
    });
    expect([r.images[0]!.width, r.images[0]!.height]).toEqual([32, 32]);
    await expectSame('x4 upscale', r, get('latents'), get('image'));
    for (const t of io.tensors.values()) (t as Tensor).dispose();
    unet4.dispose();
    vae4.dispose();
  });
});

/** Final latents within float32 rounding of diffusers', image bytes within 1 level of its float image. */
async function expectSame(label: string, r: { images: { data: Uint8Array }[]; latents?: Tensor }, wantLatents: Tensor, wantImage: Tensor): Promise<void> {
  const latents = (await r.latents!.data()) as Float32Array;
  r.latents!.dispose();
  const want = (await wantLatents.data()) as Float32Array;
  const scale = Math.max(1, maxAbs(want));
  const err = maxDiff(latents, want);
  // diffusers' float image mapped to bytes as the pipeline does ((x + 1) / 2, clamped, x 255, rounded).
  const img = (await wantImage.data()) as Float32Array;
  const plane = img.length / 3;
  const bytes = r.images[0]!.data;
  let worst = 0;
  for (let i = 0; i < plane; i++) {
    for (let ch = 0; ch < 3; ch++) {
      const v = Math.round(Math.min(1, Math.max(0, (img[ch * plane + i]! + 1) / 2)) * 255);
      worst = Math.max(worst, Math.abs(v - bytes[4 * i + ch]!));
    }
  }
  measured[label] = `max |latents - diffusers| ${err.toExponential(2)} (max |latents| ${scale.toFixed(1)}), image bytes within ${worst}`;
  expect(err).toBeLessThanOrEqual(1e-5 * scale);
  expect(worst).toBeLessThanOrEqual(1);
}
