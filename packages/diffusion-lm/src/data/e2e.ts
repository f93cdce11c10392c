// The E2E restaurant corpus (Novikova, Dusek and Rieser 2017; CC BY-SA 4.0), as shipped in this
// package's data/e2e/ (gzipped CSVs with columns mr, ref): meaning representations such as
// "name[The Eagle], eatType[coffee shop], food[Chinese]" with a human-written sentence each.

import { InvalidArgumentError, describe } from '@denoise/core';
import { parseCsv } from './csv.js';
import { tokenizeWords } from './tokenize.js';

export type E2ESplit = 'train' | 'dev' | 'test';
const FILES: Record<E2ESplit, string> = { train: 'trainset.csv.gz', dev: 'devset.csv.gz', test: 'testset_w_refs.csv.gz' };

export interface E2EExample {
  /** The meaning representation as field -> value ("name" -> "The Eagle"). */
  readonly fields: Readonly<Record<string, string>>;
  readonly mr: string;
  readonly text: string;
  readonly tokens: readonly string[];
}

/** Parses one meaning representation "name[The Eagle], food[Chinese]". */
export function parseMeaningRepresentation(mr: string): Record<string, string> {
  const out: Record<string, string> = {};
  const re = /\s*([^[,]+?)\s*\[([^\]]*)\]\s*(,|$)/gy;
  let m: RegExpExecArray | null;
  let last = 0;
  while ((m = re.exec(mr)) !== null) {
    out[m[1]!] = m[2]!;
    last = re.lastIndex;
    if (last >= mr.length) break;
  }
  if (last < mr.trim().length) throw new InvalidArgumentError(`parseMeaningRepresentation: cannot read ${describe(mr.slice(last))} in ${describe(mr)}`);
  return out;
}

/** E2E examples from CSV text (header mr,ref). */
export function e2eFromCsv(text: string): E2EExample[] {
  const rows = parseCsv(text);
  const header = rows[0];
  if (!header || header[0] !== 'mr' || header[1] !== 'ref') throw new InvalidArgumentError(`e2eFromCsv: expected the header mr,ref, got ${describe(header)}`);
  return rows.slice(1).filter((r) => r.length >= 2).map((r) => ({ mr: r[0]!, fields: parseMeaningRepresentation(r[0]!), text: r[1]!, tokens: tokenizeWords(r[1]!) }));
}

/** Reads a split of the shipped corpus (Node only). `dir` defaults to this package's data/e2e. */
export async function loadE2E(split: E2ESplit, dir?: string): Promise<E2EExample[]> {
  const file = FILES[split];
  if (!file) throw new InvalidArgumentError(`loadE2E: split must be 'train', 'dev' or 'test', got ${describe(split)}`);
  const { readFile } = await import('node:fs/promises');
  const { existsSync } = await import('node:fs');
  const { gunzipSync } = await import('node:zlib');
  const { fileURLToPath } = await import('node:url');
  // data/ sits at the package root: one level above dist/, two above src/data/.
  const base = dir ?? ['../data/e2e/', '../../data/e2e/'].map((rel) => fileURLToPath(new URL(rel, import.meta.url))).find((d) => existsSync(d));
  if (!base) throw new InvalidArgumentError("loadE2E: cannot find the package's data/e2e folder; pass dir");
  const path = `${base.replace(/\/?$/, '/')}${file}`;
  const bytes = await readFile(path);
  return e2eFromCsv(gunzipSync(bytes).toString('utf8'));
}
