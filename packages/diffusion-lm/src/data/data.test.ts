// Word tokenisation against the Diffusion-LM release's tokenised E2E development set, the CSV
// reader, meaning representations and the vocabulary's encoding.
import { existsSync, readFileSync } from 'node:fs';
import { InvalidArgumentError } from '@denoise/core';
import { describe, expect, it } from 'vitest';
import { parseCsv } from './csv.js';
import { e2eFromCsv, loadE2E, parseMeaningRepresentation } from './e2e.js';
import { tokenizeWords } from './tokenize.js';
import { Vocabulary } from './vocab.js';

const RELEASE_DEV = new URL('../../../../../shared/data/diffusion-lm/src1_valid.txt', import.meta.url);

describe('tokenizeWords', () => {
  it.each([
    ['There is a place in the city centre, Alimentum, that is not family-friendly.', 'There is a place in the city centre , Alimentum , that is not family - friendly .'],
    ["Alimentum isn't family-friendly but it's cheap!", "Alimentum isn 't family - friendly but it 's cheap !"],
    ['Prices range from £20-25 (moderate).', 'Prices range from £ 20 - 25 ( moderate ) .'],
    ['It costs £20-£25, rated 3.14 out of 5...', 'It costs £ 20- £ 25 , rated 3.14 out of 5 ...'],
    ['riverside,they sell English food', 'riverside , they sell English food'],
    ['  spaced\tout \n words ', 'spaced out words'],
    ['"Quoted" Café Brazil', '" Quoted " Café Brazil'],
  ])('%s', (text, want) => {
    expect(tokenizeWords(text).join(' ')).toBe(want);
  });

  it.skipIf(!existsSync(RELEASE_DEV))('reproduces the release tokenisation of the E2E dev set for at least 99.9% of sentences', { timeout: 60_000 }, async () => {
    const dev = await loadE2E('dev');
    const lines = readFileSync(RELEASE_DEV, 'utf8').split('\n').filter(Boolean);
    expect(lines.length).toBe(dev.length);
    let same = 0;
    dev.forEach((ex, i) => {
      if (ex.tokens.join(' ') === lines[i]!.split('||')[1]!.trim().split(/\s+/).join(' ')) same++;
    });
    expect(same / dev.length).toBeGreaterThanOrEqual(0.999);
  });
});

describe('E2E data', () => {
  it('parses CSV with quotes, doubled quotes and newlines in fields', () => {
    expect(parseCsv('a,b\n"x, y","he said ""hi""\nthen left"\r\n1,2')).toEqual([['a', 'b'], ['x, y', 'he said "hi"\nthen left'], ['1', '2']]);
    expect(() => parseCsv('a,"open\n')).toThrow(/line 1 is never closed/);
  });

  it('parses meaning representations', () => {
    expect(parseMeaningRepresentation('name[The Eagle], eatType[coffee shop], priceRange[£20-25], near[Burger King]')).toEqual({
      name: 'The Eagle', eatType: 'coffee shop', priceRange: '£20-25', near: 'Burger King',
    });
    expect(() => parseMeaningRepresentation('name[The Eagle], broken')).toThrow(InvalidArgumentError);
  });

  it('loads every split of the shipped corpus', { timeout: 120_000 }, async () => {
    const [train, dev, test] = await Promise.all([loadE2E('train'), loadE2E('dev'), loadE2E('test')]);
    expect([train.length, dev.length, test.length]).toEqual([42061, 4672, 4693]);
    expect(train[0]!.fields.name).toBe('The Vaults');
    expect(e2eFromCsv('mr,ref\n"name[A], food[B]",A serves B.\n')[0]!.tokens).toEqual(['A', 'serves', 'B', '.']);
    await expect(loadE2E('validation' as 'dev')).rejects.toThrow(/split must be/);
  });
});

describe('Vocabulary', () => {
  const sentences = [['the', 'cat', 'sat'], ['the', 'dog', 'sat'], ['the', 'cat']];
  const v = Vocabulary.build(sentences, 2);

  it('keeps words seen minCount times after the four specials, most frequent first', () => {
    expect(v.words).toEqual(['START', 'END', 'UNK', 'PAD', 'the', 'cat', 'sat']);
    expect(v.id('dog')).toBe(v.unkId);
  });

  it('encodes START words END PAD.. and decodes back', () => {
    const ids = v.encode(['the', 'dog', 'sat'], { length: 7 });
    expect(Array.from(ids)).toEqual([0, 4, 2, 6, 1, 3, 3]);
    expect(v.decode(ids)).toEqual(['the', 'UNK', 'sat']);
    expect(() => v.encode(['the', 'cat', 'sat', 'the', 'cat', 'sat'], { length: 7 })).toThrow(/do not fit in length 7/);
    expect(Array.from(v.encode(['the', 'cat', 'sat', 'the', 'cat', 'sat'], { length: 7, overflow: 'truncate' }))).toEqual([0, 4, 5, 6, 4, 5, 1]);
  });

  it('round-trips through JSON and rejects malformed word lists', () => {
    expect(Vocabulary.fromJSON(JSON.parse(JSON.stringify(v))).words).toEqual(v.words);
    expect(() => new Vocabulary(['START', 'END', 'UNK'])).toThrow(/words\[3\] must be the special token PAD/);
    expect(() => new Vocabulary(['START', 'END', 'UNK', 'PAD', 'a', 'a'])).toThrow(/appears twice/);
  });

  it('the E2E training vocabulary at min count 10 has about 850 words', { timeout: 120_000 }, async () => {
    const train = await loadE2E('train');
    const e2e = Vocabulary.build(train.map((e) => e.tokens), 10);
    expect(e2e.size).toBeGreaterThan(800);
    expect(e2e.size).toBeLessThan(900);
    // Every training sentence fits the paper's length 64 with START and END but a handful.
    expect(train.filter((e) => e.tokens.length > 62).length).toBeLessThan(5);
  });
});
