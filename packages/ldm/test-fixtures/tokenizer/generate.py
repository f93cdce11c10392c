#!/usr/bin/env python3
"""Reference token ids for @denoise/ldm's CLIP tokenizer (src/tokenizer/).

An independent implementation of CLIP's byte-level BPE (openai/CLIP simple_tokenizer.py, as
described in its paper and code) in plain Python with no third-party modules, so that it runs
on any machine: the `regex` module's \\p{L} / \\p{N} classes are reproduced with unicodedata
categories, and ftfy's fix_text is replaced by NFC normalisation (what the JS tokenizer does).

    /usr/bin/python3 packages/ldm/test-fixtures/tokenizer/generate.py

Writes reference.json: {"prompts": [[text, [ids without start/end]], ...]} for every prompt
below, a sample of Twemoji names, E2E restaurant sentences and seeded random unicode strings.
"""
import csv
import gzip
import json
import os
import random
import unicodedata

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.normpath(os.path.join(HERE, '../../../../../shared/data'))
VOCAB = os.path.join(HERE, '../../assets/bpe_simple_vocab_16e6.txt.gz')


def bytes_to_unicode():
    bs = list(range(ord('!'), ord('~') + 1)) + list(range(ord('¡'), ord('¬') + 1)) + list(range(ord('®'), ord('ÿ') + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


BYTE_ENCODER = bytes_to_unicode()
lines = gzip.open(VOCAB).read().decode('utf-8').split('\n')
MERGES = [tuple(m.split()) for m in lines[1:49152 - 256 - 2 + 1]]
vocab = list(BYTE_ENCODER.values())
vocab = vocab + [v + '</w>' for v in vocab]
vocab += [''.join(m) for m in MERGES]
vocab += ['<|startoftext|>', '<|endoftext|>']
ENCODER = {v: i for i, v in enumerate(vocab)}
RANKS = {m: i for i, m in enumerate(MERGES)}
assert len(ENCODER) == 49408 and ENCODER['<|endoftext|>'] == 49407

# JavaScript's \s (WhiteSpace + LineTerminator), which the JS side uses.
JS_SPACE = set('\t\n\v\f\r \u00a0\u1680\u2028\u2029\u202f\u205f\u3000\ufeff') | {chr(c) for c in range(0x2000, 0x200b)}


def is_l(c):
    return unicodedata.category(c).startswith('L')


def is_n(c):
    return unicodedata.category(c).startswith('N')


def pre_tokenize(text):
    """re.findall of <|startoftext|>|<|endoftext|>|'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+ (IGNORECASE)."""
    out, i = [], 0
    low = text.lower()
    while i < len(text):
        matched = None
        for lit in ('<|startoftext|>', '<|endoftext|>', "'s", "'t", "'re", "'ve", "'m", "'ll", "'d"):
            if low.startswith(lit, i):
                matched = text[i:i + len(lit)]
                break
        if matched is None:
            c = text[i]
            j = i
            if is_l(c):
                while j < len(text) and is_l(text[j]):
                    j += 1
            elif is_n(c):
                j = i + 1
            elif c not in JS_SPACE:
                while j < len(text) and not (text[j] in JS_SPACE or is_l(text[j]) or is_n(text[j])):
                    j += 1
            if j > i:
                matched = text[i:j]
        if matched is None:
            i += 1
        else:
            out.append(matched)
            i += len(matched)
    return out


def bpe(token):
    if token in ('<|startoftext|>', '<|endoftext|>'):
        return [token]
    word = list(token[:-1]) + [token[-1] + '</w>']
    while len(word) > 1:
        pairs = [(word[k], word[k + 1]) for k in range(len(word) - 1)]
        best = min(pairs, key=lambda p: RANKS.get(p, float('inf')))
        if best not in RANKS:
            break
        merged, k = [], 0
        while k < len(word):
            if k < len(word) - 1 and (word[k], word[k + 1]) == best:
                merged.append(word[k] + word[k + 1])
                k += 2
            else:
                merged.append(word[k])
                k += 1
        word = merged
    return word


def clean(text):
    text = unicodedata.normalize('NFC', text)
    text = ''.join(' ' if c in JS_SPACE else c for c in text)
    text = ' '.join(text.split(' '))
    while '  ' in text:
        text = text.replace('  ', ' ')
    return text.strip(' ').lower()


def encode(text):
    ids = []
    for token in pre_tokenize(clean(text)):
        if token in ('<|startoftext|>', '<|endoftext|>'):
            ids.append(ENCODER[token])
            continue
        token = ''.join(BYTE_ENCODER[b] for b in token.encode('utf-8'))
        ids.extend(ENCODER[t] for t in bpe(token))
    return ids


HAND = [
    'a photo of a cat',
    'A Photo Of A CAT',
    'an astronaut riding a horse on mars, 4k, highly detailed!!!',
    "it's the dog's toy, isn't it? we'll see; they'd've",
    'the 1990s were 3.14 times better than 2024',
    'café crème brûlée à la carte',
    'a 🐶 and a 🐱 👍🏽',
    '   lots    of\tspaces\n\nand   newlines   ',
    'email me@example.com #hashtag @user (parens) [brackets] {braces}',
    '東京タワー の 写真',
    'Ünïcödé ÅNGSTRÖM straße',
    'x' * 10 + ' supercalifragilisticexpialidocious',
]

rng = random.Random(1234)
emoji = json.load(open(os.path.join(DATA, 'images/twemoji/emoji.json')))
names = [e['name'] for e in emoji if e.get('name')]
emoji_prompts = [f'a {n.lower()} emoji' if rng.random() < 0.5 else n for n in rng.sample(names, 200)]
with open(os.path.join(DATA, 'e2e/devset.csv'), newline='') as f:
    refs = [row['ref'] for row in csv.DictReader(f)]
e2e_prompts = rng.sample(refs, 200)
ALPHABET = list('abcxyzABCXYZ0123456789 .,;:!?\'"-()&%$#') + list('éüñçßøåÆŒ') + ['東', '京', 'ア', '한', 'ж', 'Ω', 'א', 'ب', '😀', '🐱', '👍🏽', '\u0301', '\u00a0', '\t']
random_prompts = [''.join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 40))) for _ in range(60)]

prompts = HAND + emoji_prompts + e2e_prompts + random_prompts
with open(os.path.join(HERE, 'reference.json'), 'w') as f:
    json.dump({'prompts': [[p, encode(p)] for p in prompts]}, f, ensure_ascii=False, separators=(',', ':'))
    f.write('\n')
for p in HAND:
    print(repr(p), encode(p))
print(len(prompts), 'prompts;', os.path.getsize(os.path.join(HERE, 'reference.json')), 'bytes')
