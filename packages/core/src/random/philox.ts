// @denoise/core — random/philox.ts
//
// The single source of randomness for the whole system: noise for diffusion
// sampling, parameter initialisation, dropout masks and data shuffling all
// draw from a `Generator` defined here. It is a counter-based Philox4x32-10
// generator (Salmon, Moraes, Dror & Shaw, "Parallel random numbers: as easy as
// 1, 2, 3", SC 2011) with the same constants as Random123, PyTorch and JAX.
//
// Why counter-based: the output for block i is a pure function of (key, i),
// so any backend (CPU, WebGPU shader, WASM) can reproduce exactly the same
// stream, a generator's whole state is two 64-bit numbers that fit in a
// checkpoint, and independent streams can be split off without coordination.
//
// Pure JS on typed arrays; no platform APIs, so it runs in browsers and Node.
// Math.random is deliberately never used anywhere in this package.

import { InvalidArgumentError } from '../errors/index.js';

/** Philox4x32 multipliers (Random123 PHILOX_M4x32_0 / _1). */
export const PHILOX_M0 = 0xd2511f53;
export const PHILOX_M1 = 0xcd9e8d57;
/** Weyl key increments (golden ratio and sqrt(3)-1, Random123 PHILOX_W32_0 / _1). */
export const PHILOX_W0 = 0x9e3779b9;
export const PHILOX_W1 = 0xbb67ae85;

/** Rounds used by `Generator`; 10 is the Random123 / PyTorch / JAX default (Crush-resistant with margin). */
export const PHILOX_ROUNDS = 10;

/**
 * High 32 bits of the exact 64-bit product of two unsigned 32-bit integers.
 *
 * Doubles hold only 53 bits, so a*b cannot be formed directly. With
 * a = aH*2^16 + aL and b = bH*2^16 + bL:
 *   hi = aH*bH + floor((aL*bH + aH*bL + floor(aL*bL / 2^16)) / 2^16)
 * where every partial product is below 2^32 and the inner sum below 2^34, so
 * all of it is exact in double arithmetic. The low 32 bits are Math.imul.
 * The block function below inlines this formula with the constant's halves.
 * @internal exported for tests.
 */
export function mulhi32(a: number, b: number): number {
  const aL = a & 0xffff;
  const aH = a >>> 16;
  const bL = b & 0xffff;
  const bH = b >>> 16;
  const mid = aL * bH + aH * bL + ((aL * bL) >>> 16);
  return (aH * bH + Math.floor(mid / 65536)) >>> 0;
}

const M0_LO = PHILOX_M0 & 0xffff;
const M0_HI = PHILOX_M0 >>> 16;
const M1_LO = PHILOX_M1 & 0xffff;
const M1_HI = PHILOX_M1 >>> 16;
const W0_I32 = PHILOX_W0 | 0;
const W1_I32 = PHILOX_W1 | 0;

/**
 * Philox4x32-10 on `blocks` consecutive counters
 * [ctrLo + b (carrying into word 1), ctrHi, c2, 0], writing 4 words per block
 * into `out` from index 0.
 *
 * Words are kept as signed int32 internally (`| 0`) and only reinterpreted as
 * unsigned by the Uint32Array store: V8 then keeps everything in small-integer
 * registers, about twice as fast as juggling uint32 values above 2^31 as
 * doubles. Bit patterns are identical either way.
 */
function philoxBlocks(
  k0In: number,
  k1In: number,
  ctrLo: number,
  ctrHi: number,
  c2In: number,
  blocks: number,
  out: Uint32Array,
): void {
  for (let b = 0; b < blocks; b++) {
    const lo = ctrLo + b;
    let c0 = lo | 0; // ToInt32 wraps lo >= 2^32 exactly as the u64 counter does
    let c1 = (lo >= 4294967296 ? ctrHi + 1 : ctrHi) | 0;
    let c2 = c2In | 0;
    let c3 = 0;
    let k0 = k0In | 0;
    let k1 = k1In | 0;
    for (let r = 0; r < PHILOX_ROUNDS; r++) {
      if (r > 0) {
        // Random123 bumps the key *between* rounds, never before the first.
        k0 = (k0 + W0_I32) | 0;
        k1 = (k1 + W1_I32) | 0;
      }
      const aL = c0 & 0xffff;
      const aH = c0 >>> 16;
      const hi0 = (aH * M0_HI + Math.floor((aL * M0_HI + aH * M0_LO + ((aL * M0_LO) >>> 16)) / 65536)) | 0;
      const lo0 = Math.imul(PHILOX_M0, c0);
      const bL = c2 & 0xffff;
      const bH = c2 >>> 16;
      const hi1 = (bH * M1_HI + Math.floor((bL * M1_HI + bH * M1_LO + ((bL * M1_LO) >>> 16)) / 65536)) | 0;
      const lo1 = Math.imul(PHILOX_M1, c2);
      c0 = hi1 ^ c1 ^ k0;
      c1 = lo1;
      c2 = hi0 ^ c3 ^ k1;
      c3 = lo0;
    }
    const o = 4 * b;
    out[o] = c0;
    out[o + 1] = c1;
    out[o + 2] = c2;
    out[o + 3] = c3;
  }
}

/** Single block with an arbitrary 128-bit counter (the public block function). */
function philoxInto(
  c0: number,
  c1: number,
  c2: number,
  c3: number,
  k0: number,
  k1: number,
  rounds: number,
  out: Uint32Array,
): void {
  c0 |= 0;
  c1 |= 0;
  c2 |= 0;
  c3 |= 0;
  k0 |= 0;
  k1 |= 0;
  for (let r = 0; r < rounds; r++) {
    if (r > 0) {
      k0 = (k0 + W0_I32) | 0;
      k1 = (k1 + W1_I32) | 0;
    }
    const hi0 = mulhi32(PHILOX_M0, c0 >>> 0);
    const lo0 = Math.imul(PHILOX_M0, c0);
    const hi1 = mulhi32(PHILOX_M1, c2 >>> 0);
    const lo1 = Math.imul(PHILOX_M1, c2);
    c0 = hi1 ^ c1 ^ k0;
    c1 = lo1;
    c2 = hi0 ^ c3 ^ k1;
    c3 = lo0;
  }
  out[0] = c0;
  out[1] = c1;
  out[2] = c2;
  out[3] = c3;
}

function requireUint32Array(fn: string, name: string, v: unknown, len: number): Uint32Array {
  if (!(v instanceof Uint32Array) || v.length !== len) {
    const actual =
      v instanceof Uint32Array ? `Uint32Array of length ${v.length}` : describeValue(v);
    throw new InvalidArgumentError(`${fn}: ${name} must be a Uint32Array of length ${len}, got ${actual}`);
  }
  return v;
}

function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (typeof v === 'bigint') return `${v}n`;
  if (typeof v === 'number') return String(v);
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'object') return (v as object).constructor?.name ?? 'object';
  return typeof v;
}

/**
 * The raw Philox4x32-R block function: maps a 128-bit counter and a 64-bit key
 * to 128 pseudo-random bits. Matches Random123's `philox4x32_R(R, ctr, key)`
 * word for word (word 0 is `v[0]`), hence its published known-answer vectors.
 */
export function philox4x32(counter: Uint32Array, key: Uint32Array, rounds: number = PHILOX_ROUNDS): Uint32Array {
  requireUint32Array('philox4x32', 'counter', counter, 4);
  requireUint32Array('philox4x32', 'key', key, 2);
  if (!Number.isInteger(rounds) || rounds < 0 || rounds > 16) {
    // Random123 defines 0..16 rounds; more would not be "Philox" any more.
    throw new InvalidArgumentError(`philox4x32: rounds must be an integer in [0, 16], got ${describeValue(rounds)}`);
  }
  const out = new Uint32Array(4);
  philoxInto(counter[0]!, counter[1]!, counter[2]!, counter[3]!, key[0]!, key[1]!, rounds, out);
  return out;
}

/** JSON-serialisable snapshot of a `Generator`; store it in checkpoints. */
export interface GeneratorState {
  readonly algorithm: 'philox4x32-10';
  /** Low / high 32 bits of the 64-bit Philox key (the seed, or a fork's derived key). */
  readonly seedLo: number;
  readonly seedHi: number;
  /** Low / high 32 bits of the 64-bit count of 128-bit blocks already consumed. */
  readonly offsetLo: number;
  readonly offsetHi: number;
}

export type UniformDType = 'float32' | 'float64';

const TWO_POW_32 = 4294967296;
const TWO_POW_M24 = 1 / 16777216;
const TWO_POW_M53 = 1 / 9007199254740992;
const TWO_PI = 2 * Math.PI;
const TWO_POW_64 = 1n << 64n;

// Blocks per chunk of a draw: 16 KB of scratch, shared by all generators
// (JS runs one draw at a time and draws never re-enter each other).
const CHUNK_BLOCKS = 1024;
const SCRATCH = new Uint32Array(4 * CHUNK_BLOCKS);

// Word 2 of the counter is 0 for every ordinary draw, so a non-zero tag there
// puts fork-key derivation in a disjoint part of the counter space: a child's
// key can never coincide with numbers the parent hands out.
const FORK_DOMAIN_TAG = 0x666f726b; // "fork"

function isUint32(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xffffffff;
}

/**
 * A seeded stream of random numbers built on Philox4x32-10.
 *
 * Stream layout (the contract other backends must reproduce):
 * - key = (low 32 bits of seed, high 32 bits of seed);
 * - block b (b = 0, 1, 2, ...) is `philox4x32([b mod 2^32, floor(b / 2^32), 0, 0], key)`;
 * - `offset` counts blocks consumed; every draw starts at a fresh block and
 *   consumes whole blocks (leftover words of the last block are discarded).
 *
 * Hence each draw is a pure function of (seed, offset, n): the same seed and
 * sequence of draw sizes gives the same numbers on every backend. Uniform and
 * integer draws are bit-exact everywhere; normal draws are bit-exact on a given
 * JS engine but may differ in the last ulp between engines, because
 * ECMAScript leaves Math.log/cos/sin implementation-approximated.
 */
export class Generator {
  // Key and offset kept as u32 pairs rather than bigint: the hot loop then
  // never allocates.
  #k0: number;
  #k1: number;
  #offLo = 0;
  #offHi = 0;
  readonly #block = new Uint32Array(4); // fork's scratch

  /**
   * @param seed a non-negative integer below 2^64 (a safe-integer number or a
   *   bigint); it becomes the 64-bit Philox key.
   */
  constructor(seed: number | bigint) {
    let s: bigint;
    if (typeof seed === 'number') {
      // Above 2^53 a number has already lost bits, so two different intended
      // seeds could silently collide; demand a bigint there instead.
      if (!Number.isSafeInteger(seed) || seed < 0) {
        throw new InvalidArgumentError(
          `Generator: seed must be a non-negative safe integer (or a bigint in [0, 2^64)), got ${describeValue(seed)}`,
        );
      }
      s = BigInt(seed);
    } else if (typeof seed === 'bigint') {
      if (seed < 0n || seed >= TWO_POW_64) {
        throw new InvalidArgumentError(`Generator: seed must be a bigint in [0, 2^64), got ${seed}n`);
      }
      s = seed;
    } else {
      throw new InvalidArgumentError(
        `Generator: seed must be a non-negative integer number or bigint, got ${describeValue(seed)}`,
      );
    }
    this.#k0 = Number(s & 0xffffffffn);
    this.#k1 = Number(s >> 32n);
  }

  /** Rebuilds a generator from `state`, continuing exactly where it was captured. */
  static fromState(state: GeneratorState): Generator {
    if (typeof state !== 'object' || state === null) {
      throw new InvalidArgumentError(`Generator.fromState: state must be an object, got ${describeValue(state)}`);
    }
    if (state.algorithm !== 'philox4x32-10') {
      throw new InvalidArgumentError(
        `Generator.fromState: state.algorithm must be "philox4x32-10", got ${describeValue(state.algorithm)}`,
      );
    }
    for (const field of ['seedLo', 'seedHi', 'offsetLo', 'offsetHi'] as const) {
      if (!isUint32(state[field])) {
        throw new InvalidArgumentError(
          `Generator.fromState: state.${field} must be an integer in [0, 2^32), got ${describeValue(state[field])}`,
        );
      }
    }
    const g = new Generator(0);
    g.#k0 = state.seedLo;
    g.#k1 = state.seedHi;
    g.#offLo = state.offsetLo;
    g.#offHi = state.offsetHi;
    return g;
  }

  /** Moves this generator to `state` (from `.state`), in place: it continues from there. */
  setState(state: GeneratorState): void {
    const g = Generator.fromState(state);
    this.#k0 = g.#k0;
    this.#k1 = g.#k1;
    this.#offLo = g.#offLo;
    this.#offHi = g.#offHi;
  }

  /** Snapshot for checkpoints; plain numbers so JSON.stringify round-trips it. */
  get state(): GeneratorState {
    return {
      algorithm: 'philox4x32-10',
      seedLo: this.#k0,
      seedHi: this.#k1,
      offsetLo: this.#offLo,
      offsetHi: this.#offHi,
    };
  }

  /** Number of 128-bit blocks consumed so far (for diagnostics and tests). */
  get offset(): bigint {
    return (BigInt(this.#offHi) << 32n) | BigInt(this.#offLo);
  }

  /** An identical, independent copy: both produce the same continuation. */
  clone(): Generator {
    return Generator.fromState(this.state);
  }

  /**
   * Splits off a new stream whose key is derived from (key, offset) by one
   * Philox call in a reserved counter domain. The parent advances by one block
   * so successive forks differ, and the derivation is deterministic, so a
   * restored checkpoint forks the same children.
   */
  fork(): Generator {
    const out = this.#block;
    philoxInto(this.#offLo, this.#offHi, FORK_DOMAIN_TAG, 0, this.#k0, this.#k1, PHILOX_ROUNDS, out);
    this.#advance(1);
    const child = new Generator(0);
    child.#k0 = out[0]!;
    child.#k1 = out[1]!;
    return child;
  }

  /**
   * `n` uniform numbers in [0, 1).
   * - float32: each u32 word w gives (w >>> 8) * 2^-24 (4 values per block),
   *   i.e. 24 random bits, exactly representable in float32.
   * - float64: words (a, b) give ((a >>> 5) * 2^26 + (b >>> 6)) * 2^-53
   *   (2 values per block), 53 random bits as in numpy / Python.
   */
  uniformArray(n: number, dtype?: 'float32'): Float32Array;
  uniformArray(n: number, dtype: 'float64'): Float64Array;
  uniformArray(n: number, dtype?: UniformDType): Float32Array | Float64Array;
  uniformArray(n: number, dtype: UniformDType = 'float32'): Float32Array | Float64Array {
    checkCount('uniformArray', n);
    checkDType('uniformArray', dtype);
    if (dtype === 'float32') {
      const out = new Float32Array(n);
      this.#draw(n, 4, (w, start, count) => {
        for (let j = 0; j < count; j++) out[start + j] = (w[j]! >>> 8) * TWO_POW_M24;
      });
      return out;
    }
    const out = new Float64Array(n);
    this.#draw(n, 2, (w, start, count) => {
      for (let j = 0; j < count; j++) {
        out[start + j] = ((w[2 * j]! >>> 5) * 67108864 + (w[2 * j + 1]! >>> 6)) * TWO_POW_M53;
      }
    });
    return out;
  }

  /**
   * `n` standard normal numbers by Box–Muller. Uniforms are taken in (0, 1]
   * (the [0,1) construction above plus one unit) so log(u1) is always finite.
   * Each pair (u1, u2) yields r·cos(2πu2) then r·sin(2πu2), r = sqrt(-2 ln u1).
   * - float32: 24-bit uniforms from words (w0, w1) and (w2, w3), 4 normals per block;
   * - float64: 53-bit uniforms u1 from (w0, w1), u2 from (w2, w3), 2 normals per block.
   * Computed in double precision, then stored at the requested precision.
   */
  normalArray(n: number, dtype?: 'float32'): Float32Array;
  normalArray(n: number, dtype: 'float64'): Float64Array;
  normalArray(n: number, dtype?: UniformDType): Float32Array | Float64Array;
  normalArray(n: number, dtype: UniformDType = 'float32'): Float32Array | Float64Array {
    checkCount('normalArray', n);
    checkDType('normalArray', dtype);
    if (dtype === 'float32') {
      const out = new Float32Array(n);
      this.#draw(n, 4, (w, start, count) => {
        // Value j pairs words 2·floor(j/2) and 2·floor(j/2)+1: cos for even j, sin for odd j.
        for (let j = 0; j < count; j += 2) {
          const u1 = ((w[j]! >>> 8) + 1) * TWO_POW_M24;
          const u2 = ((w[j + 1]! >>> 8) + 1) * TWO_POW_M24;
          const r = Math.sqrt(-2 * Math.log(u1));
          const theta = TWO_PI * u2;
          out[start + j] = r * Math.cos(theta);
          if (j + 1 < count) out[start + j + 1] = r * Math.sin(theta);
        }
      });
      return out;
    }
    const out = new Float64Array(n);
    this.#draw(n, 2, (w, start, count) => {
      for (let j = 0; j < count; j += 2) {
        const u1 = ((w[2 * j]! >>> 5) * 67108864 + (w[2 * j + 1]! >>> 6) + 1) * TWO_POW_M53;
        const u2 = ((w[2 * j + 2]! >>> 5) * 67108864 + (w[2 * j + 3]! >>> 6) + 1) * TWO_POW_M53;
        const r = Math.sqrt(-2 * Math.log(u1));
        const theta = TWO_PI * u2;
        out[start + j] = r * Math.cos(theta);
        if (j + 1 < count) out[start + j + 1] = r * Math.sin(theta);
      }
    });
    return out;
  }

  /**
   * `n` integers uniform in [low, high). Value j of a block takes the word
   * pair x = w[2j]·2^32 + w[2j+1] (2 values per block) and maps it by the
   * exact 64-bit multiply-shift floor(x · (high - low) / 2^64) + low. No
   * rejection, so the number of blocks consumed depends only on n (backends
   * stay in lockstep); every outcome gets floor or ceil of 2^64 / range
   * inputs, a relative bias below range / 2^64 <= 2^-32, far under anything a
   * test could detect.
   */
  randintArray(n: number, low: number, high: number): Int32Array {
    checkCount('randintArray', n);
    if (!Number.isInteger(low) || low < -2147483648 || low > 2147483647) {
      throw new InvalidArgumentError(
        `randintArray: low must be an integer in the int32 range, got ${describeValue(low)}`,
      );
    }
    if (!Number.isInteger(high) || high <= low || high > 2147483648) {
      throw new InvalidArgumentError(
        `randintArray: high must be an integer with low < high <= 2^31 (low = ${low}), got ${describeValue(high)}`,
      );
    }
    const range = high - low; // 1 .. 2^32
    const out = new Int32Array(n);
    this.#draw(n, 2, (w, start, count) => {
      for (let j = 0; j < count; j++) out[start + j] = low + scaleU64(w[2 * j]!, w[2 * j + 1]!, range);
    });
    return out;
  }

  /**
   * Generates the ceil(n / perBlock) blocks a draw of n values needs, in
   * chunks (bounded scratch memory), calling `use(words, start, count)` for
   * values [start, start + count) with their blocks' words at words[0..].
   */
  #draw(n: number, perBlock: number, use: (words: Uint32Array, start: number, count: number) => void): void {
    const words = SCRATCH;
    for (let start = 0; start < n; ) {
      const blocks = Math.min(CHUNK_BLOCKS, Math.ceil((n - start) / perBlock));
      philoxBlocks(this.#k0, this.#k1, this.#offLo, this.#offHi, 0, blocks, words);
      this.#advance(blocks);
      const count = Math.min(n - start, blocks * perBlock);
      use(words, start, count);
      start += count;
    }
  }

  #advance(blocks: number): void {
    const lo = this.#offLo + blocks;
    if (lo >= TWO_POW_32) {
      this.#offLo = lo - TWO_POW_32;
      // 2^64 blocks is unreachable in practice; wrap like the u64 it models.
      this.#offHi = (this.#offHi + 1) >>> 0;
    } else {
      this.#offLo = lo;
    }
  }
}

/** floor((hi·2^32 + lo) · range / 2^64) for 1 <= range <= 2^32, exactly. */
function scaleU64(hi: number, lo: number, range: number): number {
  if (range === TWO_POW_32) return hi;
  // (hi·2^32 + lo)·range = hi·range·2^32 + lo·range; only the high word of
  // lo·range and a carry reach bit 64.
  const phLo = Math.imul(hi, range) >>> 0;
  const phHi = mulhi32(hi, range);
  const qHi = mulhi32(lo, range);
  return phHi + (phLo + qHi >= TWO_POW_32 ? 1 : 0);
}

function checkCount(fn: string, n: number): void {
  // Typed-array lengths are capped well below 2^32; the engine reports the
  // exact cap, so only the integer/non-negative contract is checked here.
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new InvalidArgumentError(`${fn}: n must be a non-negative integer, got ${describeValue(n)}`);
  }
}

function checkDType(fn: string, dtype: unknown): void {
  if (dtype !== 'float32' && dtype !== 'float64') {
    throw new InvalidArgumentError(`${fn}: dtype must be 'float32' or 'float64', got ${describeValue(dtype)}`);
  }
}
