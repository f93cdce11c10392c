// Argument parsing and backend selection shared by the scripts.

import { registerBackend, setBackend } from '@denoise/core';
import { registerTfjsBackends } from '@denoise/backend-tfjs';

/** Parses --key value and --flag (boolean) arguments. */
export function parseArgs(argv = process.argv.slice(2), booleans = []) {
  const out = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) throw new Error(`unexpected argument ${a}`);
    const key = a.slice(2);
    if (booleans.includes(key)) out[key] = true;
    else {
      if (i + 1 >= argv.length) throw new Error(`missing value for ${a}`);
      out[key] = argv[++i];
    }
  }
  return out;
}

/**
 * Registers the tfjs backends and selects `name` (default: tfjs-wasm, else reference).
 * `threads`: XNNPACK threads of tfjs-wasm (default: the backend's, the number of cores).
 */
export async function initBackend(name, threads = process.env.DENOISE_THREADS) {
  registerTfjsBackends(registerBackend, threads ? { threads: Number(threads) } : undefined);
  const backend = await setBackend(name ? [name] : ['tfjs-wasm', 'reference']);
  return backend;
}
