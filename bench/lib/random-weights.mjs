// Seeded random weights for full-size models in benchmarks: drawing ~1e9 normals one by one takes
// minutes, so a pool of 2^22 N(0, 1) draws from the generator is tiled per parameter from a random
// offset, at initRandom's scales (norm weights 1 + 0.2 N, biases 0.2 N, weights N / sqrt(fan_in)).

import { tensor } from '@denoise/core';

const POOL = 1 << 22;

/** Sets every parameter of `model` (a Module) on `backend`; returns the seconds it took. */
export function fillRandomWeights(model, gen, backend) {
  const t0 = performance.now();
  const pool = gen.normalArray(POOL);
  for (const [key, p] of model.namedParameters()) {
    const n = p.shape.reduce((a, b) => a * b, 1);
    const leaf = key.slice(key.lastIndexOf('.') + 1);
    const rank = p.shape.length;
    const [mean, std] = rank === 1 && leaf === 'weight' && /norm/.test(key) ? [1, 0.2] : rank === 1 ? [0, 0.2] : [0, 1 / Math.sqrt(n / p.shape[0])];
    const values = new Float32Array(n);
    let at = gen.randintArray(1, 0, POOL)[0];
    for (let i = 0; i < n; i++) {
      values[i] = mean + std * pool[at];
      if (++at === POOL) at = 0;
    }
    p.set(tensor(values, p.shape, { backend }));
  }
  return (performance.now() - t0) / 1e3;
}
