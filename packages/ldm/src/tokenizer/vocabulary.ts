// CLIP's byte-level BPE vocabulary, built from either of its two published forms:
//   - OpenAI's `bpe_simple_vocab_16e6.txt.gz`: a header line, then merges "a b" ranked by line;
//     CLIP uses the first 49152 - 256 - 2 = 48,894. The vocabulary is the 256 byte symbols, the
//     same with `</w>` (end of word), one token per merge, then <|startoftext|>, <|endoftext|>:
//     49,408 tokens, ids 49406 and 49407 for the two specials;
//   - Hugging Face's `vocab.json` (token → id) + `merges.txt` (a `#version` header, then merges),
//     as in a diffusers `tokenizer/` folder.
// Byte symbols: every byte maps to one printable unicode character (printable Latin-1 bytes to
// themselves, the rest to U+0100 onwards), so BPE runs over strings without control characters.

import { InvalidArgumentError } from '@denoise/core';

export const START_OF_TEXT = '<|startoftext|>';
export const END_OF_TEXT = '<|endoftext|>';
/** Merges CLIP uses from the OpenAI file: 49152 - 256 - 2. */
export const CLIP_MERGES = 48894;

/** The byte → symbol table of GPT-2 / CLIP byte-level BPE (index = byte value). */
export function byteSymbols(): string[] {
  const printable: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) printable.push(b);
  for (let b = 0xa1; b <= 0xac; b++) printable.push(b);
  for (let b = 0xae; b <= 0xff; b++) printable.push(b);
  const table = new Array<string>(256);
  for (const b of printable) table[b] = String.fromCodePoint(b);
  let next = 256;
  for (let b = 0; b < 256; b++) if (table[b] === undefined) table[b] = String.fromCodePoint(next++);
  return table;
}

/** Byte symbols in vocabulary order: the printable bytes first, then the remapped ones. */
function vocabularyByteOrder(): string[] {
  const table = byteSymbols();
  const order: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) order.push(b);
  for (let b = 0xa1; b <= 0xac; b++) order.push(b);
  for (let b = 0xae; b <= 0xff; b++) order.push(b);
  for (let b = 0; b < 256; b++) if (!order.includes(b)) order.push(b);
  return order.map((b) => table[b]!);
}

export interface BpeVocabulary {
  /** token → id */
  readonly vocab: Readonly<Record<string, number>>;
  /** "a b" merges, by rank. */
  readonly merges: readonly string[];
}

/** The vocabulary from the text of OpenAI's `bpe_simple_vocab_16e6.txt` (already gunzipped). */
export function vocabularyFromBpeText(text: string, mergeCount = CLIP_MERGES): BpeVocabulary {
  const lines = text.split('\n');
  if (lines.length < mergeCount + 1) throw new InvalidArgumentError(`CLIP vocabulary: expected at least ${mergeCount + 1} lines (a header and ${mergeCount} merges), got ${lines.length}`);
  const merges = lines.slice(1, mergeCount + 1).map((l, i) => {
    const parts = l.split(' ');
    if (parts.length !== 2 || !parts[0] || !parts[1]) throw new InvalidArgumentError(`CLIP vocabulary: line ${i + 2} is not a merge "a b": ${JSON.stringify(l)}`);
    return l;
  });
  const bytes = vocabularyByteOrder();
  const tokens = [...bytes, ...bytes.map((b) => `${b}</w>`), ...merges.map((m) => m.replace(' ', '')), START_OF_TEXT, END_OF_TEXT];
  const vocab: Record<string, number> = Object.create(null) as Record<string, number>;
  tokens.forEach((t, i) => {
    vocab[t] = i;
  });
  return { vocab, merges };
}

/** The vocabulary from Hugging Face's `vocab.json` text (or parsed object) and `merges.txt` text. */
export function vocabularyFromVocabMerges(vocabJson: string | Readonly<Record<string, number>>, mergesText: string): BpeVocabulary {
  let vocab: Record<string, number>;
  try {
    vocab = (typeof vocabJson === 'string' ? JSON.parse(vocabJson) : vocabJson) as Record<string, number>;
  } catch (e) {
    throw new InvalidArgumentError(`CLIP vocabulary: vocab.json is not valid JSON: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (typeof vocab !== 'object' || vocab === null || Array.isArray(vocab) || !Object.values(vocab).every((v) => Number.isInteger(v) && v >= 0)) {
    throw new InvalidArgumentError('CLIP vocabulary: vocab.json must map tokens to non-negative integer ids');
  }
  const merges = mergesText
    .split('\n')
    .filter((l, i) => !(i === 0 && l.startsWith('#version')) && l.trim().length > 0)
    .map((l) => l.replace(/\r$/, ''));
  for (const [i, m] of merges.entries()) if (m.split(' ').length !== 2) throw new InvalidArgumentError(`CLIP vocabulary: merges.txt entry ${i + 1} is not "a b": ${JSON.stringify(m)}`);
  for (const special of [START_OF_TEXT, END_OF_TEXT]) if (!(special in vocab)) throw new InvalidArgumentError(`CLIP vocabulary: vocab.json lacks ${special}`);
  return { vocab, merges };
}

/** Gunzips bytes with the standard DecompressionStream (Node 18+, browsers). */
export async function gunzip(bytes: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream().pipeThrough(new DecompressionStream('gzip'));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}
