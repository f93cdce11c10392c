// Stable Diffusion 1.x at full size with random weights (@denoise/ldm's UNet2DConditionModel and
// AutoencoderKL, SD 1.x configs: 860M + 84M parameters), on each CPU path:
//   unet_step    one UNet evaluation for classifier-free guidance: batch 2, latents
//                [2, 4, s/8, s/8], context [2, 77, 768], at s = 256 and 512 pixels
//   vae_decode   the VAE decoder, latents [1, 4, 64, 64] -> image [1, 3, 512, 512]
// Paths: tfjs-wasm (eager, 2 threads) and onnx (@denoise/backend-onnx: compileOnnx records the
// forward once, ONNX Runtime runs it with 2 intra-op threads; parameters stay on the host).
//
// Each (path, model) runs in a child process of its own, so that its peak memory is its own:
// peak RSS is VmHWM from /proc/self/status, reset (clear_refs 5) before each size, and covers
// the warm-up and timed runs; the backend's memory() (live tensor bytes) is read after the runs.
// Random weights: bench/lib/random-weights.mjs (a pool of 2^22 N(0, 1) draws from Generator(seed),
// tiled from a random offset per parameter, at initRandom's scales).
// FLOPs come from the layer shapes of what runs: the forward is recorded (captureGraph) and every
// conv2d and matmul node (attention's q k^T and scores v included) counts 2 x multiply-adds;
// norms, activations, softmax and elementwise ops are not counted.
// Before timing, a check child compares the onnx path with eager tfjs-wasm on the same weights
// at a small size (64 px; relative max error <= 1e-3).
// The first call is the warm-up (for onnx it also records, exports and opens the session; that
// time is reported apart); then `repeats` timed calls: min and median.
//
// tfjs-wasm holds every tensor in one wasm32 heap of at most 4 GiB. The UNet's parameters alone
// are 3.2 GiB, and from its second call on the backend keeps a transposed copy of each reused
// weight and XNNPACK a packed one: only one cold call fits, so that row is a single cold call.
// At 512 the package's estimate of one call (estimateUNetMemory: 4.5 GiB even with attention
// sliced one row at a time) exceeds the heap, and an attempt stalls with the heap full (main
// thread busy, worker threads idle, no result after 16 min): the row is skipped unless
// --force-eager. The VAE decode at 512 stalls the same way (no estimate exists for it, so it
// is tried). A child that reports nothing for --stall-min minutes (8) is stopped.
//
//   npm run build && node bench/ldm.mjs [--only unet_step,vae_decode] [--sizes 256,512]
//     [--eager-sizes 256] [--backends tfjs-wasm,onnx] [--repeats 3] [--slice auto|none|max|<rows>]
//     [--no-check] [--force-eager] [--stall-min 8]
//
// --eager-sizes limits the eager tfjs-wasm path (default: --sizes). On an idle 2-core machine the
// default run takes about 14 min, 8 of them waiting out the eager VAE decode at 512, which also
// fills the wasm heap and stalls; `--eager-sizes 256` about 6 min. Prints a table and writes
// bench/results/ldm.json (machine, load average before and after).

import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const SCRIPT = fileURLToPath(import.meta.url);
const THREADS = 2;
const WASM_HEAP = 4 * 2 ** 30;

// ---------------------------------------------------------------- shared helpers

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const log = (...a) => console.error(...a);
const mib = (bytes) => +(bytes / 2 ** 20).toFixed(0);

/** 64 evenly spaced output values and the mean |value|: enough to compare runs and paths. */
function fingerprint(data) {
  const samples = [];
  const step = Math.max(1, Math.floor(data.length / 64));
  for (let i = 0; i < data.length && samples.length < 64; i += step) samples.push(data[i]);
  let sum = 0;
  for (let i = 0; i < data.length; i++) sum += Math.abs(data[i]);
  return { samples, mean_abs: sum / data.length, finite: samples.every(Number.isFinite) && Number.isFinite(sum) };
}

/** max |a - b| / max |b| over the samples. */
function relDiff(a, b) {
  let err = 0;
  let ref = 0;
  a.samples.forEach((v, i) => { err = Math.max(err, Math.abs(v - b.samples[i])); ref = Math.max(ref, Math.abs(b.samples[i])); });
  return ref > 0 ? err / ref : err === 0 ? 0 : Infinity;
}

// ---------------------------------------------------------------- child: one path, one model

async function child(job) {
  const fs = await import('node:fs');
  const core = await import('@denoise/core');
  const { Generator, engine, captureGraph, randn, tensor, tidy } = core;
  const { registerTfjsBackends } = await import('@denoise/backend-tfjs');
  const ldm = await import('@denoise/ldm');
  const out = (o) => process.stdout.write(`${JSON.stringify(o)}\n`);
  const status = () => fs.readFileSync('/proc/self/status', 'utf8');
  const kib = (field) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status())?.[1] ?? NaN) * 1024;
  const resetPeak = () => { try { fs.writeFileSync('/proc/self/clear_refs', '5'); return true; } catch { return false; } };

  registerTfjsBackends(core.registerBackend);
  const wasm = await core.resolveBackend(['tfjs-wasm']);
  let backend = wasm;
  let compileOnnx = null;
  if (job.backend === 'onnx' || job.check) {
    const onnxPkg = await import('@denoise/backend-onnx');
    backend = await onnxPkg.createOnnxBackend({ fallback: wasm, threads: THREADS });
    compileOnnx = onnxPkg.compileOnnx;
  }
  engine.setBackend(backend);

  const slicingFor = (size) => {
    if (job.slice === 'none') return null;
    if (job.slice === 'auto') return job.backend === 'tfjs-wasm' && job.model === 'unet' && size >= 512 ? { slice: 'max' } : null;
    return { slice: job.slice === 'max' ? 'max' : Number(job.slice) };
  };
  const workloadName = job.model === 'unet' ? 'unet_step' : 'vae_decode';
  // The UNet on tfjs-wasm: the package's estimate of one evaluation's peak (parameters + skips +
  // the largest layer); above the 4 GiB heap the size is reported as skipped (before any weights exist).
  const wasmEstimate = (size) => {
    if (job.backend !== 'tfjs-wasm' || job.model !== 'unet') return null;
    const slicing = slicingFor(size);
    const est = ldm.estimateUNetMemory({}, { batch: 2, height: size / 8, width: size / 8, slicing: slicing ?? {}, scoreCopies: slicing ? 5 : 1 });
    const gib = +(est.peak / 2 ** 30).toFixed(2);
    const skipped = est.peak > WASM_HEAP && !job.force
      ? `estimated peak ${gib} GiB (at ${est.transientAt}) > the 4 GiB wasm32 heap; an attempt stalls with the heap full (--force-eager to try)`
      : null;
    return { estimated_peak_gib: gib, ...(skipped ? { skipped } : {}), attention_slicing: slicing ?? 'none' };
  };
  if (!job.check && job.sizes.every((size) => wasmEstimate(size)?.skipped)) {
    for (const size of job.sizes) out({ row: { path: job.backend, workload: workloadName, size, ...wasmEstimate(size) } });
    return;
  }

  // ---- the model with seeded random weights
  const model = job.model === 'unet' ? new ldm.UNet2DConditionModel() : new ldm.AutoencoderKL();
  const { fillRandomWeights } = await import('./lib/random-weights.mjs');
  const initMs = fillRandomWeights(model, new Generator(job.seed), backend) * 1e3;
  globalThis.gc?.(); // the host copies made while setting the parameters, before any RSS is read
  const paramBytes = model.parameterCount() * 4;
  log(`[${job.backend} ${job.model}] ${(paramBytes / 2 ** 30).toFixed(2)} GiB of parameters in ${(initMs / 1e3).toFixed(1)} s`);

  // ---- the workload at one size
  const workload = (size, b) => {
    const lat = size / 8;
    const g = new Generator(job.seed + size);
    if (job.model === 'unet') {
      const inputs = [randn([2, 4, lat, lat], g, { backend: b }), randn([2, 77, 768], g, { backend: b })];
      // A late timestep, as in the first step of a 50-step schedule.
      return { inputs, fn: (x, ctx) => model.forward(x, 981, ctx), shapes: { sample: [2, 4, lat, lat], context: [2, 77, 768], timestep: 981 } };
    }
    const inputs = [randn([1, 4, lat, lat], g, { backend: b })];
    return { inputs, fn: (z) => model.decode(z), shapes: { latents: [1, 4, lat, lat], image: [1, 3, size, size] } };
  };
  const flopsOf = (w) => {
    const graph = captureGraph(w.fn, w.inputs.map((t) => ({ shape: t.shape, dtype: t.dtype })), { backend: w.inputs[0].backend });
    const shapes = new Map();
    for (const v of [...graph.inputs, ...graph.constants, ...graph.externals]) shapes.set(v.id, v.shape);
    const weights = new Set(graph.externals.map((e) => e.id));
    let flops = 0;
    let attentionFlops = 0;
    const size = (s) => s.reduce((a, b) => a * b, 1);
    for (const n of graph.nodes) {
      shapes.set(n.output.id, n.output.shape);
      if (n.kernel === 'conv2d') {
        const w = shapes.get(n.inputs[1]);
        flops += 2 * size(n.output.shape) * w[1] * w[2] * w[3];
      } else if (n.kernel === 'matmul') {
        const a = shapes.get(n.inputs[0]);
        const k = n.attrs.transposeA ? a[a.length - 2] : a[a.length - 1];
        const f = 2 * size(n.output.shape) * k;
        flops += f;
        if (!weights.has(n.inputs[1])) attentionFlops += f; // activations times activations: attention
      }
    }
    return { flops, attention_flops: attentionFlops, nodes: graph.nodes.length };
  };

  // ---- correctness: onnx (compiled) vs eager tfjs-wasm (the same weights, through the fallback)
  if (job.check) {
    const w = workload(job.checkSize, backend);
    const f = compileOnnx(w.fn, { backend, name: `${job.model}_check` });
    const got = await (await f(...w.inputs)).data();
    const want = tidy(() => w.fn(...w.inputs)).dataSync();
    let err = 0;
    let ref = 0;
    for (let i = 0; i < want.length; i++) { err = Math.max(err, Math.abs(got[i] - want[i])); ref = Math.max(ref, Math.abs(want[i])); }
    await f.dispose();
    out({ check: { model: job.model, size: job.checkSize, max_abs_err: err, max_abs_ref: ref, max_rel_err: err / ref, finite: Number.isFinite(ref), ok: err / ref <= 1e-3 } });
    return;
  }

  for (const size of job.sizes) {
    const row = { path: job.backend, workload: workloadName, size, params_gib: +(paramBytes / 2 ** 30).toFixed(3), init_s: +(initMs / 1e3).toFixed(1) };
    const slicing = slicingFor(size);
    model.setAttentionSlicing(slicing);
    row.attention_slicing = slicing ?? 'none';
    const est = wasmEstimate(size);
    if (est) {
      Object.assign(row, est);
      if (est.skipped) {
        out({ row });
        continue;
      }
    }
    const w = workload(size, backend);
    Object.assign(row, { shapes: w.shapes }, flopsOf(w));
    log(`[${job.backend} ${row.workload} ${size}] starting`);
    const rssBefore = kib('VmRSS');
    row.peak_reset = resetPeak();
    // The UNet on tfjs-wasm: the backend keeps a transposed copy of a reused weight and XNNPACK a
    // packed one, so from the second call on the 3.2 GiB of parameters need 2-3x that in a heap
    // of 4 GiB; only the first (cold) call fits.
    const coldOnly = job.backend === 'tfjs-wasm' && job.model === 'unet' && 2 * paramBytes > 4 * 2 ** 30;
    const runs = coldOnly ? 1 : 1 + job.repeats;
    if (coldOnly) row.note = 'one cold call only: repeated calls do not fit the 4 GiB wasm32 heap (tfjs-wasm caches a transposed copy of each reused weight and XNNPACK a packed one, 2-3x the 3.2 GiB of parameters)';
    let f = null;
    let call;
    if (job.backend === 'onnx') {
      f = compileOnnx(w.fn, { backend, name: row.workload });
      call = async () => { const o = await f(...w.inputs); const d = await o.data(); o.dispose(); return d; };
    } else {
      call = async () => { const o = tidy(() => w.fn(...w.inputs)); const d = await o.data(); o.dispose(); return d; };
    }
    const times = [];
    try {
      for (let i = 0; i < runs; i++) {
        const s = performance.now();
        const data = await call();
        const dt = performance.now() - s;
        const fp = fingerprint(data);
        if (i === 0) {
          row[job.backend === 'onnx' ? 'first_call_ms' : 'first_run_ms'] = Math.round(dt);
          row.fingerprint = fp;
          row.backend_memory_after_first = engine.backend.memory();
          out({ partial: row });
        } else {
          times.push(dt);
          // Same inputs, same weights: every call must give the first call's output.
          row.repeat_max_rel_diff = Math.max(row.repeat_max_rel_diff ?? 0, relDiff(fp, row.fingerprint));
        }
        log(`[${job.backend} ${row.workload} ${size}] run ${i} ${(dt / 1e3).toFixed(1)} s${i === 0 ? ' (warm-up)' : ''}`);
      }
    } catch (e) {
      row.error = String(e?.message ?? e).split('\n')[0].slice(0, 300);
    }
    if (times.length) {
      row.repeats = times.length;
      row.min_ms = Math.round(Math.min(...times));
      row.median_ms = Math.round(median(times));
    } else if (coldOnly && row.first_run_ms) {
      row.repeats = 0;
      row.cold_ms = row.first_run_ms;
    }
    const ms = row.median_ms ?? row.cold_ms;
    if (ms) row.gflops = +(row.flops / (ms / 1e3) / 1e9).toFixed(1);
    row.peak_rss_mib = mib(kib('VmHWM'));
    row.rss_before_mib = mib(rssBefore);
    row.backend_memory = engine.backend.memory();
    if (f) {
      row.onnx_graph_nodes = f.programs[0]?.graph.nodes.length;
      await f.dispose();
    }
    for (const t of w.inputs) t.dispose();
    out({ row });
    if (row.error) break;
  }
}

// ---------------------------------------------------------------- parent: run the children, report

/** User + system CPU seconds of each thread of a process (from /proc/<pid>/task/<tid>/stat). */
function threadTimes(pid) {
  const hz = 100;
  return readdirSync(`/proc/${pid}/task`).map((tid) => {
    const f = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8').split(') ')[1].split(' ');
    return +((Number(f[11]) + Number(f[12])) / hz).toFixed(1);
  });
}

/**
 * Runs one child; its stderr is passed through and scanned for XNNPACK failures (per size). A
 * child that reports nothing for `stallMin` minutes is stopped (its pending size is an error).
 */
function runChild(job, stallMin) {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ['--expose-gc', '--max-old-space-size=8192', SCRIPT, '--child', JSON.stringify(job)], { stdio: ['ignore', 'pipe', 'pipe'] });
    const messages = [];
    const xnnErrors = {};
    let size = null;
    let stalled = false;
    let timer = null;
    const alive = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        // How it looked when stopped: resident memory and CPU time of each of its threads.
        try {
          const st = readFileSync(`/proc/${p.pid}/status`, 'utf8');
          stalled = { rss_mib: mib(Number(/VmRSS:\s+(\d+)/.exec(st)[1]) * 1024), threads_cpu_s: threadTimes(p.pid) };
        } catch {
          stalled = {};
        }
        log(`[${job.backend} ${job.model}] nothing for ${stallMin} min: stopping it (${JSON.stringify(stalled)})`);
        p.kill('SIGKILL');
      }, stallMin * 6e4);
    };
    alive();
    const lines = (stream, onLine) => {
      let buf = '';
      stream.on('data', (d) => {
        alive();
        buf += d;
        let i;
        while ((i = buf.indexOf('\n')) >= 0) {
          onLine(buf.slice(0, i));
          buf = buf.slice(i + 1);
        }
      });
    };
    lines(p.stdout, (line) => { try { messages.push(JSON.parse(line)); } catch { log(line); } });
    lines(p.stderr, (line) => {
      log(line);
      const m = /^\[\S+ \S+ (\d+)\] starting/.exec(line);
      if (m) size = Number(m[1]);
      if (/XNN status .* not successful/.test(line)) xnnErrors[size] = (xnnErrors[size] ?? 0) + 1;
    });
    p.on('close', (code, signal) => { clearTimeout(timer); resolve({ messages, code, signal, xnnErrors, stalled }); });
  });
}

async function parent() {
  const opts = {
    only: 'unet_step,vae_decode', sizes: '256,512', 'eager-sizes': '', backends: 'tfjs-wasm,onnx', repeats: '3', slice: 'auto', seed: '1', 'stall-min': '8',
    check: true, force: false, out: join(here, 'results', 'ldm.json'),
  };
  for (let i = 2; i < process.argv.length; i++) {
    const a = process.argv[i];
    if (a === '--no-check') opts.check = false;
    else if (a === '--force-eager') opts.force = true;
    else if (a.startsWith('--')) opts[a.slice(2)] = process.argv[++i];
  }
  const only = opts.only.split(',');
  const sizes = opts.sizes.split(',').map(Number).sort((a, b) => a - b);
  const eagerSizes = opts['eager-sizes'] ? opts['eager-sizes'].split(',').map(Number) : sizes;
  const backends = opts.backends.split(',');
  const repeats = Number(opts.repeats);
  const seed = Number(opts.seed);
  const load = { before: loadavg().map((x) => +x.toFixed(2)) };
  const started = performance.now();
  const rows = [];
  const checks = [];
  const notes = [];
  const models = [['unet', 'unet_step', sizes], ['vae', 'vae_decode', sizes.includes(512) ? [512] : sizes]].filter(([, name]) => only.includes(name));

  for (const [model, name, mSizes] of models) {
    if (opts.check && backends.includes('onnx')) {
      const r = await runChild({ backend: 'onnx', model, check: true, checkSize: 64, seed }, Number(opts['stall-min']));
      const c = r.messages.find((m) => m.check)?.check ?? { model, ok: false, error: `check child exited with ${r.code ?? r.signal}` };
      checks.push(c);
      log(`check ${name}: onnx vs eager tfjs-wasm at 64 px, max rel err ${c.max_rel_err?.toExponential(2)} ${c.ok ? 'OK' : 'FAILED'}`);
    }
    for (const backend of backends) {
      if (backend === 'onnx' && checks.some((c) => c.model === model && !c.ok)) {
        rows.push({ path: backend, workload: name, correct: false, note: 'onnx check against eager tfjs-wasm failed: not timed' });
        continue;
      }
      const runSizes = backend === 'tfjs-wasm' ? mSizes.filter((x) => eagerSizes.includes(x)) : mSizes;
      if (!runSizes.length) continue;
      // One child per size: each peak RSS starts from the parameters alone.
      for (const s of runSizes) {
        const r = await runChild({ backend, model, sizes: [s], repeats, slice: opts.slice, seed, force: opts.force }, Number(opts['stall-min']));
        const done = r.messages.find((m) => m.row?.size === s)?.row;
        const partial = r.messages.find((m) => m.partial?.size === s)?.partial;
        const row = done ?? (partial ? { ...partial } : { path: backend, workload: name, size: s });
        const why = r.stalled ? `stopped after ${opts['stall-min']} min without a result` : `child process ended (${r.code !== null ? `exit code ${r.code}` : `signal ${r.signal}`})`;
        if (!done) row.error = `${why} ${partial ? 'after the first call' : 'before this size finished'}`;
        if (!done && r.stalled) {
          row.at_stop = r.stalled;
          if (r.stalled.rss_mib) row.error += ` (RSS ${(r.stalled.rss_mib / 1024).toFixed(2)} GiB${backend === 'tfjs-wasm' ? ', the wasm heap is capped at 4 GiB' : ''})`;
        }
        if (r.xnnErrors[s]) row.xnnpack_errors = r.xnnErrors[s];
        rows.push(row);
      }
    }
  }
  // Every path's output against the onnx path's (same seeds: same weights and inputs; onnx was
  // checked against eager tfjs-wasm above), and every repeat against the first call.
  for (const r of rows) {
    if (!r.fingerprint) continue;
    const ref = rows.find((x) => x.path === 'onnx' && x.workload === r.workload && x.size === r.size && x.fingerprint);
    if (ref && ref !== r) r.vs_onnx_max_rel_diff = relDiff(r.fingerprint, ref.fingerprint);
    const check = checks.find((c) => c.model === (r.workload === 'unet_step' ? 'unet' : 'vae'));
    r.correct = r.fingerprint.finite && !r.xnnpack_errors && (r.vs_onnx_max_rel_diff ?? 0) <= 1e-3 && (r.repeat_max_rel_diff ?? 0) <= 1e-4 && (check?.ok ?? true);
    if (!check && (r.path === 'onnx' || r.vs_onnx_max_rel_diff === undefined)) r.unchecked = 'no check against eager tfjs-wasm in this run';
  }
  load.after = loadavg().map((x) => +x.toFixed(2));

  const machine = { cpu: cpus()[0]?.model, cores: cpus().length, memory_gib: +(totalmem() / 2 ** 30).toFixed(1), node: process.version, platform: process.platform, threads: THREADS, loadavg_1_5_15: load };
  const pad = (s, k) => String(s).padEnd(k);
  const status = (r) => (r.skipped ? 'skipped' : r.error ? 'failed' : r.correct === false ? 'WRONG OUTPUT' : r.unchecked ? 'unchecked' : '');
  const secs = (ms) => (ms ? (ms / 1e3).toFixed(1) : '-');
  const lines = [
    `machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memory_gib} GiB, Node ${machine.node}; 2 threads per path; load average (1/5/15 min) before ${load.before.join(' ')}, after ${load.after.join(' ')}`,
    `${pad('workload', 11)} ${pad('size', 4)} ${pad('path', 9)} ${pad('GFLOP', 6)} ${pad('min s', 6)} ${pad('median s', 8)} ${pad('GFLOP/s', 7)} ${pad('peak RSS GiB', 12)} ${pad('1st call s', 10)} note`,
    ...rows.map((r) => [
      pad(r.workload, 11), pad(r.size ?? '-', 4), pad(r.path, 9), pad(r.flops ? (r.flops / 1e9).toFixed(0) : '-', 6),
      pad(secs(r.min_ms ?? r.cold_ms), 6), pad(r.median_ms ? secs(r.median_ms) : r.cold_ms ? `${secs(r.cold_ms)} (1)` : '-', 8), pad(r.gflops ?? '-', 7),
      pad(r.peak_rss_mib ? (r.peak_rss_mib / 1024).toFixed(2) : '-', 12), pad(secs(r.first_call_ms ?? r.first_run_ms), 10),
      [status(r), r.skipped ?? r.error ?? '', r.xnnpack_errors ? `${r.xnnpack_errors} XNNPACK failures` : '', r.cold_ms ? 'one cold call only (repeats do not fit the 4 GiB wasm heap)' : '',
        r.attention_slicing && r.attention_slicing !== 'none' ? `attention slice ${r.attention_slicing.slice}` : ''].filter(Boolean).join('; '),
    ].join(' ')),
    `FLOPs: conv2d + matmul multiply-adds x2 from the recorded layer shapes (attention included); norms, activations, softmax, elementwise not counted.`,
    `times: ${repeats} timed calls after 1 warm-up call (onnx: the warm-up call also records, exports and opens the session: '1st call'); (1): a single cold call.`,
    `peak RSS: the child process's VmHWM over the warm-up and timed calls, parameters included.`,
    `checks: onnx vs eager tfjs-wasm at 64 px: ${checks.map((c) => `${c.model} ${c.ok ? 'OK' : 'FAILED'} (max rel err ${c.max_rel_err?.toExponential(1)})`).join(', ') || 'not run'}; every row's output vs the onnx row's and every repeat vs the first call: ${rows.every((r) => r.correct !== false) ? 'OK' : 'see WRONG OUTPUT rows'}`,
    ...notes,
    `total ${((performance.now() - started) / 6e4).toFixed(1)} min`,
  ];
  console.log(lines.join('\n'));
  const pkg = JSON.parse(readFileSync(join(here, '..', 'packages', 'ldm', 'package.json'), 'utf8'));
  mkdirSync(dirname(opts.out), { recursive: true });
  writeFileSync(opts.out, JSON.stringify({
    suite: 'ldm', date: new Date().toISOString(), version: pkg.version, machine,
    config: {
      unet: 'SD 1.x (SD15_UNET): block_out_channels [320, 640, 1280, 1280], 2 layers per block, 8 heads, context 768; batch 2 (classifier-free guidance), timestep 981',
      vae: 'SD 1.x (SD15_VAE): block_out_channels [128, 256, 512, 512], decoder only (post_quant_conv + decoder), batch 1',
      weights: 'random: Generator(seed) pool of 2^22 normals, tiled per parameter from a random offset, initRandom scales', seed, repeats, warmup: 1,
      options: Object.fromEntries(Object.entries(opts).filter(([k]) => k !== 'out')),
      slicing: opts.slice === 'auto' ? "auto: slice 'max' for the UNet on tfjs-wasm at 512 (wasm32 heap), none elsewhere" : opts.slice,
      threads: 'tfjs-wasm: 2 pthreads; onnx: ONNX Runtime (onnxruntime-node) with 2 intra-op threads',
    },
    flops_method: 'conv2d and matmul nodes of the recorded forward (captureGraph), 2 x output elements x reduction length; attention matmuls included (attention_flops); norms, activations, softmax and elementwise ops excluded',
    memory_method: 'peak_rss_mib: VmHWM of the child process (reset with /proc/self/clear_refs before each size) over the warm-up and timed runs, parameters included; rss_before_mib: VmRSS just before; backend_memory: the backend memory() (live tensor bytes) after the runs',
    checks, rows, notes,
  }, null, 2) + '\n');
  console.log(`wrote ${opts.out}`);
}

const ci = process.argv.indexOf('--child');
if (ci >= 0) await child(JSON.parse(process.argv[ci + 1]));
else await parent();
