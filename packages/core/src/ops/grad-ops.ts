// Kernel-level ops that only gradients need: the adjoints of conv2d and resize. They are public
// so that models can use them directly too (conv2dGradInput is a transposed convolution).

import type { Conv2dAttrs, ResizeAttrs } from '../backend/types.js';
import { engine } from '../engine/engine.js';
import type { Tensor } from '../tensor/tensor.js';

/** Gradient of conv2d w.r.t. its input (a transposed convolution), output of `xShape`. */
export function conv2dGradInput(dy: Tensor, w: Tensor, attrs: Conv2dAttrs, xShape: readonly number[]): Tensor {
  return engine.runKernel('conv2dGradInput', [dy, w], attrs as unknown as Record<string, unknown>, { shape: xShape, dtype: dy.dtype }, 'conv2dGradInput');
}

/** Gradient of conv2d w.r.t. its filter, output of `wShape`. */
export function conv2dGradFilter(x: Tensor, dy: Tensor, attrs: Conv2dAttrs, wShape: readonly number[]): Tensor {
  return engine.runKernel('conv2dGradFilter', [x, dy], attrs as unknown as Record<string, unknown>, { shape: wShape, dtype: dy.dtype }, 'conv2dGradFilter');
}

/** Gradient of resize w.r.t. its input, output of `xShape`. */
export function resizeGrad(dy: Tensor, attrs: ResizeAttrs, xShape: readonly number[]): Tensor {
  return engine.runKernel('resizeGrad', [dy], attrs as unknown as Record<string, unknown>, { shape: xShape, dtype: dy.dtype }, 'resizeGrad');
}

/** Plain conv2d from already-checked attributes (used by the double-backward rules). */
export function conv2dWithAttrs(x: Tensor, w: Tensor, attrs: Conv2dAttrs, outShape: readonly number[]): Tensor {
  return engine.runKernel('conv2d', [x, w], attrs as unknown as Record<string, unknown>, { shape: outShape, dtype: x.dtype }, 'conv2d');
}

/** Plain resize from already-checked attributes. */
export function resizeWithAttrs(x: Tensor, attrs: ResizeAttrs, outShape: readonly number[]): Tensor {
  return engine.runKernel('resize', [x], attrs as unknown as Record<string, unknown>, { shape: outShape, dtype: x.dtype }, 'resize');
}
