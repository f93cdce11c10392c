// Trains the class-conditional MNIST diffusion model on the CPU (tfjs-wasm by default).
//
//   node train.mjs [--minutes 14] [--steps N] [--batch 64] [--lr 2e-3] [--seed 0]
//                  [--resume] [--state checkpoints/train-state.safetensors]
//                  [--out checkpoints/mnist-diffusion.safetensors] [--backend tfjs-wasm]
//
// With --steps the learning-rate schedule has that length (a deterministic run). Without it,
// the steps are timed and the length is fitted to the --minutes budget (refitted every few steps
// during the first 60% of the budget); the whole run, start-up and checkpoints included, stops
// at the budget in any case, and the number of steps it took is printed and recorded. Every --save-every seconds, and at
// the end, the full state (weights, EMA, AdamW moments, step, generator states) is written to
// --state, and --resume continues from it; the EMA weights are written to --out (float16).

import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Generator, memory } from '@denoise/core';
import { parseArgs, initBackend } from './src/cli.mjs';
import { Batcher, SPLIT_SEED, loadMnist, splitIndices, subset } from './src/data.mjs';
import { DEFAULT_CONFIG, forwardMacs } from './src/model.mjs';
import { Progress } from './src/progress.mjs';
import { DiffusionTrainer } from './src/trainer.mjs';

const t0 = performance.now();
const here = dirname(fileURLToPath(import.meta.url));
const args = parseArgs(process.argv.slice(2), ['resume']);
const minutes = Number(args.minutes ?? 14);
const fixedSteps = args.steps ? Number(args.steps) : null;
const statePath = args.state ?? join(here, 'checkpoints', 'train-state.safetensors');
const outPath = args.out ?? join(here, 'checkpoints', 'mnist-diffusion.safetensors');
const saveEvery = Number(args['save-every'] ?? 120);
const calibrateSteps = 10;
const refitEvery = 10;
const channels = args.channels ? args.channels.split(',').map(Number) : DEFAULT_CONFIG.channels;

const backend = await initBackend(args.backend);
const data = loadMnist();
const split = splitIndices(data.count, new Generator(SPLIT_SEED));
const train = subset(data, split.train);

const hparams = {
  ...(args.seed ? { seed: Number(args.seed) } : {}),
  ...(args.batch ? { batchSize: Number(args.batch) } : {}),
  ...(args.lr ? { lr: Number(args.lr) } : {}),
};
let resumedAverages = [NaN, NaN];
const trainer = new DiffusionTrainer({ config: { ...DEFAULT_CONFIG, channels }, hparams, totalSteps: fixedSteps ?? undefined });
const B = trainer.hparams.batchSize;
const batcher = new Batcher(train, B, trainer.dataGen);
if (args.resume) {
  const meta = await trainer.loadState(statePath);
  batcher.gen = trainer.dataGen;
  batcher.state = JSON.parse(meta.batcher);
  if (fixedSteps) trainer.setTotalSteps(fixedSteps);
  resumedAverages = [Number(meta.lossAvg ?? NaN), Number(meta.normAvg ?? NaN)];
  console.error(`resumed from ${statePath} at step ${trainer.step}${trainer.totalSteps ? ` of ${trainer.totalSteps}` : ''}`);
}
console.error(
  `backend ${backend.name}; model ${(trainer.model.params.count() / 1e6).toFixed(3)} M params, ${(forwardMacs(trainer.config) / 1e6).toFixed(1)} M MAC/sample; ` +
    `${train.count} training digits, batch ${B}; budget ${minutes} min${fixedSteps ? `, ${fixedSteps} steps` : ''}`,
);

const budgetMs = minutes * 60_000;
const save = async (final) => {
  const meta = { batcher: JSON.stringify(batcher.state), lossAvg: String(lossAvg), normAvg: String(normAvg) };
  await trainer.saveState(statePath, meta);
  const trainSeconds = (performance.now() - t0) / 1000;
  await trainer.saveEma(outPath, { trainSeconds: trainSeconds.toFixed(0), loss: lossAvg.toFixed(5), final: String(final) });
};

mkdirSync(dirname(statePath), { recursive: true });
mkdirSync(dirname(outPath), { recursive: true });
let [lossAvg, normAvg] = resumedAverages;
let lastSave = performance.now();
let progress = trainer.totalSteps ? new Progress(trainer.totalSteps, { label: 'train ' }) : null;
progress?.restart(trainer.step);
const calibStart = { time: 0, step: 0 };
const startStep = trainer.step;
let stopReason = 'steps';
while (trainer.totalSteps === null || trainer.step < trainer.totalSteps) {
  if (performance.now() - t0 > budgetMs - 15_000) {
    stopReason = 'time budget';
    break;
  }
  const { x, y } = batcher.nextHost();
  const { loss, gradNorm } = trainer.trainStep(x, y);
  if (!Number.isFinite(loss)) throw new Error(`loss is ${loss} at step ${trainer.step}`);
  lossAvg = Number.isNaN(lossAvg) ? loss : 0.98 * lossAvg + 0.02 * loss;
  normAvg = Number.isNaN(normAvg) ? gradNorm : 0.98 * normAvg + 0.02 * gradNorm;
  if (trainer.step === startStep + 1) {
    calibStart.time = performance.now();
    calibStart.step = trainer.step;
  }
  const sinceCalib = trainer.step - calibStart.step;
  const elapsedFrac = (performance.now() - t0) / budgetMs;
  if (!fixedSteps && sinceCalib >= calibrateSteps && sinceCalib % refitEvery === 0 && elapsedFrac < 0.6) {
    // Fit the schedule to the budget: the time left (less a margin for the final save) over
    // the measured time per step. Refitted a few times while the machine's speed settles
    // (other processes share the CPU), until 60% of the budget has passed.
    const perStep = (performance.now() - calibStart.time) / sinceCalib;
    const left = budgetMs - (performance.now() - t0) - 20_000;
    const total = trainer.step + Math.max(10, Math.floor((0.95 * left) / perStep));
    if (total !== trainer.totalSteps) {
      const first = trainer.totalSteps === null;
      trainer.setTotalSteps(total);
      console.error(`${first ? '' : '\n'}measured ${(1000 / perStep).toFixed(2)} it/s: schedule set to ${total} steps`);
      if (first) {
        progress = new Progress(total, { label: 'train ' });
        progress.restart(trainer.step);
      } else progress.total = total;
    }
  }
  progress?.update(trainer.step, `loss ${lossAvg.toFixed(4)} |g| ${normAvg.toFixed(2)} lr ${trainer.opt.lr.toExponential(2)}`);
  if (performance.now() - lastSave > saveEvery * 1000) {
    await save(false);
    lastSave = performance.now();
  }
}
progress?.done();
await save(true);
const seconds = (performance.now() - t0) / 1000;
const rate = (trainer.step - startStep) / ((performance.now() - (calibStart.time || t0)) / 1000);
console.error(`stopped (${stopReason}) at step ${trainer.step}${trainer.totalSteps ? `/${trainer.totalSteps}` : ''}; loss (EMA of batches) ${lossAvg.toFixed(4)}; ${seconds.toFixed(0)} s wall clock (${(seconds / 60).toFixed(1)} min), ~${rate.toFixed(2)} it/s; live tensors ${memory().numTensors}`);
console.error(`wrote ${outPath} and ${statePath}`);
