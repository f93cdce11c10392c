// Per-image randomness for batched pipelines. Image i of a batch draws every random number
// (initial noise, the VAE posterior sample, the upscaler's low-res noise, ancestral and SDE
// sampler noise) from its own Philox stream seeded with seed + i, so a batch image equals the
// same seed run alone. Core's samplers take one Generator; this one is a Generator whose draws
// over a [B, ...] tensor (row-major: row i is the i-th contiguous block) take row i from
// stream i. Draws whose size the batch does not divide are a bug in the caller and throw.

import { Generator, InvalidArgumentError, describe } from '@denoise/core';

type GeneratorState = Generator['state'];
type UniformDType = 'float32' | 'float64';

export class BatchGenerator extends Generator {
  /** One stream per image. */
  readonly rows: readonly Generator[];
  /** Full snapshots behind the states handed out by `state` (sample() restores them for async denoisers). */
  private readonly snapshots = new WeakMap<GeneratorState, GeneratorState[]>();

  /** Streams seeded seed, seed + 1, ..., seed + batch - 1. */
  constructor(seed: number, batch: number) {
    super(seed);
    if (!Number.isInteger(batch) || batch < 1) throw new InvalidArgumentError(`BatchGenerator: batch must be an integer >= 1, got ${describe(batch)}`);
    if (!Number.isSafeInteger(seed + batch - 1)) throw new InvalidArgumentError(`BatchGenerator: seed + batch - 1 must be a safe integer, got ${seed} + ${batch - 1}`);
    this.rows = Array.from({ length: batch }, (_, i) => new Generator(seed + i));
  }

  private perRow(op: string, n: number): number {
    const b = this.rows.length;
    if (!Number.isInteger(n) || n % b !== 0) throw new InvalidArgumentError(`BatchGenerator.${op}: a draw of ${describe(n)} values does not split into ${b} equal rows`);
    return n / b;
  }

  private gather<T extends Float32Array | Float64Array | Int32Array>(n: number, make: (len: number) => T, draw: (g: Generator, m: number) => T, op: string): T {
    const m = this.perRow(op, n);
    const out = make(n);
    this.rows.forEach((g, i) => out.set(draw(g, m), i * m));
    return out;
  }

  /** A float draw of either width, row by row. */
  private floats(op: string, n: number, dtype: UniformDType, draw: (g: Generator, m: number) => Float32Array | Float64Array): Float32Array | Float64Array {
    const make = dtype === 'float64' ? (k: number) => new Float64Array(k) : (k: number) => new Float32Array(k);
    return this.gather<Float32Array | Float64Array>(n, make, draw, op);
  }

  override uniformArray(n: number, dtype?: 'float32'): Float32Array;
  override uniformArray(n: number, dtype: 'float64'): Float64Array;
  override uniformArray(n: number, dtype?: UniformDType): Float32Array | Float64Array;
  override uniformArray(n: number, dtype: UniformDType = 'float32'): Float32Array | Float64Array {
    return this.floats('uniformArray', n, dtype, (g, m) => g.uniformArray(m, dtype));
  }

  override normalArray(n: number, dtype?: 'float32'): Float32Array;
  override normalArray(n: number, dtype: 'float64'): Float64Array;
  override normalArray(n: number, dtype?: UniformDType): Float32Array | Float64Array;
  override normalArray(n: number, dtype: UniformDType = 'float32'): Float32Array | Float64Array {
    return this.floats('normalArray', n, dtype, (g, m) => g.normalArray(m, dtype));
  }

  override randintArray(n: number, low: number, high: number): Int32Array {
    return this.gather(n, (k) => new Int32Array(k), (g, m) => g.randintArray(m, low, high), 'randintArray');
  }

  /** Row 0's state; setState() with this very object restores every row. */
  override get state(): GeneratorState {
    const s = this.rows[0]!.state;
    this.snapshots.set(s, this.rows.map((g) => g.state));
    return s;
  }

  override setState(state: GeneratorState): void {
    const all = this.snapshots.get(state);
    if (!all) throw new InvalidArgumentError('BatchGenerator.setState: state must be an object this generator returned from .state');
    this.rows.forEach((g, i) => g.setState(all[i]!));
  }

  override clone(): Generator {
    throw new InvalidArgumentError('BatchGenerator.clone: a batch of streams has no single-stream copy; clone rows[i] instead');
  }

  override fork(): Generator {
    throw new InvalidArgumentError('BatchGenerator.fork: fork rows[i] instead');
  }
}
