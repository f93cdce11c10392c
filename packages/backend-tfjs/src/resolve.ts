// Run-time loading of the tfjs flavors with dynamic import(), so that importing this package
// loads no tfjs engine and the native packages stay optional.
//
// tfjs keeps ONE global engine per process (tfjs-core stores it on globalThis), and its kernels
// run on the engine's current backend. So only one flavor can be active in a process: once a
// flavor has initialised, requesting a different one throws BackendUnavailableError. Requesting
// the same flavor again returns the same Backend (it is initialised once).

import { BackendUnavailableError, InvalidArgumentError, type Backend } from '@denoise/core';
import { createTfjsBackend } from './backend.js';
import { TFJS_FLAVORS, type TfjsFlavor, type Tfjs } from './types.js';
import { disableWasmThreads, isNode, setupWasmForNode } from './wasm-node.js';

export interface LoadTfjsOptions {
  /**
   * wasm flavor: XNNPACK threads. Default: the number of logical cores (at most 8) in Node,
   * tfjs's own choice in browsers. 1 selects the single-threaded SIMD binary (no workers).
   */
  threads?: number;
  /** wasm flavor: where the .wasm binaries are (tfjs's setWasmPaths); default: the package's dist/ in Node. */
  wasmPaths?: string | Record<string, string>;
  /** Loads a module by specifier (default: dynamic import()). Injectable for tests and bundlers. */
  importer?: (specifier: string) => Promise<unknown>;
}

/** The npm packages each flavor imports, in order. */
export const TFJS_FLAVOR_PACKAGES: Readonly<Record<TfjsFlavor, readonly string[]>> = {
  'node-gpu': ['@tensorflow/tfjs-node-gpu'],
  node: ['@tensorflow/tfjs-node'],
  wasm: ['@tensorflow/tfjs-core', '@tensorflow/tfjs-backend-wasm'],
  cpu: ['@tensorflow/tfjs-core', '@tensorflow/tfjs-backend-cpu'],
};

const INSTALL: Readonly<Record<TfjsFlavor, { command: string; note: string }>> = {
  'node-gpu': {
    command: 'npm install @tensorflow/tfjs-node-gpu',
    note: 'Linux x64 with an NVIDIA GPU, CUDA 11.2 and cuDNN 8.1; its install script downloads libtensorflow, so installing needs network access',
  },
  node: {
    command: 'npm install @tensorflow/tfjs-node',
    note: 'its install script downloads libtensorflow, so installing needs network access',
  },
  wasm: {
    command: 'npm install @tensorflow/tfjs-core @tensorflow/tfjs-backend-wasm',
    note: 'both are dependencies of @denoise/backend-tfjs, so a missing one means a broken install',
  },
  cpu: {
    command: 'npm install @tensorflow/tfjs-core @tensorflow/tfjs-backend-cpu',
    note: 'both are dependencies of @denoise/backend-tfjs, so a missing one means a broken install',
  },
};

/** tfjs engine backend name registered by each flavor's package. */
const ENGINE_BACKEND: Readonly<Record<TfjsFlavor, string>> = {
  'node-gpu': 'tensorflow',
  node: 'tensorflow',
  wasm: 'wasm',
  cpu: 'cpu',
};

interface ActiveState {
  flavor: TfjsFlavor | null;
  promise: Promise<Backend> | null;
  info: TfjsInfo | null;
}

export interface TfjsInfo {
  readonly flavor: TfjsFlavor;
  /** The tfjs engine backend ('tensorflow', 'wasm' or 'cpu'). */
  readonly engineBackend: string;
  /** wasm: XNNPACK threads actually in use. */
  readonly threads?: number;
}

// On globalThis, like tfjs's engine: shared by the ESM and CJS builds of this package.
const STATE_KEY = Symbol.for('@denoise/backend-tfjs/active-flavor');
function state(): ActiveState {
  const g = globalThis as Record<symbol, ActiveState | undefined>;
  return (g[STATE_KEY] ??= { flavor: null, promise: null, info: null });
}

/** The active flavor and its details, or null before one has initialised. */
export function getTfjsInfo(): TfjsInfo | null {
  return state().info;
}

/** @internal Forgets the active flavor (tests with fake importers only; tfjs itself stays as it is). */
export function _resetTfjsStateForTests(): void {
  const s = state();
  s.flavor = null;
  s.promise = null;
  s.info = null;
}

const defaultImporter = (specifier: string): Promise<unknown> => import(/* @vite-ignore */ specifier);

function isModuleNotFound(error: unknown, specifier: string): boolean {
  const e = error as { code?: unknown; message?: unknown } | null;
  if (!e || typeof e !== 'object') return false;
  const code = e.code;
  const message = typeof e.message === 'string' ? e.message : '';
  if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') return message.includes(specifier) || message === '';
  // Node ('Cannot find package / module'), bundlers and vite ('Could not resolve', 'Failed to resolve').
  return /Cannot find (module|package)|Could not resolve|Failed to resolve|Module not found/.test(message) && message.includes(specifier);
}

/** A module namespace or its CommonJS default export, whichever has `key`. */
function namespaceWith<T>(mod: unknown, key: string): T | null {
  const m = mod as Record<string, unknown> | null;
  if (m && typeof m === 'object' && key in m) return m as T;
  const d = m && (m as { default?: unknown }).default;
  if (d && (typeof d === 'object' || typeof d === 'function') && key in (d as object)) return d as T;
  return null;
}

async function importPackage(flavor: TfjsFlavor, specifier: string, importer: (s: string) => Promise<unknown>): Promise<unknown> {
  try {
    return await importer(specifier);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    const { command, note } = INSTALL[flavor];
    const message = isModuleNotFound(error, specifier)
      ? `tfjs-${flavor}: the package ${specifier} is not installed. Install it with \`${command}\` (${note}).`
      : `tfjs-${flavor}: importing ${specifier} failed (${reason}). Reinstall it with \`${command}\` (${note}).`;
    throw new BackendUnavailableError(message, [{ name: `tfjs-${flavor}`, reason: message }], { cause: error });
  }
}

function fail(flavor: TfjsFlavor, reason: string, cause?: unknown): never {
  const message = `tfjs-${flavor}: ${reason}`;
  throw new BackendUnavailableError(message, [{ name: `tfjs-${flavor}`, reason: message }], cause === undefined ? undefined : { cause });
}

async function defaultThreads(): Promise<number> {
  if (!isNode()) return -1;
  const os = (await import('node:os')).default;
  const n = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  return Math.max(1, Math.min(n, 8));
}

async function initialise(flavor: TfjsFlavor, options: LoadTfjsOptions): Promise<Backend> {
  const importer = options.importer ?? defaultImporter;
  const engineName = ENGINE_BACKEND[flavor];
  let tf: Tfjs | null;
  let threads: number | undefined;

  if (flavor === 'node' || flavor === 'node-gpu') {
    const pkg = TFJS_FLAVOR_PACKAGES[flavor][0]!;
    tf = namespaceWith<Tfjs>(await importPackage(flavor, pkg, importer), 'setBackend');
    if (!tf) fail(flavor, `${pkg} did not export the tfjs API`);
    if (!(await tf.setBackend(engineName))) fail(flavor, `${pkg} is installed but its '${engineName}' engine backend did not initialise (see the tfjs log above)`);
  } else {
    const [corePkg, backendPkg] = TFJS_FLAVOR_PACKAGES[flavor] as [string, string];
    tf = namespaceWith<Tfjs>(await importPackage(flavor, corePkg, importer), 'setBackend');
    if (!tf) fail(flavor, `${corePkg} did not export the tfjs API`);
    const backendModule = await importPackage(flavor, backendPkg, importer);
    if (!tf.findBackendFactory(engineName)) {
      fail(flavor, `${backendPkg} registered itself with a different copy of @tensorflow/tfjs-core than the one @denoise/backend-tfjs imports; dedupe @tensorflow/tfjs-core (npm dedupe)`);
    }
    if (flavor === 'wasm') {
      const wasm = namespaceWith<Parameters<typeof setupWasmForNode>[1]>(backendModule, 'setThreadsCount');
      if (!wasm) fail(flavor, `${backendPkg} did not export setThreadsCount / setWasmPaths`);
      const requested = options.threads ?? (await defaultThreads());
      if (requested !== -1 && (!Number.isInteger(requested) || requested < 1)) {
        throw new InvalidArgumentError(`loadTfjsBackend: threads must be a positive integer, got ${String(requested)}`);
      }
      let ok: boolean;
      if (isNode()) {
        const setup = await setupWasmForNode(tf, wasm, requested, { wasmPaths: options.wasmPaths });
        ok = await setup.init();
        if (!ok && setup.threaded) {
          // The threaded binary did not start: retry with the single-threaded SIMD one.
          disableWasmThreads(tf, wasm);
          ok = await tf.setBackend('wasm');
        }
      } else {
        if (options.wasmPaths !== undefined) wasm.setWasmPaths(options.wasmPaths);
        if (requested > 0) wasm.setThreadsCount(requested);
        ok = await tf.setBackend('wasm');
      }
      if (!ok) fail(flavor, `tfjs-backend-wasm did not initialise (its .wasm binaries could not be loaded; pass { wasmPaths } to loadTfjsBackend to say where they are)`);
      try {
        threads = wasm.getThreadsCount();
      } catch {
        threads = undefined;
      }
    } else if (!(await tf.setBackend(engineName))) {
      fail(flavor, `the tfjs '${engineName}' backend did not initialise`);
    }
  }
  await tf.ready();
  if (tf.getBackend() !== engineName) fail(flavor, `tfjs's current backend is '${tf.getBackend()}', expected '${engineName}'`);
  state().info = { flavor, engineBackend: engineName, ...(threads !== undefined ? { threads } : {}) };
  return createTfjsBackend(tf, flavor);
}

/**
 * Imports and initialises one tfjs flavor and returns its @denoise Backend:
 * 'node-gpu' (@tensorflow/tfjs-node-gpu), 'node' (@tensorflow/tfjs-node), 'wasm'
 * (@tensorflow/tfjs-core + @tensorflow/tfjs-backend-wasm) or 'cpu' (tfjs-core +
 * @tensorflow/tfjs-backend-cpu). A missing package gives a BackendUnavailableError naming it and
 * its install command. Only one flavor can be active per process (see above).
 */
export function loadTfjsBackend(flavor: TfjsFlavor, options: LoadTfjsOptions = {}): Promise<Backend> {
  if (!TFJS_FLAVORS.includes(flavor)) {
    return Promise.reject(new InvalidArgumentError(`loadTfjsBackend: flavor must be one of ${TFJS_FLAVORS.map((f) => JSON.stringify(f)).join(', ')}, got ${JSON.stringify(flavor)}`));
  }
  const s = state();
  if (s.flavor !== null && s.flavor !== flavor) {
    const message =
      `tfjs-${flavor}: the tfjs flavor '${s.flavor}' is already initialised in this process. tfjs keeps one global engine, ` +
      `so only one flavor can be active; use the backend 'tfjs-${s.flavor}', or run '${flavor}' in another process`;
    return Promise.reject(new BackendUnavailableError(message, [{ name: `tfjs-${flavor}`, reason: message }]));
  }
  if (s.promise) return s.promise;
  s.flavor = flavor;
  const promise = initialise(flavor, options).catch((error: unknown) => {
    // A failed flavor does not block the others (the registry tries the next one).
    if (s.promise === promise) {
      s.flavor = null;
      s.promise = null;
      s.info = null;
    }
    throw error;
  });
  s.promise = promise;
  return promise;
}
