// Kernel test cases: random non-zero inputs from a seeded LCG, compared with core's float64
// reference backend (an independent implementation), plus hand-computed expectations for the
// semantics that differ between frameworks.

import type { BinaryOp, CompareOp, Conv2dAttrs, DType, ReduceOp, UnaryOp } from '@denoise/core';
import type { KernelCall } from './harness.js';
import { Lcg, host, randBool, randFloat, randInt, type HostTensor } from './lcg.js';

export interface RefCase {
  readonly name: string;
  readonly call: KernelCall;
  readonly atol?: number;
  readonly rtol?: number;
}

export interface HandCase {
  readonly name: string;
  readonly call: KernelCall;
  readonly want: number[];
  readonly atol?: number;
}

function bshape(a: number[], b: number[]): number[] {
  const r = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < r; i++) {
    const x = a[a.length - r + i] ?? 1;
    const y = b[b.length - r + i] ?? 1;
    out.push(x === 1 ? y : x);
  }
  return out;
}

export function convOutShape(x: number[], w: number[], a: Conv2dAttrs): number[] {
  const [n, , h, wd] = x as [number, number, number, number];
  const [cout, , kh, kw] = w as [number, number, number, number];
  const oh = Math.floor((h + a.padding[0] + a.padding[1] - a.dilation[0] * (kh - 1) - 1) / a.stride[0]) + 1;
  const ow = Math.floor((wd + a.padding[2] + a.padding[3] - a.dilation[1] * (kw - 1) - 1) / a.stride[1]) + 1;
  return [n, cout, oh, ow];
}

const UNARY_DOMAINS: Record<Exclude<UnaryOp, 'logicalNot'>, [number, number]> = {
  neg: [-2, 2], abs: [-2, 2], sign: [-2, 2], exp: [-3, 3], expm1: [-1, 1], log: [0.1, 3], log1p: [-0.5, 2], sqrt: [0.1, 4],
  rsqrt: [0.2, 4], square: [-2, 2], reciprocal: [0.3, 3], sin: [-4, 4], cos: [-4, 4], tanh: [-3, 3], sigmoid: [-6, 6], relu: [-2, 2],
  erf: [-2.5, 2.5], floor: [-3, 3], ceil: [-3, 3], round: [-3, 3],
};

export function referenceCases(): RefCase[] {
  const g = new Lcg(20240601);
  const cases: RefCase[] = [];
  const add = (name: string, call: KernelCall, tol?: { atol?: number; rtol?: number }) => cases.push({ name, call, ...tol });

  // unary
  for (const [op, [lo, hi]] of Object.entries(UNARY_DOMAINS)) {
    const x = randFloat(g, [3, 7], lo, hi);
    add(`unary/${op}`, { kernel: 'unary', inputs: [x], attrs: { op }, out: { shape: [3, 7], dtype: 'float32' } }, { atol: 1e-6, rtol: 1e-5 });
  }
  add('unary/log1p-tiny', { kernel: 'unary', inputs: [host([1e-6, -1e-7, 3e-5, -2e-4, 1e-3, 1e-8], [6])], attrs: { op: 'log1p' }, out: { shape: [6], dtype: 'float32' } }, { atol: 0, rtol: 1e-5 });
  add('unary/expm1-tiny', { kernel: 'unary', inputs: [host([1e-6, -1e-7, 3e-5, -2e-4, 1e-3, 1e-8], [6])], attrs: { op: 'expm1' }, out: { shape: [6], dtype: 'float32' } }, { atol: 0, rtol: 1e-5 });
  for (const op of ['neg', 'abs', 'sign', 'square', 'relu', 'floor', 'ceil', 'round'] as UnaryOp[]) {
    add(`unary/int32-${op}`, { kernel: 'unary', inputs: [randInt(g, [4, 5], -9, 10)], attrs: { op }, out: { shape: [4, 5], dtype: 'int32' } });
  }
  add('unary/logicalNot', { kernel: 'unary', inputs: [randBool(g, [3, 5])], attrs: { op: 'logicalNot' }, out: { shape: [3, 5], dtype: 'bool' } });

  // binary
  for (const op of ['add', 'sub', 'mul', 'div', 'maximum', 'minimum'] as BinaryOp[]) {
    add(`binary/${op}-broadcast`, { kernel: 'binary', inputs: [randFloat(g, [4, 1, 5]), randFloat(g, [3, 1])], attrs: { op }, out: { shape: [4, 3, 5], dtype: 'float32' } });
  }
  add('binary/pow', { kernel: 'binary', inputs: [randFloat(g, [2, 6], 0.3, 2), randFloat(g, [2, 6], -1.5, 2)], attrs: { op: 'pow' }, out: { shape: [2, 6], dtype: 'float32' } });
  add('binary/mod-float', { kernel: 'binary', inputs: [randFloat(g, [3, 9], -5, 5), randFloat(g, [1, 9], -2, 2, 0.7)], attrs: { op: 'mod' }, out: { shape: [3, 9], dtype: 'float32' } }, { atol: 1e-5, rtol: 1e-5 });
  for (const op of ['add', 'sub', 'mul', 'div', 'mod', 'maximum', 'minimum'] as BinaryOp[]) {
    add(`binary/int32-${op}`, { kernel: 'binary', inputs: [randInt(g, [4, 6], -20, 20), randInt(g, [6], -7, 8, true)], attrs: { op }, out: { shape: [4, 6], dtype: 'int32' } });
  }
  add('binary/int32-pow', { kernel: 'binary', inputs: [randInt(g, [10], -5, 6), randInt(g, [10], 0, 9)], attrs: { op: 'pow' }, out: { shape: [10], dtype: 'int32' } });
  for (const op of ['logicalAnd', 'logicalOr'] as BinaryOp[]) {
    add(`binary/${op}`, { kernel: 'binary', inputs: [randBool(g, [3, 4]), randBool(g, [4])], attrs: { op }, out: { shape: [3, 4], dtype: 'bool' } });
  }

  // compare (with ties)
  for (const op of ['equal', 'notEqual', 'less', 'lessEqual', 'greater', 'greaterEqual'] as CompareOp[]) {
    const a = randInt(g, [3, 4], -2, 3);
    const b = randInt(g, [4], -2, 3);
    add(`compare/${op}-float`, { kernel: 'compare', inputs: [{ ...a, dtype: 'float32', values: Float32Array.from(a.values) }, { ...b, dtype: 'float32', values: Float32Array.from(b.values) }], attrs: { op }, out: { shape: [3, 4], dtype: 'bool' } });
    add(`compare/${op}-int32`, { kernel: 'compare', inputs: [a, b], attrs: { op }, out: { shape: [3, 4], dtype: 'bool' } });
    add(`compare/${op}-bool`, { kernel: 'compare', inputs: [randBool(g, [3, 4]), randBool(g, [3, 4])], attrs: { op }, out: { shape: [3, 4], dtype: 'bool' } });
  }

  // where
  add('where/float-broadcast', { kernel: 'where', inputs: [randBool(g, [2, 1, 4]), randFloat(g, [3, 1]), randFloat(g, [4])], out: { shape: [2, 3, 4], dtype: 'float32' } });
  add('where/int32', { kernel: 'where', inputs: [randBool(g, [5]), randInt(g, [5], -9, 9), randInt(g, [1], -9, 9)], out: { shape: [5], dtype: 'int32' } });
  add('where/bool', { kernel: 'where', inputs: [randBool(g, [12]), randBool(g, [12]), randBool(g, [12])], out: { shape: [12], dtype: 'bool' } });

  // reduce
  const shapes: Array<[number[], number[]]> = [[[2, 3, 4], [1]], [[2, 3, 4], [0, 2]], [[2, 3, 4], [0, 1, 2]], [[5, 6], [1]]];
  for (const op of ['sum', 'max', 'min', 'prod'] as ReduceOp[]) {
    for (const [shape, axes] of shapes) {
      for (const keepDims of [false, true]) {
        const outShape = keepDims ? shape.map((d, i) => (axes.includes(i) ? 1 : d)) : shape.filter((_, i) => !axes.includes(i));
        add(`reduce/${op}-[${shape}]-axes[${axes}]${keepDims ? '-keep' : ''}`, {
          kernel: 'reduce', inputs: [randFloat(g, shape, op === 'prod' ? 0.6 : -2, op === 'prod' ? 1.5 : 2)], attrs: { op, axes, keepDims }, out: { shape: outShape, dtype: 'float32' },
        }, { atol: 1e-5, rtol: 1e-5 });
      }
    }
  }
  add('reduce/sum-int32', { kernel: 'reduce', inputs: [randInt(g, [3, 4], -50, 50)], attrs: { op: 'sum', axes: [0], keepDims: false }, out: { shape: [4], dtype: 'int32' } });
  add('reduce/max-int32', { kernel: 'reduce', inputs: [randInt(g, [3, 4], -50, 50)], attrs: { op: 'max', axes: [1], keepDims: false }, out: { shape: [3], dtype: 'int32' } });
  add('reduce/sum-bool', { kernel: 'reduce', inputs: [randBool(g, [4, 5])], attrs: { op: 'sum', axes: [1], keepDims: false }, out: { shape: [4], dtype: 'int32' } });

  // argmax (ties from a small integer range)
  for (const axis of [0, 1, 2]) {
    const x = randInt(g, [3, 4, 5], 0, 3);
    const shape = [3, 4, 5].filter((_, i) => i !== axis);
    add(`argmax/ties-axis${axis}`, { kernel: 'argmax', inputs: [{ ...x, dtype: 'float32', values: Float32Array.from(x.values) }], attrs: { axis }, out: { shape, dtype: 'int32' } });
  }
  add('argmax/float', { kernel: 'argmax', inputs: [randFloat(g, [6, 7])], attrs: { axis: 1 }, out: { shape: [6], dtype: 'int32' } });
  add('argmax/int32', { kernel: 'argmax', inputs: [randInt(g, [6, 7], -4, 4)], attrs: { axis: 0 }, out: { shape: [7], dtype: 'int32' } });

  // matmul
  const mm = (name: string, a: number[], b: number[], tA: boolean, tB: boolean) => {
    const M = tA ? a[a.length - 1]! : a[a.length - 2]!;
    const N = tB ? b[b.length - 2]! : b[b.length - 1]!;
    const out = [...bshape(a.slice(0, -2), b.slice(0, -2)), M, N];
    add(`matmul/${name}`, { kernel: 'matmul', inputs: [randFloat(g, a), randFloat(g, b)], attrs: { transposeA: tA, transposeB: tB }, out: { shape: out, dtype: 'float32' } }, { atol: 1e-4, rtol: 1e-4 });
  };
  mm('2d', [5, 7], [7, 3], false, false);
  mm('2d-tA', [7, 5], [7, 3], true, false);
  mm('2d-tB', [5, 7], [3, 7], false, true);
  mm('2d-tAtB', [7, 5], [3, 7], true, true);
  mm('batched-a-2d-b', [2, 3, 4, 5], [5, 6], false, false);
  mm('batched-a-2d-b-tA', [2, 5, 4], [5, 6], true, false);
  mm('2d-a-batched-b', [4, 5], [3, 5, 6], false, false);
  mm('2d-a-batched-b-tB', [4, 5], [3, 6, 5], false, true);
  mm('batched', [3, 4, 5], [3, 5, 2], false, false);
  mm('batched-tAtB', [3, 5, 4], [3, 2, 5], true, true);
  mm('broadcast', [2, 1, 3, 4], [1, 3, 4, 5], false, false);
  mm('broadcast-rank', [3, 4, 5], [2, 1, 5, 6], false, false);
  mm('batch-of-one', [1, 6, 9], [1, 9, 4], false, false);
  mm('larger', [64, 96], [96, 80], false, false);
  mm('batched-large-loop', [2, 256, 128], [2, 128, 260], false, false);
  mm('batched-small-depthwise-tB', [5, 7, 3], [5, 9, 3], false, true);

  // conv2d and its gradients
  const conv = (name: string, x: number[], w: number[], attrs: Conv2dAttrs) => {
    const outShape = convOutShape(x, w, attrs);
    const tol = { atol: 1e-4, rtol: 1e-4 };
    add(`conv2d/${name}`, { kernel: 'conv2d', inputs: [randFloat(g, x), randFloat(g, w)], attrs: attrs as never, out: { shape: outShape, dtype: 'float32' } }, tol);
    add(`conv2dGradInput/${name}`, { kernel: 'conv2dGradInput', inputs: [randFloat(g, outShape), randFloat(g, w)], attrs: attrs as never, out: { shape: x, dtype: 'float32' } }, tol);
    add(`conv2dGradFilter/${name}`, { kernel: 'conv2dGradFilter', inputs: [randFloat(g, x), randFloat(g, outShape)], attrs: attrs as never, out: { shape: w, dtype: 'float32' } }, { atol: 5e-4, rtol: 1e-4 });
  };
  const A = (stride: [number, number], padding: [number, number, number, number], dilation: [number, number] = [1, 1], groups = 1): Conv2dAttrs => ({ stride, padding, dilation, groups });
  conv('3x3-pad1', [2, 3, 7, 6], [4, 3, 3, 3], A([1, 1], [1, 1, 1, 1]));
  conv('1x1', [2, 5, 4, 4], [3, 5, 1, 1], A([1, 1], [0, 0, 0, 0]));
  conv('stride2-asym-pad', [1, 3, 9, 8], [4, 3, 3, 3], A([2, 2], [0, 1, 1, 0]));
  conv('stride2-uneven', [2, 2, 8, 7], [3, 2, 3, 2], A([2, 3], [1, 1, 0, 2]));
  conv('dilation2', [1, 2, 9, 9], [3, 2, 3, 3], A([1, 1], [2, 2, 2, 2], [2, 2]));
  conv('stride2-dilation2', [1, 2, 11, 10], [3, 2, 3, 3], A([2, 2], [1, 2, 2, 1], [2, 2]));
  conv('groups2', [2, 4, 6, 6], [6, 2, 3, 3], A([1, 1], [1, 1, 1, 1], [1, 1], 2));
  conv('groups2-stride2', [1, 6, 7, 7], [4, 3, 3, 3], A([2, 2], [1, 1, 1, 1], [1, 1], 2));
  conv('depthwise', [2, 3, 6, 5], [3, 1, 3, 3], A([1, 1], [1, 1, 1, 1], [1, 1], 3));
  conv('depthwise-mult2-stride2', [1, 3, 7, 7], [6, 1, 3, 3], A([2, 2], [1, 1, 1, 1], [1, 1], 3));
  conv('groups3-dilation2-stride2', [1, 6, 11, 11], [3, 2, 3, 3], A([2, 2], [2, 2, 2, 2], [2, 2], 3));
  conv('big-pad', [1, 2, 4, 4], [2, 2, 3, 3], A([1, 1], [3, 2, 2, 3]));
  conv('5x5-pad2', [1, 4, 8, 8], [5, 4, 5, 5], A([1, 1], [2, 2, 2, 2]));

  // gather / scatterAdd
  add('gather/axis0-repeats', { kernel: 'gather', inputs: [randFloat(g, [5, 3]), host([4, 0, 4, 2], [4], 'int32')], attrs: { axis: 0 }, out: { shape: [4, 3], dtype: 'float32' } });
  add('gather/axis1-2d-indices', { kernel: 'gather', inputs: [randFloat(g, [2, 5, 3]), host([1, 0, 4, 4, 2, 3], [2, 3], 'int32')], attrs: { axis: 1 }, out: { shape: [2, 2, 3, 3], dtype: 'float32' } });
  add('gather/int32-last-axis', { kernel: 'gather', inputs: [randInt(g, [3, 4], -9, 9), host([3, 3, 0], [3], 'int32')], attrs: { axis: 1 }, out: { shape: [3, 3], dtype: 'int32' } });
  add('gather/bool', { kernel: 'gather', inputs: [randBool(g, [6]), host([5, 1, 1, 0], [4], 'int32')], attrs: { axis: 0 }, out: { shape: [4], dtype: 'bool' } });
  add('scatterAdd/axis0-duplicates', { kernel: 'scatterAdd', inputs: [host([4, 0, 4, 2], [4], 'int32'), randFloat(g, [4, 3])], attrs: { axis: 0 }, out: { shape: [5, 3], dtype: 'float32' } });
  add('scatterAdd/axis1-2d-indices', { kernel: 'scatterAdd', inputs: [host([1, 0, 4, 4, 2, 1], [2, 3], 'int32'), randFloat(g, [2, 2, 3, 3])], attrs: { axis: 1 }, out: { shape: [2, 5, 3], dtype: 'float32' } });
  add('scatterAdd/last-axis', { kernel: 'scatterAdd', inputs: [host([3, 3, 0, 1, 3], [5], 'int32'), randFloat(g, [2, 3, 5])], attrs: { axis: 2 }, out: { shape: [2, 3, 4], dtype: 'float32' } });
  add('scatterAdd/int32', { kernel: 'scatterAdd', inputs: [host([2, 2, 0], [3], 'int32'), randInt(g, [3, 2], -9, 9)], attrs: { axis: 0 }, out: { shape: [4, 2], dtype: 'int32' } });

  // layout
  add('reshape', { kernel: 'reshape', inputs: [randFloat(g, [2, 3, 4])], out: { shape: [4, 6], dtype: 'float32' } });
  add('transpose/rank4', { kernel: 'transpose', inputs: [randFloat(g, [2, 3, 4, 5])], attrs: { perm: [2, 0, 3, 1] }, out: { shape: [4, 2, 5, 3], dtype: 'float32' } });
  add('transpose/bool', { kernel: 'transpose', inputs: [randBool(g, [3, 5])], attrs: { perm: [1, 0] }, out: { shape: [5, 3], dtype: 'bool' } });
  add('slice', { kernel: 'slice', inputs: [randFloat(g, [4, 5, 6])], attrs: { begin: [1, 0, 2] }, out: { shape: [2, 5, 3], dtype: 'float32' } });
  add('concat/axis1', { kernel: 'concat', inputs: [[randFloat(g, [2, 1, 3]), randFloat(g, [2, 4, 3]), randFloat(g, [2, 2, 3])]], attrs: { axis: 1 }, out: { shape: [2, 7, 3], dtype: 'float32' } });
  add('concat/bool', { kernel: 'concat', inputs: [[randBool(g, [3]), randBool(g, [2])]], attrs: { axis: 0 }, out: { shape: [5], dtype: 'bool' } });
  add('concat/single', { kernel: 'concat', inputs: [[randInt(g, [2, 2], -5, 5)]], attrs: { axis: 0 }, out: { shape: [2, 2], dtype: 'int32' } });
  add('pad/float', { kernel: 'pad', inputs: [randFloat(g, [2, 3])], attrs: { pads: [[1, 0], [2, 3]], value: -1.5 }, out: { shape: [3, 8], dtype: 'float32' } });
  add('pad/int32', { kernel: 'pad', inputs: [randInt(g, [3], -5, 5)], attrs: { pads: [[0, 2]], value: 7 }, out: { shape: [5], dtype: 'int32' } });
  add('pad/bool', { kernel: 'pad', inputs: [randBool(g, [2, 2])], attrs: { pads: [[1, 1], [0, 1]], value: 1 }, out: { shape: [4, 3], dtype: 'bool' } });
  add('broadcastTo', { kernel: 'broadcastTo', inputs: [randFloat(g, [3, 1])], out: { shape: [2, 3, 4], dtype: 'float32' } });
  add('broadcastTo/bool', { kernel: 'broadcastTo', inputs: [randBool(g, [1, 4])], out: { shape: [3, 4], dtype: 'bool' } });

  // resize and its gradient
  const rs = (name: string, x: number[], mode: 'nearest' | 'bilinear', size: [number, number], alignCorners: boolean) => {
    const outShape = [x[0]!, x[1]!, size[0], size[1]];
    const attrs = { mode, size, alignCorners };
    add(`resize/${name}`, { kernel: 'resize', inputs: [randFloat(g, x)], attrs, out: { shape: outShape, dtype: 'float32' } }, { atol: 1e-5, rtol: 1e-5 });
    add(`resizeGrad/${name}`, { kernel: 'resizeGrad', inputs: [randFloat(g, outShape)], attrs, out: { shape: x, dtype: 'float32' } }, { atol: 1e-5, rtol: 1e-5 });
  };
  rs('nearest-2x', [2, 3, 4, 5], 'nearest', [8, 10], false);
  rs('nearest-odd', [1, 2, 6, 5], 'nearest', [74, 7], false);
  rs('nearest-down', [1, 2, 9, 7], 'nearest', [4, 3], false);
  rs('nearest-mixed', [1, 1, 26, 4], 'nearest', [22, 12], false);
  rs('bilinear-up', [2, 2, 4, 5], 'bilinear', [9, 7], false);
  rs('bilinear-up-align', [2, 2, 4, 5], 'bilinear', [9, 7], true);
  rs('bilinear-down', [1, 3, 9, 8], 'bilinear', [4, 5], false);
  rs('bilinear-down-align', [1, 3, 9, 8], 'bilinear', [4, 5], true);
  rs('bilinear-2x', [1, 2, 5, 6], 'bilinear', [10, 12], false);
  rs('bilinear-to-one', [1, 1, 5, 4], 'bilinear', [1, 3], true);

  // cast / fill
  const castCase = (name: string, x: HostTensor, dtype: DType) => add(`cast/${name}`, { kernel: 'cast', inputs: [x], out: { shape: x.shape, dtype } });
  castCase('float-int32', host([-2.7, -0.5, 0.5, 2.7, -3, 1e6 + 0.5], [6]), 'int32');
  castCase('float-bool', host([-2.7, 0, 0.5, 1e-20, -0, 3], [6]), 'bool');
  castCase('int32-bool', host([256, 0, -1, 512, 2, 0], [6], 'int32'), 'bool');
  castCase('bool-float', randBool(g, [7]), 'float32');
  castCase('int32-float', randInt(g, [7], -100, 100), 'float32');
  castCase('bool-int32', randBool(g, [7]), 'int32');
  add('fill/float', { kernel: 'fill', inputs: [], attrs: { value: -2.25 }, out: { shape: [2, 3], dtype: 'float32' } });
  add('fill/int32', { kernel: 'fill', inputs: [], attrs: { value: 7 }, out: { shape: [4], dtype: 'int32' } });
  add('fill/bool', { kernel: 'fill', inputs: [], attrs: { value: 1 }, out: { shape: [3], dtype: 'bool' } });
  add('fill/empty', { kernel: 'fill', inputs: [], attrs: { value: 1 }, out: { shape: [0, 3], dtype: 'float32' } });

  // empty tensors
  const e = (shape: number[]) => randFloat(g, shape);
  add('empty/unary', { kernel: 'unary', inputs: [e([0, 3])], attrs: { op: 'exp' }, out: { shape: [0, 3], dtype: 'float32' } });
  add('empty/binary', { kernel: 'binary', inputs: [e([0, 3]), e([3])], attrs: { op: 'add' }, out: { shape: [0, 3], dtype: 'float32' } });
  add('empty/reduce-sum-over-empty-axis', { kernel: 'reduce', inputs: [e([0, 3])], attrs: { op: 'sum', axes: [0], keepDims: false }, out: { shape: [3], dtype: 'float32' } });
  add('empty/matmul-k0', { kernel: 'matmul', inputs: [e([2, 0]), e([0, 3])], attrs: { transposeA: false, transposeB: false }, out: { shape: [2, 3], dtype: 'float32' } });
  add('empty/matmul-m0', { kernel: 'matmul', inputs: [e([0, 4]), e([4, 3])], attrs: { transposeA: false, transposeB: false }, out: { shape: [0, 3], dtype: 'float32' } });
  add('empty/gather-no-indices', { kernel: 'gather', inputs: [e([4, 3]), host([], [0], 'int32')], attrs: { axis: 0 }, out: { shape: [0, 3], dtype: 'float32' } });
  add('empty/scatterAdd-no-indices', { kernel: 'scatterAdd', inputs: [host([], [0], 'int32'), e([0, 3])], attrs: { axis: 0 }, out: { shape: [4, 3], dtype: 'float32' } });
  add('empty/transpose', { kernel: 'transpose', inputs: [e([2, 0, 3])], attrs: { perm: [2, 1, 0] }, out: { shape: [3, 0, 2], dtype: 'float32' } });
  add('empty/pad', { kernel: 'pad', inputs: [e([0, 2])], attrs: { pads: [[1, 1], [0, 0]], value: 3 }, out: { shape: [2, 2], dtype: 'float32' } });
  add('empty/concat', { kernel: 'concat', inputs: [[e([0, 2]), e([3, 2])]], attrs: { axis: 0 }, out: { shape: [3, 2], dtype: 'float32' } });

  // fused
  add('fused.softmax', { kernel: 'fused.softmax', inputs: [randFloat(g, [2, 3, 7], -4, 4)], out: { shape: [2, 3, 7], dtype: 'float32' } }, { atol: 1e-6, rtol: 1e-5 });
  add('fused.attention', { kernel: 'fused.attention', inputs: [randFloat(g, [2, 3, 5, 4]), randFloat(g, [2, 3, 6, 4]), randFloat(g, [2, 3, 6, 3]), null], attrs: { scale: 0.5 }, out: { shape: [2, 3, 5, 3], dtype: 'float32' } }, { atol: 1e-5, rtol: 1e-4 });
  add('fused.attention-mask', { kernel: 'fused.attention', inputs: [randFloat(g, [1, 2, 5, 4]), randFloat(g, [1, 2, 6, 4]), randFloat(g, [1, 2, 6, 4]), randFloat(g, [5, 6], -3, 0)], attrs: { scale: 0.5 }, out: { shape: [1, 2, 5, 4], dtype: 'float32' } }, { atol: 1e-5, rtol: 1e-4 });
  return cases;
}

export function handCases(): HandCase[] {
  const f = (v: number[], s: number[]) => host(v, s);
  const i = (v: number[], s: number[]) => host(v, s, 'int32');
  return [
    {
      // The 4x4 bilinear (align_corners=False) upsample of [[1, 2], [3, 4]], as PyTorch gives it.
      name: 'resize bilinear 2x2 -> 4x4 (align_corners=False)',
      call: { kernel: 'resize', inputs: [f([1, 2, 3, 4], [1, 1, 2, 2])], attrs: { mode: 'bilinear', size: [4, 4], alignCorners: false }, out: { shape: [1, 1, 4, 4], dtype: 'float32' } },
      want: [1, 1.25, 1.75, 2, 1.5, 1.75, 2.25, 2.5, 2.5, 2.75, 3.25, 3.5, 3, 3.25, 3.75, 4],
    },
    {
      name: 'resize bilinear 2x2 -> 3x3 (align_corners=True)',
      call: { kernel: 'resize', inputs: [f([1, 2, 3, 4], [1, 1, 2, 2])], attrs: { mode: 'bilinear', size: [3, 3], alignCorners: true }, out: { shape: [1, 1, 3, 3], dtype: 'float32' } },
      want: [1, 1.5, 2, 2, 2.5, 3, 3, 3.5, 4],
    },
    {
      // src = floor(dst * 6 / 74): dst 37 -> 3 exactly (float32 arithmetic gives 2).
      name: 'resize nearest 6 -> 74 is exact',
      call: { kernel: 'resize', inputs: [f([0, 1, 2, 3, 4, 5], [1, 1, 6, 1])], attrs: { mode: 'nearest', size: [74, 1], alignCorners: false }, out: { shape: [1, 1, 74, 1], dtype: 'float32' } },
      want: Array.from({ length: 74 }, (_, d) => Math.floor((d * 6) / 74)),
    },
    {
      name: 'resize nearest 3 -> 2',
      call: { kernel: 'resize', inputs: [f([1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 1, 3, 3])], attrs: { mode: 'nearest', size: [2, 2], alignCorners: false }, out: { shape: [1, 1, 2, 2], dtype: 'float32' } },
      want: [1, 2, 4, 5],
    },
    {
      // Adjoint of the 2x2 -> 4x4 bilinear upsample applied to ones: each source pixel gets 4.
      name: 'resizeGrad bilinear 4x4 -> 2x2 of ones',
      call: { kernel: 'resizeGrad', inputs: [f(new Array(16).fill(1), [1, 1, 4, 4])], attrs: { mode: 'bilinear', size: [4, 4], alignCorners: false }, out: { shape: [1, 1, 2, 2], dtype: 'float32' } },
      want: [4, 4, 4, 4],
    },
    {
      name: 'int32 div is floor division',
      call: { kernel: 'binary', inputs: [i([7, -7, 7, -7, 0, 5], [6]), i([2, 2, -2, -2, 3, 5], [6])], attrs: { op: 'div' }, out: { shape: [6], dtype: 'int32' } },
      want: [3, -4, -4, 3, 0, 1],
    },
    {
      name: 'int32 mod is floored',
      call: { kernel: 'binary', inputs: [i([7, -7, 7, -7, 0, 5], [6]), i([3, 3, -3, -3, 3, 5], [6])], attrs: { op: 'mod' }, out: { shape: [6], dtype: 'int32' } },
      want: [1, 2, -2, -1, 0, 0],
    },
    {
      name: 'float mod is floored',
      call: { kernel: 'binary', inputs: [f([5.5, -5.5, 5.5, -5.5], [4]), f([2, 2, -2, -2], [4])], attrs: { op: 'mod' }, out: { shape: [4], dtype: 'float32' } },
      want: [1.5, 0.5, -0.5, -1.5],
    },
    {
      name: 'int32 pow',
      call: { kernel: 'binary', inputs: [i([3, -3, 2, 7, 0], [5]), i([15, 3, 30, 0, 2], [5])], attrs: { op: 'pow' }, out: { shape: [5], dtype: 'int32' } },
      want: [14348907, -27, 1073741824, 1, 0],
    },
    {
      name: 'round is half to even',
      call: { kernel: 'unary', inputs: [f([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 3.5, 0.49999997, 2.6], [9])], attrs: { op: 'round' }, out: { shape: [9], dtype: 'float32' } },
      want: [-2, -2, -0, 0, 2, 2, 4, 0, 3],
    },
    {
      name: 'cast float -> int32 truncates toward zero',
      call: { kernel: 'cast', inputs: [f([-2.7, -0.5, 0.5, 2.7, -3], [5])], out: { shape: [5], dtype: 'int32' } },
      want: [-2, 0, 0, 2, -3],
    },
    {
      name: 'cast to bool is x != 0',
      call: { kernel: 'cast', inputs: [f([-2.7, 0, 0.5, 256, Number.NaN], [5])], out: { shape: [5], dtype: 'bool' } },
      want: [1, 0, 1, 1, 1],
    },
    {
      name: 'argmax keeps the first of ties',
      call: { kernel: 'argmax', inputs: [f([1, 3, 3, 2, 5, 5, 1, 5], [2, 4])], attrs: { axis: 1 }, out: { shape: [2], dtype: 'int32' } },
      want: [1, 0],
    },
    {
      name: 'erf',
      call: { kernel: 'unary', inputs: [f([-2, -0.5, 0.1, 1, 2.5], [5])], attrs: { op: 'erf' }, out: { shape: [5], dtype: 'float32' } },
      want: [-0.9953222650189527, -0.5204998778130465, 0.1124629160182849, 0.8427007929497149, 0.9995930479825550],
      atol: 3e-7,
    },
    {
      name: 'scatterAdd accumulates repeated indices',
      call: { kernel: 'scatterAdd', inputs: [i([1, 1, 3], [3]), f([1, 2, 3], [3])], attrs: { axis: 0 }, out: { shape: [5], dtype: 'float32' } },
      want: [0, 3, 0, 3, 0],
    },
    {
      // x = 1..9 (3x3), w = [[1, 0], [0, -1]], padding 0: out[i, j] = x[i, j] - x[i+1, j+1] = -4.
      name: 'conv2d is cross-correlation (no flip)',
      call: { kernel: 'conv2d', inputs: [f([1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 1, 3, 3]), f([1, 0, 0, -1], [1, 1, 2, 2])], attrs: { stride: [1, 1], padding: [0, 0, 0, 0], dilation: [1, 1], groups: 1 }, out: { shape: [1, 1, 2, 2], dtype: 'float32' } },
      want: [-4, -4, -4, -4],
    },
  ];
}
