// Trains Diffusion-LM on the E2E training set (Li et al. 2022's E2E setup: word vocabulary of
// words seen >= 10 times, sequences of 64, embeddings of 16, sqrt schedule with T = 2,000,
// x0 parameterisation, the end-to-end objective). Each training step (forward, backward, AdamW,
// EMA) is compiled once and run by ONNX Runtime; parameters and optimizer state stay resident.
//
//   node train.mjs [--config small|paper] [--steps 20000] [--minutes 600] [--batch 64] [--lr 1e-3]
//                  [--warmup 500] [--ema 0.999] [--seed 0] [--threads 2] [--resume] [--fit]
//                  [--state checkpoints/train-state.safetensors] [--out checkpoints/e2e.safetensors]
//                  [--save-every 300] [--backend onnx|tfjs-wasm|reference] [--fallback tfjs-wasm,reference]
//                  [--data-dir <folder with the E2E .csv.gz files>]
//
// --steps sets the learning-rate schedule's length (warm-up, then linear decay to 0, as the
// release's lr_anneal_steps); --minutes stops earlier (the state is saved, --resume continues).
// With --fit, the schedule is shortened after 30 timed steps to what fits the --minutes budget.
// The EMA weights are written to --out at every save and at the end.

import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AdamW, EMA, Generator, engine, gradients, tidy } from '@denoise/core';
import { compileOnnx } from '@denoise/backend-onnx';
import { trainingBackend } from './backend.mjs';
import {
  DiffusionLM, E2E_SMALL, Vocabulary, diffusionLMLoss, disposeBatch, initParams, loadDiffusionLM, loadE2E, makeBatch, saveDiffusionLM, sqrtSchedule,
} from '@denoise/diffusion-lm';

const here = dirname(fileURLToPath(import.meta.url));
const args = {};
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i];
  if (!a.startsWith('--')) throw new Error(`train.mjs: unexpected argument ${a}`);
  const k = a.slice(2);
  if (k === 'resume' || k === 'fit') args[k] = true;
  else args[k] = process.argv[++i];
}
const CONFIGS = {
  // Fits this 2-core CPU: ~1.6 M parameters.
  small: E2E_SMALL,
  // The paper's E2E model (BERT-base sized, ~80 M parameters): for GPU users.
  paper: { seqLen: 64, embedDim: 16, width: 768, layers: 12, heads: 12, diffusionSteps: 2000 },
};
const configName = args.config ?? 'small';
if (!CONFIGS[configName]) throw new Error(`train.mjs: --config must be ${Object.keys(CONFIGS).join(' or ')}, got ${configName}`);
let totalSteps = Number(args.steps ?? 20000);
const minutes = Number(args.minutes ?? 600);
const B = Number(args.batch ?? 64);
const baseLr = Number(args.lr ?? 1e-3);
const warmup = Number(args.warmup ?? 500);
const emaDecay = Number(args.ema ?? 0.999);
const seed = Number(args.seed ?? 0);
const saveEvery = Number(args['save-every'] ?? 300) * 1000;
const statePath = args.state ?? join(here, 'checkpoints', 'train-state.safetensors');
const outPath = args.out ?? join(here, 'checkpoints', 'e2e.safetensors');
mkdirSync(dirname(statePath), { recursive: true });
mkdirSync(dirname(outPath), { recursive: true });

const backend = await trainingBackend(args);

// Data.
const t0 = performance.now();
const train = await loadE2E('train', args['data-dir']);
let vocab = Vocabulary.build(train.map((e) => e.tokens), 10);
const n = CONFIGS[configName].seqLen;

// Model, optimizer, EMA: fresh or resumed.
let model;
let startStep = 0;
let dataGen = new Generator(seed);
let noiseGen = new Generator(seed + 1);
let resumed = null;
if (args.resume) {
  resumed = await loadDiffusionLM(statePath, { backend });
  model = resumed.model;
  vocab = model.vocab;
  startStep = Number(resumed.metadata.step);
  dataGen = Generator.fromState(JSON.parse(resumed.metadata.data_gen));
  noiseGen = Generator.fromState(JSON.parse(resumed.metadata.noise_gen));
} else {
  const config = { ...CONFIGS[configName], vocabSize: vocab.size };
  model = new DiffusionLM(initParams(config, seed, backend), config, vocab, sqrtSchedule(config.diffusionSteps));
}
const ids = new Int32Array(train.length * n);
train.forEach((e, i) => ids.set(vocab.encode(e.tokens, { length: n, overflow: 'truncate' }), i * n));
const names = Object.keys(model.params);
const params = names.map((k) => model.params[k]);
const opt = new AdamW(params, { lr: baseLr, weightDecay: 0 });
const ema = new EMA(params, { decay: emaDecay });
if (resumed) {
  const ex = resumed.extra;
  const state = {};
  for (const [k, t] of ex) if (k.startsWith('adam.')) state[k.slice(5)] = t;
  opt.loadState(state, startStep);
  ema.loadState(names.map((k) => ex.get(`ema.${k}`)), startStep);
  for (const t of ex.values()) t.dispose();
}
const nParams = params.reduce((a, p) => a + p.size, 0);
console.error(`backend ${backend.name}; config ${configName} (${(nParams / 1e6).toFixed(2)} M parameters, width ${model.config.width}, ${model.config.layers} layers); vocabulary ${vocab.size}; ${train.length} sentences; batch ${B}; steps ${startStep} -> ${totalSteps}; budget ${minutes} min`);

// One compiled step: loss, gradients, AdamW, EMA.
const step = compileOnnx((idsT, t, sqrtAbar, sqrtOneMinusAbar, isT0, noise0, noise) => {
  const batch = { ids: idsT, t, sqrtAbar, sqrtOneMinusAbar, isT0, noise0, noise };
  const { value, grads } = gradients(() => diffusionLMLoss(model.params, model.config, model.schedule, batch).loss, params);
  opt.step(grads);
  ema.update();
  for (const g of grads) g.dispose();
  return value;
}, { backend, name: 'diffusion_lm_train_step' });
const run = backend.name === 'onnx' ? step : null;

// Epoch-wise shuffled batches from dataGen.
let order = null;
let cursor = 0;
function nextIds() {
  const N = train.length;
  const out = new Int32Array(B * n);
  for (let b = 0; b < B; b++) {
    if (!order || cursor >= N) {
      order = Int32Array.from({ length: N }, (_, i) => i);
      const u = dataGen.uniformArray(N, 'float64');
      for (let i = N - 1; i > 0; i--) { const j = Math.floor(u[i] * (i + 1)); const tmp = order[i]; order[i] = order[j]; order[j] = tmp; }
      cursor = 0;
    }
    out.set(ids.subarray(order[cursor] * n, order[cursor] * n + n), b * n);
    cursor++;
  }
  return out;
}

async function save(k) {
  const extra = {};
  names.forEach((name, i) => { extra[`ema.${name}`] = ema.shadow[i]; });
  for (const [key, t] of Object.entries(opt.state())) extra[`adam.${key}`] = t;
  const metadata = { step: String(k), data_gen: JSON.stringify(dataGen.state), noise_gen: JSON.stringify(noiseGen.state), config_name: configName, batch: String(B), lr: String(baseLr) };
  await saveDiffusionLM(statePath, model, { extra, metadata });
  // The EMA weights as the model to ship (float16).
  const emaParams = Object.fromEntries(names.map((name, i) => [name, ema.shadow[i]]));
  await saveDiffusionLM(outPath, new DiffusionLM(emaParams, model.config, vocab, model.schedule), { float16: true, metadata: { step: String(k), trained_steps: String(k) } });
}

const deadline = t0 + minutes * 60e3;
let lastSave = performance.now();
let avg = NaN;
let tWindow = performance.now();
let k = startStep;
let fitFrom = null;
for (; k < totalSteps && performance.now() < deadline; k++) {
  if (args.fit && k === startStep + 5) fitFrom = performance.now();
  if (args.fit && k === startStep + 35) {
    const perStep = (performance.now() - fitFrom) / 30;
    const fits = k + Math.floor((deadline - performance.now() - 20e3) / perStep);
    if (fits < totalSteps) {
      totalSteps = Math.max(k + 1, fits);
      console.error(`fit: ${perStep.toFixed(0)} ms per step; the schedule now ends at step ${totalSteps}`);
    }
  }
  opt.lr = baseLr * Math.min(1, (k + 1) / warmup) * (1 - k / totalSteps);
  const batch = makeBatch(nextIds(), B, model.config, model.schedule, noiseGen, backend);
  const args7 = [batch.ids, batch.t, batch.sqrtAbar, batch.sqrtOneMinusAbar, batch.isT0, batch.noise0, batch.noise];
  const lossT = run ? await run(...args7) : tidy(() => {
    const { value, grads } = gradients(() => diffusionLMLoss(model.params, model.config, model.schedule, batch).loss, params);
    opt.step(grads);
    ema.update();
    return value;
  });
  const loss = (await lossT.data())[0];
  lossT.dispose();
  disposeBatch(batch);
  if (!Number.isFinite(loss)) throw new Error(`train.mjs: the loss became ${loss} at step ${k}`);
  avg = Number.isNaN(avg) ? loss : 0.98 * avg + 0.02 * loss;
  if ((k + 1) % 50 === 0 || k === startStep) {
    const now = performance.now();
    const sps = 50 / ((now - tWindow) / 1e3);
    tWindow = now;
    const eta = (totalSteps - k - 1) / sps;
    console.error(`step ${k + 1}/${totalSteps}  loss ${avg.toFixed(4)}  lr ${opt.lr.toExponential(2)}  ${sps.toFixed(2)} steps/s  ${(sps * B * n).toFixed(0)} tokens/s  eta ${(eta / 60).toFixed(0)} min  tensors ${engine.memory().numTensors}`);
  }
  if (performance.now() - lastSave > saveEvery) {
    await save(k + 1);
    lastSave = performance.now();
  }
}
await save(k);
console.error(`stopped at step ${k} of ${totalSteps} after ${((performance.now() - t0) / 60e3).toFixed(1)} min; state ${statePath}, EMA model ${outPath}`);
process.exit(0);
