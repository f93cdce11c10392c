// Core's backend conformance suite (every primitive and composite, with gradients, against the
// float64 reference backend) on the tfjs-wasm backend.
import type { Backend } from '@denoise/core';
import { conformanceCases, runConformanceCase } from '@denoise/core/testing';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadTfjsBackend } from './resolve.js';

let backend: Backend;
beforeAll(async () => {
  backend = await loadTfjsBackend('wasm', { threads: 2 });
});

describe('core conformance suite on tfjs-wasm', () => {
  for (const c of conformanceCases) {
    it(c.name, async () => {
      const r = await runConformanceCase(c, backend);
      expect(r.message).toBe('ok');
      expect(r.ok).toBe(true);
    });
  }
});

describe('memory on tfjs-wasm', () => {
  it('1,000 training iterations leave live tensors and tfjs memory flat', async () => {
    const { trainingLeakCheck } = await import('@denoise/core/testing');
    const r = trainingLeakCheck(backend, 1000);
    expect(r.end).toEqual(r.start);
    expect(r.lastLoss).toBeLessThan(r.firstLoss * 0.5);
  }, 300_000);
});
