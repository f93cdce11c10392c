// Node.js set-up of @tensorflow/tfjs-backend-wasm: where its .wasm binaries are, and
// multi-threading, which tfjs 4.22 disables in Node and which this module turns back on.
//
// Why threads are off in Node, and what this does about it:
//  1. flags_wasm.ts answers WASM_HAS_MULTITHREAD_SUPPORT = false whenever IS_NODE
//     (tensorflow/tfjs#3830). We set the flag to true before initialising.
//  2. The threaded (SIMD + pthreads) Emscripten build starts its pthread pool with
//     `new Worker(blobUrl)`; Node's worker_threads.Worker rejects blob: URLs. Emscripten assigns
//     `globalThis.Worker = worker_threads.Worker` while it starts, so we intercept that assignment
//     and hand it a subclass that runs the package's own pthread worker script
//     (wasm-out/tfjs-backend-wasm-threaded-simd.worker.js) with { eval: true }, passes the
//     path of wasm-out/tfjs-backend-wasm-threaded-simd.js instead of the Blob in the 'load'
//     message (the worker importScripts() it, i.e. reads it with fs), and unrefs the workers
//     (XNNPACK keeps them alive, which would otherwise stop Node from exiting).
//  3. The backend caps its thread pool at emscripten_num_logical_cores() / 2, which is
//     os.cpus().length / 2 in Node (1 on a 2-core machine). While the module initialises we make
//     os.cpus() report 2 x threads entries so that the cap is the requested count.
// If any of the package files is missing (another tfjs version), threads stay off.

import type { Tfjs } from './types.js';

interface WasmModule {
  setWasmPaths(prefixOrFileMap: string | Record<string, string>, usePlatformFetch?: boolean): void;
  setThreadsCount(n: number): void;
  getThreadsCount(): number;
}

export function isNode(): boolean {
  return typeof process !== 'undefined' && typeof process.versions === 'object' && typeof process.versions.node === 'string';
}

/** Directory of the installed @tensorflow/tfjs-backend-wasm package (Node only). */
async function wasmPackageDir(): Promise<string | null> {
  try {
    const { createRequire } = await import('node:module');
    const path = await import('node:path');
    // import.meta.url is shimmed to the CJS file's URL in the CommonJS build (tsup shims).
    const req = createRequire(import.meta.url);
    return path.dirname(req.resolve('@tensorflow/tfjs-backend-wasm/package.json'));
  } catch {
    return null;
  }
}

const SHIM_KEY = Symbol.for('@denoise/backend-tfjs/wasm-worker-shim');

/** Installs the Worker interception (once per process). Returns false if it cannot. */
async function installWorkerShim(pkgDir: string): Promise<boolean> {
  const g = globalThis as Record<string | symbol, unknown>;
  if (g[SHIM_KEY]) return true;
  const path = await import('node:path');
  const fs = await import('node:fs');
  const { createRequire } = await import('node:module');
  const { Worker: NodeWorker } = await import('node:worker_threads');
  const mainScript = path.join(pkgDir, 'wasm-out', 'tfjs-backend-wasm-threaded-simd.js');
  const workerModule = path.join(pkgDir, 'wasm-out', 'tfjs-backend-wasm-threaded-simd.worker.js');
  if (!fs.existsSync(mainScript) || !fs.existsSync(workerModule)) return false;
  const contents = (createRequire(import.meta.url)(workerModule) as { wasmWorkerContents?: unknown }).wasmWorkerContents;
  if (typeof contents !== 'string') return false;
  // The bundle escapes newlines the same way before putting the script in a Blob.
  const workerSource = contents.replace(/\n/g, '\\n');

  class PthreadWorker extends NodeWorker {
    constructor(filename: string | URL, options?: ConstructorParameters<typeof NodeWorker>[1]) {
      if (typeof filename === 'string' && filename.startsWith('blob:')) super(workerSource, { ...options, eval: true });
      else super(filename, options);
      this.unref();
    }
    // Emscripten refs a worker while it runs a pthread; XNNPACK's pool threads run forever.
    override ref(): void {}
    override postMessage(message: unknown, transferList?: readonly unknown[]): void {
      const m = message as { cmd?: unknown; urlOrBlob?: unknown } | null;
      if (m && m.cmd === 'load' && typeof m.urlOrBlob !== 'string') message = { ...m, urlOrBlob: mainScript };
      super.postMessage(message, transferList as never);
    }
  }

  let current: unknown = g.Worker;
  Object.defineProperty(globalThis, 'Worker', {
    configurable: true,
    enumerable: false,
    get: () => current,
    set: (v: unknown) => {
      current = v === NodeWorker ? PthreadWorker : v;
    },
  });
  g[SHIM_KEY] = true;
  return true;
}

export interface WasmSetupResult {
  /** Whether the threaded binary was requested. */
  threaded: boolean;
}

/**
 * Points tfjs-backend-wasm at its .wasm files and configures threads, before
 * tf.setBackend('wasm'). Returns how it configured it; `init` runs the initialisation with any
 * temporary patches in place.
 */
export async function setupWasmForNode(
  tf: Tfjs,
  wasm: WasmModule,
  threads: number,
  options: { wasmPaths?: string | Record<string, string> },
): Promise<{ threaded: boolean; init: () => Promise<boolean> }> {
  const pkgDir = await wasmPackageDir();
  if (options.wasmPaths !== undefined) wasm.setWasmPaths(options.wasmPaths);
  else if (pkgDir !== null) {
    const path = await import('node:path');
    wasm.setWasmPaths(path.join(pkgDir, 'dist') + path.sep);
  }
  const threaded = threads > 1 && pkgDir !== null && (await installWorkerShim(pkgDir));
  if (!threaded) {
    return { threaded: false, init: () => tf.setBackend('wasm') };
  }
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', true);
  wasm.setThreadsCount(threads);
  const os = (await import('node:os')).default;
  return {
    threaded: true,
    init: async () => {
      const realCpus = os.cpus;
      const cores = realCpus.call(os);
      const needed = 2 * threads;
      if (cores.length > 0 && cores.length < needed) {
        os.cpus = () => Array.from({ length: needed }, (_, i) => cores[i % cores.length]!);
      }
      try {
        return await tf.setBackend('wasm');
      } finally {
        os.cpus = realCpus;
      }
    },
  };
}

/** Undo the multi-thread flag so that a retry initialises the single-threaded SIMD binary. */
export function disableWasmThreads(tf: Tfjs, wasm: WasmModule): void {
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
  wasm.setThreadsCount(1);
}
