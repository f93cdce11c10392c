// Attention's algorithms against the float64 reference, each forced: through
// createWebGPUBackend's attentionScoresLimitBytes, Infinity (materialised scores on the GEMM
// kernels; in chunks of batch entries under a lower limit) and 0 (the flash kernel: the
// register-blocked one on GPUs, the simple one on software adapters); and the register-blocked
// flash kernel directly on a runtime (so that software adapters test it too, on small head sizes:
// lavapipe takes seconds to compile each variant). Cases cover masks (with -Infinity, broadcast,
// key-only), broadcast batch axes, head sizes that are not multiples of 4, partial key tiles and
// query blocks, lowered workgroup limits (other plans) and a lowered grid limit (split dispatches).
// Which path ran is checked on the buffer pool.

import * as op from '@denoise/core';
import { engine, Generator, randn, type Tensor } from '@denoise/core';
import type { ConformanceCase } from '@denoise/core/testing';
import { randomFloat } from '@denoise/core/testing';
import { createReferenceBackend, type TensorInfo } from '@denoise/core';
import { afterAll, describe, expect, it } from 'vitest';
import { createWebGPUBackend, type WebGPUBackend } from '../../backend.js';
import { Runtime, type WebGPULimits } from '../../runtime/runtime.js';
import { itMatchesReference } from '../../test-utils/gpu.js';
import { flashWorkgroupBytes, planFlash } from './attention-flash.js';
import { attention } from './attention.js';

const f = randomFloat;

function minusInfinityEvery(m: ReturnType<typeof f>, every: number, at: number): ReturnType<typeof f> {
  m.values.forEach((_, i) => (i % every === at ? (m.values[i] = -Infinity) : 0));
  return m;
}

const CASES: ConformanceCase[] = [
  {
    name: 'plain, several key tiles, a partial query block',
    inputs: (g) => [f(g, [2, 3, 45, 8], { low: -3, high: 3 }), f(g, [2, 3, 100, 8], { low: -3, high: 3 }), f(g, [2, 3, 100, 8])],
    run: (q, k, v) => op.attention(q, k, v),
  },
  {
    name: 'head size 64 (vec4 registers), 70 keys',
    inputs: (g) => [f(g, [1, 2, 33, 64]), f(g, [1, 2, 70, 64]), f(g, [1, 2, 70, 64])],
    run: (q, k, v) => op.attention(q, k, v, { scale: 0.5 }),
  },
  {
    name: 'D = 6 and Dv = 5 (not multiples of 4), k and v broadcast over heads',
    inputs: (g) => [f(g, [2, 3, 9, 6], { low: -2, high: 2 }), f(g, [2, 1, 13, 6], { low: -2, high: 2 }), f(g, [2, 1, 13, 5])],
    run: (q, k, v) => op.attention(q, k, v, { scale: 0.9 }),
  },
  {
    name: 'q broadcast over the batch',
    inputs: (g) => [f(g, [1, 2, 7, 4]), f(g, [3, 2, 11, 4]), f(g, [3, 2, 11, 4])],
    run: (q, k, v) => op.attention(q, k, v),
  },
  {
    name: 'mask broadcast over batch and heads',
    inputs: (g) => [f(g, [2, 2, 21, 8]), f(g, [2, 2, 40, 8]), f(g, [2, 2, 40, 8]), f(g, [21, 40], { low: -4, high: 0 })],
    run: (q, k, v, m) => op.attention(q, k, v, { mask: m }),
  },
  {
    name: 'mask per head with -Infinity, and a key-only mask',
    inputs: (g) => [f(g, [1, 2, 6, 4]), f(g, [1, 2, 37, 4]), f(g, [1, 2, 37, 4]), minusInfinityEvery(f(g, [1, 2, 6, 37], { low: -3, high: 0 }), 3, 1), f(g, [1, 1, 1, 37], { low: -2, high: 0 })],
    run: (q, k, v, m, mk) => op.add(op.attention(q, k, v, { mask: m }), op.attention(q, k, v, { mask: mk })),
  },
  {
    name: 'causal, Tq < Tk',
    inputs: (g) => [f(g, [1, 2, 19, 8], { low: -2, high: 2 }), f(g, [1, 2, 50, 8], { low: -2, high: 2 }), f(g, [1, 2, 50, 8])],
    run: (q, k, v) => op.attention(q, k, v, { causal: true }),
  },
  {
    name: 'one key, one query',
    inputs: (g) => [f(g, [1, 1, 1, 3]), f(g, [1, 1, 1, 3]), f(g, [1, 1, 1, 2])],
    run: (q, k, v) => op.attention(q, k, v),
  },
  {
    name: 'large logits (the running maximum moves across tiles)',
    inputs: (g) => [f(g, [1, 1, 5, 4], { low: -6, high: 6 }), f(g, [1, 1, 130, 4], { low: -6, high: 6 }), f(g, [1, 1, 130, 4])],
    run: (q, k, v) => op.attention(q, k, v, { scale: 1 }),
  },
];

type Options = Parameters<typeof createWebGPUBackend>[0];

/** A describe block with its own backend, skipped (with the reason) where there is no adapter. */
async function describeWith(title: string, options: Options, body: (backend: () => WebGPUBackend) => void): Promise<void> {
  let backend: WebGPUBackend | null = null;
  let reason = '';
  try {
    backend = await createWebGPUBackend(options);
  } catch (e) {
    reason = e instanceof Error ? e.message : String(e);
  }
  afterAll(() => backend?.destroy());
  describe.skipIf(!backend)(backend ? title : `${title} (skipped: ${reason})`, () => body(() => backend!));
}

/** Pool growth (bytes) while attention runs on `b` with random q, k, v of the given shapes. */
async function poolGrowth(b: WebGPUBackend, shapes: [number[], number[], number[]]): Promise<number> {
  const prev = engine.backend;
  engine.setBackend(b);
  try {
    const gen = new Generator(3);
    const [q, k, v] = shapes.map((s) => randn(s, gen)) as [Tensor, Tensor, Tensor];
    await b.sync();
    b.releasePool(); // reused buffers would not count
    b.resetPeak();
    const start = b.pool().allocatedBytes;
    const out = op.attention(q, k, v);
    await out.data();
    const grew = b.pool().peakBytes - start;
    for (const t of [q, k, v, out]) t.dispose();
    return grew;
  } finally {
    engine.setBackend(prev);
  }
}

await describeWith('attention through materialised scores (attentionScoresLimitBytes: Infinity)', { attentionScoresLimitBytes: Infinity }, (backend) => {
  itMatchesReference(backend, CASES);
  it('allocates the scores of all batch entries at once', async () => {
    expect(await poolGrowth(backend(), [[2, 3, 40, 8], [2, 3, 50, 8], [2, 3, 50, 8]])).toBeGreaterThanOrEqual(6 * 40 * 50 * 4);
  });
});

// Three score matrices per chunk: 6 batch entries in two chunks, 5 in a full and a partial one.
const THREE = 3 * 45 * 100 * 4;
await describeWith('attention through materialised scores in chunks', { attentionScoresLimitBytes: THREE }, (backend) => {
  itMatchesReference(backend, [
    CASES[0]!,
    { ...CASES[4]!, name: 'mask broadcast, chunks of 3 of 4 entries', inputs: (g) => [f(g, [2, 2, 45, 8]), f(g, [2, 2, 100, 8]), f(g, [2, 2, 100, 8]), f(g, [45, 100], { low: -4, high: 0 })] },
    { name: 'five entries in chunks of 3', inputs: (g) => [f(g, [5, 1, 45, 4]), f(g, [5, 1, 100, 4]), f(g, [5, 1, 100, 4])], run: (q, k, v) => op.attention(q, k, v) },
  ]);
  it('allocates one chunk of scores, not all of them', async () => {
    const grew = await poolGrowth(backend(), [[1, 6, 45, 8], [1, 6, 100, 8], [1, 6, 100, 8]]);
    expect(grew).toBeGreaterThanOrEqual(THREE);
    expect(grew).toBeLessThan(6 * 45 * 100 * 4);
  });
});

await describeWith('attention through the flash kernel (attentionScoresLimitBytes: 0)', { attentionScoresLimitBytes: 0 }, (backend) => {
  itMatchesReference(backend, CASES);
  it('never allocates scores', async () => {
    expect(await poolGrowth(backend(), [[2, 3, 40, 8], [2, 3, 50, 8], [2, 3, 50, 8]])).toBeLessThan(2 * 3 * 40 * 50 * 4);
  });
});

const SPLIT: ConformanceCase[] = [
  { name: 'query blocks and batches in chunks', inputs: (g) => [f(g, [2, 5, 300, 4]), f(g, [2, 5, 20, 4]), f(g, [2, 5, 20, 4])], run: (q, k, v) => op.attention(q, k, v) },
];
await describeWith('the flash kernel under maxComputeWorkgroupsPerDimension = 4', { attentionScoresLimitBytes: 0, limits: { maxComputeWorkgroupsPerDimension: 4 } }, (backend) => itMatchesReference(backend, SPLIT));
await describeWith('materialised scores under maxComputeWorkgroupsPerDimension = 4', { attentionScoresLimitBytes: 300 * 20 * 4 * 3, limits: { maxComputeWorkgroupsPerDimension: 4 } }, (backend) => itMatchesReference(backend, SPLIT));

// ---- the register-blocked flash kernel, directly -----------------------------------------------

interface DirectCase {
  readonly name: string;
  /** q, k, v (and a mask) as float32 values with their shapes. */
  readonly inputs: (gen: Generator) => ReturnType<typeof f>[];
  readonly scale: number;
  /** Lowered limits for the runtime. */
  readonly limits?: Partial<WebGPULimits>;
  /** A head size lavapipe takes 30 to 60 s to compile: skipped on software adapters unless WEBGPU_SLOW_TESTS is set. */
  readonly slow?: boolean;
}

const DIRECT: DirectCase[] = [
  {
    name: 'D = 8, 100 keys (a full and a partial tile; one key split without keys), 45 queries',
    inputs: (g) => [f(g, [2, 3, 45, 8], { low: -3, high: 3 }), f(g, [2, 3, 100, 8], { low: -3, high: 3 }), f(g, [2, 3, 100, 8])],
    scale: 1 / Math.sqrt(8),
  },
  {
    name: 'D = 6, Dv = 5, k and v broadcast over heads, a mask with -Infinity',
    inputs: (g) => [f(g, [2, 3, 9, 6], { low: -2, high: 2 }), f(g, [2, 1, 13, 6], { low: -2, high: 2 }), f(g, [2, 1, 13, 5]), minusInfinityEvery(f(g, [9, 13], { low: -3, high: 0 }), 4, 2)],
    scale: 0.9,
  },
  {
    name: '2 KiB of workgroup memory and 32 invocations (8 rows x 4 splits), mask per head',
    inputs: (g) => [f(g, [1, 2, 21, 8]), f(g, [1, 2, 77, 8]), f(g, [1, 2, 77, 8]), f(g, [1, 2, 21, 77], { low: -4, high: 0 })],
    scale: 0.35,
    limits: { maxComputeWorkgroupStorageSize: 2048, maxComputeInvocationsPerWorkgroup: 32 },
  },
  {
    name: 'query blocks and batches split under maxComputeWorkgroupsPerDimension = 4',
    inputs: (g) => [f(g, [2, 5, 300, 4]), f(g, [2, 5, 20, 4]), f(g, [2, 5, 20, 4])],
    scale: 0.5,
    limits: { maxComputeWorkgroupsPerDimension: 4 },
  },
  {
    name: 'D = 64 with a mask, the largest plan the device allows',
    inputs: (g) => [f(g, [1, 2, 40, 64]), f(g, [1, 2, 150, 64], { low: -2, high: 2 }), f(g, [1, 2, 150, 64]), f(g, [40, 150], { low: -3, high: 0 })],
    scale: 0.125,
    slow: true,
  },
  {
    name: 'D = 64 in 16 KiB (32 keys per tile)',
    inputs: (g) => [f(g, [1, 2, 40, 64]), f(g, [1, 2, 150, 64], { low: -2, high: 2 }), f(g, [1, 2, 150, 64])],
    scale: 0.125,
    limits: { maxComputeWorkgroupStorageSize: 16384 },
    slow: true,
  },
  {
    name: 'D = 40 (Stable Diffusion 1.x), 77 keys',
    inputs: (g) => [f(g, [2, 1, 70, 40]), f(g, [2, 1, 77, 40], { low: -2, high: 2 }), f(g, [2, 1, 77, 40])],
    scale: 0.16,
    slow: true,
  },
];

const isSoftware = (b: WebGPUBackend) => /llvmpipe|lavapipe|swiftshader/i.test(Object.values(b.adapterInfo).join(' '));

/** Output shape of attention: the broadcast batch axes of q, k, v, then [Tq, Dv]. */
function outShape(q: readonly number[], k: readonly number[], v: readonly number[]): number[] {
  const batch = q.slice(0, -2).map((n, i) => Math.max(n, k[i]!, v[i]!));
  return [...batch, q[q.length - 2]!, v[v.length - 1]!];
}

/** The register-blocked kernel's output, and the float64 reference's, for one case. */
async function runDirect(b: WebGPUBackend, c: DirectCase): Promise<{ got: Float32Array; want: Float64Array; grew: number; scoresBytes: number }> {
  const host = c.inputs(new Generator(21));
  const values = host.map((h) => Float32Array.from(h.values));
  const shape = outShape(host[0]!.shape, host[1]!.shape, host[2]!.shape);
  const ref = createReferenceBackend();
  const refInfo = (i: number): TensorInfo => ({ shape: host[i]!.shape, dtype: 'float64', handle: ref.upload(Float64Array.from(values[i]!), host[i]!.shape, 'float64') });
  const wantHandle = ref.fused!.attention!(refInfo(0), refInfo(1), refInfo(2), host[3] ? refInfo(3) : null, { scale: c.scale }, { shape, dtype: 'float64' });
  const want = ref.readSync(wantHandle, 'float64') as Float64Array;
  const rt = new Runtime(b.device, { ...b.limits, ...c.limits }, { poolLimitBytes: 1 << 20, gemmTile: 16 });
  try {
    const info = (i: number): TensorInfo => ({ shape: host[i]!.shape, dtype: 'float32', handle: rt.upload(values[i]!, 'float32') });
    const [q, k, v] = [info(0), info(1), info(2)];
    const mask = host[3] ? info(3) : null;
    await rt.sync();
    rt.pool.resetPeak();
    const start = rt.pool.stats().allocatedBytes;
    const y = attention(rt, q, k, v, mask, { scale: c.scale }, { shape, dtype: 'float32' }, { scoresLimitBytes: 0, flash: 'registers' });
    const got = (await rt.read(y, 'float32')) as Float32Array;
    const rows = want.length / shape[shape.length - 1]!;
    return { got, want, grew: rt.pool.stats().peakBytes - start, scoresBytes: rows * k.shape[k.shape.length - 2]! * 4 };
  } finally {
    rt.destroy(false);
  }
}

await describeWith('the register-blocked flash kernel on a runtime', {}, (backend) => {
  it('plans within the workgroup limits', () => {
    for (const [bytes, invocations, D, Dv] of [[16384, 256, 64, 64], [32768, 256, 64, 64], [16384, 256, 40, 40], [16384, 256, 160, 160], [2048, 32, 8, 8], [384, 256, 16, 16]] as const) {
      const plan = planFlash(bytes, invocations, D, Dv)!;
      expect(flashWorkgroupBytes(D, Dv, plan)).toBeLessThanOrEqual(bytes);
      expect(plan.QB * plan.KS).toBeLessThanOrEqual(invocations);
    }
    expect(planFlash(16384, 256, 64, 64)).toEqual({ QB: 32, KS: 4, KPT: 8 }); // 32 keys per tile in 16 KiB
    expect(planFlash(32768, 256, 64, 64)).toEqual({ QB: 32, KS: 4, KPT: 16 });
    expect(planFlash(2048, 32, 8, 8)).toEqual({ QB: 8, KS: 4, KPT: 8 });
    expect(planFlash(384, 256, 16, 16)).toEqual({ QB: 2, KS: 2, KPT: 1 });
    expect(planFlash(16384, 256, 4096, 4096)).toBeNull();
  });
  for (const c of DIRECT) {
    it(c.name, { timeout: c.slow ? 300_000 : undefined }, async (ctx) => {
      if (c.slow && isSoftware(backend()) && !process.env.WEBGPU_SLOW_TESTS) ctx.skip();
      const { got, want, grew, scoresBytes } = await runDirect(backend(), c);
      expect(got.length).toBe(want.length);
      let worst = 0;
      want.forEach((w, i) => (worst = Math.max(worst, Math.abs(got[i]! - w) / (1e-5 + 1e-4 * Math.abs(w)))));
      expect(worst).toBeLessThanOrEqual(1);
      expect(grew).toBeLessThan(scoresBytes); // output only: no score matrix
    });
  }
});

describe('attentionScoresLimitBytes', () => {
  it('must be a number >= 0', async () => {
    await expect(createWebGPUBackend({ attentionScoresLimitBytes: -1 })).rejects.toThrow(/attentionScoresLimitBytes must be a number >= 0/);
    await expect(createWebGPUBackend({ attentionScoresLimitBytes: Number.NaN })).rejects.toThrow(/attentionScoresLimitBytes/);
  });
});
