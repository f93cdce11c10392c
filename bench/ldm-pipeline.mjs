// Stable Diffusion 1.x text-to-image end to end on a CPU: the full SD 1.x UNet, VAE and CLIP text
// encoder with seeded random weights (bench/lib/random-weights.mjs), the shipped CLIP tokenizer,
// SD 1.x's PNDM scheduler, classifier-free guidance (UNet batch 2), on the onnx backend: the
// pipeline compiles the UNet evaluation and the VAE decode (ONNX Runtime, 2 intra-op threads);
// the text encoder and everything around runs eagerly on tfjs-wasm.
//
// The first call records both programs and opens their sessions; later calls reuse them. Each
// call's time is split into the text encoder, the steps (from onProgress) and the decode.
// Random weights make noise, not pictures: this measures time and memory, and checks that the
// image is finite.
//
//   npm run build && node --expose-gc bench/ldm-pipeline.mjs [--size 256] [--steps 4] [--calls 2]
//
// Prints a table and writes bench/results/ldm-pipeline.json.

import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Generator, registerBackend, setBackend } from '@denoise/core';
import { registerTfjsBackends } from '@denoise/backend-tfjs';
import { registerOnnxBackend } from '@denoise/backend-onnx';
import { AutoencoderKL, CLIPTextModel, SD15_SCHEDULER, StableDiffusionPipeline, UNet2DConditionModel, loadClipTokenizer } from '@denoise/ldm';
import { fillRandomWeights } from './lib/random-weights.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const opts = { size: '256', steps: '4', calls: '2' };
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i];
  if (!a.startsWith('--') || !(a.slice(2) in opts)) throw new Error(`ldm-pipeline.mjs: unknown argument ${a} (--size, --steps, --calls)`);
  opts[a.slice(2)] = process.argv[++i];
}
const size = Number(opts.size);
const steps = Number(opts.steps);
const calls = Number(opts.calls);
const log = (...a) => console.error(...a);
const peakRss = () => Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))[1]) / 1024;
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };

const load = { before: loadavg().map((x) => +x.toFixed(2)) };
registerTfjsBackends(registerBackend);
registerOnnxBackend(registerBackend, { threads: 2, fallback: ['tfjs-wasm'] });
const backend = await setBackend('onnx');

const gen = new Generator(7);
const unet = new UNet2DConditionModel();
const vae = new AutoencoderKL();
const textEncoder = new CLIPTextModel();
let initS = 0;
for (const m of [unet, vae, textEncoder]) initS += fillRandomWeights(m, gen, backend);
globalThis.gc?.();
const params = [unet, vae, textEncoder].reduce((a, m) => a + m.parameterCount(), 0);
log(`SD 1.x: ${(params / 1e6).toFixed(0)} M parameters (${((params * 4) / 2 ** 30).toFixed(2)} GiB float32) in ${initS.toFixed(1)} s`);
const sd = new StableDiffusionPipeline({ unet, vae, textEncoder, tokenizer: await loadClipTokenizer(), scheduler: SD15_SCHEDULER });

const rows = [];
for (let c = 0; c < calls; c++) {
  const marks = [];
  const t0 = performance.now();
  const r = await sd.textToImage({
    prompt: 'a lighthouse on a cliff at dusk, oil painting', negativePrompt: 'blurry', height: size, width: size, steps, guidanceScale: 7.5, seed: c,
    onProgress: () => marks.push(performance.now()),
  });
  const end = performance.now();
  const img = r.images[0];
  const finite = img.data.every((v) => Number.isFinite(v));
  const stepMs = marks.slice(1).map((m, i) => m - marks[i]);
  const row = {
    call: c + 1, size, steps, guidance: 7.5,
    total_s: +((end - t0) / 1e3).toFixed(1),
    until_first_step_s: +((marks[0] - t0) / 1e3).toFixed(1),
    step_median_s: stepMs.length ? +(median(stepMs) / 1e3).toFixed(2) : null,
    decode_s: +((end - marks[marks.length - 1]) / 1e3).toFixed(1),
    peak_rss_gib: +(peakRss() / 1024).toFixed(2),
    image: [img.width, img.height], finite,
  };
  rows.push(row);
  log(JSON.stringify(row));
}
sd.dispose();
load.after = loadavg().map((x) => +x.toFixed(2));

console.log(`\nSD 1.x text-to-image, ${size}x${size}, ${steps} steps (PNDM), guidance 7.5 (UNet batch 2), onnx backend (compiled UNet + VAE decode, ORT 2 threads), text encoder eager on tfjs-wasm`);
console.log('call | total s | until step 1 s | step (median) s | decode s | peak RSS GiB');
console.log('---|---|---|---|---|---');
for (const r of rows) console.log(`${r.call} | ${r.total_s} | ${r.until_first_step_s} | ${r.step_median_s} | ${r.decode_s} | ${r.peak_rss_gib}`);
console.log('(call 1 includes recording both programs and opening their ONNX Runtime sessions; "until step 1" includes the text encoder and the first UNet evaluation)');

mkdirSync(join(here, 'results'), { recursive: true });
writeFileSync(join(here, 'results', 'ldm-pipeline.json'), `${JSON.stringify({
  suite: 'ldm-pipeline', date: new Date().toISOString(),
  machine: { cpu: cpus()[0]?.model.trim(), cores: cpus().length, memory_gib: +(totalmem() / 2 ** 30).toFixed(1), node: process.version, loadavg_1_5_15: load },
  config: { model: 'SD 1.x (UNet 4 levels, VAE, CLIP ViT-L/14 text encoder), random weights', size, steps, scheduler: 'PNDMScheduler (SD15_SCHEDULER)', guidance: 7.5, backend: 'onnx (compile auto), fallback tfjs-wasm', threads: 2 },
  parameters: params, rows,
}, null, 2)}\n`);
process.exit(0);
