// A leak check every backend runs: many iterations of forward + backward + optimizer step on a
// small network must leave the live tensor count and the backend's memory where they were.

import { gradients } from '../autograd/index.js';
import type { Backend } from '../backend/types.js';
import { engine } from '../engine/engine.js';
import { Generator } from '../random/philox.js';
import { randn } from '../random/index.js';
import { variable } from '../ops/creation.js';
import * as op from '../ops/index.js';
import { AdamW } from '../optim/optimizers.js';
import { EMA, clipGradNorm } from '../optim/utils.js';

export interface LeakCheckResult {
  iterations: number;
  /** Live tensors and backend bytes/buffers after warm-up, and after the last iteration. */
  start: { tensors: number; bytes: number; buffers: number };
  end: { tensors: number; bytes: number; buffers: number };
  /** Loss at the first and last iteration (it should fall: the loop really trains). */
  firstLoss: number;
  lastLoss: number;
}

/** Trains a conv + MLP regressor for `iterations` steps and reports memory before and after. */
export function trainingLeakCheck(backend: Backend, iterations = 1000): LeakCheckResult {
  const prev = engine.backend;
  engine.setBackend(backend);
  try {
    const gen = new Generator(2024);
    const init = (shape: number[], scale: number) => {
      const t = randn(shape, gen, { std: scale });
      const v = variable(t);
      t.dispose();
      return v;
    };
    const conv = init([4, 2, 3, 3], 0.3);
    const w1 = init([8, 4 * 4 * 4], 0.2);
    const b1 = init([8], 0.01);
    const w2 = init([1, 8], 0.3);
    const params = [conv, w1, b1, w2];
    const x = randn([6, 2, 4, 4], gen);
    const y = randn([6, 1], gen);
    const opt = new AdamW(params, { lr: 1e-2, weightDecay: 1e-4 });
    const ema = new EMA(params, { decay: 0.99 });
    const step = (): number => {
      const { value, grads } = gradients(() => {
        const h = op.silu(op.conv2d(x, conv, { padding: 1 }));
        const z = op.gelu(op.linear(op.flatten(h, 1), w1, b1));
        return op.mse(op.matmul(z, w2, { transposeB: true }), y);
      }, params);
      const clipped = clipGradNorm(grads, 5);
      opt.step(clipped.grads);
      ema.update();
      const loss = value.item();
      value.dispose();
      for (const g of [...grads, ...clipped.grads]) g.dispose();
      return loss;
    };
    // Warm-up: the optimizer creates its state lazily on the first step.
    const firstLoss = step();
    const snap = () => {
      const m = backend.memory();
      return { tensors: engine.memory().numTensors, bytes: m.bytes, buffers: m.buffers };
    };
    const start = snap();
    let lastLoss = firstLoss;
    for (let i = 1; i < iterations; i++) lastLoss = step();
    const end = snap();
    opt.dispose();
    ema.dispose();
    for (const t of [...params, x, y]) t.dispose();
    return { iterations, start, end, firstLoss, lastLoss };
  } finally {
    engine.setBackend(prev);
  }
}
