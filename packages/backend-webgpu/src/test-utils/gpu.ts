// Helpers for the GPU test files (*.gpu.test.ts). Each file opens its own backend, or learns why
// it cannot (no adapter on this machine, no `webgpu` package, no Vulkan driver) and skips with
// that reason instead of failing. On a machine without a GPU, unpack lavapipe with
// .ci/setup-webgpu.sh and export VK_ICD_FILENAMES (scripts/webgpu-env.sh prints the line; the
// vitest config picks up $REPO/.lavapipe by itself).

import { engine, type Tensor } from '@denoise/core';
import type { ConformanceCase } from '@denoise/core/testing';
import { runConformanceCase, type HostTensor } from '@denoise/core/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { createWebGPUBackend, type WebGPUBackend, type WebGPUBackendOptions } from '../index.js';

export interface TestBackend {
  readonly backend: WebGPUBackend | null;
  /** Why there is no backend ('' when there is one). */
  readonly reason: string;
}

export async function openTestBackend(options: WebGPUBackendOptions = {}): Promise<TestBackend> {
  try {
    return { backend: await createWebGPUBackend(options), reason: '' };
  } catch (e) {
    const reason = e instanceof Error ? e.message : String(e);
    console.warn(`[backend-webgpu] GPU tests skipped: ${reason}`);
    return { backend: null, reason };
  }
}

/**
 * Opens a backend and declares a describe block that runs with it, or skips (the reason in its
 * title) where there is none. The backend is destroyed after the file.
 */
export async function describeGpu(title: string, body: (backend: () => WebGPUBackend) => void, options: WebGPUBackendOptions = {}): Promise<void> {
  const t = await openTestBackend(options);
  afterAll(() => t.backend?.destroy());
  describe.skipIf(!t.backend)(t.backend ? title : `${title} (skipped: ${t.reason})`, () => body(() => t.backend!));
}

/** One `it` per case: the case on the backend against the float64 reference (core's conformance runner). */
export function itMatchesReference(backend: () => WebGPUBackend, cases: readonly ConformanceCase[]): void {
  for (const c of cases) {
    it(c.name, async () => {
      const r = await runConformanceCase(c, backend());
      expect(r.message).toBe('ok');
    });
  }
}

/**
 * The values of what `fn` builds with `backend` current (tensors it creates are freed). For
 * checks the reference comparison cannot make, such as NaN results.
 */
export async function valuesOn(backend: WebGPUBackend, fn: () => Tensor): Promise<number[]> {
  const prev = engine.backend;
  engine.setBackend(backend);
  try {
    const t = engine.tidy(fn);
    const values = Array.from(await t.data());
    t.dispose();
    return values;
  } finally {
    engine.setBackend(prev);
  }
}

/** A host tensor with the given values (for edge cases random inputs would not hit). */
export function hostTensor(values: readonly number[], shape: number[], kind: HostTensor['kind'] = 'float'): HostTensor {
  return { shape, kind, values: Float64Array.from(values) };
}
