// Every sampler through the shared loop: img2img start steps, the per-step hook (inpainting),
// progress reports, cancellation, memory, determinism and network-evaluation counts.
import { describe, expect, it } from 'vitest';
import { engine } from '../engine/engine.js';
import { AbortError } from '../errors/index.js';
import { add, concat, mul, sliceAxis, sub, tensor } from '../ops/index.js';
import { Generator } from '../random/philox.js';
import { randn } from '../random/index.js';
import { appendZero, karrasSigmas } from '../schedules/index.js';
import type { Tensor } from '../tensor/tensor.js';
import { gaussianDenoiser } from './closed-form.js';
import { SAMPLER_NAMES, getSampler } from './registry.js';
import { sample } from './sample.js';
import type { Denoiser } from './types.js';

const spec = { mean: [1, -2], std: [0.5, 1.5] };
const D = gaussianDenoiser(spec);
const sigmas = appendZero(karrasSigmas(8, 0.02, 10));
const read = (t: Tensor) => Array.from(t.dataSync());

function startNoise(seed: number, rows = 3, sigma = sigmas[0]!): Tensor {
  return engine.tidy(() => add(mul(randn([rows, 2], new Generator(seed), { dtype: 'float64' }), sigma), tensor(spec.mean, [2], { dtype: 'float64' })));
}

function counting(d: Denoiser): { d: Denoiser; calls: number[] } {
  const calls: number[] = [];
  return { calls, d: (x, s, c) => (calls.push(s), d(x, s, c)) };
}

describe.each(SAMPLER_NAMES)('%s through sample()', (name) => {
  it('is deterministic for a seed, frees everything it does not return, and reports progress once per step', async () => {
    const x = startNoise(1);
    const before = engine.memory().numTensors;
    const progress: Array<{ step: number; total: number; sigma: number; x0: number[] }> = [];
    const a = await sample(getSampler(name), D, x, { sigmas, gen: new Generator(42), onProgress: (p) => progress.push({ step: p.step, total: p.total, sigma: p.sigma, x0: read(p.x0) }) });
    expect(engine.memory().numTensors).toBe(before + 1);
    const b = await sample(getSampler(name), D, x, { sigmas, gen: new Generator(42) });
    expect(read(b)).toEqual(read(a));
    const c = await sample(getSampler(name), D, x, { sigmas, gen: new Generator(43) });
    if (getSampler(name).stochastic) expect(read(c)).not.toEqual(read(a));
    else expect(read(c)).toEqual(read(a));
    expect(progress.map((p) => p.step)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(progress.every((p) => p.total === 8)).toBe(true);
    expect(progress.map((p) => p.sigma)).toEqual(sigmas.slice(1));
    expect(progress[0]!.x0.length).toBe(6);
    // An async callback is awaited while x0 is alive: the same values read later, the same result.
    const later: number[][] = [];
    const d = await sample(getSampler(name), D, x, {
      sigmas, gen: new Generator(42),
      onProgress: async (p) => {
        await new Promise((r) => setTimeout(r, 1));
        later.push(Array.from(await p.x0.data()));
      },
    });
    expect(later).toEqual(progress.map((p) => p.x0));
    expect(read(d)).toEqual(read(a));
    for (const t of [a, b, c, d]) t.dispose();
    expect(x.isDisposed).toBe(false);
    expect(engine.memory().numTensors).toBe(before);
    x.dispose();
  });

  it('runs in float32 and keeps the dtype', async () => {
    const x = tensor([[3, -1], [0.5, 9]]);
    const y = await sample(getSampler(name), D, x, { sigmas, gen: new Generator(3) });
    expect(y.dtype).toBe('float32');
    expect(read(y).every(Number.isFinite)).toBe(true);
    y.dispose();
    x.dispose();
  });

  it('startStep k equals a fresh run on sigmas[k:] (img2img)', async () => {
    const k = 3;
    const x = startNoise(2, 3, sigmas[k]!);
    const a = await sample(getSampler(name), D, x, { sigmas, gen: new Generator(5), startStep: k });
    const b = await sample(getSampler(name), D, x, { sigmas: sigmas.slice(k), gen: new Generator(5) });
    expect(read(a)).toEqual(read(b));
    for (const t of [a, b, x]) t.dispose();
  });

  it('cancels with an AbortError between steps and frees the partial work', async () => {
    const x = startNoise(3);
    const before = engine.memory().numTensors;
    const controller = new AbortController();
    const run = sample(getSampler(name), D, x, {
      sigmas, gen: new Generator(0), signal: controller.signal,
      onProgress: (p) => { if (p.step === 3) controller.abort(new Error('user pressed stop')); },
    });
    await expect(run).rejects.toThrow(AbortError);
    await expect(run).rejects.toThrow(`sample(${name}): cancelled before step 3 (user pressed stop)`);
    expect(engine.memory().numTensors).toBe(before);
    expect(x.isDisposed).toBe(false);
    x.dispose();
  });

  it('an onStep hook can re-impose a known coordinate (inpainting) and the sample ends on it', async () => {
    const known = 0.75;
    const x = startNoise(4, 5);
    const z = randn([5, 1], new Generator(99), { dtype: 'float64' });
    let calls = 0;
    const y = await sample(getSampler(name), D, x, {
      sigmas, gen: new Generator(8),
      onStep: (info) => {
        calls++;
        expect(info.i).toBe(calls - 1);
        // Stochastic steps expose the Gaussian they drew from (Diffusion-LM's controls need it).
        if (getSampler(name).stochastic) {
          expect(info.std).toBeGreaterThanOrEqual(0);
          const dev = read(sub(info.x, info.mean!));
          if (info.std === 0) expect(dev.every((v) => v === 0)).toBe(true);
          else expect(Math.max(...dev.map(Math.abs)) / info.std!).toBeLessThan(6);
        }
        expect(info.sigmaNext).toBe(sigmas[info.i + 1]);
        // Replace coordinate 0 by the known value noised to the new level; keep coordinate 1.
        const noisedKnown = add(mul(z, info.sigmaNext), known);
        return concat([noisedKnown, sliceAxis(info.x, 1, 1, 2)], 1);
      },
    });
    expect(calls).toBe(8);
    const v = read(y);
    for (let r = 0; r < 5; r++) expect(v[2 * r]).toBe(known);
    for (const t of [y, x, z]) t.dispose();
  });
});

describe('network evaluations', () => {
  it('one per step, except heun (2N - 1 over N steps ending at 0) and plms with its Heun warm-up (N + 1)', async () => {
    const expected: Record<string, number> = { ddpm: 8, ddim: 8, plms: 9, euler: 8, euler_ancestral: 8, heun: 15, dpmpp_2m: 8, dpmpp_2m_sde: 8 };
    for (const name of SAMPLER_NAMES) {
      const { d, calls } = counting(D);
      const x = startNoise(6);
      (await sample(getSampler(name), d, x, { sigmas, gen: new Generator(0) })).dispose();
      expect(calls.length, name).toBe(expected[name]);
      expect(calls.every((s) => s > 0), `${name} never evaluates at sigma = 0`).toBe(true);
      x.dispose();
    }
    const { d, calls } = counting(D);
    const x = startNoise(6);
    (await sample(getSampler('heun'), d, x, { sigmas: sigmas.slice(0, -1), gen: new Generator(0) })).dispose();
    expect(calls.length).toBe(14); // 7 steps ending at sigma_min > 0: two evaluations each
    x.dispose();
  });
});

describe('the loop keeps the caller\'s tensors and frees its own on errors', () => {
  it('a denoiser that returns its input (x0 = x) does not get the caller\'s x disposed by multistep state', async () => {
    for (const name of SAMPLER_NAMES) {
      const x = startNoise(7);
      const before = engine.memory().numTensors;
      const y = await sample(getSampler(name), (xi) => xi, x, { sigmas, gen: new Generator(0) });
      expect(x.isDisposed, name).toBe(false);
      y.dispose();
      expect(engine.memory().numTensors, name).toBe(before);
      x.dispose();
    }
  });

  it('an onStep hook that throws leaves no tensors behind', async () => {
    for (const name of SAMPLER_NAMES) {
      const x = startNoise(8);
      const before = engine.memory().numTensors;
      const run = sample(getSampler(name), D, x, { sigmas, gen: new Generator(0), onStep: (info) => { if (info.i === 2) throw new Error('hook failed'); } });
      await expect(run).rejects.toThrow('hook failed');
      expect(engine.memory().numTensors, name).toBe(before);
      x.dispose();
    }
  });
});
