// Core's backend conformance suite on the tfjs-cpu backend.
import type { Backend } from '@denoise/core';
import { conformanceCases, runConformanceCase } from '@denoise/core/testing';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadTfjsBackend } from './resolve.js';

let backend: Backend;
beforeAll(async () => {
  backend = await loadTfjsBackend('cpu');
});

describe('core conformance suite on tfjs-cpu', () => {
  for (const c of conformanceCases) {
    it(c.name, async () => {
      const r = await runConformanceCase(c, backend);
      expect(r.message).toBe('ok');
      expect(r.ok).toBe(true);
    });
  }
});
