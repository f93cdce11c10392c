// The text encoder's configuration: the fields of transformers' CLIPTextConfig config.json.
// clipTextConfig(partial) fills missing fields with Stable Diffusion 1.x's text encoder (CLIP
// ViT-L/14's text tower); parseCLIPTextConfig(json) with transformers' class defaults (what a
// config.json without them means to transformers: the ViT-B/32 text tower, eos 49407). A full
// CLIPConfig (with a nested text_config) is accepted too.

import { FieldReader } from '../config-fields.js';
import { CLIP_ACTIVATIONS, type ClipActivation } from '../nn/layers.js';

export interface CLIPTextConfig {
  /** BPE vocabulary size: 49408. */
  vocab_size: number;
  /** Width d of the token features (the conditioning tau_theta(y) the UNet attends to): 768 (SD 1.x), 1024 (SD 2.x). */
  hidden_size: number;
  /** MLP width: 3072. */
  intermediate_size: number;
  /** Width of text_projection in CLIPTextModelWithProjection: 768. */
  projection_dim: number;
  /** Transformer layers: 12 (SD 2.x's OpenCLIP ViT-H: 23 used of 24). */
  num_hidden_layers: number;
  /** Attention heads: 12. */
  num_attention_heads: number;
  /** Context length: 77 positions. */
  max_position_embeddings: number;
  /** MLP nonlinearity: 'quick_gelu' (x sigmoid(1.702 x), OpenAI CLIP) or 'gelu' (OpenCLIP). */
  hidden_act: ClipActivation;
  layer_norm_eps: number;
  /** Training only; ignored. */
  attention_dropout: number;
  initializer_range: number;
  initializer_factor: number;
  pad_token_id: number;
  bos_token_id: number;
  /** 2 in the legacy configs (SD 1.x writes it): the pooled token is then the argmax of the ids. */
  eos_token_id: number;
}

/** Stable Diffusion 1.x's text_encoder/config.json. */
export const SD15_TEXT_ENCODER: Readonly<CLIPTextConfig> = Object.freeze({
  vocab_size: 49408,
  hidden_size: 768,
  intermediate_size: 3072,
  projection_dim: 768,
  num_hidden_layers: 12,
  num_attention_heads: 12,
  max_position_embeddings: 77,
  hidden_act: 'quick_gelu',
  layer_norm_eps: 1e-5,
  attention_dropout: 0,
  initializer_range: 0.02,
  initializer_factor: 1,
  pad_token_id: 1,
  bos_token_id: 0,
  eos_token_id: 2,
} as CLIPTextConfig);

/** transformers' CLIPTextConfig.__init__ defaults. */
export const TRANSFORMERS_CLIP_TEXT_DEFAULTS: Readonly<CLIPTextConfig> = Object.freeze({
  ...SD15_TEXT_ENCODER,
  hidden_size: 512,
  intermediate_size: 2048,
  projection_dim: 512,
  num_attention_heads: 8,
  bos_token_id: 49406,
  eos_token_id: 49407,
} as CLIPTextConfig);

export function readCLIPTextConfig(json: Readonly<Record<string, unknown>>, defaults: Readonly<CLIPTextConfig>): CLIPTextConfig {
  const nested = (json as { text_config?: unknown }).text_config;
  const source = typeof nested === 'object' && nested !== null && !Array.isArray(nested) ? (nested as Record<string, unknown>) : json;
  const r = new FieldReader('CLIPTextModel', source);
  const c: CLIPTextConfig = {
    vocab_size: r.int('vocab_size', defaults.vocab_size, 1),
    hidden_size: r.int('hidden_size', defaults.hidden_size, 1),
    intermediate_size: r.int('intermediate_size', defaults.intermediate_size, 1),
    projection_dim: r.int('projection_dim', defaults.projection_dim, 1),
    num_hidden_layers: r.int('num_hidden_layers', defaults.num_hidden_layers, 1),
    num_attention_heads: r.int('num_attention_heads', defaults.num_attention_heads, 1),
    max_position_embeddings: r.int('max_position_embeddings', defaults.max_position_embeddings, 1),
    hidden_act: r.oneOf('hidden_act', CLIP_ACTIVATIONS as readonly ClipActivation[], defaults.hidden_act),
    layer_norm_eps: r.number('layer_norm_eps', defaults.layer_norm_eps, true),
    attention_dropout: r.number('attention_dropout', defaults.attention_dropout),
    initializer_range: r.number('initializer_range', defaults.initializer_range),
    initializer_factor: r.number('initializer_factor', defaults.initializer_factor),
    pad_token_id: r.int('pad_token_id', defaults.pad_token_id, 0),
    bos_token_id: r.int('bos_token_id', defaults.bos_token_id, 0),
    eos_token_id: r.int('eos_token_id', defaults.eos_token_id, 0),
  };
  if (c.hidden_size % c.num_attention_heads !== 0) r.problems.push(`num_attention_heads: ${c.num_attention_heads} heads do not divide hidden_size ${c.hidden_size}`);
  r.finish();
  return c;
}

/** A config with Stable Diffusion 1.x's text encoder values for every field not given. */
export function clipTextConfig(partial: Partial<CLIPTextConfig> = {}): CLIPTextConfig {
  return readCLIPTextConfig(partial as Record<string, unknown>, SD15_TEXT_ENCODER);
}

/** A transformers config.json object (missing fields take transformers' CLIPTextConfig defaults). */
export function parseCLIPTextConfig(json: Readonly<Record<string, unknown>>): CLIPTextConfig {
  return readCLIPTextConfig(json, TRANSFORMERS_CLIP_TEXT_DEFAULTS);
}
