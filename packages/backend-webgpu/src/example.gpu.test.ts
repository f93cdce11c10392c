// The README's example, as written there (registration, resolution by name, a convolution).
import { Generator, conv2d, getBackend, randn, registerBackend, setBackend, tidy } from '@denoise/core';
import { expect, it } from 'vitest';
import { registerWebGPUBackend } from './index.js';
import { describeGpu } from './test-utils/gpu.js';

await describeGpu('README example', () => {
  it('registers, resolves and convolves', async () => {
    const prev = getBackend();
    registerWebGPUBackend(registerBackend);
    const backend = await setBackend(['webgpu', 'reference']);
    try {
      const gen = new Generator(42);
      const y = tidy(() => conv2d(randn([1, 64, 32, 32], gen), randn([64, 64, 3, 3], gen), { padding: 1 }));
      expect(backend.name).toBe('webgpu');
      expect(y.shape).toEqual([1, 64, 32, 32]);
      expect((await y.data()).slice(0, 3).every(Number.isFinite)).toBe(true);
      y.dispose();
    } finally {
      backend.destroy?.();
      await setBackend(prev);
    }
  });
});
