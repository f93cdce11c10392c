// The Diffusion-LM network (Li et al. 2022, section 4 and appendix; the release's
// TransformerNetModel2): word embeddings EMB of a small size d (16 for E2E) learned end to end,
// and a denoiser f(x_t, t) that predicts x0 from a noisy sequence of such vectors:
//
//   h = up(x_t) + pos + temb(t)        up: Linear(d, W) -> tanh -> Linear(W, W)
//                                      temb: sinusoid(t, W) -> Linear(W, 4W) -> SiLU -> Linear(4W, W)
//   h = LayerNorm(h)
//   h = encoder(h)                     L post-LN transformer layers (BERT's layout): self-attention
//                                      over the whole sequence, GELU MLP of width 4W
//   x0 = down(h)                       down: Linear(W, W) -> tanh -> Linear(W, d)
//
// Rounding: p(w | x0) = softmax(x0 EMB^T) over the vocabulary, with EMB tied (no separate head).
// Parameters are core variables named like the release's state dict where a counterpart exists.

import {
  type Backend,
  type Tensor,
  Generator,
  InvalidArgumentError,
  add,
  attention,
  concat,
  cos,
  describe,
  embedding,
  engine,
  exp,
  expandDims,
  gelu,
  layerNorm,
  linear,
  matmul,
  mergeHeads,
  mul,
  ones,
  randn,
  reshape,
  silu,
  sin,
  split,
  splitHeads,
  tanh,
  tensor,
  tidy,
  variable,
  zeros,
} from '@denoise/core';

export interface DiffusionLMConfig {
  /** Vocabulary size (with START, END, UNK, PAD). */
  readonly vocabSize: number;
  /** Sequence length n (64 for E2E). */
  readonly seqLen: number;
  /** Embedding size d of EMB(w) (16 for E2E). */
  readonly embedDim: number;
  /** Transformer width W (768 in the paper's 80M model). */
  readonly width: number;
  /** Transformer layers (12 in the paper). */
  readonly layers: number;
  /** Attention heads (12 in the paper). */
  readonly heads: number;
  /** Diffusion steps T (2,000 with the sqrt schedule). */
  readonly diffusionSteps: number;
}

export const E2E_SMALL: Omit<DiffusionLMConfig, 'vocabSize'> = { seqLen: 64, embedDim: 16, width: 128, layers: 4, heads: 4, diffusionSteps: 2000 };

export function checkConfig(op: string, c: DiffusionLMConfig): void {
  if (typeof c !== 'object' || c === null) throw new InvalidArgumentError(`${op}: config must be an object, got ${describe(c)}`);
  for (const k of ['vocabSize', 'seqLen', 'embedDim', 'width', 'layers', 'heads', 'diffusionSteps'] as const) {
    if (!Number.isInteger(c[k]) || c[k] < 1) throw new InvalidArgumentError(`${op}: config.${k} must be a positive integer, got ${describe(c[k])}`);
  }
  if (c.width % c.heads !== 0) throw new InvalidArgumentError(`${op}: config.width (${c.width}) must divide by config.heads (${c.heads})`);
  if (c.width % 2 !== 0) throw new InvalidArgumentError(`${op}: config.width must be even (sinusoidal time embedding), got ${c.width}`);
}

/** Parameter names and shapes, in a fixed order (checkpoints store them by name). */
export function parameterShapes(c: DiffusionLMConfig): [string, number[]][] {
  const W = c.width;
  const d = c.embedDim;
  const s: [string, number[]][] = [
    ['word_embedding.weight', [c.vocabSize, d]],
    ['input_up_proj.0.weight', [W, d]], ['input_up_proj.0.bias', [W]],
    ['input_up_proj.2.weight', [W, W]], ['input_up_proj.2.bias', [W]],
    ['time_embed.0.weight', [4 * W, W]], ['time_embed.0.bias', [4 * W]],
    ['time_embed.2.weight', [W, 4 * W]], ['time_embed.2.bias', [W]],
    ['position_embeddings.weight', [c.seqLen, W]],
    ['LayerNorm.weight', [W]], ['LayerNorm.bias', [W]],
  ];
  for (let l = 0; l < c.layers; l++) {
    const p = `encoder.layer.${l}`;
    s.push(
      [`${p}.attention.qkv.weight`, [3 * W, W]], [`${p}.attention.qkv.bias`, [3 * W]],
      [`${p}.attention.output.weight`, [W, W]], [`${p}.attention.output.bias`, [W]],
      [`${p}.attention.LayerNorm.weight`, [W]], [`${p}.attention.LayerNorm.bias`, [W]],
      [`${p}.intermediate.weight`, [4 * W, W]], [`${p}.intermediate.bias`, [4 * W]],
      [`${p}.output.weight`, [W, 4 * W]], [`${p}.output.bias`, [W]],
      [`${p}.output.LayerNorm.weight`, [W]], [`${p}.output.LayerNorm.bias`, [W]],
    );
  }
  s.push(['output_down_proj.0.weight', [W, W]], ['output_down_proj.0.bias', [W]], ['output_down_proj.2.weight', [d, W]], ['output_down_proj.2.bias', [d]]);
  return s;
}

export type Params = Readonly<Record<string, Tensor>>;

/**
 * Fresh parameters as variables on `backend`: EMB ~ N(0, 1) (torch's nn.Embedding), linear
 * weights ~ N(0, 0.02^2) (BERT's initializer range), biases 0, layer-norm gains 1.
 */
export function initParams(c: DiffusionLMConfig, seed: number, backend?: Backend): Record<string, Tensor> {
  checkConfig('initParams', c);
  const gen = new Generator(seed);
  const b = backend ?? engine.backend;
  const out: Record<string, Tensor> = {};
  for (const [name, shape] of parameterShapes(c)) {
    out[name] = tidy(() => {
      let v: Tensor;
      if (name === 'word_embedding.weight') v = randn(shape, gen, { backend: b });
      else if (name.endsWith('LayerNorm.weight')) v = ones(shape, 'float32', b);
      else if (name.endsWith('.bias')) v = zeros(shape, 'float32', b);
      else v = mul(randn(shape, gen, { backend: b }), 0.02);
      return variable(v, name);
    });
  }
  return out;
}

/** guided-diffusion's timestep_embedding: [cos(t f), sin(t f)], f_i = 10000^(-i / (dim/2)). t is [B] float. */
export function timestepEmbedding(t: Tensor, dim: number): Tensor {
  const half = dim / 2;
  const freqs = new Float32Array(half);
  for (let i = 0; i < half; i++) freqs[i] = Math.exp((-Math.log(10000) * i) / half);
  const args = mul(expandDims(t, 1), tensor(freqs, [1, half], { backend: t._backend }));
  return concat([cos(args), sin(args)], 1);
}

/** f(x_t, t): the x0 prediction [B, n, d] for x_t [B, n, d] and float timesteps t [B]. */
export function denoise(p: Params, c: DiffusionLMConfig, xt: Tensor, t: Tensor): Tensor {
  const [B, n] = xt.shape as [number, number, number];
  const W = c.width;
  let h = linear(tanh(linear(xt, p['input_up_proj.0.weight']!, p['input_up_proj.0.bias'])), p['input_up_proj.2.weight']!, p['input_up_proj.2.bias']);
  const temb = linear(silu(linear(timestepEmbedding(t, W), p['time_embed.0.weight']!, p['time_embed.0.bias'])), p['time_embed.2.weight']!, p['time_embed.2.bias']);
  const pos = n === c.seqLen ? p['position_embeddings.weight']! : embedding(p['position_embeddings.weight']!, tensor(Int32Array.from({ length: n }, (_, i) => i), [n], { dtype: 'int32', backend: xt._backend }));
  h = add(add(h, pos), reshape(temb, [B, 1, W]));
  h = layerNorm(h, p['LayerNorm.weight'], p['LayerNorm.bias'], 1e-12);
  for (let l = 0; l < c.layers; l++) {
    const q = `encoder.layer.${l}`;
    const [qh, kh, vh] = split(linear(h, p[`${q}.attention.qkv.weight`]!, p[`${q}.attention.qkv.bias`]), 3, -1).map((x) => splitHeads(x, c.heads)) as [Tensor, Tensor, Tensor];
    const a = linear(mergeHeads(attention(qh, kh, vh)), p[`${q}.attention.output.weight`]!, p[`${q}.attention.output.bias`]);
    h = layerNorm(add(h, a), p[`${q}.attention.LayerNorm.weight`], p[`${q}.attention.LayerNorm.bias`], 1e-12);
    const m = linear(gelu(linear(h, p[`${q}.intermediate.weight`]!, p[`${q}.intermediate.bias`])), p[`${q}.output.weight`]!, p[`${q}.output.bias`]);
    h = layerNorm(add(h, m), p[`${q}.output.LayerNorm.weight`], p[`${q}.output.LayerNorm.bias`], 1e-12);
  }
  return linear(tanh(linear(h, p['output_down_proj.0.weight']!, p['output_down_proj.0.bias'])), p['output_down_proj.2.weight']!, p['output_down_proj.2.bias']);
}

/** Rounding logits x0 EMB^T: [B, n, V]. */
export function roundingLogits(p: Params, x0: Tensor): Tensor {
  return matmul(x0, p['word_embedding.weight']!, { transposeB: true });
}

/** EMB(w) for int32 ids [B, n]: [B, n, d]. */
export function embed(p: Params, ids: Tensor): Tensor {
  return embedding(p['word_embedding.weight']!, ids);
}
