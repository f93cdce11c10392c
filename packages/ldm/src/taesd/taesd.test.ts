// TAESD (FLUX.2 weights, taef2_*.pth) on tfjs-wasm: equal to PyTorch on a fixed input
// (test-fixtures/taesd/generate.py), encode → decode of real images at 128x128 with PSNR printed
// and asserted, weights saved by our code and reloaded (fp32 identical, fp16 close), and
// mismatched weights refused.
//
// A 128x128 round trip costs about 17 GFLOP (1.6 s on tfjs-wasm with 2 threads), so the default
// run measures 3 Twemoji + 1 Fashion-MNIST image; the full measurement reported in the README
// (32 Twemoji + 8 Fashion-MNIST) is
//   cd packages/ldm && LDM_PSNR_FULL=1 npx vitest run src/taesd

import { readFileSync, readdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { CheckpointError, Generator, concat, engine, resize, setBackend, tidy, type Tensor } from '@denoise/core';
import { loadTfjsBackend } from '@denoise/backend-tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadStateDict } from '../checkpoint/state-dict.js';
import { decodePng, type RgbaImage } from '../images/png.js';
import { imagesToTensor, psnr } from '../images/tensor.js';
import { TAESD_FLUX2, TAESD_SD } from './config.js';
import { TinyAutoencoder, loadTaesd, randomTaesd } from './taesd.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const DATA = path.resolve(here, '../../../../../shared/data');
const ENCODER = path.join(DATA, 'taesd/taef2_encoder.pth');
const DECODER = path.join(DATA, 'taesd/taef2_decoder.pth');
const FIXTURES = path.resolve(here, '../../test-fixtures/taesd');

let taesd: TinyAutoencoder;
const tmp = mkdtempSync(path.join(tmpdir(), 'ldm-taesd-'));

beforeAll(async () => {
  await setBackend(await loadTfjsBackend('wasm', { threads: 2 }));
  taesd = await loadTaesd(ENCODER, DECODER);
});
afterAll(() => {
  taesd?.dispose();
  rmSync(tmp, { recursive: true, force: true });
});

/** The input pattern of generate.py: 0.5 + 0.5 sin(0.37 x + 0.23 y (c + 1) + c), [1, 3, h, w]. */
function pattern(h: number, w: number): Tensor {
  const v = new Float32Array(3 * h * w);
  for (let c = 0; c < 3; c++) for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) v[(c * h + y) * w + x] = 0.5 + 0.5 * Math.sin(0.37 * x + 0.23 * y * (c + 1) + c);
  return engine.upload(v, [1, 3, h, w], 'float32');
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

async function values(t: Tensor): Promise<Float32Array> {
  return Float32Array.from(await t.data(), Number);
}

describe('TAESD (FLUX.2) with the real weights', () => {
  it('reads its configuration off the weights: 32 latent channels, group-norm blocks 11-13 / 3-5', () => {
    expect(taesd.config).toEqual(TAESD_FLUX2);
  });

  it('matches PyTorch on a fixed 32x32 input (latent and decoded image within 2e-3)', async () => {
    const ref = new Float32Array(readFileSync(path.join(FIXTURES, 'reference.bin')).buffer.slice(0));
    const meta = JSON.parse(readFileSync(path.join(FIXTURES, 'reference.json'), 'utf8')) as { latentShape: number[]; decodedShape: number[] };
    const x = pattern(32, 32);
    const z = taesd.encode(x);
    const y = taesd.decode(z);
    expect(z.shape).toEqual(meta.latentShape);
    expect(y.shape).toEqual(meta.decodedShape);
    const zRef = ref.subarray(0, 32 * 16);
    const yRef = ref.subarray(32 * 16);
    const dz = maxAbsDiff(await values(z), zRef);
    const dy = maxAbsDiff(await values(y), yRef);
    console.log(`TAESD vs PyTorch: max |latent diff| ${dz.toExponential(2)}, max |image diff| ${dy.toExponential(2)}`);
    expect(dz).toBeLessThan(2e-3);
    expect(dy).toBeLessThan(2e-3);
    [x, z, y].forEach((t) => t.dispose());
  });

  const full = process.env.LDM_PSNR_FULL === '1';
  const [emojiCount, fashionCount] = full ? [32, 8] : [3, 1];
  it(`reconstructs real images: ${emojiCount} Twemoji and ${fashionCount} Fashion-MNIST at 128x128, PSNR far above 20 dB`, { timeout: full ? 300_000 : 60_000 }, async () => {
    // Twemoji PNGs (64x64, palette and RGBA) spread over the set (32 evenly spaced, the default
    // run takes every 10th of those), composited on white, upscaled to 128x128.
    const dir = path.join(DATA, 'images/twemoji/64');
    const files = readdirSync(dir).filter((f) => f.endsWith('.png')).sort();
    const step = Math.floor(files.length / 32);
    const picked = Array.from({ length: 32 }, (_, i) => files[i * step]!).filter((_, i) => full || i % 5 === 0).slice(0, emojiCount);
    const emoji: RgbaImage[] = picked.map((f) => decodePng(readFileSync(path.join(dir, f)), f));
    // Fashion-MNIST test images (28x28 gray, IDX format), to RGB, upscaled to 128x128.
    const idx = gunzipSync(readFileSync(path.join(DATA, 'images/fashion-mnist/t10k-images-idx3-ubyte.gz')));
    expect(idx.readUInt32BE(0)).toBe(2051);
    const fashion: RgbaImage[] = Array.from({ length: fashionCount }, (_, k) => {
      const data = new Uint8Array(28 * 28 * 4);
      for (let i = 0; i < 28 * 28; i++) {
        const v = 255 - idx[16 + k * 784 + i]!; // dark garments on a light background
        data.set([v, v, v, 255], 4 * i);
      }
      return { width: 28, height: 28, data };
    });
    const scores: Record<string, number[]> = { twemoji: [], 'fashion-mnist': [] };
    for (const [set, images] of [['twemoji', emoji], ['fashion-mnist', fashion]] as const) {
      for (let b = 0; b < images.length; b += 4) {
        const x = tidy(() => resize(imagesToTensor(images.slice(b, b + 4)), { size: [128, 128], mode: 'bilinear' }));
        const y = taesd.reconstruct(x);
        const xs = await values(x);
        const ys = await values(y);
        const plane = 3 * 128 * 128;
        for (let k = 0; k < x.shape[0]!; k++) scores[set]!.push(psnr(xs.subarray(k * plane, (k + 1) * plane), ys.subarray(k * plane, (k + 1) * plane)));
        x.dispose();
        y.dispose();
      }
    }
    for (const [set, s] of Object.entries(scores)) {
      const mean = s.reduce((a, v) => a + v, 0) / s.length;
      console.log(`TAESD (taef2) PSNR on ${s.length} ${set} images at 128x128: mean ${mean.toFixed(2)} dB, min ${Math.min(...s).toFixed(2)} dB`);
      expect(mean).toBeGreaterThan(25);
      expect(Math.min(...s)).toBeGreaterThan(20);
    }
  });

  it('saved as safetensors by our code and reloaded: identical outputs (fp32), close (fp16)', async () => {
    const enc = path.join(tmp, 'enc.safetensors');
    const dec = path.join(tmp, 'dec.safetensors');
    await taesd.save(enc, dec);
    const again = await loadTaesd(enc, dec);
    const x = pattern(16, 16);
    const y0 = await values(tidy(() => taesd.decode(taesd.encode(x))));
    expect(maxAbsDiff(await values(tidy(() => again.decode(again.encode(x)))), y0)).toBe(0);
    again.dispose();
    // The released weights are fp16, so an fp16 copy holds exactly the same values.
    await taesd.save(enc, dec, { float16: true });
    expect((await loadStateDict(enc)).tensors.get('0.weight')!.dtype).toBe('F16');
    const half = await loadTaesd(enc, dec);
    expect(maxAbsDiff(await values(tidy(() => half.decode(half.encode(x)))), y0)).toBe(0);
    half.dispose();
    x.dispose();
  });
});

describe('TAESD with random weights', () => {
  it('a random SD-latent (4-channel) model round-trips through fp32 and fp16 files', async () => {
    const model = randomTaesd(TAESD_SD, new Generator(7));
    const enc = path.join(tmp, 'r-enc.safetensors');
    const dec = path.join(tmp, 'r-dec.safetensors');
    await model.save(enc, dec);
    const again = await loadTaesd(enc, dec);
    expect(again.config).toEqual(TAESD_SD);
    const x = pattern(16, 16);
    const z = model.encode(x);
    expect(z.shape).toEqual([1, 4, 2, 2]);
    expect(await values(again.encode(x))).toEqual(await values(z));
    const y = model.decode(z);
    expect(y.shape).toEqual([1, 3, 16, 16]);
    expect(await values(again.decode(z))).toEqual(await values(y));
    await model.save(enc, dec, { float16: true });
    const half = await loadTaesd(enc, dec);
    expect(maxAbsDiff(await values(half.decode(z)), await values(y))).toBeLessThan(2e-2);
    [model, again, half].forEach((m) => m.dispose());
  });

  it('mismatched, incomplete or wrong-shaped weights are refused with every problem named', async () => {
    const real = (await loadStateDict(ENCODER)).tensors;
    const sd4 = randomTaesd(TAESD_SD, new Generator(1));
    const dec = path.join(tmp, 'd4.safetensors');
    await sd4.save(path.join(tmp, 'e4.safetensors'), dec);
    sd4.dispose();
    await expect(loadTaesd(ENCODER, dec)).rejects.toThrow(/encoder makes 32-channel latents, decoder takes 4: not a pair/);
    const broken = new Map(real);
    broken.delete('3.conv.2.bias');
    broken.set('5.conv.0.weight', real.get('0.weight')!);
    broken.set('99.weight', real.get('0.bias')!);
    const err = (await loadTaesd(broken, DECODER).catch((e: unknown) => e)) as Error;
    expect(CheckpointError.isInstance(err)).toBe(true);
    expect(err.message).toMatch(/missing \(1\): 3\.conv\.2\.bias/);
    expect(err.message).toMatch(/unexpected \(1\): 99\.weight/);
    expect(err.message).toMatch(/5\.conv\.0\.weight expects \[64, 64, 3, 3\], checkpoint 5\.conv\.0\.weight has \[64, 3, 3, 3\]/);
    expect(() => taesd.encode(concat([pattern(12, 12)], 0))).toThrow(/multiples of 8/);
  });
});
