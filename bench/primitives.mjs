// Benchmark of the foundation's primitives on every available backend, side by side with
// PyTorch CPU (bench/torch_baseline.py) when /usr/bin/python3 can import torch. It checks each
// backend's results against the float64 reference on reduced shapes first, then times:
//   matmul_1024            [1024,1024] @ [1024,1024]
//   conv3x3_fwd            x [1,128,64,64], w [128,128,3,3], padding 1
//   conv3x3_fwd_bwd        the same conv forward + gradients w.r.t. x and w (a VJP)
//   attention_2x8x1024x64  softmax(q k^T / 8) v for q, k, v [2,8,1024,64]
// and prints a table (median ms, GFLOP/s, ratio to PyTorch) and writes bench/results/primitives.json.
//
//   npm run bench                                   (build, then this)
//   node bench/primitives.mjs --backends tfjs-wasm,tfjs-cpu --repeats 10 --no-torch

import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync, readFileSync, rmSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createReferenceBackend, engine, registerBackend, resolveBackend, slice, tidy, toBackendSync } from '@denoise/core';
import { registerTfjsBackends } from '@denoise/backend-tfjs';
import { WORKLOADS, makeInputs } from './models/primitives.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const opts = { backends: 'tfjs-node-gpu,tfjs-node,tfjs-wasm,tfjs-cpu,reference', repeats: '10', warmup: '2', torch: true, out: join(here, 'results', 'primitives.json') };
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i];
  if (a === '--no-torch') opts.torch = false;
  else if (a.startsWith('--')) opts[a.slice(2)] = process.argv[++i];
}
const repeats = Number(opts.repeats);
const warmup = Number(opts.warmup);

// Slow backends get fewer repeats: the tfjs cpu backend and the reference run at ~0.5-1 GFLOP/s.
const SLOW = new Set(['tfjs-cpu', 'reference']);

// Forces completion (GPU backends are asynchronous) by reading one element of every output.
async function sync(outputs) {
  for (const o of outputs) {
    const one = slice(o, o.shape.map(() => 0), o.shape.map(() => 1));
    await one.data();
    one.dispose();
  }
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

async function check(workload, backend, reference) {
  const prev = engine.backend;
  try {
    engine.setBackend(reference);
    const inRef = makeInputs(workload.small, reference, 99);
    const want = tidy(() => workload.run(inRef).map((t) => t.dataSync()));
    engine.setBackend(backend);
    const inB = Object.fromEntries(Object.entries(inRef).map(([k, t]) => [k, toBackendSync(t, backend)]));
    const got = [];
    for (const o of tidy(() => workload.run(inB))) {
      got.push(await o.data());
      o.dispose();
    }
    let worst = 0;
    want.forEach((w, j) => {
      for (let i = 0; i < w.length; i++) worst = Math.max(worst, Math.abs(got[j][i] - w[i]) / (1e-4 + 1e-3 * Math.abs(w[i])));
    });
    for (const t of [...Object.values(inRef), ...Object.values(inB)]) t.dispose();
    return worst <= 1;
  } finally {
    engine.setBackend(prev);
  }
}

async function timeWorkload(workload, backend) {
  const prev = engine.backend;
  engine.setBackend(backend);
  try {
    const inputs = makeInputs(workload.shapes, backend, 1);
    const n = SLOW.has(backend.name) ? Math.min(3, repeats) : repeats;
    const times = [];
    for (let i = 0; i < (SLOW.has(backend.name) ? 1 : warmup) + n; i++) {
      const t0 = performance.now();
      const outs = workload.run(inputs);
      await sync(outs);
      const dt = performance.now() - t0;
      for (const o of outs) o.dispose();
      if (i >= (SLOW.has(backend.name) ? 1 : warmup)) times.push(dt);
    }
    for (const t of Object.values(inputs)) t.dispose();
    return { median_ms: median(times), min_ms: Math.min(...times), repeats: times.length };
  } finally {
    engine.setBackend(prev);
  }
}

function torchBaseline() {
  if (!opts.torch) return { available: false, reason: 'disabled with --no-torch' };
  try {
    execFileSync('/usr/bin/python3', ['-c', 'import torch'], { stdio: 'ignore' });
  } catch {
    return { available: false, reason: "/usr/bin/python3 cannot import torch (apt-get install python3-torch libopenblas0-pthread)" };
  }
  const out = execFileSync('/usr/bin/python3', [join(here, 'torch_baseline.py'), '--json', '--threads', '2', '--suite', 'primitives', '--repeats', String(repeats), '--only', WORKLOADS.map((w) => w.name).join(',')], { encoding: 'utf8', maxBuffer: 1 << 24, stdio: ['ignore', 'pipe', 'inherit'] });
  const parsed = JSON.parse(out);
  return { available: true, machine: parsed.machine, results: Object.fromEntries(parsed.results.map((r) => [r.name, r])) };
}

registerTfjsBackends(registerBackend);
const reference = createReferenceBackend();
const rows = [];
const backends = [];
// tfjs keeps one global engine per process, so a second tfjs flavor runs in a child process.
let tfjsFlavorUsed = null;
function runInChild(name) {
  const out = join(here, 'results', `.child-${name}.json`);
  execFileSync(process.execPath, [fileURLToPath(import.meta.url), '--backends', name, '--no-torch', '--repeats', String(repeats), '--warmup', String(warmup), '--out', out], { stdio: ['ignore', 'ignore', 'inherit'] });
  const child = JSON.parse(readFileSync(out, 'utf8'));
  rmSync(out, { force: true });
  return child;
}

for (const name of opts.backends.split(',')) {
  if (name.startsWith('tfjs-') && tfjsFlavorUsed && tfjsFlavorUsed !== name) {
    const child = runInChild(name);
    backends.push(...child.backends);
    rows.push(...child.rows);
    continue;
  }
  let backend;
  try {
    backend = name === 'reference' ? reference : await resolveBackend([name]);
  } catch (e) {
    console.error(`skipping ${name}: ${e.message.split('\n').slice(1).join(' ').trim() || e.message}`);
    backends.push({ name, available: false, reason: e.message });
    continue;
  }
  backends.push({ name, available: true });
  if (name.startsWith('tfjs-')) tfjsFlavorUsed = name;
  for (const w of WORKLOADS) {
    const ok = name === 'reference' ? true : await check(w, backend, reference);
    if (!ok) {
      console.error(`${name} ${w.name}: result differs from the reference; not timed`);
      rows.push({ backend: name, workload: w.name, correct: false });
      continue;
    }
    const t = await timeWorkload(w, backend);
    rows.push({ backend: name, workload: w.name, correct: true, ...t, gflops: w.flops / (t.median_ms / 1e3) / 1e9, flops: w.flops });
    console.error(`${name.padEnd(10)} ${w.name.padEnd(22)} ${t.median_ms.toFixed(1)} ms`);
  }
}

const torch = torchBaseline();
if (torch.available) {
  for (const w of WORKLOADS) {
    const r = torch.results[w.name];
    if (r) rows.push({ backend: 'pytorch-cpu', workload: w.name, correct: r.check?.ok ?? true, median_ms: r.median_ms, min_ms: r.min_ms, repeats: r.repeats, gflops: r.gflops, flops: r.flops });
  }
  for (const row of rows) {
    const t = torch.results[row.workload];
    if (t && row.backend !== 'pytorch-cpu' && row.median_ms) row.ratio_to_pytorch = row.median_ms / t.median_ms;
  }
}

// Conv backward cost relative to forward, per backend (target: at most 4x on tfjs-wasm).
const ratios = {};
for (const b of new Set(rows.map((r) => r.backend))) {
  const f = rows.find((r) => r.backend === b && r.workload === 'conv3x3_fwd');
  const fb = rows.find((r) => r.backend === b && r.workload === 'conv3x3_fwd_bwd');
  if (f?.median_ms && fb?.median_ms) ratios[b] = fb.median_ms / f.median_ms;
}

const machine = { cpu: cpus()[0]?.model, cores: cpus().length, memory_gib: +(totalmem() / 2 ** 30).toFixed(1), node: process.version, platform: process.platform };
const pad = (s, n) => String(s).padEnd(n);
const lines = [
  `machine: ${machine.cpu}, ${machine.cores} cores, Node ${machine.node}`,
  `${pad('backend', 12)} ${pad('workload', 24)} ${pad('median ms', 11)} ${pad('GFLOP/s', 9)} ${pad('vs PyTorch', 10)}`,
  ...rows.map((r) => `${pad(r.backend, 12)} ${pad(r.workload, 24)} ${pad(r.median_ms?.toFixed(2) ?? 'wrong', 11)} ${pad(r.gflops?.toFixed(1) ?? '-', 9)} ${pad(r.ratio_to_pytorch ? r.ratio_to_pytorch.toFixed(2) + 'x' : '-', 10)}`),
  '',
  'conv forward+backward / forward: ' + Object.entries(ratios).map(([b, v]) => `${b} ${v.toFixed(2)}x`).join(', '),
];
console.log(lines.join('\n'));
if (!torch.available) console.log(`PyTorch baseline: ${torch.reason}`);

const pkg = JSON.parse(readFileSync(join(here, '..', 'packages', 'core', 'package.json'), 'utf8'));
mkdirSync(dirname(opts.out), { recursive: true });
writeFileSync(opts.out, JSON.stringify({ suite: 'primitives', date: new Date().toISOString(), version: pkg.version, machine, torch: torch.available ? torch.machine : { unavailable: torch.reason }, backends, conv_bwd_over_fwd: ratios, rows }, null, 2) + '\n');
console.log(`wrote ${opts.out}`);
