// A tiny deterministic generator for test inputs (no Math.random anywhere in the tests).

import type { DType, TypedArray } from '@denoise/core';

export class Lcg {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0 || 1;
  }
  /** Uniform in [0, 1). */
  next(): number {
    this.state = (Math.imul(this.state, 1664525) + 1013904223) >>> 0;
    return this.state / 4294967296;
  }
  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }
  /** Integer in [lo, hi). */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo));
  }
}

export interface HostTensor {
  readonly shape: number[];
  readonly dtype: DType;
  readonly values: TypedArray;
}

const size = (shape: readonly number[]) => shape.reduce((p, d) => p * d, 1);

/** Random float32 values in [lo, hi), never within `gap` of zero (non-zero inputs). */
export function randFloat(g: Lcg, shape: number[], lo = -2, hi = 2, gap = 0.05): HostTensor {
  const v = new Float32Array(size(shape));
  for (let i = 0; i < v.length; i++) {
    let x = g.uniform(lo, hi);
    while (Math.abs(x) < gap) x = g.uniform(lo, hi);
    v[i] = x;
  }
  return { shape, dtype: 'float32', values: v };
}

export function randInt(g: Lcg, shape: number[], lo: number, hi: number, nonZero = false): HostTensor {
  const v = new Int32Array(size(shape));
  for (let i = 0; i < v.length; i++) {
    let x = g.int(lo, hi);
    while (nonZero && x === 0) x = g.int(lo, hi);
    v[i] = x;
  }
  return { shape, dtype: 'int32', values: v };
}

export function randBool(g: Lcg, shape: number[]): HostTensor {
  const v = new Uint8Array(size(shape));
  for (let i = 0; i < v.length; i++) v[i] = g.next() < 0.5 ? 1 : 0;
  return { shape, dtype: 'bool', values: v };
}

export function host(values: number[], shape: number[], dtype: DType = 'float32'): HostTensor {
  const v = dtype === 'float32' ? Float32Array.from(values) : dtype === 'int32' ? Int32Array.from(values) : dtype === 'bool' ? Uint8Array.from(values) : Float64Array.from(values);
  return { shape, dtype, values: v };
}
