// The same seed gives the same image on another backend: a guided, ancestral, batched run on the
// float64 reference backend and on tfjs-wasm (float32 kernels) from identically seeded tiny
// components. Also TAESD previews, whose 64-channel convolutions at 8x the latent size are
// too slow for the reference backend.

import { Generator, getBackend, setBackend, type Backend } from '@denoise/core';
import { loadTfjsBackend } from '@denoise/backend-tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RgbaImage } from '../images/png.js';
import { TAESD_SD } from '../taesd/config.js';
import { randomTaesd } from '../taesd/taesd.js';
import { tinyPipeline } from './test-components.js';

let reference: Backend;
beforeAll(() => {
  reference = getBackend();
});
afterAll(async () => {
  await setBackend(reference);
});

async function run(): Promise<{ images: RgbaImage[]; latents: Float32Array }> {
  const p = await tinyPipeline();
  const r = await p.textToImage({ prompt: ['a cat', 'a dog'], negativePrompt: 'blurry', steps: 3, seed: 4, guidanceScale: 5, sampler: 'euler_ancestral', returnLatents: true });
  const latents = r.latents!.dataSync() as Float32Array;
  r.latents!.dispose();
  p.dispose();
  return { images: r.images, latents };
}

describe('pipelines on tfjs-wasm', () => {
  it('the same seed gives the same latents (within float32 error) and images (within 2 levels) as the reference backend', async () => {
    const ref = await run();
    await setBackend(await loadTfjsBackend('wasm', { threads: 2 }));
    const wasm = await run();
    let latent = 0;
    ref.latents.forEach((v, i) => (latent = Math.max(latent, Math.abs(v - wasm.latents[i]!))));
    expect(latent).toBeLessThan(1e-3);
    let pixel = 0;
    ref.images.forEach((img, k) => img.data.forEach((v, i) => (pixel = Math.max(pixel, Math.abs(v - wasm.images[k]!.data[i]!)))));
    expect(pixel).toBeLessThanOrEqual(2);
    console.log(`reference vs tfjs-wasm: max |latent diff| ${latent.toExponential(2)}, max pixel diff ${pixel}`);
  });

  it('previews: TAESD decodes x0 at every step, resized to the output size', async () => {
    await setBackend(await loadTfjsBackend('wasm', { threads: 2 }));
    const taesd = randomTaesd(TAESD_SD, new Generator(9));
    const p = await tinyPipeline({ taesd });
    const fast: RgbaImage[] = [];
    const latent: RgbaImage[] = [];
    await p.textToImage({ prompt: 'a', steps: 2, guidanceScale: 1, height: 8, width: 16, previews: 'taesd', onProgress: (s) => fast.push(s.preview!) });
    await p.textToImage({ prompt: 'a', steps: 2, guidanceScale: 1, height: 8, width: 16, previews: 'latent', onProgress: (s) => latent.push(s.preview!) });
    expect(fast.map((i) => [i.width, i.height])).toEqual([[16, 8], [16, 8]]);
    expect(Buffer.compare(fast[1]!.data, latent[1]!.data)).not.toBe(0);
    p.dispose();
  });
});
