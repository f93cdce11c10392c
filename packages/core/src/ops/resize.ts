// Spatial resizing of NCHW feature maps with PyTorch's F.interpolate semantics.

import type { ResizeMode } from '../backend/types.js';
import { InvalidArgumentError, ShapeError, describe } from '../errors/index.js';
import { engine, expectDType } from '../engine/engine.js';
import type { Tensor } from '../tensor/tensor.js';

export interface ResizeOptions {
  /** Output [H, W]; or give scaleFactor. */
  size?: readonly [number, number];
  /** Integer or fractional scale of H and W. */
  scaleFactor?: number | readonly [number, number];
  /** Default 'nearest'. */
  mode?: ResizeMode;
  /** Bilinear only; default false (half-pixel centres). */
  alignCorners?: boolean;
}

export function resize(x: Tensor, options: ResizeOptions): Tensor {
  x._check('resize');
  expectDType('resize', 'x', x, ['float32', 'float64']);
  if (x.rank !== 4) throw new ShapeError(`resize: x must be [N, C, H, W], got ${describe(x.shape)}`);
  const mode = options.mode ?? 'nearest';
  if (mode !== 'nearest' && mode !== 'bilinear') throw new InvalidArgumentError(`resize: mode must be 'nearest' or 'bilinear', got ${describe(mode)}`);
  let size: [number, number];
  if (options.size) {
    size = [options.size[0], options.size[1]];
  } else if (options.scaleFactor !== undefined) {
    const s = typeof options.scaleFactor === 'number' ? [options.scaleFactor, options.scaleFactor] : options.scaleFactor;
    size = [Math.floor((x.shape[2] as number) * s[0]!), Math.floor((x.shape[3] as number) * s[1]!)];
  } else {
    throw new InvalidArgumentError('resize: give options.size or options.scaleFactor');
  }
  if (!size.every((v) => Number.isInteger(v) && v >= 1)) throw new InvalidArgumentError(`resize: output size must be positive integers, got ${describe(size)}`);
  const alignCorners = options.alignCorners ?? false;
  if (alignCorners && mode === 'nearest') throw new InvalidArgumentError(`resize: alignCorners applies to bilinear mode only`);
  const shape = [x.shape[0]!, x.shape[1]!, size[0], size[1]];
  return engine.runKernel('resize', [x], { mode, size, alignCorners }, { shape, dtype: x.dtype }, 'resize');
}
