// The same seed gives the same images on every backend: the tiny pipeline (random weights from
// seeded generators, so every backend builds the same model) runs text-to-image with an ancestral
// sampler (fresh noise every step), image-to-image and inpainting on the float64 reference
// backend, tfjs-wasm, the onnx backend (the UNet and VAE decode compiled and run by ONNX Runtime;
// and eagerly, kernels on tfjs-wasm) and WebGPU where an adapter exists (lavapipe in CI). Noise is drawn on the host by core's generators, so the
// backends differ only by float32 arithmetic: latents within 1e-5 of the reference's relative to the
// largest latent (random weights make them large: |latents| up to ~60), image bytes within 1 level.

import path from 'node:path';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { getBackend, memory, setBackend, type Backend, type Tensor } from '@denoise/core';
import { loadTfjsBackend } from '@denoise/backend-tfjs';
import { createOnnxBackend } from '@denoise/backend-onnx';
import { createWebGPUBackend } from '@denoise/backend-webgpu';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { RgbaImage } from '../images/png.js';
import { SD_DDIM, leftHalfMask, testImage, tinyPipeline } from './test-components.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const lavapipe = path.resolve(here, '../../../../.lavapipe/lvp_icd.json');
if (!process.env.VK_ICD_FILENAMES && existsSync(lavapipe)) process.env.VK_ICD_FILENAMES = lavapipe;

interface Outputs {
  /** One entry per call: final latents and images. */
  readonly runs: { latents: Float32Array; images: RgbaImage[] }[];
  /** Preview images seen by onProgress (read back asynchronously, so GPU backends give them too). */
  readonly previews: RgbaImage[];
}

/** Runs the three calls on the current backend with a freshly built tiny pipeline. */
async function runAll(compile: boolean | 'auto' = 'auto'): Promise<Outputs> {
  const p = await tinyPipeline({ compile });
  const inpaint = await tinyPipeline({ scheduler: SD_DDIM, compile });
  const runs: Outputs['runs'] = [];
  const previews: RgbaImage[] = [];
  const keep = async (r: Promise<{ images: RgbaImage[]; latents?: Tensor }>) => {
    const out = await r;
    runs.push({ latents: (await out.latents!.data()) as Float32Array, images: out.images });
    out.latents!.dispose();
  };
  try {
    await keep(p.textToImage({ prompt: ['a red cube', 'a blue sphere'], negativePrompt: 'blurry', steps: 3, seed: 11, sampler: 'euler_ancestral', guidanceScale: 5, returnLatents: true,
      previews: 'latent', onProgress: (q) => { if (q.preview) previews.push(q.preview); },
    }));
    await keep(p.imageToImage({ prompt: 'a painting', image: testImage(16, 16), strength: 0.7, steps: 4, seed: 3, returnLatents: true }));
    await keep(inpaint.inpaint({ prompt: 'a window', image: testImage(16, 16), mask: leftHalfMask(16, 16), steps: 3, seed: 5, returnLatents: true }));
  } finally {
    p.dispose();
    inpaint.dispose();
  }
  return { runs, previews };
}

const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
};

let reference: Outputs;
let previous: Backend;
/** Largest differences seen per backend (printed after the file). */
const measured: Record<string, { latents: number; bytes: number }> = {};
beforeAll(async () => {
  previous = getBackend();
  await setBackend('reference');
  reference = await runAll();
});
afterAll(async () => {
  await setBackend(previous);
  const scale = Math.max(...reference.runs.map((r) => maxDiff(r.latents, new Float32Array(r.latents.length))));
  for (const [name, m] of Object.entries(measured)) console.log(`[ldm] same seed on ${name}: max |latents - reference| ${m.latents.toExponential(2)}, max image byte difference ${m.bytes} (max |latents| ${scale.toFixed(2)})`);
});

/** Checks a backend's outputs against the reference run and that it freed what it made. */
async function expectSameAsReference(backend: Backend, compile: boolean | 'auto' = 'auto', label = backend.name): Promise<void> {
  await setBackend(backend);
  const before = memory().numTensors;
  const got = await runAll(compile);
  expect(memory().numTensors).toBe(before);
  const m = { latents: 0, bytes: 0 };
  got.runs.forEach((run, i) => {
    m.latents = Math.max(m.latents, maxDiff(run.latents, reference.runs[i]!.latents));
    run.images.forEach((img, j) => { m.bytes = Math.max(m.bytes, maxDiff(img.data, reference.runs[i]!.images[j]!.data)); });
  });
  measured[label] = m;
  expect(got.runs.length).toBe(reference.runs.length);
  expect(got.previews.length).toBe(3);
  got.previews.forEach((img, i) => expect(maxDiff(img.data, reference.previews[i]!.data)).toBeLessThanOrEqual(1));
  got.runs.forEach((run, i) => {
    const ref = reference.runs[i]!;
    expect(run.latents.length).toBe(ref.latents.length);
    const scale = Math.max(1, maxDiff(ref.latents, new Float32Array(ref.latents.length)));
    expect(maxDiff(run.latents, ref.latents)).toBeLessThanOrEqual(1e-5 * scale);
    expect(run.images.length).toBe(ref.images.length);
    run.images.forEach((img, j) => {
      expect([img.width, img.height]).toEqual([ref.images[j]!.width, ref.images[j]!.height]);
      expect(maxDiff(img.data, ref.images[j]!.data)).toBeLessThanOrEqual(1);
    });
  });
}

describe('the same seed gives the same images on every backend', () => {
  it('reference: the runs are deterministic and differ between calls', async () => {
    const again = await runAll();
    again.runs.forEach((run, i) => expect(maxDiff(run.latents, reference.runs[i]!.latents)).toBe(0));
    expect(maxDiff(reference.runs[0]!.images[0]!.data, reference.runs[0]!.images[1]!.data)).toBeGreaterThan(10);
  });

  it('tfjs-wasm', async () => {
    const wasm = await loadTfjsBackend('wasm', { threads: 2 });
    await expectSameAsReference(wasm);
  });

  it('onnx: the UNet and VAE decode compiled (ONNX Runtime); and eagerly (kernels on tfjs-wasm)', async () => {
    const wasm = await loadTfjsBackend('wasm', { threads: 2 });
    const onnx = await createOnnxBackend({ fallback: wasm, threads: 2 });
    const sessions = onnx.memory().buffers;
    const compile = vi.spyOn(onnx, 'compile');
    await expectSameAsReference(onnx, 'auto', 'onnx (compiled)');
    // Two pipelines, each a UNet and a decode program.
    expect(compile.mock.calls.map((c) => c[1]?.name)).toEqual(['unet', 'vae_decoder', 'unet', 'vae_decoder']);
    compile.mockRestore();
    await expectSameAsReference(onnx, false, 'onnx (eager)');
    expect(onnx.memory().buffers).toBe(sessions);
  });

  it('compile: true refuses a backend that cannot compile; false and \'auto\' run eagerly there', async () => {
    await setBackend('reference');
    const p = await tinyPipeline({ compile: true });
    await expect(p.textToImage({ prompt: 'a', steps: 1 })).rejects.toThrow('textToImage: components.compile is true but backend "reference" cannot compile');
    p.dispose();
    await expect(tinyPipeline({ compile: 'yes' as never })).rejects.toThrow(/new StableDiffusionPipeline: components.compile must be true, false or 'auto', got .*yes/);
  });

  it('webgpu (skipped without an adapter)', async (ctx) => {
    let gpu: Backend;
    try {
      gpu = await createWebGPUBackend();
    } catch (e) {
      ctx.skip(`no WebGPU adapter: ${e instanceof Error ? e.message : String(e)}`);
      return;
    }
    try {
      await expectSameAsReference(gpu);
    } finally {
      await setBackend('reference');
      gpu.destroy?.();
    }
  });
});
