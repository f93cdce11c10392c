// Kernel throughput of @denoise/backend-tfjs through the Backend interface (NCHW / OIHW, so the
// layout transposes are included), best of N runs.
//
//   npx vitest run --config bench/vitest.config.ts            (wasm, 2 threads)
//   BENCH_FLAVOR=cpu BENCH_THREADS=1 npx vitest run --config bench/vitest.config.ts
//
// Reports GFLOP/s for a 1024^3 matmul and a [1,128,64,64] x [128,128,3,3] pad-1 convolution,
// and the cost of conv forward + both gradients relative to the forward alone.

import type { Backend, DataHandle, DType, OutputInfo, TensorInfo } from '@denoise/core';
import { it } from 'vitest';
import { getTfjsInfo, loadTfjsBackend } from '../src/resolve.js';
import type { TfjsFlavor } from '../src/types.js';
import { Lcg } from '../src/test-utils/lcg.js';

const flavor = (process.env.BENCH_FLAVOR ?? 'wasm') as TfjsFlavor;
const threads = Number(process.env.BENCH_THREADS ?? 2);
const runs = Number(process.env.BENCH_RUNS ?? 7);

function input(b: Backend, g: Lcg, shape: number[], dtype: DType = 'float32'): TensorInfo {
  const n = shape.reduce((p, d) => p * d, 1);
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) v[i] = g.uniform(-1, 1);
  return { shape, dtype, handle: b.upload(v, shape, dtype) };
}

/**
 * Best wall time of `runs` calls (after 2 warm-ups), in ms, and the mean CPU time per call of
 * this process (all its threads); each result is read back (sync).
 */
interface Timing {
  /** Best wall time, ms. */
  ms: number;
  /** Mean CPU time of the process per call, ms. */
  cpu: number;
}

function time(b: Backend, out: OutputInfo, fn: () => DataHandle): Timing {
  let best = Infinity;
  let cpu = 0;
  for (let i = 0; i < runs + 2; i++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    const h = fn();
    b.readSync(h, out.dtype);
    const dt = performance.now() - t0;
    const c = process.cpuUsage(c0);
    b.dispose(h);
    if (i >= 2) {
      best = Math.min(best, dt);
      cpu += (c.user + c.system) / 1000;
    }
  }
  return { ms: best, cpu: cpu / runs };
}

const row = (name: string, t: Timing, flop?: number) =>
  console.log(
    `${name.padEnd(44)} ${t.ms.toFixed(1).padStart(8)} ms${flop ? `  ${(flop / t.ms / 1e6).toFixed(1).padStart(6)} GFLOP/s` : '                '}   (cpu ${t.cpu.toFixed(1)} ms/call)`,
  );

it(`tfjs-${flavor} kernel throughput`, async () => {
  const b = await loadTfjsBackend(flavor, flavor === 'wasm' ? { threads } : {});
  const info = getTfjsInfo();
  const os = await import('node:os');
  console.log(`load average ${os.loadavg().map((v) => v.toFixed(2)).join(' ')} on ${os.cpus().length} CPUs`);
  console.log(`backend ${b.name}, tfjs engine '${info?.engineBackend}'${info?.threads ? `, ${info.threads} XNNPACK threads` : ''}, best of ${runs}`);
  const g = new Lcg(7);

  // matmul 1024^3
  const a = input(b, g, [1024, 1024]);
  const m = input(b, g, [1024, 1024]);
  const mmOut: OutputInfo = { shape: [1024, 1024], dtype: 'float32' };
  const mmFlop = 2 * 1024 ** 3;
  row('matmul 1024x1024x1024', time(b, mmOut, () => b.kernels.matmul(a, m, { transposeA: false, transposeB: false }, mmOut)), mmFlop);
  row('matmul 1024^3, transposeB', time(b, mmOut, () => b.kernels.matmul(a, m, { transposeA: false, transposeB: true }, mmOut)), mmFlop);
  row('matmul 1024^3, transposeA', time(b, mmOut, () => b.kernels.matmul(a, m, { transposeA: true, transposeB: false }, mmOut)), mmFlop);

  // batched (attention-shaped) matmul
  const qa = input(b, g, [16, 256, 64]);
  const ka = input(b, g, [16, 256, 64]);
  const sOut: OutputInfo = { shape: [16, 256, 256], dtype: 'float32' };
  row('batched matmul [16,256,64] x [16,256,64]^T', time(b, sOut, () => b.kernels.matmul(qa, ka, { transposeA: false, transposeB: true }, sOut)), 2 * 16 * 256 * 256 * 64);

  // conv 3x3, 128 -> 128 channels on 64x64, pad 1
  const x = input(b, g, [1, 128, 64, 64]);
  const w = input(b, g, [128, 128, 3, 3]);
  const dy = input(b, g, [1, 128, 64, 64]);
  const attrs = { stride: [1, 1] as [number, number], padding: [1, 1, 1, 1] as [number, number, number, number], dilation: [1, 1] as [number, number], groups: 1 };
  const xOut: OutputInfo = { shape: [1, 128, 64, 64], dtype: 'float32' };
  const wOut: OutputInfo = { shape: [128, 128, 3, 3], dtype: 'float32' };
  const convFlop = 2 * 64 * 64 * 128 * 128 * 9;
  const fwd = time(b, xOut, () => b.kernels.conv2d(x, w, attrs, xOut));
  const gin = time(b, xOut, () => b.kernels.conv2dGradInput(dy, w, attrs, xOut));
  const gw = time(b, wOut, () => b.kernels.conv2dGradFilter(x, dy, attrs, wOut));
  row('conv2d [1,128,64,64] x [128,128,3,3] fwd', fwd, convFlop);
  row('conv2dGradInput', gin, convFlop);
  row('conv2dGradFilter', gw, convFlop);
  console.log(`conv fwd + both gradients = ${((fwd.ms + gin.ms + gw.ms) / fwd.ms).toFixed(2)} x fwd (weight reused: cached layouts)`);
  // Training-like: a new weight handle every step (no cached filter layouts / XNNPACK operators).
  const fresh = (f: (wh: TensorInfo) => DataHandle) => () => {
    const wh = { ...w, handle: b.kernels.reshape(w, { shape: w.shape, dtype: 'float32' }) };
    const r = f(wh);
    b.dispose(wh.handle);
    return r;
  };
  const fwdF = time(b, xOut, fresh((wh) => b.kernels.conv2d(x, wh, attrs, xOut)));
  const ginF = time(b, xOut, fresh((wh) => b.kernels.conv2dGradInput(dy, wh, attrs, xOut)));
  row('conv2d fwd, new weight handle', fwdF, convFlop);
  row('conv2dGradInput, new weight handle', ginF, convFlop);
  console.log(`conv fwd + both gradients = ${((fwdF.ms + ginF.ms + gw.ms) / fwdF.ms).toFixed(2)} x fwd (new weight handle each step)`);

  // stride-2 conv and its gradients
  const x2 = input(b, g, [1, 128, 64, 64]);
  const a2 = { ...attrs, stride: [2, 2] as [number, number], padding: [0, 1, 0, 1] as [number, number, number, number] };
  const y2Out: OutputInfo = { shape: [1, 128, 32, 32], dtype: 'float32' };
  const dy2 = input(b, g, [1, 128, 32, 32]);
  const f2 = 2 * 32 * 32 * 128 * 128 * 9;
  const fwd2 = time(b, y2Out, () => b.kernels.conv2d(x2, w, a2, y2Out));
  row('conv2d stride 2 fwd', fwd2, f2);
  row('conv2dGradInput stride 2', time(b, xOut, () => b.kernels.conv2dGradInput(dy2, w, a2, xOut)), f2);
  row('conv2dGradFilter stride 2', time(b, wOut, () => b.kernels.conv2dGradFilter(x2, dy2, a2, wOut)), f2);

  // softmax: fused vs. the composite of primitives core would run
  const s = input(b, g, [16, 256, 256]);
  const sm: OutputInfo = { shape: [16, 256, 256], dtype: 'float32' };
  const red: OutputInfo = { shape: [16, 256, 1], dtype: 'float32' };
  row('fused softmax [16,256,256]', time(b, sm, () => b.fused!.softmax!(s, sm)));
  row('composite softmax (5 primitives)', time(b, sm, () => {
    const mx = b.kernels.reduce(s, { op: 'max', axes: [2], keepDims: true }, red);
    const d = b.kernels.binary(s, { ...red, handle: mx }, { op: 'sub' }, sm);
    const e = b.kernels.unary({ ...sm, handle: d }, { op: 'exp' }, sm);
    const z = b.kernels.reduce({ ...sm, handle: e }, { op: 'sum', axes: [2], keepDims: true }, red);
    const r = b.kernels.binary({ ...sm, handle: e }, { ...red, handle: z }, { op: 'div' }, sm);
    for (const h of [mx, d, e, z]) b.dispose(h);
    return r;
  }));

  for (const t of [a, m, qa, ka, x, w, dy, x2, dy2, s]) b.dispose(t.handle);
  console.log(`load average ${os.loadavg().map((v) => v.toFixed(2)).join(' ')}`);
});
