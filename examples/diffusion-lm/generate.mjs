// Generates sentences from a trained Diffusion-LM (default: the model shipped in
// @denoise/diffusion-lm's assets; --model for one trained with train.mjs).
//
//   node generate.mjs [--n 5] [--steps 200] [--seed 0] [--no-clamp] [--sampler ddpm|ddim] [--mbr 1]
//                     [--infill "START The Eagle _ _ _ _ _ _ city centre . END"] [--model path] [--backend tfjs-wasm]
//
// In --infill, "_" marks a position to generate; the template is padded with PAD to the model's length.

import { engine, registerBackend, resolveBackend } from '@denoise/core';
import { registerTfjsBackends } from '@denoise/backend-tfjs';
import { loadDiffusionLM, loadPretrainedDiffusionLM } from '@denoise/diffusion-lm';

const args = { clamp: true };
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i];
  if (a === '--no-clamp') args.clamp = false;
  else if (a.startsWith('--')) args[a.slice(2)] = process.argv[++i];
  else throw new Error(`generate.mjs: unexpected argument ${a}`);
}

registerTfjsBackends(registerBackend);
const backend = await resolveBackend([args.backend ?? 'tfjs-wasm']);
engine.setBackend(backend);
const t0 = performance.now();
const { model, metadata } = args.model ? await loadDiffusionLM(args.model, { backend }) : await loadPretrainedDiffusionLM({ backend });
let infill;
if (args.infill) {
  const words = args.infill.trim().split(/\s+/).map((w) => (w === '_' ? null : w));
  infill = [...words, ...new Array(Math.max(0, model.config.seqLen - words.length)).fill('PAD')];
}
const g = await model.generate({
  n: Number(args.n ?? 5), seed: Number(args.seed ?? 0), steps: Number(args.steps ?? 200), clamp: args.clamp,
  sampler: args.sampler ?? 'ddpm', mbr: Number(args.mbr ?? 1), ...(infill ? { infill } : {}),
});
for (const t of g.texts) console.log(t);
console.error(`${g.texts.length} sentences in ${((performance.now() - t0) / 1e3).toFixed(1)} s (${backend.name}, ${args.steps ?? 200} steps, model ${args.model ?? 'shipped'}, trained ${metadata.trained_steps ?? '?'} steps)`);
