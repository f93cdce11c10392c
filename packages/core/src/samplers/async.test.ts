// Async denoisers (ONNX Runtime models) through the shared loop: every sampler, deterministic or
// stochastic, one or several evaluations per step, gives exactly the samples of the same
// denoiser called synchronously, with the same number of network evaluations, and frees
// everything; vpDenoiserAsync computes what vpDenoiser computes.
import { describe, expect, it } from 'vitest';
import { engine } from '../engine/engine.js';
import { AbortError, InvalidArgumentError, ShapeError } from '../errors/index.js';
import { add, mul, tanh, tensor } from '../ops/index.js';
import { Generator } from '../random/philox.js';
import { randn } from '../random/index.js';
import { appendZero, karrasSigmas, linearBetas, alphasCumprodFromBetas } from '../schedules/index.js';
import type { Tensor } from '../tensor/tensor.js';
import { gaussianDenoiser } from './closed-form.js';
import { asyncDenoiser, isAsyncDenoiser, vpDenoiser, vpDenoiserAsync } from './denoiser.js';
import { SAMPLER_NAMES, getSampler } from './registry.js';
import { sample } from './sample.js';
import type { Denoiser } from './types.js';

const spec = { mean: [1, -2], std: [0.5, 1.5] };
const D = gaussianDenoiser(spec);
const sigmas = appendZero(karrasSigmas(6, 0.02, 10));
const read = (t: Tensor) => Array.from(t.dataSync());
const tick = () => new Promise<void>((r) => setTimeout(r, 0));

function startNoise(seed: number): Tensor {
  return engine.tidy(() => add(mul(randn([3, 2], new Generator(seed), { dtype: 'float64' }), sigmas[0]!), tensor(spec.mean, [2], { dtype: 'float64' })));
}

/** The same denoiser, answered on a later turn of the event loop. */
function later(d: Denoiser, calls: number[]) {
  return asyncDenoiser(async (x: Tensor, s: number, c: unknown) => {
    calls.push(s);
    await tick();
    return d(x, s, c);
  });
}

describe.each(SAMPLER_NAMES)('%s with an async denoiser', (name) => {
  it('gives the synchronous result bit for bit with the same evaluations, and frees everything', async () => {
    const x = startNoise(1);
    const syncCalls: number[] = [];
    const want = await sample(getSampler(name), (xi, s, c) => (syncCalls.push(s), D(xi, s, c)), x, { sigmas, gen: new Generator(42) });
    const before = engine.memory().numTensors;
    const asyncCalls: number[] = [];
    const progress: number[] = [];
    const got = await sample(getSampler(name), later(D, asyncCalls), x, { sigmas, gen: new Generator(42), onProgress: (p) => progress.push(p.step) });
    expect(read(got)).toEqual(read(want));
    expect(asyncCalls).toEqual(syncCalls);
    expect(progress).toEqual([1, 2, 3, 4, 5, 6]);
    expect(engine.memory().numTensors).toBe(before + 1);
    for (const t of [got, want, x]) t.dispose();
  });
});

describe('async denoisers', () => {
  it('an unmarked denoiser returning a Promise gets a clear error', async () => {
    const x = startNoise(2);
    const bad = (async (xi: Tensor) => xi) as unknown as Denoiser;
    await expect(sample(getSampler('euler'), bad, x, { sigmas, gen: new Generator(1) })).rejects.toThrow(/asyncDenoiser\(\)/);
    await expect(sample(getSampler('euler'), bad, x, { sigmas, gen: new Generator(1) })).rejects.toBeInstanceOf(ShapeError);
    x.dispose();
  });

  it('onStep hooks cannot call an async denoiser', async () => {
    const x = startNoise(3);
    const before = engine.memory().numTensors;
    await expect(
      sample(getSampler('ddim'), later(D, []), x, { sigmas, gen: new Generator(1), onStep: (info) => info.denoise(info.x, info.sigmaNext) }),
    ).rejects.toBeInstanceOf(InvalidArgumentError);
    expect(engine.memory().numTensors).toBe(before);
    x.dispose();
  });

  it('a failing evaluation frees the step and propagates', async () => {
    const x = startNoise(4);
    const before = engine.memory().numTensors;
    let n = 0;
    const failing = asyncDenoiser(async (xi: Tensor, s: number, c: unknown) => {
      if (++n === 4) throw new Error('session failed');
      return D(xi, s, c);
    });
    await expect(sample(getSampler('heun'), failing, x, { sigmas, gen: new Generator(1) })).rejects.toThrow('session failed');
    expect(engine.memory().numTensors).toBe(before);
    x.dispose();
  });

  it('cancellation while an evaluation is in flight stops before the next one', async () => {
    const x = startNoise(5);
    const ctl = new AbortController();
    const calls: number[] = [];
    const d = asyncDenoiser(async (xi: Tensor, s: number, c: unknown) => {
      calls.push(s);
      if (calls.length === 2) ctl.abort(new Error('user'));
      return D(xi, s, c);
    });
    const before = engine.memory().numTensors;
    await expect(sample(getSampler('heun'), d, x, { sigmas, gen: new Generator(1), signal: ctl.signal })).rejects.toBeInstanceOf(AbortError);
    expect(calls.length).toBe(2);
    expect(engine.memory().numTensors).toBe(before);
    x.dispose();
  });

  it('vpDenoiserAsync equals vpDenoiser for every prediction type', async () => {
    const abar = alphasCumprodFromBetas(linearBetas(1000, 0.00085, 0.012));
    const net = (xIn: Tensor, t: number) => engine.tidy(() => tanh(mul(xIn, 0.3 + t / 2000)));
    for (const prediction of ['epsilon', 'sample', 'v_prediction'] as const) {
      const syncD = vpDenoiser(net, { alphasCumprod: abar, prediction });
      const asyncD = vpDenoiserAsync(async (xIn: Tensor, t: number) => (await tick(), net(xIn, t)), { alphasCumprod: abar, prediction });
      expect(isAsyncDenoiser(asyncD)).toBe(true);
      expect(isAsyncDenoiser(syncD)).toBe(false);
      const x = tensor([[0.5, -1.5], [2, 0.25]], undefined, { dtype: 'float64' });
      const before = engine.memory().numTensors;
      const a = syncD(x, 3.2, undefined);
      const b = await asyncD(x, 3.2, undefined);
      expect(read(b)).toEqual(read(a));
      a.dispose();
      b.dispose();
      expect(engine.memory().numTensors).toBe(before);
      x.dispose();
    }
  });
});
