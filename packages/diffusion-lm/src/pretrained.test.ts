// The shipped models (assets/): they load, share one vocabulary, and the Diffusion-LM's samples
// are far more fluent under the teacher than the same words in random order; the teacher scores
// human E2E references as fluent. Also the teacher file format's errors.

import { Generator, getBackend, memory, serializeTensors, setBackend, tensor, type Backend } from '@denoise/core';
import { loadTfjsBackend } from '@denoise/backend-tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadE2E } from './data/e2e.js';
import { loadPretrainedDiffusionLM, loadPretrainedTeacher, deserializeTeacher, type LoadedTeacher } from './pretrained.js';
import type { LoadedDiffusionLM } from './checkpoint.js';

let lm: LoadedDiffusionLM;
let teacher: LoadedTeacher;
let previous: Backend;
beforeAll(async () => {
  // tfjs-wasm: the float64 reference backend takes minutes over 200 sentences.
  previous = getBackend();
  await setBackend(await loadTfjsBackend('wasm', { threads: 2 }));
  lm = await loadPretrainedDiffusionLM();
  teacher = await loadPretrainedTeacher();
});
afterAll(async () => {
  lm.model.dispose();
  teacher.dispose();
  await setBackend(previous);
});

/** Fisher-Yates with a seeded generator. */
function shuffled<T>(xs: readonly T[], gen: Generator): T[] {
  const out = [...xs];
  const u = gen.uniformArray(out.length, 'float64');
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(u[i]! * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

describe('the shipped Diffusion-LM and teacher', () => {
  it('load with the E2E configuration, one vocabulary, and the training length in the metadata', () => {
    expect(lm.model.config).toMatchObject({ seqLen: 64, embedDim: 16, diffusionSteps: 2000 });
    expect(lm.model.vocab.words).toEqual(teacher.vocab.words);
    expect(teacher.config.vocabSize).toBe(lm.model.vocab.size);
    expect(Number(lm.metadata.trained_steps)).toBeGreaterThan(0);
  });

  it('the teacher finds human references fluent and shuffled ones not', async () => {
    const dev = (await loadE2E('dev')).slice(0, 200).map((e) => e.tokens);
    const human = await teacher.perplexity(dev);
    const gen = new Generator(3);
    const scrambled = await teacher.perplexity(dev.map((s) => shuffled(s, gen)));
    expect(human).toBeLessThan(15);
    expect(scrambled).toBeGreaterThan(5 * human);
  });

  it('samples (DDIM, 50 steps, clamping) are in the vocabulary and more fluent than their own words shuffled', async () => {
    const before = memory().numTensors;
    const out = await lm.model.generate({ n: 16, seed: 1, steps: 50, sampler: 'ddim' });
    expect(memory().numTensors).toBe(before);
    expect(out.texts.length).toBe(16);
    const vocab = new Set(lm.model.vocab.words);
    for (const words of out.tokens) for (const w of words) expect(vocab.has(w)).toBe(true);
    expect(out.tokens.every((t) => t.length > 3)).toBe(true);
    const ppl = await teacher.perplexity(out.tokens);
    const gen = new Generator(5);
    const scrambled = await teacher.perplexity(out.tokens.map((s) => shuffled(s, gen)));
    expect(ppl).toBeLessThan(scrambled / 2);
  });
});

describe('teacher files', () => {
  it('every problem is one CheckpointError naming it', async () => {
    const bytes = await serializeTensors(new Map([['wte', tensor([[1, 2]], [1, 2])]]), { metadata: { format: 'denoise.teacher-lm', config: JSON.stringify({ vocabSize: 5, seqLen: 4, width: 2, layers: 1, heads: 1 }), vocab: '["START","END","UNK","PAD","a"]' } });
    expect(() => deserializeTeacher(bytes)).toThrow(/loadTeacher: <bytes>: wte is \[1, 2\], expected \[5, 2\]; missing wpe; .*missing ln_f.bias/);
    const wrong = await serializeTensors(new Map([['wte', tensor([1])]]), { metadata: { format: 'something-else' } });
    expect(() => deserializeTeacher(wrong)).toThrow(/not a teacher model \(metadata.format is .*something-else/);
    const badVocab = await serializeTensors(new Map([['wte', tensor([1])]]), { metadata: { format: 'denoise.teacher-lm', config: JSON.stringify({ vocabSize: 2, seqLen: 4, width: 2, layers: 1, heads: 1 }), vocab: '["START","END","UNK","PAD","a"]' } });
    expect(() => deserializeTeacher(badVocab)).toThrow('the vocabulary has 5 words, config.vocabSize is 2');
    expect(() => deserializeTeacher('x' as never)).toThrow(/deserializeTeacher: bytes must be a Uint8Array/);
  });
});
