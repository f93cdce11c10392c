// Registration with @denoise/core's backend registry, e.g.
//   import { registerBackend } from '@denoise/core';
//   import { registerTfjsBackends } from '@denoise/backend-tfjs';
//   registerTfjsBackends(registerBackend);

import type { Backend } from '@denoise/core';
import { loadTfjsBackend, type LoadTfjsOptions } from './resolve.js';
import type { TfjsFlavor } from './types.js';

export type TfjsBackendName = 'tfjs-node-gpu' | 'tfjs-node' | 'tfjs-wasm' | 'tfjs-cpu';

export interface TfjsBackendFactory {
  readonly name: TfjsBackendName;
  readonly factory: () => Promise<Backend>;
  /** Higher is tried first: node-gpu 40 > node 30 > wasm 20 > cpu 1. */
  readonly priority: number;
  /** tfjs-cpu (plain JavaScript kernels) is only used when asked for by name. */
  readonly explicitOnly?: boolean;
}

const FLAVORS: ReadonlyArray<{ flavor: TfjsFlavor; priority: number; explicitOnly?: boolean }> = [
  { flavor: 'node-gpu', priority: 40 },
  { flavor: 'node', priority: 30 },
  { flavor: 'wasm', priority: 20 },
  { flavor: 'cpu', priority: 1, explicitOnly: true },
];

// Stable factory functions when no options are given, so that registering twice (a module
// evaluated twice) passes the same function and core's registry treats it as harmless.
const defaultFactories = new Map<TfjsFlavor, () => Promise<Backend>>();
function factoryFor(flavor: TfjsFlavor, options?: LoadTfjsOptions): () => Promise<Backend> {
  if (options !== undefined) return () => loadTfjsBackend(flavor, options);
  let f = defaultFactories.get(flavor);
  if (!f) {
    f = () => loadTfjsBackend(flavor);
    defaultFactories.set(flavor, f);
  }
  return f;
}

/** The four tfjs backends with their lazy factories and priorities, highest priority first. */
export function tfjsBackendFactories(options?: LoadTfjsOptions): TfjsBackendFactory[] {
  return FLAVORS.map(({ flavor, priority, explicitOnly }) => ({
    name: `tfjs-${flavor}` as TfjsBackendName,
    factory: factoryFor(flavor, options),
    priority,
    ...(explicitOnly ? { explicitOnly } : {}),
  }));
}

/** Calls `register` (e.g. core's registerBackend) for each tfjs backend. Loads nothing. */
export function registerTfjsBackends(
  register: (name: TfjsBackendName, factory: () => Promise<Backend>, priority: number, options?: { explicitOnly?: boolean }) => void,
  options?: LoadTfjsOptions,
): void {
  for (const f of tfjsBackendFactories(options)) register(f.name, f.factory, f.priority, f.explicitOnly ? { explicitOnly: true } : {});
}
