// A backend that reads only asynchronously, like WebGPU: for testing code paths that must not
// call dataSync() (the *Async twins of functions that read values back) without a GPU.

import { createReferenceBackend } from '../backend/reference/backend.js';
import type { Backend } from '../backend/types.js';
import { InvalidArgumentError } from '../errors/index.js';

/**
 * `base` (default: a new float64 reference backend) with `capabilities.syncRead` false and a
 * `readSync` that throws, so `Tensor.dataSync()` fails on it exactly as on a GPU backend, while
 * `await tensor.data()` works. Everything else (kernels, memory, compile) is `base`'s own.
 */
export function asyncReadBackend(base: Backend = createReferenceBackend(), name = `${base.name}-async-read`): Backend {
  if (base === null || typeof base !== 'object' || typeof base.read !== 'function') {
    throw new InvalidArgumentError(`asyncReadBackend: base must be a Backend, got ${String(base)}`);
  }
  return {
    ...base,
    name,
    capabilities: { ...base.capabilities, syncRead: false },
    readSync(): never {
      throw new InvalidArgumentError(`${name}: readSync is not available on this backend (capabilities.syncRead is false); use read()`);
    },
    read: (handle, dtype) => base.read(handle, dtype),
    memory: () => base.memory(),
  };
}
