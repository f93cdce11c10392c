// Opens the backend for a GPU test file, or explains why it cannot: the tests then skip with that
// reason instead of failing (no adapter on this machine, no `webgpu` package, no Vulkan driver).
// On a machine without a GPU, run `bash /work/shared/tools/setup-lavapipe.sh "$PWD/.lavapipe"` (or
// any lavapipe install) and export VK_ICD_FILENAMES: scripts/webgpu-env.sh prints the line.

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

/** A describe title that carries the skip reason when there is no adapter. */
export function titled(title: string, t: TestBackend): string {
  return t.backend ? title : `${title} (skipped: ${t.reason})`;
}
