// The README's example, run against the real packages (tfjs-node(-gpu) are not installed here, so
// it resolves to tfjs-wasm).
import { Generator, conv2d, randn, registerBackend, setBackend, tidy } from '@denoise/core';
import { expect, it } from 'vitest';
import { registerTfjsBackends } from './index.js';

it('runs the README example', async () => {
  registerTfjsBackends(registerBackend); // registers the four flavors; loads nothing
  const backend = await setBackend(['tfjs-node-gpu', 'tfjs-node', 'tfjs-wasm']);
  expect(backend.name).toBe('tfjs-wasm');

  const gen = new Generator(42);
  const y = tidy(() => conv2d(randn([1, 64, 32, 32], gen), randn([64, 64, 3, 3], gen), { padding: 1 }));
  expect(y.shape).toEqual([1, 64, 32, 32]);
  const v = await y.data();
  expect(v.length).toBe(64 * 32 * 32);
  expect(v.every((x) => Number.isFinite(x))).toBe(true);
  y.dispose();
});
