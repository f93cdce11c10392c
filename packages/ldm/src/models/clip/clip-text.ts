// The text encoder tau_theta of Stable Diffusion: CLIP's text transformer (Radford et al. 2021),
// computing what transformers' CLIPTextModel / CLIPTextModelWithProjection compute: token +
// position embeddings, pre-norm causal self-attention layers with a (quick-)GELU MLP, a final
// layer norm, and the pooled feature at the end token (optionally projected). Every layer's
// output can be returned, for the "penultimate layer" conditioning (diffusers' clip_skip).

import {
  InvalidArgumentError, ShapeError, add, cast, describe, gather, isTensor, mergeHeads, mul, reshape, splitHeads, sub, tensor, tidy, type Tensor,
} from '@denoise/core';
import { slicedAttention, type AttentionSlicing } from '../nn/attention.js';
import { Embedding, LayerNorm, Linear, activation, type ActivationFn } from '../nn/layers.js';
import { Module } from '../nn/module.js';
import { clipTextConfig, type CLIPTextConfig } from './config.js';

/** Bias for blocked positions (transformers uses the dtype's minimum; any value whose exp underflows gives the same result). */
const BLOCKED = -1e30;

/**
 * Which token is pooled:
 *  - 'legacy': transformers 4.x (from 4.31): eos_token_id == 2 (the old configs, SD 1.x / 2.x)
 *    → the argmax of the ids (the end token has the largest id); otherwise the first position
 *    holding eos_token_id (0 when a row has none).
 *  - 'latest': current transformers: every row's largest id is 49407 (the original end token)
 *    → the argmax; otherwise the first position holding eos_token_id.
 * Both agree whenever the ids end with CLIP's real end token, as the tokenizer makes them.
 */
export type PoolingRule = 'legacy' | 'latest';

export interface CLIPTextForwardOptions {
  /** [B, T] of 1 (attend) / 0 (padding); null: attend to everything before (causal mask only). */
  attentionMask?: Tensor | readonly (readonly number[])[] | null;
  /** Return every layer's output (hiddenStates); default false. */
  outputHiddenStates?: boolean;
}

export interface CLIPTextOutput {
  /** After the final layer norm: [B, T, hidden_size]. */
  lastHiddenState: Tensor;
  /** lastHiddenState at the pooled (end) token: [B, hidden_size]. */
  pooledOutput: Tensor;
  /** [embeddings, after layer 1, ..., after layer N] (the last one before the final norm), when asked for. */
  hiddenStates?: Tensor[];
  /** CLIPTextModelWithProjection only: text_projection(pooledOutput) [B, projection_dim]. */
  textEmbeds?: Tensor;
}

class CLIPAttention extends Module {
  readonly q_proj: Linear;
  readonly k_proj: Linear;
  readonly v_proj: Linear;
  readonly out_proj: Linear;
  slicing: AttentionSlicing = {};

  constructor(private readonly dim: number, private readonly heads: number) {
    super();
    this.k_proj = this.child('k_proj', new Linear(dim, dim));
    this.v_proj = this.child('v_proj', new Linear(dim, dim));
    this.q_proj = this.child('q_proj', new Linear(dim, dim));
    this.out_proj = this.child('out_proj', new Linear(dim, dim));
  }

  /** x [B, T, C], mask additive [B or 1, 1, T, T] */
  forward(x: Tensor, mask: Tensor): Tensor {
    const scale = (this.dim / this.heads) ** -0.5;
    const q = splitHeads(this.q_proj.forward(x), this.heads);
    const k = splitHeads(this.k_proj.forward(x), this.heads);
    const v = splitHeads(this.v_proj.forward(x), this.heads);
    return this.out_proj.forward(mergeHeads(slicedAttention(q, k, v, scale, mask, this.slicing)));
  }
}

class CLIPMLP extends Module {
  readonly fc1: Linear;
  readonly fc2: Linear;

  constructor(dim: number, inner: number, private readonly act: ActivationFn) {
    super();
    this.fc1 = this.child('fc1', new Linear(dim, inner));
    this.fc2 = this.child('fc2', new Linear(inner, dim));
  }

  forward(x: Tensor): Tensor {
    return this.fc2.forward(this.act(this.fc1.forward(x)));
  }
}

class CLIPEncoderLayer extends Module {
  readonly self_attn: CLIPAttention;
  readonly layer_norm1: LayerNorm;
  readonly mlp: CLIPMLP;
  readonly layer_norm2: LayerNorm;

  constructor(c: CLIPTextConfig) {
    super();
    this.self_attn = this.child('self_attn', new CLIPAttention(c.hidden_size, c.num_attention_heads));
    this.layer_norm1 = this.child('layer_norm1', new LayerNorm(c.hidden_size, c.layer_norm_eps));
    this.mlp = this.child('mlp', new CLIPMLP(c.hidden_size, c.intermediate_size, activation(c.hidden_act)));
    this.layer_norm2 = this.child('layer_norm2', new LayerNorm(c.hidden_size, c.layer_norm_eps));
  }

  forward(x: Tensor, mask: Tensor): Tensor {
    const h = add(x, this.self_attn.forward(this.layer_norm1.forward(x), mask));
    return add(h, this.mlp.forward(this.layer_norm2.forward(h)));
  }
}

class CLIPTextEmbeddings extends Module {
  readonly token_embedding: Embedding;
  readonly position_embedding: Embedding;

  constructor(c: CLIPTextConfig) {
    super();
    this.token_embedding = this.child('token_embedding', new Embedding(c.vocab_size, c.hidden_size));
    this.position_embedding = this.child('position_embedding', new Embedding(c.max_position_embeddings, c.hidden_size));
  }
}

/** transformers' CLIPTextTransformer (the `text_model.` subtree). */
class CLIPTextTransformer extends Module {
  readonly embeddings: CLIPTextEmbeddings;
  readonly layers: CLIPEncoderLayer[];
  readonly final_layer_norm: LayerNorm;

  constructor(c: CLIPTextConfig) {
    super();
    this.embeddings = this.child('embeddings', new CLIPTextEmbeddings(c));
    this.layers = this.childList('encoder.layers', Array.from({ length: c.num_hidden_layers }, () => new CLIPEncoderLayer(c)));
    this.final_layer_norm = this.child('final_layer_norm', new LayerNorm(c.hidden_size, c.layer_norm_eps));
  }
}

function idsToRows(ids: Tensor | readonly (readonly number[])[], op: string): { rows: number[][]; t: Tensor | null } {
  if (isTensor(ids)) {
    if (ids.rank !== 2) throw new ShapeError(`${op}: inputIds must be [B, T], got ${describe(ids.shape)}`);
    if (!ids.backend.capabilities.syncRead) {
      throw new InvalidArgumentError(
        `${op}: inputIds as a tensor are read on the host to find each row's end token, and backend "${ids.backend.name}" reads only asynchronously; pass the ids as arrays of integers (a tokenizer's output) instead`,
      );
    }
    const flat = ids.dataSync();
    const [b, t] = ids.shape as [number, number];
    return { rows: Array.from({ length: b }, (_, i) => Array.from(flat.subarray(i * t, (i + 1) * t), Number)), t: ids };
  }
  if (!Array.isArray(ids) || ids.length === 0 || !ids.every((r) => Array.isArray(r) && r.length === ids[0]!.length && r.every((v) => Number.isInteger(v)))) {
    throw new InvalidArgumentError(`${op}: inputIds must be an int32 tensor [B, T] or equal-length arrays of integers, got ${describe(ids)}`);
  }
  return { rows: ids.map((r) => [...r]), t: null };
}

export class CLIPTextModel extends Module {
  readonly config: CLIPTextConfig;
  readonly text_model: CLIPTextTransformer;
  readonly text_projection: Linear | null;
  /** See PoolingRule. */
  poolingRule: PoolingRule = 'legacy';

  /** withProjection: CLIPTextModelWithProjection (adds text_projection, no bias). */
  constructor(config: Partial<CLIPTextConfig> = {}, options: { withProjection?: boolean } = {}) {
    super();
    this.config = clipTextConfig(config);
    this.text_model = this.child('text_model', new CLIPTextTransformer(this.config));
    this.text_projection = options.withProjection ? this.child('text_projection', new Linear(this.config.hidden_size, this.config.projection_dim, false)) : null;
    this.namedParameters(); // gives every parameter its key (for error messages before any load)
  }

  setAttentionSlicing(slicing: AttentionSlicing | null): void {
    for (const l of this.text_model.layers) l.self_attn.slicing = { ...(slicing ?? {}) };
  }

  /** The position pooled for each row (see PoolingRule). */
  pooledPositions(rows: readonly (readonly number[])[]): number[] {
    const eos = this.config.eos_token_id;
    const argmax = (r: readonly number[]) => r.reduce((best, v, i) => (v > r[best]! ? i : best), 0);
    const firstEos = (r: readonly number[]) => Math.max(0, r.indexOf(eos));
    const useArgmax = this.poolingRule === 'legacy' ? eos === 2 : rows.every((r) => Math.max(...r) === 49407);
    return rows.map((r) => (useArgmax ? argmax(r) : firstEos(r)));
  }

  /** inputIds [B, T] (int32 tensor or arrays) → hidden states, pooled output (and text embeddings with a projection). */
  forward(inputIds: Tensor | readonly (readonly number[])[], options: CLIPTextForwardOptions = {}): CLIPTextOutput {
    const c = this.config;
    const { rows, t: idsTensor } = idsToRows(inputIds, 'CLIPTextModel.forward');
    const b = rows.length;
    const len = rows[0]!.length;
    if (len > c.max_position_embeddings) throw new ShapeError(`CLIPTextModel.forward: sequence length ${len} exceeds max_position_embeddings ${c.max_position_embeddings}`);
    const bad = rows.flat().find((v) => v < 0 || v >= c.vocab_size);
    if (bad !== undefined) throw new InvalidArgumentError(`CLIPTextModel.forward: token id ${bad} is outside the vocabulary [0, ${c.vocab_size})`);
    const pos = this.pooledPositions(rows);
    return tidy(() => {
      const tm = this.text_model;
      const backend = tm.final_layer_norm.weight.value.backend;
      const ids = idsTensor ? cast(idsTensor, 'int32') : tensor(Int32Array.from(rows.flat()), [b, len], { dtype: 'int32', backend });
      const positions = tensor(Int32Array.from({ length: len }, (_, i) => i), [len], { dtype: 'int32', backend });
      let h = add(tm.embeddings.token_embedding.forward(ids), tm.embeddings.position_embedding.forward(positions)); // [B, T, C]
      // Causal mask [1, 1, T, T], plus the padding mask [B, 1, 1, T] when given.
      const causal = new Float32Array(len * len);
      for (let i = 0; i < len; i++) for (let j = i + 1; j < len; j++) causal[i * len + j] = BLOCKED;
      let mask = tensor(causal, [1, 1, len, len], { backend });
      if (options.attentionMask) {
        const am = isTensor(options.attentionMask) ? cast(options.attentionMask, 'float32') : tensor(Float32Array.from(options.attentionMask.flat()), [b, len], { backend });
        if (am.rank !== 2 || am.shape[0] !== b || am.shape[1] !== len) throw new ShapeError(`CLIPTextModel.forward: attentionMask must be [${b}, ${len}], got ${describe(am.shape)}`);
        mask = add(mask, reshape(mul(sub(1, am), BLOCKED), [b, 1, 1, len]));
      }
      const hidden: Tensor[] = [];
      for (const layer of tm.layers) {
        if (options.outputHiddenStates) hidden.push(h);
        h = layer.forward(h, mask);
      }
      if (options.outputHiddenStates) hidden.push(h);
      const last = tm.final_layer_norm.forward(h);
      const index = tensor(Int32Array.from(pos.map((p, i) => i * len + p)), [b], { dtype: 'int32', backend });
      const pooled = gather(reshape(last, [b * len, c.hidden_size]), index, 0);
      const out: CLIPTextOutput = { lastHiddenState: last, pooledOutput: pooled };
      if (options.outputHiddenStates) out.hiddenStates = hidden;
      if (this.text_projection) out.textEmbeds = this.text_projection.forward(pooled);
      return out;
    });
  }

  /**
   * The prompt embeddings diffusers' pipelines build: the last hidden state, or with clipSkip k
   * the output of layer N - k passed through the final layer norm (clipSkip 1 = the penultimate
   * layer, SD 2.x-style conditioning).
   */
  promptEmbeds(inputIds: Tensor | readonly (readonly number[])[], clipSkip = 0): Tensor {
    if (!Number.isInteger(clipSkip) || clipSkip < 0 || clipSkip >= this.config.num_hidden_layers) {
      throw new InvalidArgumentError(`CLIPTextModel.promptEmbeds: clipSkip must be an integer in [0, ${this.config.num_hidden_layers}), got ${describe(clipSkip)}`);
    }
    if (clipSkip === 0) {
      const o = this.forward(inputIds);
      o.pooledOutput.dispose();
      o.textEmbeds?.dispose();
      return o.lastHiddenState;
    }
    return tidy(() => {
      const o = this.forward(inputIds, { outputHiddenStates: true });
      const hs = o.hiddenStates!;
      return this.text_model.final_layer_norm.forward(hs[hs.length - 1 - clipSkip]!);
    });
  }
}
