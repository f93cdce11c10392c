// Decoding: clamping to the nearest embedding, rounding, infilling and MBR selection, checked
// with an oracle network (whose x0 prediction is a known sentence) so that the plumbing is
// tested exactly; a fresh network checks determinism, argument errors and memory.
import { type Denoiser, type Tensor, engine, mul, tensor, tidy, variable, broadcastTo } from '@denoise/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Vocabulary } from './data/vocab.js';
import { DiffusionLM, clampToEmbeddings } from './generate.js';
import { distinctN, mbrSelect, sentenceBleu } from './metrics/text.js';
import { sqrtSchedule } from './model/loss.js';
import { type DiffusionLMConfig, embed, initParams } from './model/model.js';

const vocab = new Vocabulary(['START', 'END', 'UNK', 'PAD', 'the', 'cat', 'sat', 'on', 'mat', '.']);
const C: DiffusionLMConfig = { vocabSize: vocab.size, seqLen: 8, embedDim: 4, width: 8, layers: 1, heads: 2, diffusionSteps: 40 };
const TARGET = vocab.encode(['the', 'cat', 'sat', 'on', 'the', 'mat'], { length: 8 });

/** A model whose network "knows" the answer: its x0 prediction is always EMB(TARGET), plus a small pull toward x. */
class Oracle extends DiffusionLM {
  override denoiser(clamp: boolean): Denoiser<unknown> {
    return (x) =>
      tidy(() => {
        const want = broadcastTo(embed(this.params, tensor(TARGET, [1, 8], { dtype: 'int32' })), x.shape);
        return clamp ? clampToEmbeddings(this.params, want) : want;
      });
  }
}

let params: Record<string, Tensor>;
beforeAll(() => {
  engine.setBackend(engine.reference);
  params = initParams(C, 4);
  // Well separated embeddings (a scaled identity-like code), so that rounding is unambiguous.
  const e = new Float32Array(vocab.size * 4);
  for (let i = 0; i < vocab.size; i++) for (let j = 0; j < 4; j++) e[i * 4 + j] = ((i >> j) & 1 ? 3 : -3) + (j === 0 ? i * 0.01 : 0);
  params['word_embedding.weight']!.dispose();
  params['word_embedding.weight'] = tidy(() => variable(tensor(e, [vocab.size, 4]), 'word_embedding.weight'));
});
afterAll(() => {
  for (const t of Object.values(params)) t.dispose();
});

describe('clamping and rounding', () => {
  it('maps vectors to their nearest word embedding', () => {
    const emb = params['word_embedding.weight']!;
    const rows = Array.from(emb.dataSync());
    const x = tensor([...rows.slice(5 * 4, 6 * 4).map((v) => v * 0.9 + 0.1), ...rows.slice(8 * 4, 9 * 4).map((v) => v + 0.5)], [1, 2, 4]);
    const c = clampToEmbeddings(params, x);
    expect(Array.from(c.dataSync())).toEqual([...rows.slice(5 * 4, 6 * 4), ...rows.slice(8 * 4, 9 * 4)]);
    for (const t of [x, c]) t.dispose();
  });
});

describe('generate', () => {
  const oracle = () => new Oracle(params, C, vocab, sqrtSchedule(C.diffusionSteps));

  it.each([
    ['ddpm', true],
    ['ddpm', false],
    ['ddim', true],
  ] as const)('%s (clamp %s) rounds the oracle x0 to its sentence', async (sampler, clamp) => {
    const before = engine.memory().numTensors;
    const g = await oracle().generate({ n: 3, seed: 1, steps: 10, sampler, clamp });
    expect(g.texts).toEqual(['the cat sat on the mat', 'the cat sat on the mat', 'the cat sat on the mat']);
    expect(Array.from(g.ids[0]!)).toEqual(Array.from(TARGET));
    expect(engine.memory().numTensors).toBe(before);
  });

  it('keeps infilled words and reports progress per step', async () => {
    const m = new DiffusionLM(params, C, vocab, sqrtSchedule(C.diffusionSteps)); // an untrained network
    const steps: number[] = [];
    const g = await m.generate({ n: 2, seed: 3, steps: 8, infill: ['START', 'the', null, null, 'on', null, 'mat', 'END'], onProgress: (p) => steps.push(p.step) });
    for (const ids of g.ids) {
      expect([ids[0], ids[1], ids[4], ids[6], ids[7]]).toEqual([0, vocab.id('the'), vocab.id('on'), vocab.id('mat'), 1]);
    }
    expect(steps).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  });

  it('is deterministic for a seed and different across seeds', async () => {
    // An identity network (x0 = x): the result is the rounded starting noise, so seeds show.
    class Identity extends DiffusionLM {
      override denoiser(): Denoiser<unknown> {
        return (x) => tidy(() => mul(x, 1));
      }
    }
    const m = new Identity(params, C, vocab, sqrtSchedule(C.diffusionSteps));
    const a = await m.generate({ n: 4, seed: 7, steps: 6 });
    const b = await m.generate({ n: 4, seed: 7, steps: 6 });
    const c = await m.generate({ n: 4, seed: 8, steps: 6 });
    expect(b.ids.map((x) => Array.from(x))).toEqual(a.ids.map((x) => Array.from(x)));
    expect(c.ids.map((x) => Array.from(x))).not.toEqual(a.ids.map((x) => Array.from(x)));
  });

  it('rejects bad arguments with the argument named', async () => {
    const m = oracle();
    await expect(m.generate({ n: 0, seed: 1 })).rejects.toThrow(/options.n must be a positive integer/);
    await expect(m.generate({ n: 1, seed: 1, steps: 41 })).rejects.toThrow(/options.steps must be an integer in \[1, 40\]/);
    await expect(m.generate({ n: 1, seed: 1, infill: ['START', 'dog', null, null, null, null, null, 'END'] })).rejects.toThrow(/outside the vocabulary: \["dog"\]/);
    await expect(m.generate({ n: 1, seed: 1, infill: ['START', 'END'] })).rejects.toThrow(/one entry per position \(8\)/);
    expect(() => new DiffusionLM(params, { ...C, vocabSize: 11 }, vocab, sqrtSchedule(40))).toThrow(/vocabulary has 10 words but config.vocabSize is 11/);
  });
});

describe('text metrics', () => {
  const s = (t: string) => t.split(' ');

  it('sentence BLEU: 1 for an exact match, the smoothed value by hand otherwise', () => {
    expect(sentenceBleu(s('the cat sat on the mat'), [s('the cat sat on the mat')])).toBeCloseTo(1, 12);
    // hyp "the cat sat" vs ref "the cat sat down": p1 = 3/3, p2 = (2+1)/(2+1), p3 = (1+1)/(1+1), p4 = (0+1)/(0+1);
    // brevity penalty exp(1 - 4/3).
    expect(sentenceBleu(s('the cat sat'), [s('the cat sat down')])).toBeCloseTo(Math.exp(1 - 4 / 3), 12);
    expect(sentenceBleu(s('dog'), [s('the cat')])).toBe(0);
  });

  it('MBR picks the candidate the others agree with', () => {
    const cands = [s('the cat sat on the mat'), s('the cat sat on a mat'), s('a dog ran'), s('the cat sat on the mat .')];
    expect(mbrSelect(cands)).toBe(0);
  });

  it('distinct-n', () => {
    expect(distinctN([s('a b a b')], 1)).toBe(0.5);
    expect(distinctN([s('a b a b')], 2)).toBeCloseTo(2 / 3, 12);
  });
});
