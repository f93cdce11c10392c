// Deterministic host-side inputs for tests and the conformance suite: random values from the
// project's Philox generator, never all zeros, optionally kept away from non-differentiable
// points (so finite differences and kinks do not mix).

import { Generator } from '../random/philox.js';

export interface HostTensor {
  shape: number[];
  /** 'float' inputs become float32 on the backend under test and float64 on the reference. */
  kind: 'float' | 'int' | 'bool';
  values: Float64Array;
}

export function randomFloat(gen: Generator, shape: number[], options: { low?: number; high?: number; avoid?: number[]; margin?: number } = {}): HostTensor {
  const { low = -1, high = 1, avoid = [], margin = 0.05 } = options;
  const n = shape.reduce((a, b) => a * b, 1);
  const u = gen.uniformArray(n * 2, 'float64');
  const values = new Float64Array(n);
  let k = 0;
  for (let i = 0; i < n; i++) {
    let v = low + (u[k++ % u.length] as number) * (high - low);
    // Push values off kinks (0 for relu/abs, ties) by a margin, deterministically.
    for (const a of avoid) if (Math.abs(v - a) < margin) v = a + (v >= a ? margin : -margin);
    values[i] = v;
  }
  return { shape, kind: 'float', values };
}

export function randomInt(gen: Generator, shape: number[], low: number, high: number): HostTensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const v = gen.randintArray(n, low, high);
  return { shape, kind: 'int', values: Float64Array.from(v) };
}

export function randomBool(gen: Generator, shape: number[]): HostTensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const u = gen.uniformArray(n, 'float64');
  return { shape, kind: 'bool', values: Float64Array.from(u, (x) => (x < 0.5 ? 1 : 0)) };
}

/** Distinct values (a shuffled grid) so that max/min/argmax have no ties. */
export function distinctFloat(gen: Generator, shape: number[], low = -2, high = 2): HostTensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const perm = Array.from({ length: n }, (_, i) => i);
  const u = gen.uniformArray(n, 'float64');
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor((u[i] as number) * (i + 1));
    [perm[i], perm[j]] = [perm[j]!, perm[i]!];
  }
  const values = Float64Array.from(perm, (p) => low + ((p + 0.5) / n) * (high - low));
  return { shape, kind: 'float', values };
}
