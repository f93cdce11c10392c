// Fast checks of the example's pieces on the default CPU backend (tfjs-wasm, else reference):
// the IDX reader on the shipped files, the model's output shape, that training steps lower the
// loss on a fixed tiny batch, and the PNG encoder.

import { inflateSync } from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import { Generator, memory, randn, tensor, tidy, uniformTimesteps } from '@denoise/core';
import { initBackend } from '../src/cli.mjs';
import { Batcher, HELD_OUT, SPLIT_SEED, loadMnist, parseIdx, splitIndices, subset } from '../src/data.mjs';
import { cosineAlphasCumprod, guidedDenoiser, samplingSigmas } from '../src/diffusion.mjs';
import { createModel, depthToSpace, forward, spaceToDepth, NULL_CLASS } from '../src/model.mjs';
import { PNG_SIGNATURE, crc32, encodePng } from '../src/png.mjs';
import { DiffusionTrainer } from '../src/trainer.mjs';

beforeAll(async () => {
  await initBackend();
});

describe('data', () => {
  it('reads the shipped MNIST files', () => {
    const data = loadMnist();
    expect(data.count).toBe(10000);
    expect(data.images.length).toBe(10000 * 784);
    expect(data.labels.length).toBe(10000);
    const counts = new Array(10).fill(0);
    for (const l of data.labels) counts[l]++;
    for (const c of counts) expect(c).toBeGreaterThan(800);
    // Digits: mostly background with some ink.
    let ink = 0;
    for (let p = 0; p < 784; p++) if (data.images[p] > 128) ink++;
    expect(ink).toBeGreaterThan(30);
    expect(ink).toBeLessThan(400);
  });

  it('rejects non-IDX bytes', () => {
    expect(() => parseIdx(Buffer.from([1, 2, 3, 4, 5]))).toThrow(/magic/);
    expect(() => parseIdx(Buffer.from([0, 0, 8, 1, 0, 0, 0, 3, 1, 2]))).toThrow(/expected 3/);
    expect(parseIdx(Buffer.from([0, 0, 8, 1, 0, 0, 0, 2, 7, 9]))).toEqual({ shape: [2], data: new Uint8Array([7, 9]) });
  });

  it('splits deterministically into disjoint train / held-out sets, normalised to [-1, 1]', () => {
    const data = loadMnist();
    const a = splitIndices(data.count, new Generator(SPLIT_SEED));
    const b = splitIndices(data.count, new Generator(SPLIT_SEED));
    expect(a.test).toEqual(b.test);
    expect(a.test.length).toBe(HELD_OUT);
    expect(a.train.length).toBe(data.count - HELD_OUT);
    const all = new Set([...a.train, ...a.test]);
    expect(all.size).toBe(data.count);
    const test = subset(data, a.test);
    let lo = Infinity;
    let hi = -Infinity;
    for (const v of test.x) {
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
    expect(lo).toBe(-1);
    expect(hi).toBe(1);
    const batcher = new Batcher(test, 16, new Generator(3));
    const batch = batcher.next();
    expect(batch.x.shape).toEqual([16, 1, 28, 28]);
    expect(batch.y.dtype).toBe('int32');
    batch.x.dispose();
    batch.y.dispose();
  });
});

describe('model', () => {
  it('space-to-depth and depth-to-space are inverses', () => {
    tidy(() => {
      const x = tensor(Float32Array.from({ length: 2 * 784 }, (_, i) => i), [2, 1, 28, 28]);
      const s = spaceToDepth(x);
      expect(s.shape).toEqual([2, 4, 14, 14]);
      expect(Array.from(depthToSpace(s).dataSync())).toEqual(Array.from(x.dataSync()));
    });
  });

  it('maps [B, 1, 28, 28] to [B, 1, 28, 28] for conditional and null labels', () => {
    const model = createModel({ channels: [16, 32] }, new Generator(1));
    tidy(() => {
      const x = tensor(new Float32Array(3 * 784).fill(0.5), [3, 1, 28, 28]);
      const y = tensor(new Int32Array([0, 9, NULL_CLASS]), [3], { dtype: 'int32' });
      const out = forward(model, x, [0, 500.5, 999], y);
      expect(out.shape).toEqual([3, 1, 28, 28]);
      expect(out.dataSync().every(Number.isFinite)).toBe(true);
    });
    model.params.dispose();
  });

  it('the guided VP denoiser returns x0 for a perfect v-prediction, whatever the scale', () => {
    const ab = cosineAlphasCumprod(1000);
    const sigmas = samplingSigmas(ab, 10);
    expect(sigmas.length).toBe(11);
    expect(sigmas[10]).toBe(0);
    for (let i = 1; i < sigmas.length; i++) expect(sigmas[i]).toBeLessThan(sigmas[i - 1]);
    tidy(() => {
      const x0h = Float32Array.from({ length: 784 }, (_, i) => Math.sin(i));
      const epsh = Float32Array.from({ length: 784 }, (_, i) => Math.cos(3 * i));
      const sigma = sigmas[5];
      const a = 1 / Math.sqrt(1 + sigma * sigma);
      const s = sigma * a;
      // The true v = sqrt(abar) eps - sqrt(1 - abar) x0 at this noise level, for every row.
      const net = (xt, t, y) => {
        expect(xt.shape).toEqual([2, 1, 28, 28]);
        expect(Array.from(y.dataSync())).toEqual([4, NULL_CLASS]);
        expect(t).toBeGreaterThan(0);
        return tensor(Float32Array.from({ length: 2 * 784 }, (_, i) => a * epsh[i % 784] - s * x0h[i % 784]), [2, 1, 28, 28]);
      };
      const x = tensor(Float32Array.from(x0h, (v, i) => v + sigma * epsh[i]), [1, 1, 28, 28]);
      const cond = { cond: tensor(new Int32Array([4]), [1], { dtype: 'int32' }), uncond: tensor(new Int32Array([NULL_CLASS]), [1], { dtype: 'int32' }) };
      const got = guidedDenoiser(net, { alphasCumprod: ab, prediction: 'v', scale: 3 })(x, sigma, cond).dataSync();
      for (let i = 0; i < 784; i++) expect(got[i]).toBeCloseTo(x0h[i], 3);
    });
  });
});

describe('training', () => {
  it('lowers the loss on a fixed tiny batch over a few steps, without leaking tensors', () => {
    const trainer = new DiffusionTrainer({ config: { channels: [8, 16], groups: 4 }, hparams: { lr: 3e-3, warmupSteps: 0 }, totalSteps: 100 });
    const data = loadMnist();
    const set = subset(data, Int32Array.from({ length: 8 }, (_, i) => i));
    const x0 = tensor(set.x, [8, 1, 28, 28]);
    const labels = tensor(set.y, [8], { dtype: 'int32' });
    const gen = new Generator(5);
    const t = uniformTimesteps(8, 1000, gen);
    const noise = randn([8, 1, 28, 28], gen);
    const lossFn = () => trainer.loss(x0, t, noise, labels);
    const losses = [trainer.optimize(lossFn).loss];
    // AdamW creates its moment variables on the first step; nothing may accumulate after it.
    const before = memory().numTensors;
    for (let s = 0; s < 5; s++) losses.push(trainer.optimize(lossFn).loss);
    const after = tidy(() => lossFn().item());
    expect(memory().numTensors).toBe(before);
    expect(after).toBeLessThan(losses[0] * 0.9);
    expect(losses[losses.length - 1]).toBeLessThan(losses[0]);
    for (const x of [x0, labels, t, noise]) x.dispose();
    trainer.dispose();
  });
});

describe('resumable checkpoints', () => {
  it('3 steps, save, resume in a new trainer, 3 more steps = 6 steps in one go (bit-exact)', async () => {
    const { mkdtempSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const opts = { config: { channels: [8, 16], groups: 4 }, hparams: { warmupSteps: 2 }, totalSteps: 6 };
    const data = loadMnist();
    const batch = subset(data, Int32Array.from({ length: 4 }, (_, i) => i));
    const dir = mkdtempSync(join(tmpdir(), 'mnist-resume-'));
    try {
      const whole = new DiffusionTrainer(opts);
      for (let s = 0; s < 6; s++) whole.trainStep(batch.x, batch.y);
      const first = new DiffusionTrainer(opts);
      for (let s = 0; s < 3; s++) first.trainStep(batch.x, batch.y);
      await first.saveState(join(dir, 'state.safetensors'));
      const resumed = new DiffusionTrainer(opts);
      await resumed.loadState(join(dir, 'state.safetensors'));
      for (let s = 0; s < 3; s++) resumed.trainStep(batch.x, batch.y);
      whole.params.forEach((p, i) => expect(Array.from(resumed.params[i].dataSync())).toEqual(Array.from(p.dataSync())));
      whole.ema.shadow.forEach((p, i) => expect(Array.from(resumed.ema.shadow[i].dataSync())).toEqual(Array.from(p.dataSync())));
      expect(resumed.ema.stepCount).toBe(6);
      for (const t of [whole, first, resumed]) t.dispose();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('png', () => {
  function chunks(png) {
    const out = [];
    let off = 8;
    while (off < png.length) {
      const len = png.readUInt32BE(off);
      const type = png.toString('latin1', off + 4, off + 8);
      const data = png.subarray(off + 8, off + 8 + len);
      const crc = png.readUInt32BE(off + 8 + len);
      out.push({ type, data, crc, crcOk: crc === crc32(png.subarray(off + 4, off + 8 + len)) });
      off += 12 + len;
    }
    return out;
  }

  it('writes a valid grayscale PNG', () => {
    const w = 5;
    const h = 3;
    const pixels = Uint8Array.from({ length: w * h }, (_, i) => i * 17);
    const png = encodePng(pixels, w, h);
    expect(png.subarray(0, 8).equals(PNG_SIGNATURE)).toBe(true);
    const cs = chunks(png);
    expect(cs.map((c) => c.type)).toEqual(['IHDR', 'IDAT', 'IEND']);
    for (const c of cs) expect(c.crcOk).toBe(true);
    const ihdr = cs[0].data;
    expect(ihdr.readUInt32BE(0)).toBe(w);
    expect(ihdr.readUInt32BE(4)).toBe(h);
    expect([ihdr[8], ihdr[9], ihdr[10], ihdr[11], ihdr[12]]).toEqual([8, 0, 0, 0, 0]);
    const raw = inflateSync(cs[1].data);
    expect(raw.length).toBe((w + 1) * h);
    for (let y = 0; y < h; y++) {
      expect(raw[y * (w + 1)]).toBe(0);
      expect(Array.from(raw.subarray(y * (w + 1) + 1, (y + 1) * (w + 1)))).toEqual(Array.from(pixels.subarray(y * w, (y + 1) * w)));
    }
  });

  it('computes the standard CRC-32', () => {
    expect(crc32(Buffer.from('123456789'))).toBe(0xcbf43926);
    expect(crc32(Buffer.from('IEND'))).toBe(0xae426082);
  });
});
