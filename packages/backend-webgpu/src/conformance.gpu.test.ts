// Core's backend conformance suite (every primitive and composite, with gradients, against the
// float64 reference backend) on the WebGPU backend. Skips where no WebGPU adapter exists.
import { conformanceCases, runConformanceCase } from '@denoise/core/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { openTestBackend, titled } from './test-utils/gpu.js';

const gpu = await openTestBackend();
afterAll(() => gpu.backend?.destroy());

describe.skipIf(!gpu.backend)(titled('core conformance suite on webgpu', gpu), () => {
  for (const c of conformanceCases) {
    it(c.name, async () => {
      const r = await runConformanceCase(c, gpu.backend!);
      expect(r.message).toBe('ok');
      expect(r.ok).toBe(true);
    });
  }
});
