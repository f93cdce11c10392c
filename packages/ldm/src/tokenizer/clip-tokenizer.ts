// The CLIP text tokenizer of Stable Diffusion: OpenAI's SimpleTokenizer semantics (= Hugging
// Face's CLIPTokenizer), on Hugging Face's pure-JS `@huggingface/tokenizers` engine.
//
// Pipeline: NFC normalisation (what ftfy.fix_text does first; ftfy's other repairs of broken
// text are not reproduced), whitespace runs → one space, lower case; the pre-tokenizer regex
//   <\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+
// (letters in runs, each digit alone, other symbols in runs); byte-level symbols; BPE with
// `</w>` marking the end of each word, merges applied by rank. Ids are wrapped as
// [<|startoftext|>, ..., <|endoftext|>], truncated to 77 keeping the end token, and padded with
// <|endoftext|> (SD 1.x) or a chosen pad id (SD 2.x pads with 0, the token "!").
//
// Prompts longer than 75 tokens: `encodeChunks` splits them into 75-token windows, each wrapped
// in start / end and padded to 77, the way common SD front ends do; a pipeline encodes every
// window and concatenates the hidden states along the sequence axis ([1, 77 * chunks, 768]).

import { Tokenizer } from '@huggingface/tokenizers';
import { InvalidArgumentError, describe } from '@denoise/core';
import { END_OF_TEXT, START_OF_TEXT, gunzip, vocabularyFromBpeText, vocabularyFromVocabMerges, type BpeVocabulary } from './vocabulary.js';

export const CLIP_PATTERN = "<\\|startoftext\\|>|<\\|endoftext\\|>|'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+";

export interface ClipTokenizerOptions {
  /** Sequence length including start and end tokens (CLIP: 77). */
  maxLength?: number;
  /** Padding id; default the <|endoftext|> id (SD 1.x). SD 2.x (OpenCLIP) uses 0. */
  padId?: number;
}

export interface ClipEncoding {
  /** `maxLength` ids: start, tokens, end, padding. */
  readonly ids: number[];
  /** 1 for start, tokens and end; 0 for padding. */
  readonly attentionMask: number[];
  /** Tokens of the prompt before truncation (without start / end). */
  readonly tokenCount: number;
  /** True when tokens were cut to fit. */
  readonly truncated: boolean;
}

export interface EncodeOptions {
  /** Pad to maxLength (default true). */
  pad?: boolean;
}

/** The Hugging Face `tokenizer.json` object for CLIP's tokenizer over a vocabulary. */
function tokenizerJson(v: BpeVocabulary, startId: number, endId: number): object {
  const added = (id: number, content: string) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: true, special: true });
  return {
    added_tokens: [added(startId, START_OF_TEXT), added(endId, END_OF_TEXT)],
    normalizer: { type: 'Sequence', normalizers: [{ type: 'NFC' }, { type: 'Replace', pattern: { Regex: '\\s+' }, content: ' ' }, { type: 'Lowercase' }] },
    pre_tokenizer: {
      type: 'Sequence',
      pretokenizers: [
        { type: 'Split', pattern: { Regex: CLIP_PATTERN }, behavior: 'Removed', invert: true },
        { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false },
      ],
    },
    post_processor: null,
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE', dropout: null, unk_token: END_OF_TEXT, continuing_subword_prefix: '', end_of_word_suffix: '</w>', fuse_unk: false, byte_fallback: false,
      vocab: v.vocab, merges: v.merges,
    },
  };
}

export class ClipTokenizer {
  readonly startId: number;
  readonly endId: number;
  readonly padId: number;
  readonly maxLength: number;
  readonly vocabSize: number;
  private readonly tokenizer: Tokenizer;

  constructor(vocabulary: BpeVocabulary, options: ClipTokenizerOptions = {}) {
    const maxLength = options.maxLength ?? 77;
    if (!Number.isInteger(maxLength) || maxLength < 3) throw new InvalidArgumentError(`ClipTokenizer: options.maxLength must be an integer >= 3, got ${describe(maxLength)}`);
    this.startId = vocabulary.vocab[START_OF_TEXT]!;
    this.endId = vocabulary.vocab[END_OF_TEXT]!;
    this.vocabSize = Object.keys(vocabulary.vocab).length;
    const padId = options.padId ?? this.endId;
    if (!Number.isInteger(padId) || padId < 0 || padId >= this.vocabSize) throw new InvalidArgumentError(`ClipTokenizer: options.padId must be a token id in [0, ${this.vocabSize}), got ${describe(padId)}`);
    this.padId = padId;
    this.maxLength = maxLength;
    this.tokenizer = new Tokenizer(tokenizerJson(vocabulary, this.startId, this.endId), { model_max_length: maxLength });
  }

  /** From the bytes of OpenAI's `bpe_simple_vocab_16e6.txt.gz` (or its gunzipped text). */
  static async fromBpeFile(data: Uint8Array | string, options: ClipTokenizerOptions = {}): Promise<ClipTokenizer> {
    const text = typeof data === 'string' ? data : new TextDecoder().decode(data[0] === 0x1f && data[1] === 0x8b ? await gunzip(data) : data);
    return new ClipTokenizer(vocabularyFromBpeText(text), options);
  }

  /** From Hugging Face's `vocab.json` (text or object) and `merges.txt` text (a diffusers `tokenizer/` folder). */
  static fromVocabMerges(vocabJson: string | Readonly<Record<string, number>>, mergesText: string, options: ClipTokenizerOptions = {}): ClipTokenizer {
    return new ClipTokenizer(vocabularyFromVocabMerges(vocabJson, mergesText), options);
  }

  /** BPE tokens of a prompt (strings, byte symbols, `</w>` word ends), without specials. */
  tokenize(text: string): string[] {
    checkText('ClipTokenizer.tokenize', text);
    return this.tokenizer.tokenize(text, { add_special_tokens: false });
  }

  /** Token ids of a prompt without start / end, untruncated. */
  encodeIds(text: string): number[] {
    return this.ids('ClipTokenizer.encodeIds', text);
  }

  private ids(op: string, text: unknown): number[] {
    checkText(op, text);
    return this.tokenizer.encode(text as string, { add_special_tokens: false }).ids;
  }

  /** One sequence of `maxLength` ids: start, at most maxLength - 2 tokens, end, padding. */
  encode(text: string, options: EncodeOptions = {}): ClipEncoding {
    const tokens = this.ids('ClipTokenizer.encode', text);
    return this.wrap(tokens, tokens.length, options.pad ?? true);
  }

  /** Several prompts, each as `encode` gives it (all padded to maxLength). */
  encodeBatch(texts: readonly string[]): ClipEncoding[] {
    if (!Array.isArray(texts)) throw new InvalidArgumentError(`ClipTokenizer.encodeBatch: texts must be an array of strings, got ${describe(texts)}`);
    return texts.map((t) => this.encode(t));
  }

  /**
   * A long prompt as consecutive windows of maxLength - 2 (75) tokens, each wrapped in start /
   * end and padded, the way common SD front ends handle prompts past 77 tokens. An empty prompt
   * gives one window. `maxChunks` bounds the count (extra tokens are dropped, `truncated` set).
   */
  encodeChunks(text: string, options: { maxChunks?: number } = {}): ClipEncoding[] {
    const maxChunks = options.maxChunks ?? Infinity;
    if (!(maxChunks >= 1)) throw new InvalidArgumentError(`ClipTokenizer.encodeChunks: options.maxChunks must be >= 1, got ${describe(options.maxChunks)}`);
    const tokens = this.ids('ClipTokenizer.encodeChunks', text);
    const window = this.maxLength - 2;
    const count = Math.max(1, Math.min(maxChunks, Math.ceil(tokens.length / window)));
    const out: ClipEncoding[] = [];
    for (let c = 0; c < count; c++) {
      const part = tokens.slice(c * window, (c + 1) * window);
      const e = this.wrap(part, part.length, true);
      out.push({ ...e, tokenCount: tokens.length, truncated: tokens.length > count * window });
    }
    return out;
  }

  /** Text from ids; start, end and padding tokens are dropped. */
  decode(ids: readonly number[]): string {
    const kept = ids.filter((id) => id !== this.startId && id !== this.endId);
    return this.tokenizer.decode(kept, { skip_special_tokens: true }).trim();
  }

  private wrap(tokens: readonly number[], tokenCount: number, pad: boolean): ClipEncoding {
    const room = this.maxLength - 2;
    const body = tokens.slice(0, room);
    const ids = [this.startId, ...body, this.endId];
    const attentionMask = ids.map(() => 1);
    if (pad) {
      while (ids.length < this.maxLength) {
        ids.push(this.padId);
        attentionMask.push(0);
      }
    }
    return { ids, attentionMask, tokenCount, truncated: tokens.length > room };
  }
}

function checkText(op: string, text: unknown): void {
  if (typeof text !== 'string') throw new InvalidArgumentError(`${op}: text must be a string, got ${describe(text)}`);
}
