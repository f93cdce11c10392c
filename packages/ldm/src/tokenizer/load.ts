// Loading the CLIP tokenizer from files (Node): the vocabulary this package ships
// (assets/bpe_simple_vocab_16e6.txt.gz, OpenAI's file, MIT) or a diffusers `tokenizer/` folder.
// Browsers fetch the same file themselves and call ClipTokenizer.fromBpeFile(bytes).

import { CheckpointError } from '@denoise/core';
import type { DiffusersTokenizerComponent } from '../checkpoint/diffusers.js';
import { ClipTokenizer, type ClipTokenizerOptions } from './clip-tokenizer.js';

export const CLIP_VOCABULARY_FILE = 'bpe_simple_vocab_16e6.txt.gz';

/** Where the shipped vocabulary is: next to dist/ in the package, or two levels up from src/tokenizer/. */
function assetCandidates(): URL[] {
  return ['../assets/', '../../assets/'].map((dir) => new URL(dir + CLIP_VOCABULARY_FILE, import.meta.url));
}

let shipped: Promise<ClipTokenizer> | undefined;

/**
 * CLIP's tokenizer from the vocabulary shipped in this package (Node). With default options the
 * tokenizer is built once and shared.
 */
export async function loadClipTokenizer(options: ClipTokenizerOptions = {}): Promise<ClipTokenizer> {
  const build = async () => {
    const { readFile } = await import('node:fs/promises');
    const { fileURLToPath } = await import('node:url');
    const errors: string[] = [];
    for (const url of assetCandidates()) {
      try {
        return await ClipTokenizer.fromBpeFile(new Uint8Array(await readFile(fileURLToPath(url))), options);
      } catch (e) {
        errors.push(`${url.href}: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
    throw new CheckpointError(`loadClipTokenizer: cannot read the shipped CLIP vocabulary (${errors.join('; ')})`);
  };
  if (options.maxLength !== undefined || options.padId !== undefined) return build();
  shipped ??= build().catch((e: unknown) => {
    shipped = undefined;
    throw e;
  });
  return shipped;
}

/** CLIP's tokenizer from a diffusers `tokenizer/` folder (a path or a component descriptor). */
export async function loadClipTokenizerFromDiffusers(
  dirOrComponent: string | DiffusersTokenizerComponent,
  options: ClipTokenizerOptions = {},
): Promise<ClipTokenizer> {
  const { readFile } = await import('node:fs/promises');
  const dir = typeof dirOrComponent === 'string' ? dirOrComponent : dirOrComponent.dir;
  const vocabFile = typeof dirOrComponent === 'string' ? `${dir}/vocab.json` : dirOrComponent.vocabFile;
  const mergesFile = typeof dirOrComponent === 'string' ? `${dir}/merges.txt` : dirOrComponent.mergesFile;
  let vocab: string;
  let merges: string;
  try {
    [vocab, merges] = await Promise.all([readFile(vocabFile, 'utf8'), readFile(mergesFile, 'utf8')]);
  } catch (e) {
    throw new CheckpointError(`loadClipTokenizerFromDiffusers: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
  // tokenizer_config.json's pad token (SD 2.x: "!") decides the padding id unless given.
  let padId = options.padId;
  if (padId === undefined) {
    const readConfig = async (file: string): Promise<Record<string, unknown>> => {
      try {
        return JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
      } catch {
        return {};
      }
    };
    const config = typeof dirOrComponent === 'string' ? await readConfig(`${dir}/tokenizer_config.json`) : dirOrComponent.config;
    const special = typeof dirOrComponent === 'string' ? await readConfig(`${dir}/special_tokens_map.json`) : dirOrComponent.specialTokens;
    const pad = config.pad_token ?? special.pad_token;
    const padText = typeof pad === 'string' ? pad : typeof pad === 'object' && pad !== null ? (pad as { content?: unknown }).content : undefined;
    if (typeof padText === 'string') {
      const id = (JSON.parse(vocab) as Record<string, number>)[padText];
      if (id !== undefined) padId = id;
    }
  }
  return ClipTokenizer.fromVocabMerges(vocab, merges, { ...options, ...(padId === undefined ? {} : { padId }) });
}
