// The vector-Jacobian product of every primitive kernel, written with core ops so that the
// backward pass runs on whatever backend the forward pass ran on (and can itself be recorded as
// a graph). Each rule receives the upstream gradient `dy` (shaped like the node's output) and
// returns one gradient per input, or null where an input has none (indices, masks).

import type { BinaryOp, Conv2dAttrs, ReduceOp, ResizeAttrs, UnaryOp } from '../backend/types.js';
import type { PrimitiveName } from '../backend/types.js';
import type { TapeNode } from '../engine/engine.js';
import { broadcastedAxes } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { zerosLike } from '../ops/creation.js';
import {
  add, cast, cos, div, equal, exp, floor, greater, greaterEqual, less, lessEqual, log, mul, neg, pow, sign, sin, square, sub, where,
} from '../ops/elementwise.js';
import { conv2dGradFilter, conv2dGradInput, conv2dWithAttrs, resizeGrad, resizeWithAttrs } from '../ops/grad-ops.js';
import { gather, scatterAdd } from '../ops/indexing.js';
import { broadcastTo, pad, reshape, slice, transpose } from '../ops/layout.js';
import { matmul } from '../ops/linalg.js';
import { sum } from '../ops/reduce.js';

type GradRule = (dy: Tensor, node: TapeNode) => Array<Tensor | null>;

/** Sums a broadcast gradient back down to `shape`. */
export function unbroadcast(g: Tensor, shape: readonly number[]): Tensor {
  const axes = broadcastedAxes(shape, g.shape);
  const reduced = axes.length > 0 ? sum(g, axes, true) : g;
  return reshape(reduced, shape);
}

function unaryGrad(op: UnaryOp, dy: Tensor, x: Tensor, y: Tensor): Tensor | null {
  switch (op) {
    case 'neg':
      return neg(dy);
    case 'abs':
      return mul(dy, sign(x));
    case 'sign':
    case 'floor':
    case 'ceil':
    case 'round':
      return zerosLike(x);
    case 'exp':
      return mul(dy, y);
    case 'expm1':
      return mul(dy, add(y, 1));
    case 'log':
      return div(dy, x);
    case 'log1p':
      return div(dy, add(x, 1));
    case 'sqrt':
      return div(dy, mul(y, 2));
    case 'rsqrt':
      return mul(dy, mul(mul(square(y), y), -0.5));
    case 'square':
      return mul(dy, mul(x, 2));
    case 'reciprocal':
      return neg(mul(dy, square(y)));
    case 'sin':
      return mul(dy, cos(x));
    case 'cos':
      return neg(mul(dy, sin(x)));
    case 'tanh':
      return mul(dy, sub(1, square(y)));
    case 'sigmoid':
      return mul(dy, mul(y, sub(1, y)));
    case 'relu':
      return where(greater(x, 0), dy, 0);
    case 'erf':
      return mul(dy, mul(exp(neg(square(x))), 2 / Math.sqrt(Math.PI)));
    case 'logicalNot':
      return null;
  }
}

function binaryGrad(op: BinaryOp, dy: Tensor, a: Tensor, b: Tensor, y: Tensor): [Tensor | null, Tensor | null] {
  switch (op) {
    case 'add':
      return [dy, dy];
    case 'sub':
      return [dy, neg(dy)];
    case 'mul':
      return [mul(dy, b), mul(dy, a)];
    case 'div':
      return [div(dy, b), neg(mul(dy, div(y, b)))];
    case 'pow': {
      const da = mul(dy, mul(b, pow(a, sub(b, 1))));
      // d/db a^b = a^b log a, defined for a > 0; zero elsewhere (as PyTorch does for a = 0).
      const logA = where(greater(a, 0), log(where(greater(a, 0), a, 1)), 0);
      return [da, mul(dy, mul(y, logA))];
    }
    case 'maximum':
      return [where(greaterEqual(a, b), dy, 0), where(less(a, b), dy, 0)];
    case 'minimum':
      return [where(lessEqual(a, b), dy, 0), where(greater(a, b), dy, 0)];
    case 'mod':
      return [dy, neg(mul(dy, floor(div(a, b))))];
    case 'logicalAnd':
    case 'logicalOr':
      return [null, null];
  }
}


function reduceGrad(op: ReduceOp, dy: Tensor, x: Tensor, y: Tensor, axes: readonly number[]): Tensor {
  const keptShape = x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const dyK = reshape(dy, keptShape);
  switch (op) {
    case 'sum':
      return broadcastTo(dyK, x.shape);
    case 'max':
    case 'min': {
      // Ties share the gradient evenly (a valid subgradient, and what PyTorch's amax does).
      const hit = cast(equal(x, reshape(y, keptShape)), x.dtype);
      return mul(hit, div(dyK, sum(hit, [...axes], true)));
    }
    case 'prod':
      // y / x, valid where x != 0.
      return mul(dyK, div(reshape(y, keptShape), x));
  }
}

function matmulGrad(dy: Tensor, a: Tensor, b: Tensor, ta: boolean, tb: boolean): [Tensor, Tensor] {
  const da = ta ? matmul(b, dy, { transposeA: tb, transposeB: true }) : matmul(dy, b, { transposeB: !tb });
  const db = tb ? matmul(dy, a, { transposeA: true, transposeB: ta }) : matmul(a, dy, { transposeA: !ta });
  return [unbroadcast(da, a.shape), unbroadcast(db, b.shape)];
}

function inversePerm(perm: readonly number[]): number[] {
  const inv = new Array<number>(perm.length);
  perm.forEach((p, i) => (inv[p] = i));
  return inv;
}

export const GRADIENTS: Record<PrimitiveName, GradRule> = {
  unary: (dy, n) => [unaryGrad(n.attrs.op as UnaryOp, dy, n.inputs[0]!, n.output)],
  binary: (dy, n) => {
    const [a, b] = n.inputs as [Tensor, Tensor];
    const [ga, gb] = binaryGrad(n.attrs.op as BinaryOp, dy, a, b, n.output);
    return [ga && unbroadcast(ga, a.shape), gb && unbroadcast(gb, b.shape)];
  },
  compare: () => [null, null],
  where: (dy, n) => {
    const [c, a, b] = n.inputs as [Tensor, Tensor, Tensor];
    return [null, unbroadcast(where(c, dy, 0), a.shape), unbroadcast(where(c, 0, dy), b.shape)];
  },
  reduce: (dy, n) => [reduceGrad(n.attrs.op as ReduceOp, dy, n.inputs[0]!, n.output, n.attrs.axes as number[])],
  argmax: () => [null],
  matmul: (dy, n) => matmulGrad(dy, n.inputs[0]!, n.inputs[1]!, n.attrs.transposeA as boolean, n.attrs.transposeB as boolean),
  conv2d: (dy, n) => {
    const [x, w] = n.inputs as [Tensor, Tensor];
    const attrs = n.attrs as unknown as Conv2dAttrs;
    return [conv2dGradInput(dy, w, attrs, x.shape), conv2dGradFilter(x, dy, attrs, w.shape)];
  },
  // gradInput(dy, w) = A_w^T dy is linear in dy and in w: its adjoints are conv2d and gradFilter.
  conv2dGradInput: (g, n) => {
    const [dy, w] = n.inputs as [Tensor, Tensor];
    const attrs = n.attrs as unknown as Conv2dAttrs;
    return [conv2dWithAttrs(g, w, attrs, dy.shape), conv2dGradFilter(g, dy, attrs, w.shape)];
  },
  // gradFilter(x, dy) = B_x^T dy: adjoint in dy is conv2d(x, g), in x is gradInput(dy, g).
  conv2dGradFilter: (g, n) => {
    const [x, dy] = n.inputs as [Tensor, Tensor];
    const attrs = n.attrs as unknown as Conv2dAttrs;
    return [conv2dGradInput(dy, g, attrs, x.shape), conv2dWithAttrs(x, g, attrs, dy.shape)];
  },
  gather: (dy, n) => {
    const [x, idx] = n.inputs as [Tensor, Tensor];
    return [scatterAdd(x.shape, idx, dy, n.attrs.axis as number), null];
  },
  scatterAdd: (dy, n) => [null, gather(dy, n.inputs[0]!, n.attrs.axis as number)],
  reshape: (dy, n) => [reshape(dy, n.inputs[0]!.shape)],
  transpose: (dy, n) => [transpose(dy, inversePerm(n.attrs.perm as number[]))],
  slice: (dy, n) => {
    const x = n.inputs[0]!;
    const begin = n.attrs.begin as number[];
    return [pad(dy, x.shape.map((d, i) => [begin[i]!, d - begin[i]! - dy.shape[i]!] as [number, number]))];
  },
  concat: (dy, n) => {
    const axis = n.attrs.axis as number;
    let offset = 0;
    return n.inputs.map((x) => {
      const begin = x.shape.map((_, i) => (i === axis ? offset : 0));
      offset += x.shape[axis]!;
      return slice(dy, begin, x.shape);
    });
  },
  pad: (dy, n) => {
    const x = n.inputs[0]!;
    const pads = n.attrs.pads as Array<[number, number]>;
    return [slice(dy, pads.map((p) => p[0]), x.shape)];
  },
  broadcastTo: (dy, n) => [unbroadcast(dy, n.inputs[0]!.shape)],
  resize: (dy, n) => [resizeGrad(dy, n.attrs as unknown as ResizeAttrs, n.inputs[0]!.shape)],
  resizeGrad: (g, n) => [resizeWithAttrs(g, n.attrs as unknown as ResizeAttrs, n.inputs[0]!.shape)],
  cast: (dy, n) => {
    const x = n.inputs[0]!;
    return x.dtype === 'float32' || x.dtype === 'float64' ? [cast(dy, x.dtype)] : [null];
  },
  fill: () => [],
};
