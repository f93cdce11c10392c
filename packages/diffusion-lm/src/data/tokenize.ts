// Word-level tokenisation of English sentences as in the E2E setup of Diffusion-LM, whose data
// was split with spaCy's English tokenizer: whitespace first, then punctuation peeled off the
// ends of each chunk (prefixes such as quotes, brackets and currency signs; suffixes such as
// . , ! ? : ; closing brackets, 's and 't, as the release has them: "isn't" -> isn 't), and
// hyphens / slashes between word characters, commas between letters and currency signs glued
// to a word split out as tokens of their own ("family-friendly" -> family - friendly). Case is kept. On the E2E
// development set this reproduces the release's tokenised text (src1_valid.txt) for nearly every
// sentence; data/tokenize.test.ts measures it.

const PREFIX = /^([,"'`(\[{£$€#~]|``)/u;
const SUFFIX = /(\.\.\.|\.\.|[.,!?:;"')\]}%]|'s|'S|'re|'ve|'ll|'d|'m|'t|'T)$/u;
// Abbreviations keep their final period.
const KEEP_PERIOD = new Set(['mr.', 'mrs.', 'ms.', 'dr.', 'st.', 'e.g.', 'i.e.', 'etc.', 'vs.', 'approx.']);
const INFIX = /(?<=[\p{L}\p{N}])([-–—\/]|\.\.\.)(?=[\p{L}\p{N}])|(?<=\p{L}),(?=\p{L})|(?<=[\p{L}-])(?=[£$€]\p{N})/u;
// A number with a decimal point or thousands separator stays one token (3.14, 1,000); so does a time (10:30).
const NUMBER = /^\p{N}+([.,:]\p{N}+)+$/u;

function splitChunk(chunk: string, out: string[]): void {
  const suffixes: string[] = [];
  let s = chunk;
  for (let guard = 0; s.length > 0 && guard < 64; guard++) {
    const p = PREFIX.exec(s);
    if (p && s.length > p[0].length) {
      out.push(p[0]);
      s = s.slice(p[0].length);
      continue;
    }
    if (NUMBER.test(s) || KEEP_PERIOD.has(s.toLowerCase())) break;
    const m = SUFFIX.exec(s);
    if (m && s.length > m[0].length) {
      suffixes.unshift(m[0]);
      s = s.slice(0, s.length - m[0].length);
      continue;
    }
    break;
  }
  if (s.length > 0) {
    // Infixes: split at each hyphen / slash / ellipsis between word characters.
    let rest = s;
    for (let m = INFIX.exec(rest); m; m = INFIX.exec(rest)) {
      if (m.index > 0) out.push(rest.slice(0, m.index));
      if (m[0].length > 0) out.push(m[0]);
      rest = rest.slice(m.index + m[0].length);
      if (m[0].length === 0) {
        // A zero-width split (before a currency sign): the sign starts the next chunk.
        const sign = rest.slice(0, 1);
        out.push(sign);
        rest = rest.slice(1);
      }
    }
    if (rest.length > 0) out.push(rest);
  }
  out.push(...suffixes);
}

/** Splits a sentence into word tokens (case kept). */
export function tokenizeWords(text: string): string[] {
  const out: string[] = [];
  for (const chunk of text.split(/\s+/u)) if (chunk.length > 0) splitChunk(chunk, out);
  return out;
}
