// The network's shapes and time embedding, the loss terms against values computed by hand on a
// tiny input, and a few optimizer steps that lower the whole objective.
import { AdamW, Generator, type Tensor, engine, gradients, mul, sum, tensor, tidy, variable } from '@denoise/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { diffusionLMLoss, disposeBatch, lossTerms, makeBatch, sqrtSchedule } from './loss.js';
import { type DiffusionLMConfig, denoise, initParams, parameterShapes, timestepEmbedding } from './model.js';

const C: DiffusionLMConfig = { vocabSize: 7, seqLen: 5, embedDim: 3, width: 8, layers: 2, heads: 2, diffusionSteps: 50 };
const read = (t: Tensor) => Array.from(t.dataSync());

beforeAll(() => engine.setBackend(engine.reference));
afterAll(() => engine.setBackend(engine.reference));

describe('the Diffusion-LM network', () => {
  it('maps x_t [B, n, d] and t [B] to an x0 prediction [B, n, d], with every parameter used', () => {
    const p = initParams(C, 1);
    expect(Object.keys(p)).toEqual(parameterShapes(C).map(([n]) => n));
    const gen = new Generator(2);
    const xt = tensor(gen.normalArray(2 * 5 * 3), [2, 5, 3]);
    const t = tensor([0, 37], [2]);
    const { value, grads } = gradients(() => tidy(() => {
      const out = denoise(p, C, xt, t);
      expect(out.shape).toEqual([2, 5, 3]);
      return op(out);
    }), Object.values(p).filter((_, i) => i > 0)); // EMB is not used by the denoiser itself
    grads.forEach((g, i) => expect(read(g).some((v) => v !== 0), `grad ${i}`).toBe(true));
    for (const t2 of [value, ...grads, xt, t, ...Object.values(p)]) t2.dispose();
  });

  it('embeds timesteps as guided-diffusion does', () => {
    const e = timestepEmbedding(tensor([0, 3], [2]), 4);
    // f = [1, 10000^(-1/2)] = [1, 0.01]: [cos(t f), sin(t f)].
    const want = [1, 1, 0, 0, Math.cos(3), Math.cos(0.03), Math.sin(3), Math.sin(0.03)];
    read(e).forEach((v, i) => expect(v).toBeCloseTo(want[i]!, 6));
    e.dispose();
  });
});

function op(t: Tensor): Tensor {
  // A fixed weighted sum, so that every output entry gets a gradient.
  const w = tensor(Float32Array.from({ length: t.size }, (_, i) => Math.sin(i + 1)), t.shape);
  return sum(mul(t, w));
}

describe('the loss terms', () => {
  // EMB rows: w0 = (1, 0), w1 = (0, 1), w2 = (1, 1); ids (1, 2); one example of two positions.
  const emb = () => ({ 'word_embedding.weight': variable(tensor([1, 0, 0, 1, 1, 1], [3, 2]), 'emb') });
  const ids = () => tensor([1, 2], [1, 2], { dtype: 'int32' });
  const xStartMean = () => tensor([0, 1, 1, 1], [1, 2, 2]);
  const xStart = () => tensor([0.1, 1.2, 0.9, 0.8], [1, 2, 2]);
  const out = () => tensor([0, 1, 1, 0.5], [1, 2, 2]);
  const lse = (xs: number[]) => Math.log(xs.reduce((a, x) => a + Math.exp(x), 0));

  it.each([
    [0, 0.0375],
    [1, 0.0625],
  ])('t = 0: %i gives L_simple or L_embedding = %f, plus the prior and rounding terms', (t0, simple) => {
    const p = emb();
    const r = lossTerms(p, ids(), xStartMean(), xStart(), out(), tensor([t0], [1]), 0.5);
    // L_simple = mean((x0 - f)^2) = (0.01 + 0.04 + 0.01 + 0.09) / 4; L_embedding = mean((EMB - f)^2) = 0.25 / 4.
    expect(r.simple.dataSync()[0]).toBeCloseTo(simple, 6);
    // L_prior = mean((0.5 x0)^2) = 0.25 * (0.01 + 1.44 + 0.81 + 0.64) / 4.
    expect(r.prior.dataSync()[0]).toBeCloseTo(0.18125, 6);
    // Rounding logits x0 EMB^T: (0.1, 1.2, 1.3) with target 1, (0.9, 0.8, 1.7) with target 2.
    const rounding = ((lse([0.1, 1.2, 1.3]) - 1.2) + (lse([0.9, 0.8, 1.7]) - 1.7)) / 2;
    expect(r.rounding.dataSync()[0]).toBeCloseTo(rounding, 6);
    expect(r.loss.dataSync()[0]).toBeCloseTo(simple + 0.18125 + rounding, 6);
  });
});

describe('training', () => {
  it('a few AdamW steps on a fixed batch lower the objective, and the batch draws are seeded', () => {
    const p = initParams(C, 3);
    const params = Object.values(p);
    const opt = new AdamW(params, { lr: 3e-3, weightDecay: 0 });
    const sched = sqrtSchedule(C.diffusionSteps);
    const ids = Int32Array.from({ length: 4 * 5 }, (_, i) => [0, 4, 5, 1, 3][i % 5]!);
    const batch = makeBatch(ids, 4, C, sched, new Generator(9));
    const again = makeBatch(ids, 4, C, sched, new Generator(9));
    expect(read(again.noise)).toEqual(read(batch.noise));
    expect(read(again.t)).toEqual(read(batch.t));
    disposeBatch(again);
    let before = 0;
    const losses: number[] = [];
    for (let k = 0; k < 30; k++) {
      if (k === 1) before = engine.memory().numTensors; // after AdamW made its moments
      const { value, grads } = gradients(() => diffusionLMLoss(p, C, sched, batch).loss, params);
      losses.push(value.dataSync()[0]!);
      opt.step(grads);
      for (const g of [value, ...grads]) g.dispose();
    }
    expect(engine.memory().numTensors).toBe(before);
    expect(losses[29]!).toBeLessThan(losses[0]! * 0.8);
    disposeBatch(batch);
    opt.dispose();
    for (const t of params) t.dispose();
  });
});
