// The word vocabulary of Diffusion-LM's E2E setup: every word seen at least `minCount` times in
// the training sentences (10 in the paper's setup, about 820 words), plus four special tokens in
// the release's order: START 0, END 1, UNK 2, PAD 3. Sequences are START w1 .. wn END padded
// with PAD to a fixed length (64 for E2E).

import { InvalidArgumentError, describe } from '@denoise/core';

export const START = 'START';
export const END = 'END';
export const UNK = 'UNK';
export const PAD = 'PAD';
export const SPECIALS: readonly string[] = [START, END, UNK, PAD];

export interface EncodeOptions {
  /** Sequence length after padding (default 64). */
  readonly length?: number;
  /** 'error' (default) throws when START + words + END do not fit; 'truncate' drops words (END is kept). */
  readonly overflow?: 'error' | 'truncate';
}

export class Vocabulary {
  readonly words: readonly string[];
  private readonly index: ReadonlyMap<string, number>;

  constructor(words: readonly string[]) {
    if (!Array.isArray(words)) throw new InvalidArgumentError(`Vocabulary: words must be an array of strings, got ${describe(words)}`);
    SPECIALS.forEach((s, i) => {
      if (words[i] !== s) throw new InvalidArgumentError(`Vocabulary: words[${i}] must be the special token ${s}, got ${describe(words[i])}`);
    });
    const index = new Map<string, number>();
    words.forEach((w, i) => {
      if (typeof w !== 'string' || w.length === 0) throw new InvalidArgumentError(`Vocabulary: words[${i}] must be a non-empty string, got ${describe(w)}`);
      if (index.has(w)) throw new InvalidArgumentError(`Vocabulary: the word ${describe(w)} appears twice (at ${index.get(w)} and ${i})`);
      index.set(w, i);
    });
    this.words = [...words];
    this.index = index;
  }

  /** Builds the vocabulary of tokenised sentences: words seen at least minCount times, most frequent first (ties by first appearance). */
  static build(sentences: Iterable<readonly string[]>, minCount = 10): Vocabulary {
    if (!Number.isInteger(minCount) || minCount < 1) throw new InvalidArgumentError(`Vocabulary.build: minCount must be a positive integer, got ${describe(minCount)}`);
    const counts = new Map<string, number>();
    for (const s of sentences) for (const w of s) if (!SPECIALS.includes(w)) counts.set(w, (counts.get(w) ?? 0) + 1);
    const kept = [...counts].filter(([, c]) => c >= minCount);
    kept.sort((a, b) => b[1] - a[1]); // stable: ties keep first-appearance order
    return new Vocabulary([...SPECIALS, ...kept.map(([w]) => w)]);
  }

  get size(): number {
    return this.words.length;
  }

  get startId(): number {
    return 0;
  }
  get endId(): number {
    return 1;
  }
  get unkId(): number {
    return 2;
  }
  get padId(): number {
    return 3;
  }

  has(word: string): boolean {
    return this.index.has(word);
  }

  /** The id of a word (UNK's for words outside the vocabulary). */
  id(word: string): number {
    return this.index.get(word) ?? this.unkId;
  }

  word(id: number): string {
    const w = this.words[id];
    if (w === undefined || !Number.isInteger(id)) throw new InvalidArgumentError(`Vocabulary.word: id must be an integer in [0, ${this.size - 1}], got ${describe(id)}`);
    return w;
  }

  /** START w1 .. wn END PAD ... as ids, `length` long. */
  encode(tokens: readonly string[], options: EncodeOptions = {}): Int32Array {
    const length = options.length ?? 64;
    if (!Number.isInteger(length) || length < 2) throw new InvalidArgumentError(`Vocabulary.encode: options.length must be an integer >= 2, got ${describe(length)}`);
    const overflow = options.overflow ?? 'error';
    if (overflow !== 'error' && overflow !== 'truncate') throw new InvalidArgumentError(`Vocabulary.encode: options.overflow must be 'error' or 'truncate', got ${describe(overflow)}`);
    if (tokens.length + 2 > length && overflow === 'error') {
      throw new InvalidArgumentError(`Vocabulary.encode: ${tokens.length} words do not fit in length ${length} with START and END (at most ${length - 2}); pass overflow: 'truncate' to cut`);
    }
    const out = new Int32Array(length).fill(this.padId);
    out[0] = this.startId;
    const n = Math.min(tokens.length, length - 2);
    for (let i = 0; i < n; i++) out[i + 1] = this.id(tokens[i]!);
    out[n + 1] = this.endId;
    return out;
  }

  /** The words between START and the first END (PAD and specials dropped). */
  decode(ids: ArrayLike<number>): string[] {
    const out: string[] = [];
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      if (id === this.endId) break;
      if (id === this.startId || id === this.padId) continue;
      out.push(this.word(id));
    }
    return out;
  }

  toJSON(): { words: readonly string[] } {
    return { words: this.words };
  }

  static fromJSON(json: unknown): Vocabulary {
    const w = (json as { words?: unknown } | null)?.words;
    if (!Array.isArray(w)) throw new InvalidArgumentError(`Vocabulary.fromJSON: expected { words: string[] }, got ${describe(json)}`);
    return new Vocabulary(w as string[]);
  }
}
