// The memory estimate against the measured peak of live tensor bytes on the reference backend
// (every op through core's composites, as on a backend without fused kernels), and the
// Stable Diffusion 1.x numbers quoted in memory.ts.

import { Generator, engine, randn, tidy, type KernelInterceptor } from '@denoise/core';
import { describe, expect, it } from 'vitest';
import { estimateUNetMemory } from './memory.js';
import type { AttentionSlicing } from './nn/attention.js';
import { initRandom } from './nn/module.js';
import { SD15_UNET, unetConfig } from './unet/config.js';
import { UNet2DConditionModel } from './unet/unet.js';

/** Peak live bytes of the current backend while `fn` runs; an interceptor that runs nothing itself also routes fused ops through their composites. */
function measurePeak(fn: () => void): number {
  const backend = engine.backend;
  let peak = backend.memory().bytes;
  const probe: KernelInterceptor = {
    runKernel() {
      peak = Math.max(peak, backend.memory().bytes);
      return undefined;
    },
  };
  engine.setInterceptor(probe);
  try {
    fn();
  } finally {
    engine.setInterceptor(null);
  }
  return Math.max(peak, backend.memory().bytes);
}

const MiB = 2 ** 20;
const GiB = 2 ** 30;

describe('estimateUNetMemory', () => {
  const config = unetConfig({
    block_out_channels: [8, 8, 12], layers_per_block: 2, down_block_types: ['CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'DownBlock2D'],
    up_block_types: ['UpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D'], attention_head_dim: 2, cross_attention_dim: 12, norm_num_groups: 4,
  });

  it('bounds the measured peak of a tiny UNet within a factor of two, with and without slicing', () => {
    const model = new UNet2DConditionModel(config);
    initRandom(model, new Generator(1));
    const gen = new Generator(2);
    const x = randn([2, 4, 16, 16], gen);
    const ctx = randn([2, 5, 12], gen);
    const rows: string[] = [];
    const cases: Array<[string, AttentionSlicing | null]> = [['none', null], ['auto', { slice: 'auto' }], ['max + chunks of 64', { slice: 'max', queryChunk: 64 }]];
    const measured: number[] = [];
    for (const [name, slicing] of cases) {
      model.setAttentionSlicing(slicing);
      const peak = measurePeak(() => tidy(() => void model.forward(x, [10, 500], ctx)));
      const est = estimateUNetMemory(config, { batch: 2, height: 16, width: 16, contextLength: 5, slicing });
      rows.push(`  ${name}: measured ${(peak / MiB).toFixed(2)} MiB, estimated ${(est.peak / MiB).toFixed(2)} MiB (${est.transientAt})`);
      measured.push(peak, est.peak);
    }
    console.log(`tiny UNet, 16x16 latents, batch 2:\n${rows.join('\n')}`);
    for (let i = 0; i < measured.length; i += 2) {
      expect(measured[i + 1]!).toBeGreaterThanOrEqual(measured[i]!);
      expect(measured[i + 1]!).toBeLessThanOrEqual(2 * measured[i]!);
    }
    expect(measured[4]!).toBeLessThan(measured[0]! / 3);
    model.dispose();
  });

  it('Stable Diffusion 1.x at 512x512 (64x64 latents), batch 2: within 24 GiB, and slicing bounds the scores', () => {
    const opts = { batch: 2, height: 64, width: 64 };
    const none = estimateUNetMemory(SD15_UNET, opts);
    const auto = estimateUNetMemory(SD15_UNET, { ...opts, slicing: { slice: 'auto' } });
    const max = estimateUNetMemory(SD15_UNET, { ...opts, slicing: { slice: 'max' } });
    const fused = estimateUNetMemory(SD15_UNET, { ...opts, scoreCopies: 2 });
    const fmt = (e: typeof none) => `${(e.peak / GiB).toFixed(1)} GiB (scores ${(e.attentionScores / MiB).toFixed(0)} MiB per copy, at ${e.transientAt})`;
    console.log(`SD 1.x, 512x512, batch 2, parameters ${(none.parameters / GiB).toFixed(2)} GiB:\n  no slicing: ${fmt(none)}\n  slice auto: ${fmt(auto)}\n  slice max: ${fmt(max)}\n  fused kernel, no slicing: ${fmt(fused)}`);
    expect(none.parameters / 4).toBe(859520964); // SD 1.x UNet parameter count
    expect(none.attentionScores).toBe(2 * 8 * 4096 * 4096 * 4);
    expect(max.attentionScores).toBe(4096 * 4096 * 4);
    for (const e of [none, auto, max, fused]) expect(e.peak).toBeLessThan(24 * GiB);
    expect(max.transient).toBeLessThan(none.transient / 3);
    expect(fused.peak).toBeLessThan(none.peak);
  });

  it('checks its arguments', () => {
    expect(() => estimateUNetMemory(SD15_UNET, { batch: 0, height: 64, width: 64 })).toThrow(/batch must be a positive integer/);
  });
});
