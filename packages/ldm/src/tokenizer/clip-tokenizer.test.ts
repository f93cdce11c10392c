// CLIP tokenizer on the shipped OpenAI vocabulary: hand-derived ids for a dozen prompts, a
// cross-check of 472 prompts against an independent Python implementation
// (test-fixtures/tokenizer/generate.py → reference.json), truncation, padding, long-prompt
// windows, and the diffusers vocab.json + merges.txt form.
//
// How ids are derived by hand. The vocabulary is: 256 byte symbols (ids 0-255: '!'..'~' are
// 0-93, so a letter c is c.charCodeAt(0) - 33; then Latin-1 0xA1-0xAC, 0xAE-0xFF; then the
// non-printable bytes 0x00-0x20, 0x7F-0xA0, 0xAD remapped to U+0100...), the same 256 with
// '</w>' (ids 256-511: "a</w>" = 256 + 64 = 320), then one token per merge (id = 512 + merge
// rank, the rank being the merge's line in the file minus one), then 49406 <|startoftext|>
// and 49407 <|endoftext|>. A word is split into byte symbols, the last marked with '</w>',
// and the adjacent pair with the lowest rank is merged until no pair is a merge.

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { ClipTokenizer } from './clip-tokenizer.js';
import { loadClipTokenizer, loadClipTokenizerFromDiffusers } from './load.js';
import { CLIP_MERGES, byteSymbols, gunzip, vocabularyFromBpeText } from './vocabulary.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const reference = JSON.parse(readFileSync(path.resolve(here, '../../test-fixtures/tokenizer/reference.json'), 'utf8')) as { prompts: Array<[string, number[]]> };
const SOT = 49406;
const EOT = 49407;

// [prompt, ids without start/end, derivation]
const HAND: Array<[string, number[]]> = [
  // a → "a</w>" 320 (no merge needed: a single symbol ending the word);
  // photo: t+o</w> (#19), h+o (#94), p+ho (#304), pho+to</w> (#613) → 512 + 613 = 1125;
  // of: o+f</w> (#27) → 539; cat: a+t</w> (#24), c+at</w> (#1856) → 2368.
  ['a photo of a cat', [320, 1125, 539, 320, 2368]],
  // lower-cased first: the same ids.
  ['A Photo Of A CAT', [320, 1125, 539, 320, 2368]],
  // astronaut: o+n #9, s+t #10, a+u #115, st+r #295, str+on #3653, a+stron #7470, au+t</w> #11831,
  // astron+aut</w> #17864 → 18376; "," is its own word: ","</w> = 256 + 11 = 267; "4k" splits
  // into the digit "4" (\p{N} alone: 256 + 19 = 275) and the letters "k" (256 + 74 = 330);
  // "!!!": !+!</w> #236, !+!!</w> #483 → 995.
  ['an astronaut riding a horse on mars, 4k, highly detailed!!!', [550, 18376, 6765, 320, 4558, 525, 7496, 267, 275, 330, 267, 5302, 12609, 995]],
  // contractions are words of their own: 's: '+s</w> #56 → 568; 't: '+t</w> #201 → 713;
  // isn: i+s #83, is+n</w> #2411 → 2923; dog: d+o #127, do+g</w> #1417 → 1929; "?" 256 + 30 = 286.
  ["it's the dog's toy, isn't it? we'll see; they'd've", [585, 568, 518, 1929, 568, 5988, 267, 2923, 713, 585, 286, 649, 1342, 862, 282, 889, 1896, 1200]],
  // every digit is a word: "1" 256 + 16 = 272, "9" 280, "0" 271, then "s" 256 + 82 = 338;
  // "3.14": 3 → 274, "." 256 + 13 = 269, 1 → 272, 4 → 275.
  ['the 1990s were 3.14 times better than 2024', [518, 272, 280, 280, 271, 338, 1365, 274, 269, 272, 275, 1661, 1539, 1126, 273, 271, 273, 275]],
  // é is the bytes C3 A9 = symbols "Ã" "©": a+f #190, c+af #2959, Ã+©</w> #3654, caf+Ã©</w> #14792 → 15304.
  ['café crème brûlée à la carte', [15304, 1075, 12138, 614, 711, 127, 119, 75, 13489, 21259, 1210, 44949]],
  // 🐶 = F0 9F 90 B6 = "ð" "Ł" "Ĳ" "¶": ð+Ł #46, ðŁ+Ĳ #1562, ðŁĲ+¶</w> #10119 → 10631.
  ['a 🐶 and a 🐱 👍🏽', [320, 10631, 537, 320, 22979, 43722]],
  // runs of spaces, tabs and newlines collapse: new + lines</w> (n+e #45, ne+w #706; l+in #742, lin+es</w> #2906).
  ['   lots    of\tspaces\n\nand   newlines   ', [2958, 539, 9006, 537, 1218, 3418]],
  // "@" 256 + 31 = 287; user: e+r</w> #16, u+s #392, us+er</w> #6519 → 7031; brackets are words of their own.
  ['email me@example.com #hashtag @user (parens) [brackets] {braces}', [4462, 614, 287, 6228, 269, 2464, 258, 9238, 287, 7031, 263, 3106, 338, 264, 314, 36183, 316, 346, 19249, 348]],
  // one \p{L} run of 3-byte characters: 東 = E6 9D B1 → "æĿ±" (æ+Ŀ #27155, æĿ+± #47826 → 48338), ...
  ['東京タワー の 写真', [48338, 21078, 105, 34941, 2429, 107, 30391, 4813, 362, 44653, 33440, 509]],
  // straße: s+t #10, r+a #47, st+ra #1382 → "stra" 1894; ß = C3 9F → "Ã" (id 127), "Ł" (id 253, byte 0x9F
  // remapped); no merge joins them; "e</w>" 256 + 68 = 324.
  ['Ünïcödé ÅNGSTRÖM straße', [6522, 77, 35689, 66, 7255, 67, 4166, 23176, 10352, 807, 7255, 332, 1894, 127, 253, 324]],
  // x+x</w> #3041, x+x #5163, xx+xx</w> #22307, xx+xx #31523 → "xxxx" 32035, "xx" 5675, "xxxx</w>" 22819.
  ['xxxxxxxxxx supercalifragilisticexpialidocious', [32035, 5675, 22819, 1642, 2857, 13093, 2076, 5868, 26850, 835, 639, 38466]],
];

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

describe('CLIP tokenizer (shipped vocabulary)', () => {
  it('has 49,408 tokens, <|startoftext|> 49406, <|endoftext|> 49407, pads with 49407', async () => {
    const tok = await loadClipTokenizer();
    expect(tok.vocabSize).toBe(49408);
    expect([tok.startId, tok.endId, tok.padId, tok.maxLength]).toEqual([SOT, EOT, EOT, 77]);
    expect(await loadClipTokenizer()).toBe(tok); // built once
  });

  it.each(HAND)('%j → hand-derived ids', async (prompt, ids) => {
    const tok = await loadClipTokenizer();
    expect(tok.encodeIds(prompt)).toEqual(ids);
    const e = tok.encode(prompt);
    expect(e.ids.length).toBe(77);
    expect(e.ids.slice(0, ids.length + 2)).toEqual([SOT, ...ids, EOT]);
    expect(e.ids.slice(ids.length + 2).every((id) => id === EOT)).toBe(true);
    expect(e.attentionMask.reduce((a, b) => a + b, 0)).toBe(ids.length + 2);
    expect(e.truncated).toBe(false);
  });

  it('byte symbols and merge ids as the derivations above use them', () => {
    const sym = byteSymbols();
    expect([sym[0x61], sym[0xc3], sym[0xa9], sym[0x9f], sym[0x20], sym[0xf0]]).toEqual(['a', 'Ã', '©', 'Ł', 'Ġ', 'ð']);
  });

  it('agrees with the independent Python implementation on 472 prompts (Twemoji names, E2E sentences, random unicode)', async () => {
    const tok = await loadClipTokenizer();
    expect(reference.prompts.length).toBe(472);
    const wrong = reference.prompts.filter(([p, ids]) => JSON.stringify(tok.encodeIds(p)) !== JSON.stringify(ids));
    expect(wrong.map(([p]) => p)).toEqual([]);
  });

  it('truncates to 77 keeping the end token; splits long prompts into 75-token windows', async () => {
    const tok = await loadClipTokenizer();
    const long = Array.from({ length: 100 }, (_, i) => `word${i % 10}`).join(' '); // "word" + digit = 2 tokens each
    const ids = tok.encodeIds(long);
    expect(ids.length).toBe(200);
    const e = tok.encode(long);
    expect(e.ids.length).toBe(77);
    expect(e.ids[0]).toBe(SOT);
    expect(e.ids[76]).toBe(EOT);
    expect(e.ids.slice(1, 76)).toEqual(ids.slice(0, 75));
    expect(e.truncated).toBe(true);
    expect(e.tokenCount).toBe(200);
    const chunks = tok.encodeChunks(long);
    expect(chunks.length).toBe(3); // 75 + 75 + 50
    expect(chunks.flatMap((c) => c.ids.slice(1, 1 + c.attentionMask.reduce((a, b) => a + b, 0) - 2))).toEqual(ids);
    for (const c of chunks) expect([c.ids.length, c.ids[0], c.ids.includes(EOT)]).toEqual([77, SOT, true]);
    expect(chunks[2]!.ids[51]).toBe(EOT);
    expect(tok.encodeChunks(long, { maxChunks: 2 }).map((c) => c.truncated)).toEqual([true, true]);
    expect(tok.encodeChunks('').length).toBe(1);
    expect(tok.encode('').ids.slice(0, 3)).toEqual([SOT, EOT, EOT]);
  });

  it('pads with a chosen id (SD 2.x pads with 0) and decodes back to lower-case text', async () => {
    const tok = await loadClipTokenizer({ padId: 0 });
    const e = tok.encode('a photo of a cat');
    expect(e.ids.slice(0, 8)).toEqual([SOT, 320, 1125, 539, 320, 2368, EOT, 0]);
    expect(e.ids.at(-1)).toBe(0);
    expect(tok.decode(e.ids.slice(0, 7))).toBe('a photo of a cat');
    expect(tok.tokenize('A café')).toEqual(['a</w>', 'cafÃ©</w>']);
    expect(() => tok.encode(42 as unknown as string)).toThrow(/^ClipTokenizer.encode: text must be a string, got 42/);
  });

  it('loads from a diffusers tokenizer/ folder (vocab.json + merges.txt) with the same ids', async () => {
    const gz = readFileSync(path.resolve(here, '../../assets/bpe_simple_vocab_16e6.txt.gz'));
    const text = new TextDecoder().decode(await gunzip(new Uint8Array(gz)));
    const { vocab, merges } = vocabularyFromBpeText(text);
    expect(merges.length).toBe(CLIP_MERGES);
    const dir = mkdtempSync(path.join(tmpdir(), 'ldm-tokenizer-'));
    dirs.push(dir);
    writeFileSync(path.join(dir, 'vocab.json'), JSON.stringify(vocab));
    writeFileSync(path.join(dir, 'merges.txt'), `#version: 0.2\n${merges.join('\n')}\n`);
    writeFileSync(path.join(dir, 'tokenizer_config.json'), JSON.stringify({ pad_token: '!', model_max_length: 77 }));
    const tok = await loadClipTokenizerFromDiffusers(dir);
    expect(tok.padId).toBe(0); // "!" is token 0, as in SD 2.x
    for (const [p, ids] of reference.prompts.slice(0, 50)) expect(tok.encodeIds(p)).toEqual(ids);
    const direct = ClipTokenizer.fromVocabMerges(vocab, merges.join('\n'));
    expect(direct.encode('a photo of a cat').ids).toEqual((await loadClipTokenizer()).encode('a photo of a cat').ids);
  });
});
