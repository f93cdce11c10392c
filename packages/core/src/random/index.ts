// Seeded randomness for tensors. Numbers are drawn on the host by the counter-based Philox
// generator (philox.ts) and uploaded, so the same seed and the same sequence of draws give
// bit-identical noise on every backend. Nothing in @denoise calls Math.random.

import { InvalidArgumentError, describe } from '../errors/index.js';
import { engine } from '../engine/engine.js';
import type { Backend } from '../backend/types.js';
import { assertShape, sizeOf } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { Generator } from './philox.js';

export { Generator, philox4x32 } from './philox.js';

export interface RandomOptions {
  /** 'float32' (default) or 'float64'. */
  dtype?: 'float32' | 'float64';
  /** Default: the current backend. */
  backend?: Backend;
}

function checkGenerator(op: string, gen: unknown): asserts gen is Generator {
  if (!(gen instanceof Generator)) {
    throw new InvalidArgumentError(`${op}: gen must be a Generator (new Generator(seed)), got ${describe(gen)}`);
  }
}

/** Standard normal samples of `shape` (times std, plus mean). */
export function randn(shape: readonly number[], gen: Generator, options: RandomOptions & { mean?: number; std?: number } = {}): Tensor {
  assertShape('randn', shape);
  checkGenerator('randn', gen);
  const dtype = options.dtype ?? 'float32';
  const values = gen.normalArray(sizeOf(shape), dtype);
  const { mean = 0, std = 1 } = options;
  if (mean !== 0 || std !== 1) for (let i = 0; i < values.length; i++) values[i] = (values[i] as number) * std + mean;
  return engine.upload(values, shape, dtype, options.backend ?? engine.backend);
}

/** Uniform samples in [low, high) of `shape`. */
export function rand(shape: readonly number[], gen: Generator, options: RandomOptions & { low?: number; high?: number } = {}): Tensor {
  assertShape('rand', shape);
  checkGenerator('rand', gen);
  const dtype = options.dtype ?? 'float32';
  const values = gen.uniformArray(sizeOf(shape), dtype);
  const { low = 0, high = 1 } = options;
  if (!(high > low)) throw new InvalidArgumentError(`rand: high must exceed low, got low ${low}, high ${high}`);
  if (low !== 0 || high !== 1) for (let i = 0; i < values.length; i++) values[i] = low + (values[i] as number) * (high - low);
  return engine.upload(values, shape, dtype, options.backend ?? engine.backend);
}

/** Integers uniform in [low, high), int32. */
export function randint(shape: readonly number[], low: number, high: number, gen: Generator, backend?: Backend): Tensor {
  assertShape('randint', shape);
  checkGenerator('randint', gen);
  const values = gen.randintArray(sizeOf(shape), low, high);
  return engine.upload(values, shape, 'int32', backend ?? engine.backend);
}
