// Joins what bench/gpu/run.sh measured into one table and one JSON file: the WebGPU benchmark
// (bench/webgpu.mjs: our backend and tfjs-backend-webgpu, the SD block stack on our backend) and
// the same block stack in PyTorch (bench/gpu/torch_blocks.py). Imports nothing but Node's own
// modules: on the GPU machine it runs with the carried Node and no node_modules.
//
//   node bench/gpu/report.mjs --webgpu webgpu.json --torch torch.json --facts facts.txt --out gpu.json

import { existsSync, readFileSync, writeFileSync } from 'node:fs';

const opts = {};
for (let i = 2; i < process.argv.length; i += 2) opts[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];

function readJson(path, what) {
  if (!path || !existsSync(path)) return { unavailable: `${what}: no result` };
  const text = readFileSync(path, 'utf8').trim();
  // A whole JSON file (bench/webgpu.mjs), or one JSON object on the last line (torch_blocks.py).
  for (const candidate of [text, text.split('\n').pop()]) {
    try {
      return JSON.parse(candidate);
    } catch {}
  }
  return { unavailable: `${what}: unreadable output: ${text.slice(0, 300)}` };
}

const webgpu = readJson(opts.webgpu, 'webgpu bench');
const torch = readJson(opts.torch, 'torch_blocks.py');
const facts = opts.facts && existsSync(opts.facts) ? readFileSync(opts.facts, 'utf8').trim().split('\n') : [];

// One row per workload and implementation; `time_over_ours` compares queued time per call
// (calls submitted back to back, one wait at the end) with our backend's.
const rows = [];
const add = (workload, implementation, r, ours) => {
  if (!r?.median_ms) return;
  const q = r.queued?.per_call_ms;
  rows.push({
    workload, implementation, median_ms: r.median_ms, gflops: r.gflops, queued_ms: q ?? null, queued_gflops: r.queued?.gflops ?? null,
    time_over_ours: q && ours?.queued ? q / ours.queued.per_call_ms : null,
  });
};
for (const r of webgpu.rows ?? []) {
  add(r.workload, 'denoise webgpu', r.ours, r.ours);
  add(r.workload, 'tfjs-backend-webgpu', r.tfjs, r.ours);
}
const oursBlocks = webgpu.blocks?.ours;
if (webgpu.blocks) add(webgpu.blocks.workload, 'denoise webgpu', oursBlocks, oursBlocks);
for (const r of torch.results ?? []) add(r.name, `pytorch ${torch.machine.device.split(':')[0]} ${r.variant}`, r, oursBlocks);

const pad = (s, n) => String(s).padEnd(n);
const info = webgpu.adapter?.ours;
const lines = [
  `WebGPU adapter: ${info ? `${info.vendor} ${info.architecture} ${info.description}`.trim() : webgpu.unavailable ?? 'none'}${webgpu.software_adapter ? '  [software adapter: CPU speed, not GPU speed]' : ''}`,
  `PyTorch: ${torch.machine ? `${torch.machine.torch} on ${torch.machine.name}` : torch.unavailable ?? torch.error}`,
  `${pad('', 56)} ${pad('each call awaited', 20)} ${pad('10 calls queued', 20)} queued time`,
  `${pad('workload', 30)} ${pad('implementation', 25)} ${pad('ms', 10)} ${pad('GFLOP/s', 9)} ${pad('ms/call', 10)} ${pad('GFLOP/s', 9)} / denoise webgpu`,
  ...rows.map((r) => `${pad(r.workload, 30)} ${pad(r.implementation, 25)} ${pad(r.median_ms.toFixed(3), 10)} ${pad(r.gflops.toFixed(1), 9)} ${pad(r.queued_ms?.toFixed(3) ?? '-', 10)} ${pad(r.queued_gflops?.toFixed(1) ?? '-', 9)} ${r.time_over_ours ? r.time_over_ours.toFixed(2) + 'x' : '-'}`),
];
console.log(lines.join('\n'));
const failed = [...(webgpu.rows ?? []).filter((r) => !r.check?.ok).map((r) => r.workload), ...(webgpu.blocks && !webgpu.blocks.check?.ok ? [webgpu.blocks.workload] : [])];
if (failed.length) console.log(`not timed, our result differs from the reference: ${failed.join(', ')}`);

if (opts.out) {
  writeFileSync(opts.out, JSON.stringify({ suite: 'gpu', date: new Date().toISOString(), facts, rows, webgpu, torch }, null, 2) + '\n');
  console.log(`wrote ${opts.out}`);
}
