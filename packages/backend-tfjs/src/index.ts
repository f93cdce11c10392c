// @denoise/backend-tfjs: @denoise/core backends on TensorFlow.js (tfjs-node-gpu, tfjs-node,
// tfjs-backend-wasm, tfjs-backend-cpu). This entry has no side effects: importing it loads no
// tfjs engine; the flavors are imported at run time by loadTfjsBackend / the registered factories.

export { createTfjsBackend } from './backend.js';
export { loadTfjsBackend, getTfjsInfo, TFJS_FLAVOR_PACKAGES } from './resolve.js';
export type { LoadTfjsOptions, TfjsInfo } from './resolve.js';
export { tfjsBackendFactories, registerTfjsBackends } from './register.js';
export type { TfjsBackendFactory, TfjsBackendName } from './register.js';
export { TFJS_FLAVORS } from './types.js';
export type { TfjsFlavor, Tfjs } from './types.js';
