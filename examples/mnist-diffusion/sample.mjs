// Samples digits from the shipped checkpoint with classifier-free guidance and writes a PNG
// grid: one row per digit 0-9.
//
//   node sample.mjs [--out samples.png] [--seed 0] [--steps 25] [--scale 3] [--per-class 10]
//                   [--sampler dpmpp2m|ddim] [--checkpoint checkpoints/mnist-diffusion.safetensors]
//                   [--backend tfjs-wasm]

import { writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, initBackend } from './src/cli.mjs';
import { generateDigits } from './src/generate.mjs';
import { encodePng, imageGrid } from './src/png.mjs';
import { Progress } from './src/progress.mjs';
import { loadDiffusionModel } from './src/trainer.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const args = parseArgs();
const out = resolve(args.out ?? 'samples.png');
const seed = Number(args.seed ?? 0);
const steps = Number(args.steps ?? 25);
const scale = Number(args.scale ?? 3);
const perClass = Number(args['per-class'] ?? 10);
const sampler = args.sampler ?? 'dpmpp2m';
const checkpoint = args.checkpoint ?? join(here, 'checkpoints', 'mnist-diffusion.safetensors');

const backend = await initBackend(args.backend);
const loaded = await loadDiffusionModel(checkpoint);
const labels = [];
for (let d = 0; d < 10; d++) for (let k = 0; k < perClass; k++) labels.push(d);
console.error(`backend ${backend.name}; ${labels.length} digits, ${sampler} ${steps} steps, guidance scale ${scale}, seed ${seed}`);
const t0 = performance.now();
let progress = null;
const pixels = await generateDigits(loaded, labels, {
  seed, steps, scale, sampler, batch: 50,
  onProgress: ({ step, total }) => {
    progress ??= new Progress(total, { label: 'sample ', interval: 2000 });
    progress.update(step);
  },
});
progress?.done();
const grid = imageGrid(pixels, labels.length, 28, 28, { cols: perClass, scale: 2 });
writeFileSync(out, encodePng(grid.pixels, grid.width, grid.height));
console.error(`wrote ${out} (${grid.width}x${grid.height}) in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
