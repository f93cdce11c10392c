// Samples 100 digits (10 per class) from the shipped diffusion checkpoint with classifier-free
// guidance and classifies them with the shipped classifier. Prints per-class accuracy; the last
// line is exactly `accuracy: 0.xx`.
//
//   node evaluate.mjs [--per-class 10] [--scale 3] [--steps 25] [--seed 1234] [--sampler dpmpp2m]
//                     [--grid out/evaluate.png] [--backend tfjs-wasm]

import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, initBackend } from './src/cli.mjs';
import { loadClassifier, predict } from './src/classifier.mjs';
import { generateDigits } from './src/generate.mjs';
import { encodePng, imageGrid } from './src/png.mjs';
import { Progress } from './src/progress.mjs';
import { loadDiffusionModel } from './src/trainer.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const args = parseArgs();
const perClass = Number(args['per-class'] ?? 10);
const scale = Number(args.scale ?? 3);
const steps = Number(args.steps ?? 25);
const seed = Number(args.seed ?? 1234);
const sampler = args.sampler ?? 'dpmpp2m';

const backend = await initBackend(args.backend);
const diffusion = await loadDiffusionModel(args.checkpoint ?? join(here, 'checkpoints', 'mnist-diffusion.safetensors'));
const classifier = await loadClassifier(args.classifier ?? join(here, 'checkpoints', 'mnist-classifier.safetensors'));
const labels = [];
for (let d = 0; d < 10; d++) for (let k = 0; k < perClass; k++) labels.push(d);
console.error(`backend ${backend.name}; sampling ${labels.length} digits (${sampler}, ${steps} steps, guidance scale ${scale}, seed ${seed}); classifier held-out accuracy ${classifier.metadata.heldOutAccuracy}`);

const t0 = performance.now();
let progress = null;
const pixels = await generateDigits(diffusion, labels, {
  seed, steps, scale, sampler, batch: 50,
  onProgress: ({ step, total }) => {
    progress ??= new Progress(total, { label: 'sample ', interval: 2000 });
    progress.update(step);
  },
});
progress?.done();
const { classes, confidence } = predict(classifier.params, pixels, labels.length);
const seconds = (performance.now() - t0) / 1000;

if (args.grid) {
  const out = resolve(args.grid);
  mkdirSync(dirname(out), { recursive: true });
  const grid = imageGrid(pixels, labels.length, 28, 28, { cols: perClass, scale: 2 });
  writeFileSync(out, encodePng(grid.pixels, grid.width, grid.height));
  console.error(`wrote ${out}`);
}

let correct = 0;
let meanConfidence = 0;
for (let d = 0; d < 10; d++) {
  let ok = 0;
  const predicted = [];
  for (let k = 0; k < perClass; k++) {
    const i = d * perClass + k;
    if (classes[i] === d) ok++;
    predicted.push(classes[i]);
    meanConfidence += confidence[i] / labels.length;
  }
  correct += ok;
  console.log(`digit ${d}: ${ok}/${perClass} (${(ok / perClass).toFixed(2)})  classified as [${predicted.join(' ')}]`);
}
console.log(`sampled and classified in ${seconds.toFixed(1)} s; mean classifier confidence ${meanConfidence.toFixed(3)}`);
console.log(`accuracy: ${(correct / labels.length).toFixed(2)}`);
