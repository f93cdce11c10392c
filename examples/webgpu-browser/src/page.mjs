// Runs in the browser: opens the WebGPU backend on the page's own navigator.gpu and runs the
// conformance cases named in the query (?cases=a,b,c) against core's float64 reference backend.
// The outcome lands in `window.__denoiseReport` for the test driver (test/webgpu-browser.test.mjs):
//   { status: 'done', adapter, results: [{ name, ok, worst, message, ms }] }
//   { status: 'no-webgpu' | 'no-adapter', reason }     the browser offers no usable WebGPU
//   { status: 'error', reason }                        anything else went wrong

import { createWebGPUBackend } from '@denoise/backend-webgpu';
import { conformanceCases, runConformanceCase } from '@denoise/core/testing';

const report = (r) => {
  window.__denoiseReport = r;
  document.getElementById('status').textContent = r.status;
};
const log = (line) => {
  console.log(line);
  document.getElementById('log').textContent += line + '\n';
};

async function main() {
  const names = (new URLSearchParams(location.search).get('cases') ?? '').split(',').filter(Boolean);
  if (!navigator.gpu) return report({ status: 'no-webgpu', reason: `navigator.gpu is undefined (${navigator.userAgent}; secure context: ${isSecureContext})` });
  const adapter = await navigator.gpu.requestAdapter();
  if (!adapter) return report({ status: 'no-adapter', reason: 'navigator.gpu.requestAdapter() returned null' });

  // One backend (one device) per case: a device error is reported at the next read of the same
  // device, so a shared one would blame later cases for an earlier case's failure.
  let info = null;
  const results = [];
  for (const name of names) {
    const c = conformanceCases.find((k) => k.name === name);
    if (!c) {
      results.push({ name, ok: false, worst: Infinity, message: 'no conformance case of this name in @denoise/core/testing', ms: 0 });
      continue;
    }
    const backend = await createWebGPUBackend({ adapter: info ? await navigator.gpu.requestAdapter() : adapter });
    if (!info) log(`adapter: ${JSON.stringify((info = backend.adapterInfo))}`);
    try {
      const t0 = performance.now();
      const r = await runConformanceCase(c, backend);
      results.push({ name, ok: r.ok, worst: r.worst, message: r.message, ms: performance.now() - t0 });
      log(`${r.ok ? 'ok  ' : 'FAIL'} ${name} (worst ${r.worst.toPrecision(3)}) ${r.ok ? '' : r.message}`);
    } finally {
      backend.destroy();
    }
  }
  report({ status: 'done', adapter: info, userAgent: navigator.userAgent, results });
}

main().catch((e) => report({ status: 'error', reason: e instanceof Error ? `${e.name}: ${e.message}\n${e.stack ?? ''}` : String(e) }));
