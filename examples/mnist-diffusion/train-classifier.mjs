// Trains the evaluation classifier on the 9,000 real training digits and reports its accuracy
// on the 1,000 held-out digits (which neither model ever trains on).
//
//   node train-classifier.mjs [--epochs 5] [--batch 64] [--lr 2e-3] [--seed 1]
//                             [--out checkpoints/mnist-classifier.safetensors] [--backend tfjs-wasm]

import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AdamW, Generator, crossEntropy, gradients, saveSafetensors, tensor, tidy, warmupCosineSchedule } from '@denoise/core';
import { parseArgs, initBackend } from './src/cli.mjs';
import { Batcher, SPLIT_SEED, loadMnist, splitIndices, subset } from './src/data.mjs';
import { classify, createClassifier, predict, randomShift } from './src/classifier.mjs';
import { Progress } from './src/progress.mjs';

const t0 = performance.now();
const here = dirname(fileURLToPath(import.meta.url));
const args = parseArgs();
const epochs = Number(args.epochs ?? 5);
const B = Number(args.batch ?? 64);
const lr = Number(args.lr ?? 2e-3);
const seed = Number(args.seed ?? 1);
const out = args.out ?? join(here, 'checkpoints', 'mnist-classifier.safetensors');

const backend = await initBackend(args.backend);
const data = loadMnist();
const split = splitIndices(data.count, new Generator(SPLIT_SEED));
const train = subset(data, split.train);
const test = subset(data, split.test);

const root = new Generator(seed);
const params = createClassifier(root.fork());
const dataGen = root.fork();
const augGen = root.fork();
const list = params.list();
const steps = Math.ceil((epochs * train.count) / B);
const opt = new AdamW(list, { lr, weightDecay: 1e-4 });
const schedule = warmupCosineSchedule({ lr, warmupSteps: 20, totalSteps: steps, minLr: lr / 50 });
const batcher = new Batcher(train, B, dataGen);
console.error(`backend ${backend.name}; classifier ${(params.count() / 1e3).toFixed(0)} k params; ${train.count} train / ${test.count} held-out digits; ${epochs} epochs = ${steps} steps of ${B}`);

const progress = new Progress(steps, { label: 'classifier ' });
let lossAvg = NaN;
for (let step = 0; step < steps; step++) {
  const { x, y } = batcher.nextHost();
  const xs = randomShift(x, y.length, augGen);
  opt.lr = schedule(step);
  tidy(() => {
    const xt = tensor(xs, [y.length, 1, 28, 28]);
    const yt = tensor(y, [y.length], { dtype: 'int32' });
    const { value, grads } = gradients(() => crossEntropy(classify(params, xt), yt), list);
    const loss = value.item();
    lossAvg = Number.isNaN(lossAvg) ? loss : 0.98 * lossAvg + 0.02 * loss;
    opt.step(grads);
    for (const g of grads) g.dispose();
    value.dispose();
  });
  progress.update(step + 1, `loss ${lossAvg.toFixed(4)}`);
}
progress.done();

const { classes } = predict(params, test.x, test.count);
let correct = 0;
for (let i = 0; i < test.count; i++) if (classes[i] === test.y[i]) correct++;
const accuracy = correct / test.count;
const seconds = (performance.now() - t0) / 1000;
mkdirSync(dirname(out), { recursive: true });
await saveSafetensors(out, Object.fromEntries(params.map), {
  float16: true,
  metadata: {
    format: 'mnist-classifier',
    heldOutAccuracy: accuracy.toFixed(4),
    epochs: String(epochs),
    steps: String(steps),
    trainSeconds: seconds.toFixed(0),
  },
});
console.error(`trained in ${seconds.toFixed(0)} s; final loss ${lossAvg.toFixed(4)}; wrote ${out}`);
console.log(`held-out accuracy: ${accuracy.toFixed(4)} (${correct}/${test.count})`);
