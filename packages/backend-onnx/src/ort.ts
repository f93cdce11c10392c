// Loading ONNX Runtime: onnxruntime-node (native, CPU; CUDA where its provider libraries are
// installed) first, onnxruntime-web (WebAssembly, CPU) where the native package cannot load.
// Both packages expose the same onnxruntime-common API, so the rest of this package does not
// care which one it got.

import { BackendUnavailableError, InvalidArgumentError, describe } from '@denoise/core';

/** The onnxruntime-common API both runtimes expose. */
export type Ort = typeof import('onnxruntime-node');

export type OrtRuntimeName = 'onnxruntime-node' | 'onnxruntime-web';
export const ORT_RUNTIMES: readonly OrtRuntimeName[] = ['onnxruntime-node', 'onnxruntime-web'];

export interface OrtRuntime {
  readonly name: OrtRuntimeName;
  readonly ort: Ort;
}

export interface LoadOrtOptions {
  /** Runtimes to try, in order. Default: onnxruntime-node, then onnxruntime-web. */
  readonly runtimes?: readonly OrtRuntimeName[];
  /** How a runtime package is imported (tests inject failures here). Default: dynamic import(). */
  readonly importer?: (name: OrtRuntimeName) => Promise<unknown>;
}

const defaultImporter = (name: OrtRuntimeName): Promise<unknown> =>
  name === 'onnxruntime-node' ? import('onnxruntime-node') : import('onnxruntime-web');

const cache = new Map<OrtRuntimeName, Promise<OrtRuntime>>();

function asOrt(mod: unknown, name: OrtRuntimeName): Ort {
  const m = mod as { default?: unknown; InferenceSession?: unknown };
  const ort = (m && typeof m.InferenceSession === 'function' ? m : m?.default) as Ort | undefined;
  if (!ort || typeof ort.InferenceSession !== 'function' || typeof ort.Tensor !== 'function') {
    throw new Error(`${name} did not export InferenceSession and Tensor`);
  }
  return ort;
}

async function loadOne(name: OrtRuntimeName, importer: (name: OrtRuntimeName) => Promise<unknown>): Promise<OrtRuntime> {
  const ort = asOrt(await importer(name), name);
  if (name === 'onnxruntime-web') {
    // Worker threads cannot be spawned from every host (bundlers, some sandboxes); one thread
    // always works. Users can raise env.wasm.numThreads before the first session.
    const wasm = (ort.env as { wasm?: { numThreads?: number } }).wasm;
    if (wasm && wasm.numThreads === undefined) wasm.numThreads = 1;
  }
  return { name, ort };
}

/**
 * Loads the first ONNX Runtime that works. Throws BackendUnavailableError listing why each one
 * failed (with the install command) when none does. Successful loads are cached per runtime
 * when the default importer is used.
 */
export async function loadOrt(options: LoadOrtOptions = {}): Promise<OrtRuntime> {
  const runtimes = options.runtimes ?? ORT_RUNTIMES;
  if (!Array.isArray(runtimes) || runtimes.length === 0 || runtimes.some((r) => !ORT_RUNTIMES.includes(r))) {
    throw new InvalidArgumentError(`loadOrt: options.runtimes must be a non-empty array of ${ORT_RUNTIMES.map((r) => `'${r}'`).join(' / ')}, got ${describe(runtimes)}`);
  }
  const failures: { name: string; reason: string }[] = [];
  for (const name of runtimes) {
    try {
      if (options.importer) return await loadOne(name, options.importer);
      let p = cache.get(name);
      if (!p) {
        p = loadOne(name, defaultImporter);
        cache.set(name, p);
        p.catch(() => cache.delete(name));
      }
      return await p;
    } catch (e) {
      failures.push({ name, reason: e instanceof Error ? e.message : String(e) });
    }
  }
  throw new BackendUnavailableError(
    `loadOrt: no ONNX Runtime could be loaded (${failures.map((f) => `${f.name}: ${f.reason}`).join('; ')}). ` +
      'Install one: `ONNXRUNTIME_NODE_INSTALL=skip npm install onnxruntime-node` (native, CPU) or `npm install onnxruntime-web` (WebAssembly)',
    failures,
  );
}
