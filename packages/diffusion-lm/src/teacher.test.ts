// The teacher LM: causal (a later word never changes earlier logits), perplexity exactly V for a
// model that predicts uniformly, and training on a toy corpus drives perplexity toward 1.
import { AdamW, engine, gradients, tensor, tidy, zerosLike } from '@denoise/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { Vocabulary } from './data/vocab.js';
import { type TeacherConfig, initTeacher, perplexity, teacherLogits, teacherLoss } from './teacher.js';

const vocab = new Vocabulary(['START', 'END', 'UNK', 'PAD', 'the', 'cat', 'sat', 'dog', 'ran']);
const C: TeacherConfig = { vocabSize: vocab.size, seqLen: 6, width: 16, layers: 2, heads: 2 };
beforeAll(() => engine.setBackend(engine.reference));

describe('teacher language model', () => {
  it('is causal', () => {
    const p = initTeacher(C, 1);
    const a = tidy(() => teacherLogits(p, C, tensor([0, 4, 5, 6, 1], [1, 5], { dtype: 'int32' })));
    const b = tidy(() => teacherLogits(p, C, tensor([0, 4, 5, 7, 8], [1, 5], { dtype: 'int32' })));
    const ra = Array.from(a.dataSync()).slice(0, 3 * vocab.size);
    const rb = Array.from(b.dataSync()).slice(0, 3 * vocab.size);
    ra.forEach((v, i) => expect(v).toBeCloseTo(rb[i]!, 5));
    for (const t of [a, b, ...Object.values(p)]) t.dispose();
  });

  it('a uniform predictor has perplexity V', async () => {
    const p = initTeacher(C, 2);
    p.wte!.assign(tidy(() => zerosLike(p.wte!)));
    expect(await perplexity(p, C, vocab, [['the', 'cat', 'sat'], ['dog']])).toBeCloseTo(vocab.size, 4);
    for (const t of Object.values(p)) t.dispose();
  });

  it('training on a toy corpus lowers perplexity far below V', async () => {
    const p = initTeacher(C, 3);
    const params = Object.values(p);
    const corpus = [['the', 'cat', 'sat'], ['the', 'dog', 'ran']];
    const ids = tensor(Int32Array.from(corpus.flatMap((s) => Array.from(vocab.encode(s, { length: 6 })))), [2, 6], { dtype: 'int32' });
    const before = await perplexity(p, C, vocab, corpus);
    const opt = new AdamW(params, { lr: 1e-2, weightDecay: 0 });
    for (let k = 0; k < 60; k++) {
      const { value, grads } = gradients(() => teacherLoss(p, C, ids, vocab.padId), params);
      opt.step(grads);
      for (const t of [value, ...grads]) t.dispose();
    }
    const after = await perplexity(p, C, vocab, corpus);
    expect(before).toBeGreaterThan(5);
    // Only "cat"/"dog" after "the" is uncertain: the best achievable is 2^(1/4) = 1.19.
    expect(after).toBeLessThan(1.5);
    expect(after).toBeGreaterThan(1.15);
    opt.dispose();
    for (const t of [ids, ...params]) t.dispose();
  });
});
