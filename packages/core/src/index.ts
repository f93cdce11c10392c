// @denoise/core: backend-neutral tensors, ops, autograd, randomness, optimizers and checkpoint
// IO. This entry has no side effects: importing it registers nothing and starts nothing.

export * from './errors/index.js';
export type { DType, TypedArray } from './tensor/dtype.js';
export { DTYPES, isFloatDType, bytesPerElement } from './tensor/dtype.js';
export { sizeOf, stridesOf, broadcastShapes, shapesEqual } from './tensor/shape.js';
export { Tensor, isTensor } from './tensor/tensor.js';
export type { NestedArray } from './tensor/tensor.js';
export type {
  Backend, BackendCapabilities, BackendCompileOptions, BackendMemory, CompiledFunction, DataHandle, TensorInfo, OutputInfo, PrimitiveKernels, PrimitiveName, FusedKernels, FusedName,
  UnaryOp, BinaryOp, CompareOp, ReduceOp, Conv2dAttrs, ResizeAttrs, ResizeMode,
} from './backend/types.js';
export { PRIMITIVE_NAMES, UNARY_OPS, BINARY_OPS, COMPARE_OPS, REDUCE_OPS } from './backend/types.js';
export { registerBackend, resolveBackend, setBackend, getBackend, listBackends } from './backend/registry.js';
export type { BackendFactory, RegisterOptions } from './backend/registry.js';
export { createReferenceBackend } from './backend/reference/backend.js';
/** Per-axis source taps of `resize` (the exact PyTorch semantics every backend reproduces). */
export { axisTaps as resizeAxisTaps } from './backend/reference/resize.js';
export type { ResizeTap } from './backend/reference/resize.js';
export { engine } from './engine/engine.js';
export type { Engine, KernelInterceptor, MemoryInfo, TapeNode } from './engine/engine.js';
export * from './ops/index.js';
export { gradients, valueAndGrad, grad, vjp, noGrad } from './autograd/index.js';
export type { ValueAndGrads } from './autograd/index.js';
export { Generator, philox4x32, randn, rand, randint } from './random/index.js';
export type { RandomOptions } from './random/index.js';
export { SGD, Adam, AdamW, Adagrad } from './optim/optimizers.js';
export type { Optimizer, SGDOptions, AdamOptions, AdagradOptions } from './optim/optimizers.js';
export { clipGradNorm, clipGradNormAsync, EMA, constantSchedule, warmupLinearSchedule, warmupCosineSchedule } from './optim/utils.js';
export type { EMAOptions, LRSchedule, WarmupDecayOptions } from './optim/utils.js';
export { saveSafetensors, loadSafetensors, serializeTensors, deserializeTensors, parseSafetensors, serializeSafetensors, writeFileAtomic } from './io/safetensors.js';
export { float16BitsToNumber, numberToFloat16Bits, bfloat16BitsToNumber, numberToBfloat16Bits } from './io/safetensors-format.js';
export type { SaveOptions, LoadOptions, LoadedTensors, RawTensor, SafetensorsDType } from './io/safetensors.js';

import { engine } from './engine/engine.js';
import type { Tensor } from './tensor/tensor.js';

/** Runs `fn`, then frees every tensor it created that it does not return. */
export function tidy<T>(fn: () => T): T {
  return engine.tidy(fn);
}

/** Keeps a tensor alive past the enclosing tidy scopes. */
export function keep<T extends Tensor>(t: T): T {
  return engine.keep(t);
}

/** Live tensor count and the current backend's memory use. */
export function memory() {
  return engine.memory();
}

/** Frees tensors (any nesting of arrays / objects of them). */
export function dispose(value: unknown): void {
  const set = new Set<Tensor>();
  collectTensorsInto(value, set);
  for (const t of set) t.dispose();
}

import { collectTensors as collectTensorsInto } from './engine/engine.js';

// Diffusion algorithms.
export * from './schedules/index.js';
export * from './samplers/index.js';
export * from './guidance/index.js';
export * from './losses/index.js';
export * from './training/index.js';
export * from './schedulers/index.js';
export * from './graph/index.js';
