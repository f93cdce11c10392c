// The teacher language model that measures fluency (the paper's "lm-score": perplexity under a
// separately trained autoregressive model): a small causal (GPT-style, pre-LN) transformer over
// the same word vocabulary, trained on the E2E training sentences. Perplexity counts every word
// and the END token of a sentence (START is the context, PAD is not scored).

import {
  type Backend,
  type Tensor,
  Generator,
  InvalidArgumentError,
  add,
  attention,
  crossEntropy,
  describe,
  embedding,
  engine,
  gelu,
  layerNorm,
  linear,
  mergeHeads,
  mul,
  ones,
  randn,
  reshape,
  slice,
  split,
  splitHeads,
  tensor,
  tidy,
  variable,
  zeros,
} from '@denoise/core';
import type { Vocabulary } from './data/vocab.js';

export interface TeacherConfig {
  readonly vocabSize: number;
  /** Context length (the Diffusion-LM sequence length). */
  readonly seqLen: number;
  readonly width: number;
  readonly layers: number;
  readonly heads: number;
}

export const TEACHER_SMALL: Omit<TeacherConfig, 'vocabSize'> = { seqLen: 64, width: 128, layers: 3, heads: 4 };

export function teacherShapes(c: TeacherConfig): [string, number[]][] {
  const W = c.width;
  const s: [string, number[]][] = [['wte', [c.vocabSize, W]], ['wpe', [c.seqLen, W]]];
  for (let l = 0; l < c.layers; l++) {
    const p = `h.${l}`;
    s.push(
      [`${p}.ln_1.weight`, [W]], [`${p}.ln_1.bias`, [W]], [`${p}.attn.c_attn.weight`, [3 * W, W]], [`${p}.attn.c_attn.bias`, [3 * W]],
      [`${p}.attn.c_proj.weight`, [W, W]], [`${p}.attn.c_proj.bias`, [W]], [`${p}.ln_2.weight`, [W]], [`${p}.ln_2.bias`, [W]],
      [`${p}.mlp.c_fc.weight`, [4 * W, W]], [`${p}.mlp.c_fc.bias`, [4 * W]], [`${p}.mlp.c_proj.weight`, [W, 4 * W]], [`${p}.mlp.c_proj.bias`, [W]],
    );
  }
  s.push(['ln_f.weight', [W]], ['ln_f.bias', [W]]);
  return s;
}

export function initTeacher(c: TeacherConfig, seed: number, backend?: Backend): Record<string, Tensor> {
  for (const k of ['vocabSize', 'seqLen', 'width', 'layers', 'heads'] as const) {
    if (!Number.isInteger(c[k]) || c[k] < 1) throw new InvalidArgumentError(`initTeacher: config.${k} must be a positive integer, got ${describe(c[k])}`);
  }
  const gen = new Generator(seed);
  const b = backend ?? engine.backend;
  const out: Record<string, Tensor> = {};
  for (const [name, shape] of teacherShapes(c)) {
    out[name] = tidy(() => {
      const v = /(^|\.)ln_\w*\.weight$/.test(name) ? ones(shape, 'float32', b) : name.endsWith('.bias') ? zeros(shape, 'float32', b) : mul(randn(shape, gen, { backend: b }), 0.02);
      return variable(v, name);
    });
  }
  return out;
}

/** Next-word logits [B, T, V] for ids [B, T] (tied output embedding). */
export function teacherLogits(p: Readonly<Record<string, Tensor>>, c: TeacherConfig, ids: Tensor): Tensor {
  const [B, T] = ids.shape as [number, number];
  const pos = slice(p.wpe!, [0, 0], [T, c.width]);
  let h = add(embedding(p.wte!, ids), reshape(pos, [1, T, c.width]));
  for (let l = 0; l < c.layers; l++) {
    const q = `h.${l}`;
    const a = layerNorm(h, p[`${q}.ln_1.weight`], p[`${q}.ln_1.bias`]);
    const [qh, kh, vh] = split(linear(a, p[`${q}.attn.c_attn.weight`]!, p[`${q}.attn.c_attn.bias`]), 3, -1).map((x) => splitHeads(x, c.heads)) as [Tensor, Tensor, Tensor];
    h = add(h, linear(mergeHeads(attention(qh, kh, vh, { causal: true })), p[`${q}.attn.c_proj.weight`]!, p[`${q}.attn.c_proj.bias`]));
    const m = layerNorm(h, p[`${q}.ln_2.weight`], p[`${q}.ln_2.bias`]);
    h = add(h, linear(gelu(linear(m, p[`${q}.mlp.c_fc.weight`]!, p[`${q}.mlp.c_fc.bias`])), p[`${q}.mlp.c_proj.weight`]!, p[`${q}.mlp.c_proj.bias`]));
  }
  void B;
  return linear(layerNorm(h, p['ln_f.weight'], p['ln_f.bias']), p.wte!);
}

/**
 * Mean next-word cross-entropy over the scored positions of padded sequences ids [B, n]
 * (START w.. END PAD..): inputs ids[:, :-1], targets ids[:, 1:], PAD targets ignored.
 */
export function teacherLoss(p: Readonly<Record<string, Tensor>>, c: TeacherConfig, ids: Tensor, padId: number): Tensor {
  const [B, n] = ids.shape as [number, number];
  const inputs = slice(ids, [0, 0], [B, n - 1]);
  const targets = slice(ids, [0, 1], [B, n - 1]);
  return crossEntropy(teacherLogits(p, c, inputs), targets, { ignoreIndex: padId });
}

/**
 * Perplexity of sentences (word lists) under the teacher: exp of the mean negative log-likelihood
 * per scored token (words + END), pooled over all sentences. Words outside the vocabulary score
 * as UNK. Sentences longer than the context are truncated (END kept).
 */
export async function perplexity(
  p: Readonly<Record<string, Tensor>>,
  c: TeacherConfig,
  vocab: Vocabulary,
  sentences: readonly (readonly string[])[],
  batchSize = 64,
  /** How a batch's mean loss is computed (default teacherLoss eagerly; e.g. a function compiled with compileOnnx). */
  loss?: (ids: Tensor) => Tensor | Promise<Tensor>,
): Promise<number> {
  if (!Array.isArray(sentences) || sentences.length === 0) throw new InvalidArgumentError(`perplexity: sentences must be a non-empty array of word lists, got ${describe(sentences)}`);
  let nll = 0;
  let count = 0;
  for (let i = 0; i < sentences.length; i += batchSize) {
    const chunk = sentences.slice(i, i + batchSize);
    const flat = new Int32Array(chunk.length * c.seqLen);
    chunk.forEach((s, j) => flat.set(vocab.encode(s, { length: c.seqLen, overflow: 'truncate' }), j * c.seqLen));
    let scored = 0;
    for (const id of flat) if (id !== vocab.padId && id !== vocab.startId) scored++;
    const ids = tensor(flat, [chunk.length, c.seqLen], { dtype: 'int32' });
    const lossT = loss ? await loss(ids) : tidy(() => teacherLoss(p, c, ids, vocab.padId));
    ids.dispose();
    nll += ((await lossT.data())[0] as number) * scored;
    count += scored;
    lossT.dispose();
  }
  return Math.exp(nll / count);
}
