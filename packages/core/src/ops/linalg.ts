// Matrix products and convolution, the ops where nearly all FLOPs of a diffusion model go.

import type { Conv2dAttrs } from '../backend/types.js';
import { InvalidArgumentError, ShapeError, describe } from '../errors/index.js';
import { engine, expectDType } from '../engine/engine.js';
import { broadcastShapes, convOutSize } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { reshape } from './layout.js';

export interface MatmulOptions {
  transposeA?: boolean;
  transposeB?: boolean;
}

/**
 * Matrix product over the last two axes with broadcast batch axes. Rank-1 operands are treated
 * as row (a) / column (b) vectors and the added axis is removed again, like NumPy.
 */
export function matmul(a: Tensor, b: Tensor, options: MatmulOptions = {}): Tensor {
  const op = 'matmul';
  a._check(op);
  b._check(op);
  expectDType(op, 'a', a, ['float32', 'float64']);
  expectDType(op, 'b', b, ['float32', 'float64']);
  if (a.dtype !== b.dtype) throw new InvalidArgumentError(`matmul: a and b must share a dtype, got ${a.dtype} and ${b.dtype}`);
  if (a.rank === 0 || b.rank === 0) throw new ShapeError(`matmul: operands must have rank >= 1, got shapes ${describe(a.shape)} and ${describe(b.shape)}`);
  const ta = options.transposeA ?? false;
  const tb = options.transposeB ?? false;
  // Rank-1 operands are reshaped views: freed here, whether or not a scope encloses the call.
  return engine.tidy(() => {
    const a2 = a.rank === 1 ? reshape(a, [1, a.shape[0]!]) : a;
    const b2 = b.rank === 1 ? reshape(b, [b.shape[0]!, 1]) : b;
    const m = a2.shape[a2.rank - (ta ? 1 : 2)]!;
    const ka = a2.shape[a2.rank - (ta ? 2 : 1)]!;
    const kb = b2.shape[b2.rank - (tb ? 1 : 2)]!;
    const n = b2.shape[b2.rank - (tb ? 2 : 1)]!;
    if (ka !== kb) {
      throw new ShapeError(`matmul: inner dimensions differ: a ${describe(a.shape)}${ta ? ' (transposed)' : ''} has ${ka}, b ${describe(b.shape)}${tb ? ' (transposed)' : ''} has ${kb}`);
    }
    const batch = broadcastShapes(op, a2.shape.slice(0, -2), b2.shape.slice(0, -2));
    const out = engine.runKernel('matmul', [a2, b2], { transposeA: ta, transposeB: tb }, { shape: [...batch, m, n], dtype: a.dtype }, op);
    if (a.rank === 1 && b.rank === 1) return reshape(out, []);
    if (a.rank === 1) return reshape(out, [...batch, n]);
    if (b.rank === 1) return reshape(out, [...batch, m]);
    return out;
  });
}

export interface Conv2dOptions {
  /** Default 1. */
  stride?: number | readonly [number, number];
  /** Zero padding: a number, [h, w], or [top, bottom, left, right]; or 'same' (stride 1 only). Default 0. */
  padding?: number | readonly [number, number] | readonly [number, number, number, number] | 'same';
  /** Default 1. */
  dilation?: number | readonly [number, number];
  /** Default 1. */
  groups?: number;
}

function pair(op: string, arg: string, v: number | readonly number[] | undefined, dflt: number, min: number): [number, number] {
  const p = v === undefined ? [dflt, dflt] : typeof v === 'number' ? [v, v] : [...v];
  if (p.length !== 2 || !p.every((x) => Number.isInteger(x) && x >= min)) {
    throw new InvalidArgumentError(`${op}: ${arg} must be an integer >= ${min} or a pair of them, got ${describe(v)}`);
  }
  return [p[0]!, p[1]!];
}

/** Checks conv2d arguments and returns the kernel attributes and the output shape. */
export function conv2dAttrs(op: string, xShape: readonly number[], wShape: readonly number[], options: Conv2dOptions): { attrs: Conv2dAttrs; outShape: number[] } {
  if (xShape.length !== 4) throw new ShapeError(`${op}: x must be [N, C, H, W], got ${describe(xShape)}`);
  if (wShape.length !== 4) throw new ShapeError(`${op}: w must be [Cout, Cin/groups, kH, kW], got ${describe(wShape)}`);
  const [n, cin, h, wd] = xShape as [number, number, number, number];
  const [cout, cinG, kh, kw] = wShape as [number, number, number, number];
  const groups = options.groups ?? 1;
  if (!Number.isInteger(groups) || groups < 1 || cin % groups !== 0 || cout % groups !== 0) {
    throw new InvalidArgumentError(`${op}: groups must be a positive integer dividing Cin (${cin}) and Cout (${cout}), got ${describe(groups)}`);
  }
  if (cinG * groups !== cin) throw new ShapeError(`${op}: w must be [${cout}, ${cin / groups}, kH, kW] for x ${describe(xShape)} with groups ${groups}, got ${describe(wShape)}`);
  const stride = pair(op, 'stride', options.stride, 1, 1);
  const dilation = pair(op, 'dilation', options.dilation, 1, 1);
  let padding: [number, number, number, number];
  const p = options.padding ?? 0;
  if (p === 'same') {
    if (stride[0] !== 1 || stride[1] !== 1) throw new InvalidArgumentError(`${op}: padding 'same' needs stride 1, got ${describe(stride)}`);
    const th = dilation[0] * (kh - 1);
    const tw = dilation[1] * (kw - 1);
    padding = [Math.floor(th / 2), th - Math.floor(th / 2), Math.floor(tw / 2), tw - Math.floor(tw / 2)];
  } else if (typeof p === 'number') {
    padding = [p, p, p, p];
  } else if (Array.isArray(p) && p.length === 2) {
    padding = [p[0], p[0], p[1], p[1]];
  } else if (Array.isArray(p) && p.length === 4) {
    padding = [p[0], p[1], p[2], p[3]];
  } else {
    throw new InvalidArgumentError(`${op}: padding must be a number, [h, w], [top, bottom, left, right] or 'same', got ${describe(p)}`);
  }
  if (!padding.every((v) => Number.isInteger(v) && v >= 0)) throw new InvalidArgumentError(`${op}: padding must be non-negative integers, got ${describe(p)}`);
  const oh = convOutSize(h, kh, stride[0], padding[0], padding[1], dilation[0]);
  const ow = convOutSize(wd, kw, stride[1], padding[2], padding[3], dilation[1]);
  if (oh < 1 || ow < 1) throw new ShapeError(`${op}: the ${kh}x${kw} kernel (dilation ${describe(dilation)}) does not fit the padded ${h}x${wd} input`);
  return { attrs: { stride, padding, dilation, groups }, outShape: [n, cout, oh, ow] };
}

/** 2-D cross-correlation, NCHW input and OIHW filter (PyTorch layout), optional bias [Cout]. */
export function conv2d(x: Tensor, w: Tensor, options: Conv2dOptions = {}): Tensor {
  x._check('conv2d');
  w._check('conv2d');
  expectDType('conv2d', 'x', x, ['float32', 'float64']);
  if (w.dtype !== x.dtype) throw new InvalidArgumentError(`conv2d: w must have x's dtype ${x.dtype}, got ${w.dtype}`);
  const { attrs, outShape } = conv2dAttrs('conv2d', x.shape, w.shape, options);
  return engine.runKernel('conv2d', [x, w], attrs as unknown as Record<string, unknown>, { shape: outShape, dtype: x.dtype }, 'conv2d');
}
