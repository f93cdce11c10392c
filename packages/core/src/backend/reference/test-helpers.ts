// Helpers shared by the reference backend's tests (the float64 oracle every other backend is
// tested against): upload plain arrays as TensorInfo, read results back, seeded random data.

import { expect } from 'vitest';
import type { Backend, DataHandle, TensorInfo } from '../types.js';
import { toTypedArray, type DType } from '../../tensor/dtype.js';
import { sizeOf } from '../../tensor/shape.js';

export function upload(backend: Backend, values: ArrayLike<number>, shape: readonly number[], dtype: DType = 'float64'): TensorInfo {
  return { shape, dtype, handle: backend.upload(toTypedArray(values, dtype), shape, dtype) };
}

/** Wraps a kernel's result handle as a TensorInfo, so it can feed another kernel. */
export function info(handle: DataHandle, shape: readonly number[], dtype: DType = 'float64'): TensorInfo {
  return { shape, dtype, handle };
}

export function read(backend: Backend, t: TensorInfo): number[] {
  return Array.from(backend.readSync(t.handle, t.dtype));
}

export function readHandle(backend: Backend, handle: DataHandle, dtype: DType = 'float64'): number[] {
  return Array.from(backend.readSync(handle, dtype));
}

/** A small deterministic generator (mulberry32) of uniforms in [-1, 1). */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1;
  };
}

export function randomValues(shape: readonly number[], seed: number): number[] {
  const r = rng(seed);
  return Array.from({ length: sizeOf(shape) }, () => r());
}

/** Elementwise |actual - expected| <= atol + rtol * |expected|, NaN matching NaN. */
export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, atol = 1e-12, rtol = 1e-12): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i] as number;
    const e = expected[i] as number;
    if (Number.isNaN(e)) {
      expect(a, `index ${i}`).toBeNaN();
      continue;
    }
    if (a === e) continue; // covers matching infinities
    const tol = atol + rtol * Math.abs(e);
    if (!(Math.abs(a - e) <= tol)) {
      throw new Error(`index ${i}: got ${a}, expected ${e} (|diff| ${Math.abs(a - e)} > ${tol})`);
    }
  }
}

export function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] as number) * (b[i] as number);
  return s;
}
