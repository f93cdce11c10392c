// Whole-model benchmark: eager tfjs-wasm vs the onnx backend (functions compiled with
// compileOnnx: recorded once, exported to ONNX, run in onnxruntime-node with 2 intra-op threads,
// parameters and optimizer state resident on the host) vs PyTorch CPU (bench/torch_baseline.py,
// 2 threads):
//   primitives         (a) the foundation's matmul / conv / conv fwd+bwd / attention workloads
//                      (bench/models/primitives.mjs)
//   sd_blocks_fwd      forward of a SD-style ResNet block + spatial transformer block,
//                      x [2,320,32,32], temb [2,1280], context [2,77,768] (bench/models/sd-blocks.mjs)
//   tlm_train_step     one AdamW training step of a 6-layer, 256-wide pre-LN transformer encoder
//                      (4 heads, MLP 1024, GELU, vocab 1000, learned positions, untied LM head)
//                      on [32, 64] tokens (bench/models/transformer-lm.mjs)
// onnx rows are checked against the eager tfjs-wasm results before timing. FLOPs count matmul and
// conv multiply-adds only (x2); a training step counts 3x the forward matmul FLOPs.
// Prints a table and writes bench/results/graph.json.
//
//   npx turbo run build && node bench/graph.mjs [--repeats 5] [--only primitives,sd_blocks_fwd,tlm_train_step] [--no-torch] [--no-eager]

import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  AdamW, Generator, engine, gradients, randint, randn, registerBackend, resolveBackend, slice, tensor, tidy, variable,
} from '@denoise/core';
import { registerTfjsBackends } from '@denoise/backend-tfjs';
import { compileOnnx, createOnnxBackend } from '@denoise/backend-onnx';
import { WORKLOADS, makeInputs } from './models/primitives.mjs';
import { SD, initSdBlocks, sdBlocksFlops, sdBlocksForward } from './models/sd-blocks.mjs';
import { ADAMW, TLM, initTlm, tlmForwardFlops, tlmLoss, tlmShapes } from './models/transformer-lm.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const opts = { repeats: '5', warmup: '1', torch: true, eager: true, only: '', threads: '2', out: join(here, 'results', 'graph.json') };
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i];
  if (a === '--no-torch') opts.torch = false;
  else if (a === '--no-eager') opts.eager = false;
  else if (a.startsWith('--')) opts[a.slice(2)] = process.argv[++i];
}
const repeats = Math.max(5, Number(opts.repeats));
const warmup = Number(opts.warmup);
const threads = Number(opts.threads);
const wanted = (name) => !opts.only || opts.only.split(',').includes(name);

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const log = (...a) => console.error(...a);
const rows = [];
const notes = [];

function maxAbs(a) { let m = 0; for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i])); return m; }
function maxAbsDiff(a, b) { let m = 0; for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i])); return m; }
function relErr(got, ref) { return maxAbsDiff(got, ref) / Math.max(maxAbs(ref), 1e-30); }

async function timeIt(fn, n = repeats, w = warmup) {
  const times = [];
  for (let i = 0; i < w + n; i++) {
    const t0 = performance.now();
    await fn();
    const dt = performance.now() - t0;
    if (i >= w) times.push(dt);
  }
  return { median_ms: median(times), min_ms: Math.min(...times), repeats: times.length };
}

function addRow(path, workload, flops, t, extra = {}) {
  rows.push({ path, workload, flops, ...t, gflops: flops / (t.median_ms / 1e3) / 1e9, ...extra });
  log(`${path.padEnd(14)} ${workload.padEnd(16)} ${t.median_ms.toFixed(1)} ms`);
}

registerTfjsBackends(registerBackend);
const backend = await resolveBackend(['tfjs-wasm']);
engine.setBackend(backend);
// The onnx backend: eager kernels on tfjs-wasm, compiled functions in onnxruntime-node.
const onnx = await createOnnxBackend({ fallback: backend, threads });
const rss = () => +(process.memoryUsage().rss / 2 ** 20).toFixed(0);
const disposeAll = (r) => (Array.isArray(r) ? r : [r]).forEach((t) => t.dispose());

// Forces completion by reading one element of every output (as bench/primitives.mjs does).
async function syncOutputs(outputs) {
  for (const o of outputs) {
    const one = slice(o, o.shape.map(() => 0), o.shape.map(() => 1));
    await one.data();
    one.dispose();
  }
}

// ---------------------------------------------------------------- (a) primitives
if (wanted('primitives')) {
  for (const w of WORKLOADS) {
    const names = Object.keys(w.shapes);
    const fn = (...xs) => w.run(Object.fromEntries(names.map((k, i) => [k, xs[i]])));
    const f = compileOnnx(fn, { backend: onnx, name: w.name });
    // Check on the reduced shapes: the same seeded inputs on both backends.
    const sIn = makeInputs(w.small, onnx, 99);
    const sRef = makeInputs(w.small, backend, 99);
    const got = [].concat(await f(...names.map((k) => sIn[k])));
    const want = tidy(() => fn(...names.map((k) => sRef[k])));
    let err = 0;
    for (let i = 0; i < want.length; i++) err = Math.max(err, relErr(await got[i].data(), await want[i].data()));
    disposeAll([...got, ...want, ...Object.values(sIn), ...Object.values(sRef)]);
    const ok = err <= 1e-3;
    log(`check ${w.name}: onnx vs eager tfjs-wasm ${err.toExponential(2)} (${ok ? 'OK' : 'FAILED'})`);
    if (opts.eager) {
      const inp = makeInputs(w.shapes, backend, 1);
      const t = await timeIt(async () => { const outs = tidy(() => w.run(inp)); await syncOutputs(outs); disposeAll(outs); });
      addRow('tfjs-wasm', w.name, w.flops, t, { correct: true, note: 'eager' });
      disposeAll(Object.values(inp));
    }
    if (ok) {
      const inp = makeInputs(w.shapes, onnx, 1);
      const xs = names.map((k) => inp[k]);
      const t0 = performance.now();
      disposeAll(await f(...xs));
      const firstMs = performance.now() - t0;
      const t = await timeIt(async () => disposeAll(await f(...xs)));
      addRow('onnx', w.name, w.flops, t, { correct: true, check: { max_rel_err: err, tol: 1e-3, vs: 'tfjs-wasm eager, reduced shapes' }, record_export_session_first_run_ms: Math.round(firstMs), note: 'compileOnnx; outputs copied back to the host each call' });
      disposeAll(Object.values(inp));
    } else rows.push({ path: 'onnx', workload: w.name, correct: false, check: { max_rel_err: err, tol: 1e-3 } });
    await f.dispose();
  }
}

// ---------------------------------------------------------------- (b) SD blocks forward
if (wanted('sd_blocks_fwd')) {
  const name = 'sd_blocks_fwd';
  const flops = sdBlocksFlops();
  const p = initSdBlocks(backend, 7);
  const gen = new Generator(3);
  const x = randn([SD.batch, SD.channels, SD.size, SD.size], gen, { backend });
  const temb = randn([SD.batch, SD.tembDim], gen, { backend });
  const ctx = randn([SD.batch, SD.ctxLen, SD.ctxDim], gen, { backend });

  // Eager tfjs-wasm: the reference output for the ORT check, then timed.
  let t0 = performance.now();
  const eagerOut = tidy(() => sdBlocksForward(p, x, temb, ctx));
  const ref = await eagerOut.data();
  eagerOut.dispose();
  log(`tfjs-wasm eager sd_blocks_fwd first run ${(performance.now() - t0).toFixed(0)} ms`);
  if (opts.eager) {
    const t = await timeIt(async () => { const o = tidy(() => sdBlocksForward(p, x, temb, ctx)); await o.data(); o.dispose(); }, repeats, 0);
    addRow('tfjs-wasm', name, flops, t, { correct: true, note: 'eager; reference for the ORT check' });
  }

  // The same blocks compiled on the onnx backend (same seeds: the same weights and inputs).
  const po = initSdBlocks(onnx, 7);
  const go = new Generator(3);
  const xo = randn([SD.batch, SD.channels, SD.size, SD.size], go, { backend: onnx });
  const to = randn([SD.batch, SD.tembDim], go, { backend: onnx });
  const co = randn([SD.batch, SD.ctxLen, SD.ctxDim], go, { backend: onnx });
  const f = compileOnnx((xi, ti, ci) => sdBlocksForward(po, xi, ti, ci), { backend: onnx, name });
  t0 = performance.now();
  const first = await f(xo, to, co);
  const exportMs = performance.now() - t0;
  const err = relErr(await first.data(), ref);
  first.dispose();
  const ok = err <= 1e-3;
  log(`check ${name}: onnx vs eager tfjs-wasm max|diff|/max|ref| = ${err.toExponential(2)} (${ok ? 'OK' : 'FAILED'})`);
  if (ok) {
    const t = await timeIt(async () => (await f(xo, to, co)).dispose());
    const prog = f.programs[0];
    addRow('onnx', name, flops, t, { correct: true, check: { max_rel_err: err, tol: 1e-3, vs: 'tfjs-wasm eager' }, graph_nodes: prog.graph.nodes.length, onnx_bytes: prog.model.length, record_export_session_first_run_ms: Math.round(exportMs), rss_mib: rss() });
  } else rows.push({ path: 'onnx', workload: name, correct: false, check: { max_rel_err: err, tol: 1e-3 } });
  await f.dispose();
  for (const t of [...Object.values(p), x, temb, ctx, ...Object.values(po), xo, to, co]) t.dispose();
}

// ---------------------------------------------------------------- (c) transformer training step
if (wanted('tlm_train_step')) {
  const name = 'tlm_train_step';
  const flops = 3 * tlmForwardFlops();
  const shapes = tlmShapes();
  const n = shapes.length;
  const gen = new Generator(5);
  const ids = randint([TLM.batch, TLM.seq], 0, TLM.vocab, gen, backend);
  const targets = randint([TLM.batch, TLM.seq], 0, TLM.vocab, gen, backend);
  const init = initTlm(backend, 11);
  const initHost = await Promise.all(init.map((t) => t.data().then((d) => Float32Array.from(d))));
  const params = init.map((t, i) => variable(t, shapes[i][0]));
  init.forEach((t) => t.dispose());
  const opt = new AdamW(params, { lr: ADAMW.lr, beta1: ADAMW.beta1, beta2: ADAMW.beta2, eps: ADAMW.eps, weightDecay: ADAMW.weightDecay });
  const eagerStep = async () => {
    const { value, grads } = gradients(() => tlmLoss(params, ids, targets), params);
    opt.step(grads);
    for (const g of grads) g.dispose();
    const l = (await value.data())[0];
    value.dispose();
    return l;
  };
  // Eager step 1: the reference (loss, updated params, first moments).
  let t0 = performance.now();
  const refLoss = await eagerStep();
  const refParams = await Promise.all(params.map((t) => t.data().then((d) => Float32Array.from(d))));
  const st = opt.state();
  const refM = await Promise.all(params.map((_, i) => st[`m.${i}`].data().then((d) => Float32Array.from(d))));
  log(`tfjs-wasm eager tlm_train_step first step ${(performance.now() - t0).toFixed(0)} ms, loss ${refLoss.toFixed(5)}`);
  if (opts.eager) {
    const t = await timeIt(eagerStep, repeats, 0);
    addRow('tfjs-wasm', name, flops, t, { correct: true, note: 'eager gradients + AdamW; reference for the ORT check' });
  }

  // The same training step compiled on the onnx backend: forward + gradients + core's AdamW in
  // one ONNX model; parameters and moments stay on the host between steps.
  const paramsO = initHost.map((d, i) => tidy(() => variable(tensor(d, shapes[i][1], { backend: onnx }), shapes[i][0])));
  const optO = new AdamW(paramsO, { lr: ADAMW.lr, beta1: ADAMW.beta1, beta2: ADAMW.beta2, eps: ADAMW.eps, weightDecay: ADAMW.weightDecay });
  const idsO = tensor(await ids.data(), ids.shape, { dtype: 'int32', backend: onnx });
  const tgO = tensor(await targets.data(), targets.shape, { dtype: 'int32', backend: onnx });
  const f = compileOnnx((a, b) => {
    const { value, grads } = gradients(() => tlmLoss(paramsO, a, b), paramsO);
    optO.step(grads);
    for (const g of grads) g.dispose();
    return value;
  }, { backend: onnx, name });
  let lastLoss = NaN;
  const onnxStep = async () => {
    const l = await f(idsO, tgO);
    lastLoss = (await l.data())[0];
    l.dispose();
    return lastLoss;
  };
  t0 = performance.now();
  const loss1 = await onnxStep(); // step 1: check
  const exportMs = performance.now() - t0;
  const stO = optO.state();
  const pO = await Promise.all(paramsO.map((t) => t.data()));
  const mO = await Promise.all(paramsO.map((_, i) => stO[`m.${i}`].data()));
  const lossErr = Math.abs(loss1 - refLoss) / Math.abs(refLoss);
  let pErr = 0, pErrCond = 0, mNum = 0, mDen = 0, dMax = 0;
  for (let i = 0; i < n; i++) {
    pErr = Math.max(pErr, maxAbsDiff(pO[i], refParams[i]));
    dMax = Math.max(dMax, maxAbsDiff(refParams[i], initHost[i]));
    mNum = Math.max(mNum, maxAbsDiff(mO[i], refM[i]));
    // Entries whose gradient |g| = |m| / (1 - beta1) is >= 100 * eps (AdamW's step is well conditioned there).
    for (let j = 0; j < refM[i].length; j++) {
      if (Math.abs(refM[i][j]) / (1 - ADAMW.beta1) >= 100 * ADAMW.eps) pErrCond = Math.max(pErrCond, Math.abs(pO[i][j] - refParams[i][j]));
    }
    mDen = Math.max(mDen, maxAbs(refM[i]));
  }
  // Tolerances: loss and first moment (= 0.1 * gradient) relative 1e-3; updated params within
  // 1% of lr where |g| >= 100 * eps. AdamW's first step moves each weight by lr * g / (|g| + eps), so
  // where |g| is ~1e-9 (float32 rounding noise of a ~0 gradient) the two paths may legitimately
  // differ by ~10% of lr: param_max_abs_err (all entries) is reported, not gated.
  const check = { loss_onnx: loss1, loss_eager: refLoss, loss_rel_err: lossErr, m_rel_err: mNum / mDen, param_max_abs_err: pErr, param_max_abs_err_well_conditioned: pErrCond, param_max_update: dMax, lr: ADAMW.lr };
  const ok = lossErr <= 1e-3 && mNum / mDen <= 1e-3 && pErrCond <= 0.01 * ADAMW.lr;
  log(`check ${name}: ${JSON.stringify(check)} ${ok ? 'OK' : 'FAILED'}`);
  if (ok) {
    const t = await timeIt(onnxStep, repeats, 2);
    const prog = f.programs[0];
    addRow('onnx', name, flops, t, { correct: true, check, loss_after: lastLoss, steps_run: optO.stepCount, graph_nodes: prog.graph.nodes.length, onnx_bytes: prog.model.length, record_export_session_first_run_ms: Math.round(exportMs), rss_mib: rss(), note: 'compileOnnx of forward + gradients + core AdamW; parameters and moments stay on the host between steps' });
  } else rows.push({ path: 'onnx', workload: name, correct: false, check });
  await f.dispose();
  opt.dispose();
  optO.dispose();
  for (const t of [...params, ids, targets, ...paramsO, idsO, tgO]) t.dispose();
}

// ---------------------------------------------------------------- PyTorch
function torchSuite(suite) {
  try {
    execFileSync('/usr/bin/python3', ['-c', 'import torch'], { stdio: 'ignore' });
  } catch {
    return { available: false, reason: '/usr/bin/python3 cannot import torch (apt-get install python3-torch libopenblas0-pthread)' };
  }
  try {
    const out = execFileSync('/usr/bin/python3', [join(here, 'torch_baseline.py'), '--json', '--threads', String(threads), '--suite', suite, '--repeats', String(repeats), '--warmup', String(warmup)], { encoding: 'utf8', maxBuffer: 1 << 24, stdio: ['ignore', 'pipe', 'inherit'] });
    const parsed = JSON.parse(out);
    return { available: true, machine: parsed.machine, results: parsed.results, skipped: parsed.skipped };
  } catch (e) {
    if (e.stdout) { try { const parsed = JSON.parse(e.stdout); return { available: true, machine: parsed.machine, results: parsed.results, skipped: parsed.skipped }; } catch { /* fall through */ } }
    return { available: false, reason: String(e.message).split('\n')[0] };
  }
}
const torchInfo = {};
if (opts.torch) {
  for (const [suite, workloads, key] of [['primitives', WORKLOADS.map((w) => w.name), 'primitives'], ['blocks', ['sd_blocks_fwd'], 'sd_blocks_fwd'], ['train', ['tlm_train_step'], 'tlm_train_step']]) {
    if (!wanted(key)) continue;
    const r = torchSuite(suite);
    torchInfo[suite] = r.available ? { machine: r.machine, skipped: r.skipped } : { unavailable: r.reason };
    if (!r.available) { notes.push(`PyTorch ${suite}: ${r.reason}`); continue; }
    for (const x of r.results) if (workloads.includes(x.name)) {
      const workload = x.name;
      rows.push({ path: 'pytorch-cpu', workload, flops: x.flops, median_ms: x.median_ms, min_ms: x.min_ms, repeats: x.repeats, gflops: x.gflops, correct: x.check?.ok ?? true, check: x.check, note: x.note });
      log(`${'pytorch-cpu'.padEnd(14)} ${workload.padEnd(16)} ${x.median_ms.toFixed(1)} ms`);
    }
  }
  for (const row of rows) {
    const t = rows.find((r) => r.path === 'pytorch-cpu' && r.workload === row.workload);
    if (t && row.median_ms) row.ratio_to_pytorch = row.median_ms / t.median_ms;
  }
}

const machine = { cpu: cpus()[0]?.model, cores: cpus().length, memory_gib: +(totalmem() / 2 ** 30).toFixed(1), node: process.version, platform: process.platform, ort_threads: threads };
const pad = (s, k) => String(s).padEnd(k);
const order = ['tfjs-wasm', 'onnx', 'pytorch-cpu'];
const wOrder = [...WORKLOADS.map((w) => w.name), 'sd_blocks_fwd', 'tlm_train_step'];
rows.sort((a, b) => wOrder.indexOf(a.workload) - wOrder.indexOf(b.workload) || order.indexOf(a.path) - order.indexOf(b.path));
const lines = [
  `machine: ${machine.cpu}, ${machine.cores} cores, Node ${machine.node}; ORT and PyTorch at ${threads} threads`,
  `${pad('workload', 22)} ${pad('path', 13)} ${pad('GFLOP', 7)} ${pad('median ms', 11)} ${pad('GFLOP/s', 9)} ${pad('vs PyTorch', 10)}`,
  ...rows.map((r) => `${pad(r.workload, 22)} ${pad(r.path, 13)} ${pad(r.flops ? (r.flops / 1e9).toFixed(2) : '-', 7)} ${pad(r.correct === false ? 'wrong' : r.median_ms?.toFixed(1) ?? '-', 11)} ${pad(r.gflops?.toFixed(1) ?? '-', 9)} ${pad(r.ratio_to_pytorch ? r.ratio_to_pytorch.toFixed(2) + 'x' : '-', 10)}`),
  'FLOPs: matmul/conv multiply-adds x2 (norms, activations, softmax, elementwise not counted); train step = 3x forward.',
  ...notes,
];
console.log(lines.join('\n'));
const pkg = JSON.parse(readFileSync(join(here, '..', 'packages', 'core', 'package.json'), 'utf8'));
mkdirSync(dirname(opts.out), { recursive: true });
writeFileSync(opts.out, JSON.stringify({
  suite: 'graph', date: new Date().toISOString(), version: pkg.version, machine, torch: torchInfo,
  config: { primitives: WORKLOADS.map((w) => ({ name: w.name, shapes: w.shapes, flops: w.flops })), sd_blocks: SD, tlm: { ...TLM, lm_head: 'untied, no bias', loss: 'mean cross-entropy', attention: 'unmasked (encoder)' }, adamw: ADAMW, repeats, warmup },
  flops_method: 'matmul and conv multiply-adds x2 from the layer shapes; norms/activations/softmax/elementwise excluded; training step = 3x forward matmul FLOPs',
  rows, notes,
}, null, 2) + '\n');
console.log(`wrote ${opts.out}`);
