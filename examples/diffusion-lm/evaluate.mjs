// Measures a trained Diffusion-LM as the paper does for E2E: teacher-LM perplexity ("lm-score")
// of (a) held-out human sentences, (b) samples with the clamping trick, (c) samples without it,
// with distinct-1/2 diversity; and infilling (first and last thirds of held-out sentences kept,
// the middle generated), scored the same way. Prints a table and writes results/eval.json.
//
//   node evaluate.mjs [--model checkpoints/e2e.safetensors] [--teacher checkpoints/teacher.safetensors]
//
// Without --model / --teacher, the models shipped in @denoise/diffusion-lm's assets are measured.
//                     [--samples 200] [--steps 200] [--infill 100] [--seed 0] [--backend tfjs-wasm]

import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Generator, engine, registerBackend, resolveBackend } from '@denoise/core';
import { registerTfjsBackends } from '@denoise/backend-tfjs';
import { distinctN, loadDiffusionLM, loadE2E, loadPretrainedDiffusionLM, loadPretrainedTeacher, loadTeacher } from '@denoise/diffusion-lm';

const here = dirname(fileURLToPath(import.meta.url));
const args = {};
for (let i = 2; i < process.argv.length; i += 2) args[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
const modelPath = args.model ?? 'shipped';
const teacherPath = args.teacher ?? 'shipped';
const nSamples = Number(args.samples ?? 200);
const steps = Number(args.steps ?? 200);
const nInfill = Number(args.infill ?? 100);
const seed = Number(args.seed ?? 0);

registerTfjsBackends(registerBackend);
const backend = await resolveBackend([args.backend ?? 'tfjs-wasm']);
engine.setBackend(backend);

const { model, metadata } = args.model ? await loadDiffusionLM(args.model, { backend }) : await loadPretrainedDiffusionLM({ backend });
const t = args.teacher ? await loadTeacher(args.teacher, { backend }) : await loadPretrainedTeacher({ backend });
if (t.vocab.words.join('\n') !== model.vocab.words.join('\n')) throw new Error('evaluate.mjs: the teacher and the model have different vocabularies');
const ppl = (sents) => t.perplexity(sents);

const dev = await loadE2E('dev');
// Held-out human sentences: a fixed random subset of the dev set.
const pick = new Generator(seed + 100).randintArray(Math.min(500, dev.length), 0, dev.length);
const human = Array.from(pick, (i) => dev[i].tokens);
const rows = [];
const t0 = performance.now();
rows.push({ what: 'human (dev)', n: human.length, perplexity: await ppl(human), distinct1: distinctN(human, 1), distinct2: distinctN(human, 2) });
for (const clamp of [true, false]) {
  const s0 = performance.now();
  const texts = [];
  for (let i = 0; i < nSamples; i += 50) {
    const g = await model.generate({ n: Math.min(50, nSamples - i), seed: seed + i, steps, clamp });
    texts.push(...g.tokens);
  }
  const nonEmpty = texts.filter((x) => x.length > 0);
  rows.push({ what: `Diffusion-LM ${clamp ? 'with' : 'without'} clamping`, n: texts.length, steps, perplexity: await ppl(nonEmpty), distinct1: distinctN(texts, 1), distinct2: distinctN(texts, 2), seconds: (performance.now() - s0) / 1e3, examples: texts.slice(0, 5).map((x) => x.join(' ')) });
}
// Infilling: keep the first and last thirds of short held-out sentences, generate the middle.
const n = model.config.seqLen;
const infillSrc = dev.filter((e) => e.tokens.length >= 6 && e.tokens.length <= n - 2 && e.tokens.every((w) => model.vocab.has(w))).slice(0, nInfill);
const filled = [];
for (const [i, e] of infillSrc.entries()) {
  const w = e.tokens;
  const a = Math.floor(w.length / 3);
  const b = w.length - Math.floor(w.length / 3);
  const template = new Array(n).fill(null);
  template[0] = 'START';
  w.forEach((x, j) => { if (j < a || j >= b) template[j + 1] = x; });
  template[w.length + 1] = 'END';
  for (let j = w.length + 2; j < n; j++) template[j] = 'PAD';
  const g = await model.generate({ n: 1, seed: seed + 1000 + i, steps, infill: template });
  filled.push(g.tokens[0]);
}
if (filled.length) rows.push({ what: 'infilling (middle third)', n: filled.length, steps, perplexity: await ppl(filled), distinct1: distinctN(filled, 1), distinct2: distinctN(filled, 2), examples: filled.slice(0, 5).map((x) => x.join(' ')) });

const humanPpl = rows[0].perplexity;
for (const r of rows) r.ratio_to_human = r.perplexity / humanPpl;
console.log(`backend ${backend.name}; model ${modelPath}; ${((performance.now() - t0) / 1e3).toFixed(0)} s`);
console.log(`${'what'.padEnd(36)} ${'n'.padStart(5)} ${'ppl'.padStart(8)} ${'x human'.padStart(8)} ${'dist-1'.padStart(7)} ${'dist-2'.padStart(7)}`);
for (const r of rows) console.log(`${r.what.padEnd(36)} ${String(r.n).padStart(5)} ${r.perplexity.toFixed(2).padStart(8)} ${r.ratio_to_human.toFixed(2).padStart(8)} ${r.distinct1.toFixed(3).padStart(7)} ${r.distinct2.toFixed(3).padStart(7)}`);
for (const r of rows) if (r.examples) console.log(`\n${r.what}:\n  ${r.examples.join('\n  ')}`);
mkdirSync(join(here, 'results'), { recursive: true });
writeFileSync(join(here, 'results', 'eval.json'), JSON.stringify({ date: new Date().toISOString(), model: modelPath, model_trained_steps: Number(metadata.trained_steps), teacher: teacherPath, teacher_steps: Number(t.metadata.steps), teacher_dev_perplexity: Number(t.metadata.dev_perplexity), rows }, null, 2) + '\n');
process.exit(0);
