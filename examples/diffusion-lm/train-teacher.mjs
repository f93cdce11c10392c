// Trains the teacher language model (a small causal transformer over the Diffusion-LM word
// vocabulary) on the E2E training sentences; evaluate.mjs scores fluency with it. The step is
// compiled and run by ONNX Runtime.
//
//   node train-teacher.mjs [--steps 6000] [--minutes 120] [--batch 64] [--lr 1e-3] [--seed 0]
//                          [--out checkpoints/teacher.safetensors] [--vocab-from checkpoints/e2e.safetensors]
//                          [--fit] [--threads 2] [--fallback tfjs-wasm,reference] [--data-dir <E2E folder>]

import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AdamW, Generator, gradients, saveSafetensors, tensor } from '@denoise/core';
import { compileOnnx } from '@denoise/backend-onnx';
import { trainingBackend } from './backend.mjs';
import { TEACHER_SMALL, Vocabulary, initTeacher, loadDiffusionLM, loadE2E, perplexity, teacherLoss } from '@denoise/diffusion-lm';

const here = dirname(fileURLToPath(import.meta.url));
const args = {};
for (let i = 2; i < process.argv.length; i++) {
  const k = process.argv[i].replace(/^--/, '');
  if (k === 'fit') args.fit = true;
  else args[k] = process.argv[++i];
}
let steps = Number(args.steps ?? 6000);
const minutes = Number(args.minutes ?? 120);
const B = Number(args.batch ?? 64);
const lr = Number(args.lr ?? 1e-3);
const seed = Number(args.seed ?? 0);
const outPath = args.out ?? join(here, 'checkpoints', 'teacher.safetensors');
mkdirSync(dirname(outPath), { recursive: true });

const backend = await trainingBackend(args);

const t0 = performance.now();
const [train, dev] = await Promise.all([loadE2E('train', args['data-dir']), loadE2E('dev', args['data-dir'])]);
// The teacher must share the Diffusion-LM's vocabulary: take it from the model when given.
const vocab = args['vocab-from'] ? (await loadDiffusionLM(args['vocab-from'])).model.vocab : Vocabulary.build(train.map((e) => e.tokens), 10);
const config = { ...TEACHER_SMALL, vocabSize: vocab.size };
const n = config.seqLen;
const ids = new Int32Array(train.length * n);
train.forEach((e, i) => ids.set(vocab.encode(e.tokens, { length: n, overflow: 'truncate' }), i * n));
const p = initTeacher(config, seed, backend);
const params = Object.values(p);
const opt = new AdamW(params, { lr, weightDecay: 0.01 });
const step = compileOnnx((x) => {
  const { value, grads } = gradients(() => teacherLoss(p, config, x, vocab.padId), params);
  opt.step(grads);
  for (const g of grads) g.dispose();
  return value;
}, { backend });
const gen = new Generator(seed);
let avg = NaN;
let k = 0;
const warmup = 200;
const deadline = t0 + minutes * 60e3;
let fitFrom = 0;
for (; k < steps && performance.now() < deadline; k++) {
  // --fit: after 30 timed steps, end the schedule where the time budget ends.
  if (args.fit && k === 5) fitFrom = performance.now();
  if (args.fit && k === 35) steps = Math.min(steps, k + Math.floor((deadline - performance.now() - 15e3) / ((performance.now() - fitFrom) / 30)));
  opt.lr = lr * Math.min(1, (k + 1) / warmup) * (1 - k / steps);
  const rows = gen.randintArray(B, 0, train.length);
  const batch = new Int32Array(B * n);
  rows.forEach((r, b) => batch.set(ids.subarray(r * n, r * n + n), b * n));
  const x = tensor(batch, [B, n], { dtype: 'int32', backend });
  const l = await step(x);
  const v = (await l.data())[0];
  l.dispose();
  x.dispose();
  avg = Number.isNaN(avg) ? v : 0.98 * avg + 0.02 * v;
  if ((k + 1) % 100 === 0 || k === 0) console.error(`step ${k + 1}/${steps}  loss ${avg.toFixed(4)}  (${((performance.now() - t0) / 60e3).toFixed(1)} min)`);
}
const evalLoss = compileOnnx((x) => teacherLoss(p, config, x, vocab.padId), { backend });
const ppl = await perplexity(p, config, vocab, dev.map((e) => e.tokens), 64, backend.name === 'onnx' ? evalLoss : undefined);
await saveSafetensors(outPath, p, { metadata: { format: 'denoise.teacher-lm', config: JSON.stringify(config), vocab: JSON.stringify(vocab.words), steps: String(k), dev_perplexity: String(ppl) }, float16: true });
console.error(`teacher: ${k} steps, dev perplexity ${ppl.toFixed(2)}; wrote ${outPath}`);
process.exit(0);
