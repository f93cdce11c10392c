// A small tour of @denoise/core on the default backend: a seeded two-moons data set, a
// two-layer MLP trained with autograd + AdamW + a warmup/cosine schedule, a checkpoint saved as
// safetensors and reloaded, and a check that the reloaded model predicts the same.
//
//   node examples/core-demo/main.mjs [--backend tfjs-wasm] [--steps 300]

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AdamW, Generator, argmax, crossEntropy, gelu, gradients, linear, loadSafetensors, randn, registerBackend,
  saveSafetensors, setBackend, tensor, tidy, variable, warmupCosineSchedule, memory, equal, mean, cast,
} from '@denoise/core';
import { registerTfjsBackends } from '@denoise/backend-tfjs';

const args = new Map();
for (let i = 2; i < process.argv.length; i += 2) args.set(process.argv[i].replace(/^--/, ''), process.argv[i + 1]);
const steps = Number(args.get('steps') ?? 300);

registerTfjsBackends(registerBackend);
const backend = await setBackend(args.has('backend') ? [args.get('backend')] : ['tfjs-wasm', 'reference']);
console.log(`backend: ${backend.name}`);

// Two interleaved half-moons with Gaussian jitter, drawn from a seeded generator.
function twoMoons(n, gen) {
  const u = gen.uniformArray(n, 'float64');
  const noise = gen.normalArray(2 * n, 'float64');
  const xs = new Float32Array(2 * n);
  const ys = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const label = i % 2;
    const t = Math.PI * u[i];
    xs[2 * i] = (label ? 1 - Math.cos(t) : Math.cos(t)) + 0.1 * noise[2 * i];
    xs[2 * i + 1] = (label ? 0.5 - Math.sin(t) : Math.sin(t)) + 0.1 * noise[2 * i + 1];
    ys[i] = label;
  }
  return { x: tensor(xs, [n, 2]), y: tensor(ys, [n]) };
}

const gen = new Generator(7);
const train = twoMoons(512, gen);
const test = twoMoons(512, gen);
const init = (name, shape, std) => {
  const t = randn(shape, gen, { std });
  const v = variable(t, name);
  t.dispose();
  return v;
};
const params = {
  'fc1.weight': init('fc1.weight', [64, 2], 0.7),
  'fc1.bias': init('fc1.bias', [64], 0.01),
  'fc2.weight': init('fc2.weight', [2, 64], 0.1),
  'fc2.bias': init('fc2.bias', [2], 0.01),
};
const model = (p, x) => linear(gelu(linear(x, p['fc1.weight'], p['fc1.bias'])), p['fc2.weight'], p['fc2.bias']);
const accuracy = (p, data) => tidy(() => mean(cast(equal(argmax(model(p, data.x), -1), data.y), 'float32')).item());

const list = Object.values(params);
const opt = new AdamW(list, { lr: 3e-2, weightDecay: 1e-4 });
const schedule = warmupCosineSchedule({ lr: 3e-2, warmupSteps: 20, totalSteps: steps, minLr: 1e-3 });
const t0 = performance.now();
for (let step = 0; step < steps; step++) {
  opt.lr = schedule(step);
  const { value, grads } = gradients(() => crossEntropy(model(params, train.x), train.y), list);
  opt.step(grads);
  if (step % 50 === 0 || step === steps - 1) {
    console.log(`step ${String(step).padStart(4)}  loss ${value.item().toFixed(4)}  lr ${opt.lr.toExponential(2)}  live tensors ${memory().numTensors}`);
  }
  value.dispose();
  for (const g of grads) g.dispose();
}
const seconds = (performance.now() - t0) / 1000;
const acc = accuracy(params, test);
console.log(`trained ${steps} steps in ${seconds.toFixed(2)} s; test accuracy ${(acc * 100).toFixed(1)}%`);

// Save, reload, and check that the reloaded parameters predict exactly the same.
const dir = mkdtempSync(join(tmpdir(), 'denoise-demo-'));
try {
  const file = join(dir, 'two-moons.safetensors');
  await saveSafetensors(file, params, { metadata: { model: 'two-moons-mlp', steps: String(steps) } });
  const { tensors, metadata } = await loadSafetensors(file);
  const reloaded = Object.fromEntries(tensors);
  const same = tidy(() => {
    const a = model(params, test.x).dataSync();
    const b = model(reloaded, test.x).dataSync();
    return a.every((v, i) => v === b[i]);
  });
  console.log(`checkpoint ${metadata.model} reloaded: predictions identical = ${same}`);
  if (!same || acc < 0.9) process.exitCode = 1;
} finally {
  rmSync(dir, { recursive: true, force: true });
}
