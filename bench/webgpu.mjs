// WebGPU benchmark: @denoise/backend-webgpu side by side with @tensorflow/tfjs-backend-webgpu on
// the same adapter, for the foundation's workloads (bench/models/primitives.mjs):
//   matmul_1024            [1024,1024] @ [1024,1024]
//   conv3x3_fwd            x [1,128,64,64], w [128,128,3,3], padding 1
//   attention_2x8x1024x64  softmax(q k^T / 8) v for q, k, v [2,8,1024,64]
// and with --blocks the SD-style block stack of bench/models/sd-blocks.mjs (forward, batch 2,
// x [2,320,32,32]) on our backend alone. --small shrinks every shape; it is the default on a
// software adapter (lavapipe, SwiftShader), where --full asks for the full shapes anyway.
//
// Correctness first: our backend against the float64 reference backend on reduced shapes, and
// tfjs against our result on the timed shapes. tfjs runs in its own layout (NHWC / HWIO conv,
// attention as matMul + softmax + matMul), so no transposes are timed for it. Every timed
// iteration ends by reading one element back, so the GPU work is complete when the clock stops.
// Two clocks: each call awaited, and calls queued back to back (see measure()). Prints a table
// (median ms, GFLOP/s, ratio ours/tfjs in queued time: below 1 is faster) and writes
// bench/results/webgpu.json with the adapter's description. Without a WebGPU adapter it prints
// why and exits 0.
//
//   npx turbo run build && node bench/webgpu.mjs [--small | --full] [--blocks] [--repeats 10] [--warmup 2] [--no-tfjs] [--out file]
//   (Node without a GPU: eval "$(bash .ci/setup-webgpu.sh)" first, for lavapipe)

import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Generator, createReferenceBackend, engine, randn, slice, tidy, toBackendSync } from '@denoise/core';
import { createWebGPUBackend } from '@denoise/backend-webgpu';
import { WORKLOADS, makeInputs } from './models/primitives.mjs';
import { SD, initSdBlocks, sdBlocksFlops, sdBlocksForward } from './models/sd-blocks.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const opts = { small: false, full: false, blocks: false, tfjs: true, repeats: '10', warmup: '2', out: join(here, 'results', 'webgpu.json') };
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i];
  if (a === '--small') opts.small = true;
  else if (a === '--full') opts.full = true;
  else if (a === '--blocks') opts.blocks = true;
  else if (a === '--no-tfjs') opts.tfjs = false;
  else if (a.startsWith('--')) opts[a.slice(2)] = process.argv[++i];
}
const repeats = Number(opts.repeats);
const warmup = Number(opts.warmup);
const log = (...a) => console.error(...a);

// The timed shapes: the foundation's (bench/models/primitives.mjs), or with --small a quarter
// of each side, which a software adapter runs in well under a second.
const FULL = { matmul: 1024, conv: { n: 1, c: 128, hw: 64 }, attn: { b: 2, h: 8, t: 1024, d: 64 } };
const SMALL = { matmul: 256, conv: { n: 1, c: 32, hw: 32 }, attn: { b: 1, h: 4, t: 256, d: 64 } };
// The block stack: SD's sizes, or a small stack of the same structure (32 groups, 2 heads).
const SD_SMALL = { batch: 1, channels: 64, size: 16, tembDim: 256, ctxLen: 16, ctxDim: 64, heads: 2, headDim: 32, ffInner: 256, groups: 32 };
// Checked against the float64 reference before timing (tiny: the reference runs on the CPU).
const SD_CHECK = { batch: 1, channels: 32, size: 4, tembDim: 16, ctxLen: 5, ctxDim: 24, heads: 2, headDim: 16, ffInner: 32, groups: 8 };

function workloads(s) {
  const byName = (name) => WORKLOADS.find((w) => w.name === name);
  const base = { matmul: byName('matmul_1024'), conv3x3: byName('conv3x3_fwd'), attention: byName('attention_2x8x1024x64') };
  const { n, c, hw } = s.conv;
  const { b, h, t, d } = s.attn;
  return [
    {
      name: `matmul_${s.matmul}`, flops: 2 * s.matmul ** 3, small: base.matmul.small, run: base.matmul.run,
      shapes: { a: [s.matmul, s.matmul], b: [s.matmul, s.matmul] },
      tfjs: (tf, { a, b: m }) => tf.matMul(a, m),
    },
    {
      name: 'conv3x3_fwd' + (s === FULL ? '' : `_${n}x${c}x${hw}x${hw}`), flops: 2 * n * c * hw * hw * c * 9, small: base.conv3x3.small, run: base.conv3x3.run,
      shapes: { x: [n, c, hw, hw], w: [c, c, 3, 3] },
      // tfjs's own layout: x NHWC, w HWIO; the result comes back NHWC.
      layout: { x: [0, 2, 3, 1], w: [2, 3, 1, 0] }, outLayout: [0, 3, 1, 2],
      tfjs: (tf, { x, w }) => tf.conv2d(x, w, 1, 'same'),
    },
    {
      name: `attention_${b}x${h}x${t}x${d}`, flops: 4 * b * h * t * t * d, small: base.attention.small, run: base.attention.run,
      shapes: { q: [b, h, t, d], k: [b, h, t, d], v: [b, h, t, d] },
      tfjs: (tf, { q, k, v }) => tf.matMul(tf.softmax(tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(d))), v),
    },
  ];
}

const median = (xs) => { const s = [...xs].sort((x, y) => x - y); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const maxAbs = (a) => a.reduce((m, x) => Math.max(m, Math.abs(x)), 0);
function relErr(got, want) {
  let m = 0;
  for (let i = 0; i < want.length; i++) m = Math.max(m, Math.abs(got[i] - want[i]));
  return m / Math.max(maxAbs(want), 1e-30);
}

/** Host-side permutation of a row-major array: out[perm-ordered index] = a[index]. */
function permute(a, shape, perm) {
  const outShape = perm.map((p) => shape[p]);
  const inStrides = shape.map((_, i) => shape.slice(i + 1).reduce((x, y) => x * y, 1));
  const out = new Float32Array(a.length);
  const idx = new Array(outShape.length).fill(0);
  for (let o = 0; o < out.length; o++) {
    let src = 0;
    for (let j = 0; j < perm.length; j++) src += idx[j] * inStrides[perm[j]];
    out[o] = a[src];
    for (let j = outShape.length - 1; j >= 0 && ++idx[j] === outShape[j]; j--) idx[j] = 0;
  }
  return { values: out, shape: outShape };
}

// Two clocks per workload. `sync`: each call is awaited (one submission and one read-back per
// call, as bench/primitives.mjs measures: latency). `queued`: QUEUED calls are submitted back to
// back and only the last is awaited (a GPU queue runs in order), per call: the throughput a
// model's chain of kernels sees, without the read-back's fixed cost, which dominates small
// kernels on a fast GPU.
const QUEUED = 10;

/**
 * call() runs the workload once and returns its outputs; finish(calls) waits for the last call's
 * outputs and frees every output. Resolves to the median time per call of both clocks.
 */
async function measure(flops, call, finish) {
  const times = [];
  for (let i = 0; i < warmup + repeats; i++) {
    const t0 = performance.now();
    await finish([call()]);
    const dt = performance.now() - t0;
    if (i >= warmup) times.push(dt);
  }
  const batches = Math.max(3, Math.ceil(repeats / 3));
  const perCall = [];
  for (let i = 0; i < 1 + batches; i++) {
    const t0 = performance.now();
    const calls = [];
    for (let k = 0; k < QUEUED; k++) calls.push(call());
    await finish(calls);
    if (i >= 1) perCall.push((performance.now() - t0) / QUEUED);
  }
  const ms = median(times);
  const queuedMs = median(perCall);
  return {
    median_ms: ms, min_ms: Math.min(...times), repeats: times.length, gflops: flops / (ms / 1e3) / 1e9,
    queued: { per_call_ms: queuedMs, calls: QUEUED, batches, gflops: flops / (queuedMs / 1e3) / 1e9 },
  };
}

// Forces completion: reads one element of each output back (as bench/primitives.mjs does).
async function syncOurs(outs) {
  for (const o of outs) {
    const one = slice(o, o.shape.map(() => 0), o.shape.map(() => 1));
    await one.data();
    one.dispose();
  }
}

async function finishOurs(calls) {
  await syncOurs(calls[calls.length - 1]);
  for (const outs of calls) for (const o of outs) o.dispose();
}

/** The GPU object: navigator.gpu, else Node's `webgpu` package (Dawn), installed as navigator.gpu for tfjs. */
async function openGPU() {
  if (globalThis.navigator?.gpu) return { gpu: globalThis.navigator.gpu };
  let mod;
  try {
    mod = await import('webgpu');
  } catch (e) {
    return { gpu: null, reason: `the \`webgpu\` package (Dawn for Node) could not be loaded: ${e.message}` };
  }
  Object.assign(globalThis, mod.globals); // GPUBufferUsage, GPUMapMode, ... which tfjs reads as globals
  const gpu = mod.create([]);
  if (!('navigator' in globalThis)) globalThis.navigator = {};
  Object.defineProperty(globalThis.navigator, 'gpu', { value: gpu, configurable: true });
  return { gpu };
}

async function checkOurs(w, ours, reference) {
  engine.setBackend(reference);
  const inRef = makeInputs(w.small, reference, 99);
  const want = tidy(() => w.run(inRef).map((t) => t.dataSync()));
  engine.setBackend(ours);
  const inB = Object.fromEntries(Object.entries(inRef).map(([k, t]) => [k, toBackendSync(t, ours)]));
  let worst = 0;
  const outs = tidy(() => w.run(inB));
  for (let j = 0; j < outs.length; j++) {
    const got = await outs[j].data();
    for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[j][i]) / (1e-4 + 1e-3 * Math.abs(want[j][i])));
    outs[j].dispose();
  }
  for (const t of [...Object.values(inRef), ...Object.values(inB)]) t.dispose();
  return worst;
}

function sdInputs(c, backend, seed) {
  const gen = new Generator(seed);
  return {
    x: randn([c.batch, c.channels, c.size, c.size], gen, { backend }),
    temb: randn([c.batch, c.tembDim], gen, { backend }),
    ctx: randn([c.batch, c.ctxLen, c.ctxDim], gen, { backend }),
  };
}

async function checkBlocks(ours, reference) {
  const outputs = [];
  for (const b of [reference, ours]) {
    engine.setBackend(b);
    const p = initSdBlocks(b, 7, SD_CHECK);
    const { x, temb, ctx } = sdInputs(SD_CHECK, b, 11);
    const y = tidy(() => sdBlocksForward(p, x, temb, ctx, SD_CHECK));
    outputs.push(await y.data());
    for (const t of [...Object.values(p), x, temb, ctx, y]) t.dispose();
  }
  return relErr(outputs[1], outputs[0]);
}

// ---------------------------------------------------------------------------------------------

const { gpu, reason } = await openGPU();
const adapter = gpu ? await gpu.requestAdapter({ powerPreference: 'high-performance' }) : null;
if (!adapter) {
  console.log(`webgpu bench: no WebGPU adapter, nothing measured (${reason ?? 'requestAdapter() returned null; on Linux without a GPU: eval "$(bash .ci/setup-webgpu.sh)" for lavapipe'})`);
  process.exit(0);
}
const ours = await createWebGPUBackend({ adapter });
const software = /llvmpipe|lavapipe|swiftshader/i.test(Object.values(ours.adapterInfo).join(' '));
log(`adapter: ${JSON.stringify(ours.adapterInfo)}${software ? ' (a software adapter: CPU speed, not GPU speed)' : ''}`);
if (software && !opts.small && !opts.full) {
  log('software adapter: small shapes (--full for the full ones)');
  opts.small = true;
}
const reference = createReferenceBackend();
const sizes = opts.small ? SMALL : FULL;
const rows = [];

let tf = null;
let tfjsInfo = null;
let tfjsReason = opts.tfjs ? '' : 'disabled with --no-tfjs';
if (opts.tfjs) {
  try {
    tf = await import('@tensorflow/tfjs-core');
    await import('@tensorflow/tfjs-backend-webgpu');
    if (!(await tf.setBackend('webgpu'))) throw new Error('tf.setBackend("webgpu") returned false');
    await tf.ready();
    const info = tf.backend().adapterInfo;
    tfjsInfo = { vendor: info?.vendor ?? '', architecture: info?.architecture ?? '' };
    log(`tfjs-backend-webgpu ${tf.version_core}: adapter ${JSON.stringify(tfjsInfo)}`);
  } catch (e) {
    tf = null;
    tfjsReason = `tfjs-backend-webgpu unavailable: ${e.message}`;
    log(tfjsReason);
  }
}

for (const w of workloads(sizes)) {
  const row = { workload: w.name, shapes: w.shapes, flops: w.flops };
  rows.push(row);
  const worst = await checkOurs(w, ours, reference);
  row.check = { ours_vs_reference: worst, ok: worst <= 1 };
  if (worst > 1) {
    log(`${w.name}: our result differs from the reference (worst ${worst.toPrecision(3)} of tolerance); not timed`);
    continue;
  }
  engine.setBackend(ours);
  const inputs = makeInputs(w.shapes, ours, 1);
  row.ours = await measure(w.flops, () => tidy(() => w.run(inputs)), finishOurs);
  log(`ours  ${w.name.padEnd(28)} ${row.ours.median_ms.toFixed(2)} ms, queued ${row.ours.queued.per_call_ms.toFixed(2)} ms`);

  if (tf) {
    // The same input values, in tfjs's layout.
    const tin = {};
    for (const [k, t] of Object.entries(inputs)) {
      const { values, shape } = w.layout?.[k] ? permute(await t.data(), t.shape, w.layout[k]) : { values: await t.data(), shape: t.shape };
      tin[k] = tf.tensor(values, shape, 'float32');
    }
    const mine = tidy(() => w.run(inputs))[0];
    const oursOut = await mine.data();
    mine.dispose();
    const theirs = tf.tidy(() => w.tfjs(tf, tin));
    let tfOut = await theirs.data();
    if (w.outLayout) tfOut = permute(tfOut, theirs.shape, w.outLayout).values;
    theirs.dispose();
    row.check.tfjs_vs_ours_rel = relErr(tfOut, oursOut);
    row.tfjs = await measure(w.flops, () => tf.tidy(() => w.tfjs(tf, tin)), async (calls) => {
      const out = calls[calls.length - 1];
      const one = tf.slice(out, out.shape.map(() => 0), out.shape.map(() => 1));
      await one.data();
      one.dispose();
      for (const o of calls) o.dispose();
    });
    row.ratio_ours_over_tfjs = row.ours.median_ms / row.tfjs.median_ms;
    row.ratio_ours_over_tfjs_queued = row.ours.queued.per_call_ms / row.tfjs.queued.per_call_ms;
    for (const t of Object.values(tin)) t.dispose();
    log(`tfjs  ${w.name.padEnd(28)} ${row.tfjs.median_ms.toFixed(2)} ms, queued ${row.tfjs.queued.per_call_ms.toFixed(2)} ms (max rel diff to ours ${row.check.tfjs_vs_ours_rel.toExponential(1)})`);
  }
  for (const t of Object.values(inputs)) t.dispose();
  if (w.name.startsWith('attention')) {
    // The memory-efficient flash kernel alone (attentionScoresLimitBytes 0), on the same adapter:
    // what long sequences get, and whether it would beat the materialised path here too.
    // An adapter makes one device: the second backend asks for its own.
    const adapter2 = await gpu.requestAdapter({ powerPreference: 'high-performance' });
    const flash = await createWebGPUBackend({ adapter: adapter2, attentionScoresLimitBytes: 0 });
    const worstFlash = await checkOurs(w, flash, reference);
    if (worstFlash <= 1) {
      engine.setBackend(flash);
      const fin = makeInputs(w.shapes, flash, 1);
      row.ours_flash = await measure(w.flops, () => tidy(() => w.run(fin)), finishOurs);
      if (row.tfjs) row.ratio_ours_flash_over_tfjs_queued = row.ours_flash.queued.per_call_ms / row.tfjs.queued.per_call_ms;
      log(`flash ${w.name.padEnd(28)} ${row.ours_flash.median_ms.toFixed(2)} ms, queued ${row.ours_flash.queued.per_call_ms.toFixed(2)} ms`);
      for (const t of Object.values(fin)) t.dispose();
    } else log(`${w.name}: the flash path differs from the reference (worst ${worstFlash.toPrecision(3)} of tolerance); not timed`);
    engine.setBackend(ours);
    flash.destroy?.();
  }
}

let blocks = null;
if (opts.blocks) {
  const c = opts.small ? SD_SMALL : SD;
  const err = await checkBlocks(ours, reference);
  blocks = { workload: `sd_blocks_fwd_${c.batch}x${c.channels}x${c.size}x${c.size}`, config: c, flops: sdBlocksFlops(c), check: { ours_vs_reference_rel: err, ok: err <= 1e-3 } };
  if (err > 1e-3) log(`sd blocks: our result differs from the reference (max rel err ${err.toExponential(2)}); not timed`);
  else {
    engine.setBackend(ours);
    const p = initSdBlocks(ours, 7, c);
    const { x, temb, ctx } = sdInputs(c, ours, 11);
    blocks.ours = await measure(blocks.flops, () => [tidy(() => sdBlocksForward(p, x, temb, ctx, c))], finishOurs);
    for (const t of [...Object.values(p), x, temb, ctx]) t.dispose();
    log(`ours  ${blocks.workload.padEnd(28)} ${blocks.ours.median_ms.toFixed(2)} ms, queued ${blocks.ours.queued.per_call_ms.toFixed(2)} ms`);
  }
}

const machine = { cpu: cpus()[0]?.model, cores: cpus().length, memory_gib: +(totalmem() / 2 ** 30).toFixed(1), node: process.version, platform: process.platform };
const adapterDesc = `${ours.adapterInfo.vendor} ${ours.adapterInfo.architecture} ${ours.adapterInfo.description}`.trim();
const pad = (s, n) => String(s).padEnd(n);
const num = (x, d = 2) => (x === undefined ? '-' : x.toFixed(d));
const line = (workload, impl, m, ratio) =>
  `${pad(workload, 28)} ${pad(impl, 6)} ${pad(m ? num(m.median_ms) : 'wrong', 10)} ${pad(num(m?.gflops, 1), 9)} ${pad(num(m?.queued.per_call_ms), 10)} ${pad(num(m?.queued.gflops, 1), 9)} ${ratio ? ratio.toFixed(2) + 'x' : '-'}`;
const lines = [
  `adapter: ${adapterDesc}${software ? '  [software adapter: CPU speed, not GPU speed]' : ''}; ${machine.cpu}, Node ${machine.node}`,
  `${pad('', 35)} ${pad('each call awaited', 20)} ${pad(`${QUEUED} calls queued`, 20)} queued time`,
  `${pad('workload', 28)} ${pad('', 6)} ${pad('ms', 10)} ${pad('GFLOP/s', 9)} ${pad('ms/call', 10)} ${pad('GFLOP/s', 9)} ours/tfjs`,
  ...rows.flatMap((r) => [line(r.workload, 'ours', r.ours, r.ratio_ours_over_tfjs_queued), ...(r.ours_flash ? [line('', 'flash', r.ours_flash, r.ratio_ours_flash_over_tfjs_queued)] : []), ...(r.tfjs ? [line('', 'tfjs', r.tfjs)] : [])]),
  ...(blocks ? [line(blocks.workload, 'ours', blocks.ours)] : []),
];
console.log(lines.join('\n'));
if (!tf) console.log(`tfjs: ${tfjsReason}`);

mkdirSync(dirname(opts.out), { recursive: true });
const result = {
  suite: 'webgpu', date: new Date().toISOString(), small: opts.small, software_adapter: software, machine,
  adapter: { ours: ours.adapterInfo, tfjs: tfjsInfo ?? { unavailable: tfjsReason } },
  tfjs_version: tf?.version_core ?? null, repeats, warmup, queued_calls: QUEUED, rows, blocks,
};
writeFileSync(opts.out, JSON.stringify(result, null, 2) + '\n');
console.log(`wrote ${opts.out}`);
ours.destroy();
// Dawn keeps the event loop alive while a GPU object exists.
process.exit(0);
