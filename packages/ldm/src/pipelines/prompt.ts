// Prompt embeddings for the pipelines: the CLIP tokenizer's ids through the text encoder (last
// hidden state, or an earlier layer with clipSkip), the way diffusers' encode_prompt builds
// them. Each distinct prompt is encoded once and its rows gathered into batch order. Long
// prompts are truncated to 75 tokens (diffusers), or with longPrompts 'chunks' split into
// 75-token windows whose embeddings are concatenated along the sequence axis; every prompt of
// one run (conditional and negative) then gets the same number of windows, the shorter ones
// padded with windows of the empty prompt.

import { InvalidArgumentError, describe, gather, reshape, tensor, tidy, type Tensor } from '@denoise/core';
import type { CLIPTextModel } from '../models/clip/clip-text.js';
import type { ClipTokenizer } from '../tokenizer/clip-tokenizer.js';

export type LongPrompts = 'truncate' | 'chunks';

export interface PromptEncoder {
  readonly textEncoder: CLIPTextModel;
  readonly tokenizer: ClipTokenizer;
}

/** The windows of ids for one prompt (one window when truncating). */
function windowsOf(tokenizer: ClipTokenizer, prompt: string, mode: LongPrompts): number[][] {
  return mode === 'chunks' ? tokenizer.encodeChunks(prompt).map((e) => e.ids) : [tokenizer.encode(prompt).ids];
}

/**
 * Embeddings [rows, windows * 77, D] for each list of prompts (conditional, negative, ...), all
 * with the same number of windows. Every distinct prompt runs through the text encoder once.
 */
export function encodePromptLists(op: string, encoder: PromptEncoder, lists: readonly (readonly string[])[], options: { clipSkip: number; longPrompts: LongPrompts }): Tensor[] {
  const { textEncoder, tokenizer } = encoder;
  const positions = textEncoder.config.max_position_embeddings;
  if (tokenizer.maxLength > positions) {
    throw new InvalidArgumentError(`${op}: the tokenizer's sequences (${tokenizer.maxLength} ids) exceed the text encoder's max_position_embeddings ${positions}`);
  }
  const layers = textEncoder.config.num_hidden_layers;
  if (!Number.isInteger(options.clipSkip) || options.clipSkip < 0 || options.clipSkip >= layers) {
    throw new InvalidArgumentError(`${op}: clipSkip must be an integer in [0, ${layers - 1}] (this text encoder has ${layers} layers), got ${describe(options.clipSkip)}`);
  }
  const distinct = [...new Set(lists.flat())];
  const windows = distinct.map((p) => windowsOf(tokenizer, p, options.longPrompts));
  const count = Math.max(...windows.map((w) => w.length));
  const empty = windowsOf(tokenizer, '', 'truncate')[0]!;
  const ids = windows.flatMap((w) => [...w, ...new Array<number[]>(count - w.length).fill(empty)]);
  return tidy(() => {
    const embeds = textEncoder.promptEmbeds(ids, options.clipSkip); // [distinct * count, 77, D]
    const [, len, dim] = embeds.shape as [number, number, number];
    const perPrompt = reshape(embeds, [distinct.length, count * len, dim]);
    return lists.map((list) => {
      const index = tensor(Int32Array.from(list, (p) => distinct.indexOf(p)), [list.length], { dtype: 'int32', backend: perPrompt.backend });
      return gather(perPrompt, index, 0);
    });
  });
}
