// A small pre-LN transformer encoder language model built from @denoise/core ops (the JS twin of
// the `train` suite of bench/torch_baseline.py): token embedding + learned positions, L blocks of
// [LayerNorm -> multi-head self-attention (no mask) -> residual, LayerNorm -> MLP (GELU) ->
// residual], final LayerNorm, UNTIED LM head (no bias), mean cross-entropy over every position.

import {
  Generator, add, attention, crossEntropy, embedding, gelu, layerNorm, linear, mergeHeads, mul, ones, randn, split, splitHeads, zeros,
} from '@denoise/core';

export const TLM = { layers: 6, width: 256, heads: 4, mlp: 1024, vocab: 1000, batch: 32, seq: 64 };
export const ADAMW = { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01 };

/** Ordered [name, shape] list (the order of params everywhere: graph inputs, outputs, optimizer). */
export function tlmShapes(c = TLM) {
  const D = c.width;
  const s = [['tok_emb.weight', [c.vocab, D]], ['pos_emb', [c.seq, D]]];
  for (let l = 0; l < c.layers; l++) {
    const b = `blocks.${l}`;
    s.push([`${b}.ln1.weight`, [D]], [`${b}.ln1.bias`, [D]], [`${b}.attn.qkv.weight`, [3 * D, D]], [`${b}.attn.qkv.bias`, [3 * D]],
      [`${b}.attn.out.weight`, [D, D]], [`${b}.attn.out.bias`, [D]], [`${b}.ln2.weight`, [D]], [`${b}.ln2.bias`, [D]],
      [`${b}.mlp.fc1.weight`, [c.mlp, D]], [`${b}.mlp.fc1.bias`, [c.mlp]], [`${b}.mlp.fc2.weight`, [D, c.mlp]], [`${b}.mlp.fc2.bias`, [D]]);
  }
  s.push(['ln_f.weight', [D]], ['ln_f.bias', [D]], ['head.weight', [c.vocab, D]]);
  return s;
}

/** Seeded params (an array aligned with tlmShapes): weights/embeddings ~ N(0, 0.02^2), LN gains 1, biases 0. */
export function initTlm(backend, seed = 11, c = TLM) {
  const gen = new Generator(seed);
  return tlmShapes(c).map(([name, shape]) => {
    if (/ln\w*\.weight$/.test(name)) return ones(shape, 'float32', backend);
    if (name.endsWith('.bias')) return zeros(shape, 'float32', backend);
    const r = randn(shape, gen, { backend });
    const t = mul(r, 0.02);
    r.dispose();
    return t;
  });
}

/** Mean cross-entropy of the model on ids [B, T] (int32) against targets [B, T] (int32). */
export function tlmLoss(params, ids, targets, c = TLM) {
  const P = Object.fromEntries(tlmShapes(c).map(([n], i) => [n, params[i]]));
  let h = add(embedding(P['tok_emb.weight'], ids), P.pos_emb);
  for (let l = 0; l < c.layers; l++) {
    const b = `blocks.${l}`;
    const a = layerNorm(h, P[`${b}.ln1.weight`], P[`${b}.ln1.bias`]);
    const [q, k, v] = split(linear(a, P[`${b}.attn.qkv.weight`], P[`${b}.attn.qkv.bias`]), 3, -1).map((t) => splitHeads(t, c.heads));
    h = add(h, linear(mergeHeads(attention(q, k, v)), P[`${b}.attn.out.weight`], P[`${b}.attn.out.bias`]));
    const m = layerNorm(h, P[`${b}.ln2.weight`], P[`${b}.ln2.bias`]);
    h = add(h, linear(gelu(linear(m, P[`${b}.mlp.fc1.weight`], P[`${b}.mlp.fc1.bias`])), P[`${b}.mlp.fc2.weight`], P[`${b}.mlp.fc2.bias`]));
  }
  const logits = linear(layerNorm(h, P['ln_f.weight'], P['ln_f.bias']), P['head.weight']);
  return crossEntropy(logits, targets);
}

export function tlmForwardFlops(c = TLM) {
  const N = c.batch * c.seq, D = c.width;
  const perLayer = 2 * N * D * 3 * D + 2 * N * D * D + 2 * 2 * N * D * c.mlp + 4 * c.batch * c.seq * c.seq * D;
  return c.layers * perLayer + 2 * N * D * c.vocab;
}
