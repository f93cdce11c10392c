// Text metrics used to select and judge samples: sentence BLEU (for minimum-Bayes-risk
// selection) and distinct-n diversity.

import { InvalidArgumentError, describe } from '@denoise/core';

function ngrams(tokens: readonly string[], n: number): Map<string, number> {
  const m = new Map<string, number>();
  for (let i = 0; i + n <= tokens.length; i++) {
    const k = tokens.slice(i, i + n).join('\u0001');
    m.set(k, (m.get(k) ?? 0) + 1);
  }
  return m;
}

/**
 * Sentence BLEU of `hyp` against `refs` (Papineni et al. 2002) with add-one smoothing of the
 * 2..N-gram precisions (Lin & Och 2004), uniform weights, the brevity penalty of the closest
 * reference length. In [0, 1].
 */
export function sentenceBleu(hyp: readonly string[], refs: readonly (readonly string[])[], maxN = 4): number {
  if (!Array.isArray(refs) || refs.length === 0) throw new InvalidArgumentError(`sentenceBleu: refs must be a non-empty array of token arrays, got ${describe(refs)}`);
  if (hyp.length === 0) return 0;
  let logSum = 0;
  for (let n = 1; n <= maxN; n++) {
    const h = ngrams(hyp, n);
    const maxRef = new Map<string, number>();
    for (const r of refs) for (const [k, c] of ngrams(r, n)) maxRef.set(k, Math.max(maxRef.get(k) ?? 0, c));
    let match = 0;
    let total = 0;
    for (const [k, c] of h) {
      match += Math.min(c, maxRef.get(k) ?? 0);
      total += c;
    }
    const p = n === 1 ? (total === 0 ? 0 : match / total) : (match + 1) / (total + 1);
    if (p === 0) return 0;
    logSum += Math.log(p) / maxN;
  }
  const closest = refs.map((r) => r.length).reduce((best, l) => (Math.abs(l - hyp.length) < Math.abs(best - hyp.length) || (Math.abs(l - hyp.length) === Math.abs(best - hyp.length) && l < best) ? l : best));
  const bp = hyp.length >= closest ? 1 : Math.exp(1 - closest / hyp.length);
  return bp * Math.exp(logSum);
}

/**
 * Minimum-Bayes-risk selection (Kumar and Byrne 2004): the candidate with the least expected
 * loss 1 - BLEU against the other candidates. Returns its index.
 */
export function mbrSelect(candidates: readonly (readonly string[])[]): number {
  if (!Array.isArray(candidates) || candidates.length === 0) throw new InvalidArgumentError(`mbrSelect: candidates must be a non-empty array, got ${describe(candidates)}`);
  if (candidates.length === 1) return 0;
  let best = 0;
  let bestRisk = Infinity;
  candidates.forEach((c, i) => {
    let risk = 0;
    candidates.forEach((o, j) => {
      if (i !== j) risk += 1 - sentenceBleu(c, [o]);
    });
    if (risk < bestRisk) {
      bestRisk = risk;
      best = i;
    }
  });
  return best;
}

/** distinct-n: distinct n-grams over all n-grams of all texts (Li et al. 2016). */
export function distinctN(texts: readonly (readonly string[])[], n: number): number {
  const seen = new Set<string>();
  let total = 0;
  for (const t of texts) {
    for (let i = 0; i + n <= t.length; i++) {
      seen.add(t.slice(i, i + n).join('\u0001'));
      total++;
    }
  }
  return total === 0 ? 0 : seen.size / total;
}
