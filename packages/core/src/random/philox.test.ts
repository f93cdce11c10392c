// @denoise/core — tests for random/philox.ts: the Random123 known-answer
// vectors pin the block function, the layout tests pin the documented stream
// contract other backends reproduce, and the statistical tests (fixed seeds,
// so never flaky) catch gross distribution bugs.

import { describe, it, expect } from 'vitest';
import { DenoiseError, InvalidArgumentError } from '../errors/index.js';
import { Generator, mulhi32, philox4x32, type GeneratorState } from './philox.js';

const u32 = (...xs: number[]): Uint32Array => Uint32Array.from(xs);

/** Deterministic test operands (an LCG, since Math.random is banned). */
function* lcgWords(seed: number, count: number): Generator_<number> {
  let s = seed >>> 0;
  for (let i = 0; i < count; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    yield s;
  }
}
type Generator_<T> = globalThis.Generator<T, void, unknown>;

describe('mulhi32', () => {
  it('matches the exact BigInt product on edge and pseudo-random operands', () => {
    const edge = [0, 1, 2, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff, 0xd2511f53, 0xcd9e8d57];
    const words = [...edge, ...lcgWords(12345, 400)];
    // Collect mismatches instead of one expect per pair: 25k expects are slow.
    const mismatches: string[] = [];
    for (const a of words) {
      for (const b of words.slice(0, 60)) {
        const p = BigInt(a) * BigInt(b);
        if (mulhi32(a, b) !== Number(p >> 32n) || Math.imul(a, b) >>> 0 !== Number(p & 0xffffffffn)) {
          mismatches.push(`${a} * ${b}`);
        }
      }
    }
    expect(mismatches).toEqual([]);
  });
});

describe('philox4x32 (Random123 kat_vectors, philox4x32_10)', () => {
  it('counter 0, key 0', () => {
    expect(Array.from(philox4x32(u32(0, 0, 0, 0), u32(0, 0)))).toEqual([
      0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8,
    ]);
  });
  it('counter and key all ones', () => {
    expect(
      Array.from(philox4x32(u32(0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff), u32(0xffffffff, 0xffffffff))),
    ).toEqual([0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd]);
  });
  it('pi digits counter, key', () => {
    expect(
      Array.from(philox4x32(u32(0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344), u32(0xa4093822, 0x299f31d0))),
    ).toEqual([0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1]);
  });
  it('0 rounds is the identity on the counter', () => {
    expect(Array.from(philox4x32(u32(1, 2, 3, 4), u32(5, 6), 0))).toEqual([1, 2, 3, 4]);
  });
  it('does not mutate its inputs', () => {
    const c = u32(1, 2, 3, 4);
    const k = u32(5, 6);
    philox4x32(c, k);
    expect(Array.from(c)).toEqual([1, 2, 3, 4]);
    expect(Array.from(k)).toEqual([5, 6]);
  });
  it('rejects malformed counter / key / rounds', () => {
    expect(() => philox4x32(u32(0, 0, 0), u32(0, 0))).toThrow(
      'philox4x32: counter must be a Uint32Array of length 4, got Uint32Array of length 3',
    );
    expect(() => philox4x32(u32(0, 0, 0, 0), new Int32Array(2) as unknown as Uint32Array)).toThrow(
      'philox4x32: key must be a Uint32Array of length 2, got Int32Array',
    );
    expect(() => philox4x32(u32(0, 0, 0, 0), u32(0, 0), 1.5)).toThrow(InvalidArgumentError);
  });
});

describe('Generator stream layout (the cross-backend contract)', () => {
  const seed = 0x0123456789abcdefn;
  const key = u32(0x89abcdef, 0x01234567);
  const blockAt = (b: number): Uint32Array => philox4x32(u32(b, 0, 0, 0), key);

  it('float32 uniforms are (w >>> 8) * 2^-24 of consecutive blocks; partial blocks are discarded', () => {
    const g = new Generator(seed);
    const a = g.uniformArray(6); // blocks 0, 1 (last two words of block 1 dropped)
    const b = g.uniformArray(1); // block 2
    const words = [...blockAt(0), ...blockAt(1)];
    for (let i = 0; i < 6; i++) expect(a[i]).toBe((words[i]! >>> 8) / 2 ** 24);
    expect(b[0]).toBe((blockAt(2)[0]! >>> 8) / 2 ** 24);
    expect(g.offset).toBe(3n);
  });

  it('draws spanning several internal chunks follow the same layout', () => {
    const g = new Generator(seed);
    const n = 4 * 1024 * 2 + 5; // internal chunk is 1024 blocks
    const a = g.uniformArray(n);
    const mismatches: number[] = [];
    for (const i of [0, 4095, 4096, 4097, 8191, 8192, n - 1]) {
      const w = blockAt(Math.floor(i / 4))[i % 4]!;
      if (a[i] !== (w >>> 8) / 2 ** 24) mismatches.push(i);
    }
    expect(mismatches).toEqual([]);
    expect(g.offset).toBe(BigInt(Math.ceil(n / 4)));
    const ints = new Generator(seed).randintArray(2049, 0, 1000);
    const w = blockAt(1024);
    const x = (BigInt(w[0]!) << 32n) | BigInt(w[1]!);
    expect(ints[2048]).toBe(Number((x * 1000n) >> 64n));
  });

  it('float32 normals pair words (w0, w1) and (w2, w3) of each block', () => {
    const z = new Generator(seed).normalArray(4);
    const w = blockAt(0);
    const u = (x: number): number => ((x >>> 8) + 1) / 2 ** 24;
    const r0 = Math.sqrt(-2 * Math.log(u(w[0]!)));
    const r1 = Math.sqrt(-2 * Math.log(u(w[2]!)));
    expect(Array.from(z)).toEqual(
      [
        r0 * Math.cos(2 * Math.PI * u(w[1]!)),
        r0 * Math.sin(2 * Math.PI * u(w[1]!)),
        r1 * Math.cos(2 * Math.PI * u(w[3]!)),
        r1 * Math.sin(2 * Math.PI * u(w[3]!)),
      ].map(Math.fround),
    );
  });

  it('float64 uniforms combine 27 + 26 bits of a word pair', () => {
    const g = new Generator(seed);
    const a = g.uniformArray(3, 'float64');
    const w = [...blockAt(0), ...blockAt(1)];
    const expected = [0, 1, 2].map(
      (i) => Number(((BigInt(w[2 * i]! >>> 5) << 26n) | BigInt(w[2 * i + 1]! >>> 6))) / 2 ** 53,
    );
    expect(Array.from(a)).toEqual(expected);
    expect(g.offset).toBe(2n);
  });

  it('randint is the exact 64-bit multiply-shift of word pairs', () => {
    for (const [low, high] of [
      [0, 10],
      [-7, 13],
      [-2147483648, 2147483647],
      [-2147483648, 2147483648],
      [5, 6],
    ] as const) {
      const g = new Generator(seed);
      const r = g.randintArray(5, low, high);
      const w = [...blockAt(0), ...blockAt(1), ...blockAt(2)];
      const range = BigInt(high - low);
      for (let i = 0; i < 5; i++) {
        const x = (BigInt(w[2 * i]!) << 32n) | BigInt(w[2 * i + 1]!);
        expect(r[i]).toBe(Number((x * range) >> 64n) + low);
      }
    }
  });

  it('normals follow Box–Muller on (0,1] uniforms', () => {
    const g = new Generator(seed);
    const z = g.normalArray(4, 'float64');
    const w = blockAt(0);
    const u = (a: number, b: number): number => ((a >>> 5) * 2 ** 26 + (b >>> 6) + 1) / 2 ** 53;
    const u1 = u(w[0]!, w[1]!);
    const u2 = u(w[2]!, w[3]!);
    const r = Math.sqrt(-2 * Math.log(u1));
    expect(z[0]).toBe(r * Math.cos(2 * Math.PI * u2));
    expect(z[1]).toBe(r * Math.sin(2 * Math.PI * u2));
    expect(g.offset).toBe(2n);
  });

  it('seed number and bigint agree; seeds above 2^32 use the high key word', () => {
    expect(new Generator(42).uniformArray(8)).toEqual(new Generator(42n).uniformArray(8));
    expect(new Generator(2 ** 40 + 3).state).toMatchObject({ seedLo: 3, seedHi: 256 });
    expect(new Generator(2n ** 64n - 1n).state).toMatchObject({ seedLo: 0xffffffff, seedHi: 0xffffffff });
  });

  it('offset carries into the high word', () => {
    const g = Generator.fromState({
      algorithm: 'philox4x32-10',
      seedLo: 1,
      seedHi: 2,
      offsetLo: 0xffffffff,
      offsetHi: 7,
    });
    const v = g.uniformArray(8);
    const k = u32(1, 2);
    const b0 = philox4x32(u32(0xffffffff, 7, 0, 0), k);
    const b1 = philox4x32(u32(0, 8, 0, 0), k);
    expect(v[0]).toBe((b0[0]! >>> 8) / 2 ** 24);
    expect(v[4]).toBe((b1[0]! >>> 8) / 2 ** 24);
    expect(g.state).toMatchObject({ offsetLo: 1, offsetHi: 8 });
  });
});

describe('Generator determinism and state', () => {
  it('same seed and draw sizes give identical numbers', () => {
    const run = (): number[] => {
      const g = new Generator(7);
      return [
        ...g.uniformArray(5),
        ...g.normalArray(3),
        ...g.randintArray(9, -3, 3),
        ...g.uniformArray(4, 'float64'),
        ...g.normalArray(5, 'float64'),
      ];
    };
    expect(run()).toEqual(run());
  });

  it('different seeds differ', () => {
    const a = new Generator(1).uniformArray(64);
    const b = new Generator(2).uniformArray(64);
    const c = new Generator(2n ** 32n + 1n).uniformArray(64);
    let same = 0;
    for (let i = 0; i < 64; i++) if (a[i] === b[i] || a[i] === c[i] || b[i] === c[i]) same++;
    expect(same).toBe(0);
  });

  it('state survives JSON and reproduces the continuation', () => {
    const g = new Generator(123456789);
    g.uniformArray(10);
    g.normalArray(3);
    const saved = JSON.parse(JSON.stringify(g.state)) as GeneratorState;
    const expected = [...g.uniformArray(17), ...g.randintArray(5, 0, 100), ...g.normalArray(6, 'float64')];
    const restored = Generator.fromState(saved);
    const got = [...restored.uniformArray(17), ...restored.randintArray(5, 0, 100), ...restored.normalArray(6, 'float64')];
    expect(got).toEqual(expected);
  });

  it('clone continues identically and independently', () => {
    const g = new Generator(99);
    g.uniformArray(3);
    const c = g.clone();
    expect(c.uniformArray(20)).toEqual(g.uniformArray(20));
    c.uniformArray(1);
    expect(c.offset).toBe(g.offset + 1n);
  });

  it('fork derives a new, deterministic stream that differs from the parent', () => {
    const g1 = new Generator(5);
    const g2 = new Generator(5);
    const f1 = g1.fork();
    const f2 = g2.fork();
    expect(f1.state).toEqual(f2.state);
    expect(f1.offset).toBe(0n);
    expect(g1.offset).toBe(1n);
    const childDraw = f1.uniformArray(256);
    const parentDraw = g1.uniformArray(256);
    const freshDraw = new Generator(5).uniformArray(256);
    const secondFork = g2.fork().uniformArray(256); // g2 has not drawn since its first fork
    let collisions = 0;
    for (let i = 0; i < 256; i++) {
      if (childDraw[i] === parentDraw[i] || childDraw[i] === freshDraw[i] || childDraw[i] === secondFork[i]) {
        collisions++;
      }
    }
    // 24-bit values: a chance collision among 3*256 comparisons has probability ~5e-5.
    expect(collisions).toBe(0);
    expect(f1.state.seedLo !== 5 || f1.state.seedHi !== 0).toBe(true);
  });

  it('zero-length draws consume nothing', () => {
    const g = new Generator(1);
    expect(g.uniformArray(0).length).toBe(0);
    expect(g.normalArray(0, 'float64').length).toBe(0);
    expect(g.randintArray(0, 0, 1).length).toBe(0);
    expect(g.offset).toBe(0n);
  });
});

describe('Generator argument validation', () => {
  it('rejects bad seeds with InvalidArgumentError naming the value', () => {
    const bad: unknown[] = [-1, 1.5, Number.NaN, Infinity, 2 ** 53, -1n, 2n ** 64n, '3', null];
    for (const s of bad) {
      let err: unknown;
      try {
        new Generator(s as number);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(InvalidArgumentError);
      expect(DenoiseError.isInstance(err)).toBe(true);
      expect((err as Error).message).toMatch(/^Generator: seed must be/);
    }
    expect(() => new Generator(1.5)).toThrow('Generator: seed must be a non-negative safe integer (or a bigint in [0, 2^64)), got 1.5');
    expect(() => new Generator(-1n)).toThrow('Generator: seed must be a bigint in [0, 2^64), got -1n');
  });

  it('rejects bad draw arguments', () => {
    const g = new Generator(0);
    expect(() => g.uniformArray(-1)).toThrow('uniformArray: n must be a non-negative integer, got -1');
    expect(() => g.normalArray(2.5)).toThrow('normalArray: n must be a non-negative integer, got 2.5');
    expect(() => g.uniformArray(2, 'float16' as 'float32')).toThrow(
      `uniformArray: dtype must be 'float32' or 'float64', got "float16"`,
    );
    expect(() => g.randintArray(3, 5, 5)).toThrow('randintArray: high must be an integer with low < high <= 2^31 (low = 5), got 5');
    expect(() => g.randintArray(3, 0.5, 5)).toThrow('randintArray: low must be an integer in the int32 range, got 0.5');
    expect(() => g.randintArray(3, 0, 2 ** 31 + 1)).toThrow(InvalidArgumentError);
    expect(g.offset).toBe(0n);
  });

  it('rejects malformed states', () => {
    const ok: GeneratorState = { algorithm: 'philox4x32-10', seedLo: 0, seedHi: 0, offsetLo: 0, offsetHi: 0 };
    expect(() => Generator.fromState({ ...ok, offsetHi: -1 })).toThrow(
      'Generator.fromState: state.offsetHi must be an integer in [0, 2^32), got -1',
    );
    expect(() => Generator.fromState({ ...ok, seedLo: 2 ** 32 })).toThrow(InvalidArgumentError);
    expect(() => Generator.fromState({ ...ok, algorithm: 'mt19937' as 'philox4x32-10' })).toThrow(
      'Generator.fromState: state.algorithm must be "philox4x32-10", got "mt19937"',
    );
    expect(() => Generator.fromState(null as unknown as GeneratorState)).toThrow(InvalidArgumentError);
  });
});

// ---- statistics (fixed seeds: deterministic, bounds at ~5 sigma) ----

const N = 200_000;

function moments(xs: ArrayLike<number>): { mean: number; m2: number; m4: number } {
  let s = 0;
  for (let i = 0; i < xs.length; i++) s += xs[i]!;
  const mean = s / xs.length;
  let m2 = 0;
  let m4 = 0;
  for (let i = 0; i < xs.length; i++) {
    const d = xs[i]! - mean;
    m2 += d * d;
    m4 += d * d * d * d;
  }
  return { mean, m2: m2 / xs.length, m4: m4 / xs.length };
}

/** Abramowitz & Stegun 7.1.26, |error| < 1.5e-7: far below the KS bound. */
function normalCdf(x: number): number {
  const z = Math.abs(x) / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * z);
  const poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  const erf = 1 - poly * Math.exp(-z * z);
  return x >= 0 ? 0.5 * (1 + erf) : 0.5 * (1 - erf);
}

/** Kolmogorov–Smirnov critical value at alpha = 0.001 is 1.95 / sqrt(n). */
const KS_BOUND = 1.95 / Math.sqrt(N);

describe('Generator statistics', () => {
  for (const dtype of ['float32', 'float64'] as const) {
    it(`uniform ${dtype}: range, mean, variance, histogram KS`, () => {
      const xs = new Generator(2024).uniformArray(N, dtype);
      let min = Infinity;
      let max = -Infinity;
      for (const x of xs) {
        if (x < min) min = x;
        if (x > max) max = x;
      }
      expect(min).toBeGreaterThanOrEqual(0);
      expect(max).toBeLessThan(1);
      const { mean, m2 } = moments(xs);
      expect(Math.abs(mean - 0.5)).toBeLessThan(5 * Math.sqrt(1 / 12 / N));
      // Var of (U - 1/2)^2 is 1/180, so the sample variance has sd sqrt(1/180/N).
      expect(Math.abs(m2 - 1 / 12)).toBeLessThan(5 * Math.sqrt(1 / 180 / N));
      // KS on a 1000-bin histogram: bin edges are where the empirical CDF is sampled.
      const bins = new Float64Array(1000);
      for (const x of xs) bins[Math.floor(x * 1000)]! += 1;
      let cum = 0;
      let d = 0;
      for (let b = 0; b < 1000; b++) {
        cum += bins[b]!;
        d = Math.max(d, Math.abs(cum / N - (b + 1) / 1000));
      }
      expect(d).toBeLessThan(KS_BOUND);
    });

    it(`normal ${dtype}: mean 0, variance 1, 4th moment 3, KS against Phi`, () => {
      const zs = new Generator(31337).normalArray(N, dtype);
      // One expect over the whole array: per-element expects cost seconds at this n.
      expect(zs.every((z) => Number.isFinite(z))).toBe(true);
      const { mean, m2, m4 } = moments(zs);
      expect(Math.abs(mean)).toBeLessThan(5 / Math.sqrt(N));
      expect(Math.abs(m2 - 1)).toBeLessThan(5 * Math.sqrt(2 / N));
      expect(Math.abs(m4 - 3)).toBeLessThan(5 * Math.sqrt(96 / N));
      const sorted = Float64Array.from(zs).sort();
      let d = 0;
      for (let i = 0; i < N; i++) {
        const f = normalCdf(sorted[i]!);
        d = Math.max(d, Math.abs(f - i / N), Math.abs((i + 1) / N - f));
      }
      expect(d).toBeLessThan(KS_BOUND);
    });
  }

  it('normal pairs are uncorrelated (cos and sin halves)', () => {
    const zs = new Generator(77).normalArray(N, 'float64');
    let s = 0;
    for (let i = 0; i < N; i += 2) s += zs[i]! * zs[i + 1]!;
    expect(Math.abs(s / (N / 2))).toBeLessThan(5 / Math.sqrt(N / 2));
  });

  it('randint covers the range without bias (chi-square)', () => {
    for (const [low, high, seed] of [
      [0, 10, 1],
      [-3, 4, 2],
      [100, 137, 3],
    ] as const) {
      const k = high - low;
      const xs = new Generator(seed).randintArray(N, low, high);
      const counts = new Float64Array(k);
      expect(xs.every((x) => x >= low && x < high)).toBe(true);
      for (const x of xs) counts[x - low]! += 1;
      const e = N / k;
      let chi2 = 0;
      for (const c of counts) chi2 += ((c - e) * (c - e)) / e;
      expect(Math.min(...counts)).toBeGreaterThan(0);
      // Wilson–Hilferty 5-sigma upper bound for chi-square with k-1 dof.
      const dof = k - 1;
      const bound = dof * (1 - 2 / (9 * dof) + 5 * Math.sqrt(2 / (9 * dof))) ** 3;
      expect(chi2).toBeLessThan(bound);
    }
  });

  it('randint over the full int32 range hits both signs and stays in range', () => {
    const xs = new Generator(4).randintArray(10_000, -2147483648, 2147483648);
    let neg = 0;
    for (const x of xs) if (x < 0) neg++;
    expect(neg).toBeGreaterThan(4500);
    expect(neg).toBeLessThan(5500);
  });
});
