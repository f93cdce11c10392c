// The backend the training scripts run on: the onnx backend (compiled steps in ONNX Runtime,
// eager ops on --fallback) unless --backend names another. tfjs is imported only when a name
// asks for it, so a bundled copy of a script runs without it.

import { engine, registerBackend, resolveBackend } from '@denoise/core';
import { registerOnnxBackend } from '@denoise/backend-onnx';

/** Registers, resolves and selects the backend from the scripts' --backend / --fallback / --threads. */
export async function trainingBackend(args) {
  const fallback = (args.fallback ?? 'tfjs-wasm,reference').split(',');
  if (fallback.some((f) => f.startsWith('tfjs')) || (args.backend ?? '').startsWith('tfjs')) {
    const { registerTfjsBackends } = await import('@denoise/backend-tfjs');
    registerTfjsBackends(registerBackend);
  }
  registerOnnxBackend(registerBackend, { threads: Number(args.threads ?? 2), fallback });
  const backend = await resolveBackend([args.backend ?? 'onnx']);
  engine.setBackend(backend);
  return backend;
}
