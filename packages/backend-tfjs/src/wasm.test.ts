// The tfjs-wasm backend (the default flavor): every kernel, plus the wasm set-up in Node.
import type { Backend } from '@denoise/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { getTfjsInfo, loadTfjsBackend } from './resolve.js';
import { kernelSuite } from './test-utils/suite.js';

let backend: Backend;
beforeAll(async () => {
  backend = await loadTfjsBackend('wasm', { threads: 2 });
});

describe('tfjs-wasm', () => {
  it('initialises the wasm engine with 2 XNNPACK threads', () => {
    expect(backend.name).toBe('tfjs-wasm');
    const info = getTfjsInfo();
    expect(info?.flavor).toBe('wasm');
    expect(info?.engineBackend).toBe('wasm');
    expect(info?.threads).toBe(2);
  });

  it('is initialised once', async () => {
    expect(await loadTfjsBackend('wasm')).toBe(backend);
  });

  it('refuses a second flavor in the same process', async () => {
    await expect(loadTfjsBackend('cpu')).rejects.toMatchObject({ kind: 'BackendUnavailableError' });
    await expect(loadTfjsBackend('cpu')).rejects.toThrow(/'wasm' is already initialised/);
  });
});

kernelSuite(() => backend);
