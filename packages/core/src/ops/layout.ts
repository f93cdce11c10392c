// Layout ops: reshape, transpose, slice, concat, pad, broadcast, and the conveniences built on
// them (squeeze, expandDims, flatten, split, stack). Only reshape / transpose / slice / concat /
// pad / broadcastTo reach a kernel.

import { InvalidArgumentError, ShapeError, describe } from '../errors/index.js';
import { engine } from '../engine/engine.js';
import { broadcastShapes, normalizeAxis, shapesEqual, sizeOf } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { checkInt } from './util.js';

/** New shape, same data. One entry may be -1 (inferred). */
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  x._check('reshape');
  const out = [...shape];
  const inferAt = out.indexOf(-1);
  if (out.some((d, i) => !Number.isInteger(d) || (d < 0 && i !== inferAt)) || out.lastIndexOf(-1) !== inferAt) {
    throw new InvalidArgumentError(`reshape: shape must hold non-negative integers and at most one -1, got ${describe(shape)}`);
  }
  if (inferAt >= 0) {
    const rest = sizeOf(out.filter((_, i) => i !== inferAt));
    if (rest === 0 || x.size % rest !== 0) throw new ShapeError(`reshape: cannot reshape ${describe(x.shape)} (${x.size} elements) into ${describe(shape)}`);
    out[inferAt] = x.size / rest;
  }
  if (sizeOf(out) !== x.size) throw new ShapeError(`reshape: cannot reshape ${describe(x.shape)} (${x.size} elements) into ${describe(shape)}`);
  if (shapesEqual(out, x.shape)) return x;
  return engine.runKernel('reshape', [x], {}, { shape: out, dtype: x.dtype }, 'reshape');
}

/** Permutes axes; default reverses them. */
export function transpose(x: Tensor, perm?: readonly number[]): Tensor {
  x._check('transpose');
  const p = perm ? [...perm] : x.shape.map((_, i) => x.rank - 1 - i);
  if (p.length !== x.rank || [...p].sort((a, b) => a - b).some((v, i) => v !== i)) {
    throw new InvalidArgumentError(`transpose: perm must be a permutation of 0..${x.rank - 1}, got ${describe(perm)}`);
  }
  if (p.every((v, i) => v === i)) return x;
  const shape = p.map((a) => x.shape[a] as number);
  return engine.runKernel('transpose', [x], { perm: p }, { shape, dtype: x.dtype }, 'transpose');
}

/** Swaps two axes. */
export function swapAxes(x: Tensor, a: number, b: number): Tensor {
  const ia = normalizeAxis('swapAxes', a, x.rank, 'a');
  const ib = normalizeAxis('swapAxes', b, x.rank, 'b');
  const perm = x.shape.map((_, i) => i);
  perm[ia] = ib;
  perm[ib] = ia;
  return transpose(x, perm);
}

/**
 * A contiguous block: `begin` per axis, `size` per axis (-1 = to the end). Missing trailing
 * entries take whole axes.
 */
export function slice(x: Tensor, begin: readonly number[], size?: readonly number[]): Tensor {
  x._check('slice');
  if (begin.length > x.rank || (size && size.length > x.rank)) {
    throw new InvalidArgumentError(`slice: begin and size may have at most ${x.rank} entries for shape ${describe(x.shape)}, got begin ${describe(begin)}, size ${describe(size)}`);
  }
  const b: number[] = [];
  const s: number[] = [];
  for (let i = 0; i < x.rank; i++) {
    const dim = x.shape[i] as number;
    const bi = begin[i] ?? 0;
    const si = size?.[i] ?? -1;
    const extent = si === -1 ? dim - bi : si;
    if (!Number.isInteger(bi) || !Number.isInteger(extent) || bi < 0 || extent < 0 || bi + extent > dim) {
      throw new ShapeError(`slice: axis ${i}: begin ${bi} with size ${si} is out of range for shape ${describe(x.shape)}`);
    }
    b.push(bi);
    s.push(extent);
  }
  if (shapesEqual(s, x.shape)) return x;
  return engine.runKernel('slice', [x], { begin: b }, { shape: s, dtype: x.dtype }, 'slice');
}

/** Slice along one axis: [start, end). */
export function sliceAxis(x: Tensor, axis: number, start: number, end: number): Tensor {
  const a = normalizeAxis('sliceAxis', axis, x.rank);
  const begin = x.shape.map(() => 0);
  const size = x.shape.map(() => -1);
  begin[a] = start;
  size[a] = end - start;
  return slice(x, begin, size);
}

export function concat(xs: readonly Tensor[], axis = 0): Tensor {
  if (!Array.isArray(xs) || xs.length === 0) throw new InvalidArgumentError(`concat: xs must be a non-empty array of tensors, got ${describe(xs)}`);
  const first = xs[0]!;
  first._check('concat');
  const a = normalizeAxis('concat', axis, first.rank);
  let total = 0;
  for (const [i, x] of xs.entries()) {
    x._check('concat');
    if (x.dtype !== first.dtype) throw new InvalidArgumentError(`concat: xs[${i}] has dtype ${x.dtype}, expected ${first.dtype}`);
    if (x.rank !== first.rank || x.shape.some((d: number, j: number) => j !== a && d !== first.shape[j])) {
      throw new ShapeError(`concat: xs[${i}] has shape ${describe(x.shape)}, which does not match ${describe(first.shape)} outside axis ${a}`);
    }
    total += x.shape[a] as number;
  }
  if (xs.length === 1) return first;
  const shape = [...first.shape];
  shape[a] = total;
  return engine.runKernel('concat', xs, { axis: a }, { shape, dtype: first.dtype }, 'concat');
}

/** Stacks equal-shaped tensors along a new axis. */
export function stack(xs: readonly Tensor[], axis = 0): Tensor {
  if (!Array.isArray(xs) || xs.length === 0) throw new InvalidArgumentError(`stack: xs must be a non-empty array of tensors, got ${describe(xs)}`);
  const a = normalizeAxis('stack', axis, xs[0]!.rank + 1);
  return engine.tidy(() => concat(xs.map((x) => expandDims(x, a)), a));
}

/** Splits into pieces of the given sizes (or `n` equal pieces) along `axis`. */
export function split(x: Tensor, sizesOrCount: number | readonly number[], axis = 0): Tensor[] {
  const a = normalizeAxis('split', axis, x.rank);
  const dim = x.shape[a] as number;
  let sizes: number[];
  if (typeof sizesOrCount === 'number') {
    checkInt('split', 'sizesOrCount', sizesOrCount, 1);
    if (dim % sizesOrCount !== 0) throw new ShapeError(`split: axis ${a} of size ${dim} does not divide into ${sizesOrCount} equal parts`);
    sizes = new Array<number>(sizesOrCount).fill(dim / sizesOrCount);
  } else {
    sizes = [...sizesOrCount];
    if (sizes.reduce((s, v) => s + v, 0) !== dim) throw new ShapeError(`split: sizes ${describe(sizes)} must add up to ${dim} (axis ${a} of ${describe(x.shape)})`);
  }
  const out: Tensor[] = [];
  let start = 0;
  for (const s of sizes) {
    out.push(sliceAxis(x, a, start, start + s));
    start += s;
  }
  return out;
}

/** Constant padding; pads[i] = [before, after] for axis i (missing leading axes are not padded). */
export function pad(x: Tensor, pads: ReadonlyArray<readonly [number, number]>, value = 0): Tensor {
  x._check('pad');
  if (pads.length > x.rank) throw new InvalidArgumentError(`pad: pads has ${pads.length} entries but x has rank ${x.rank}`);
  const full: Array<[number, number]> = x.shape.map(() => [0, 0]);
  const offset = x.rank - pads.length;
  pads.forEach((p, i) => {
    if (!Array.isArray(p) || p.length !== 2 || !p.every((v) => Number.isInteger(v) && v >= 0)) {
      throw new InvalidArgumentError(`pad: pads[${i}] must be [before, after] non-negative integers, got ${describe(p)}`);
    }
    full[offset + i] = [p[0], p[1]];
  });
  if (full.every(([b, e]) => b === 0 && e === 0)) return x;
  const shape = x.shape.map((d, i) => d + full[i]![0] + full[i]![1]);
  return engine.runKernel('pad', [x], { pads: full, value }, { shape, dtype: x.dtype }, 'pad');
}

export function broadcastTo(x: Tensor, shape: readonly number[]): Tensor {
  x._check('broadcastTo');
  const out = broadcastShapes('broadcastTo', x.shape, shape);
  if (!shapesEqual(out, shape)) throw new ShapeError(`broadcastTo: cannot broadcast ${describe(x.shape)} to ${describe(shape)}`);
  if (shapesEqual(x.shape, shape)) return x;
  return engine.runKernel('broadcastTo', [x], { shape: [...shape] }, { shape, dtype: x.dtype }, 'broadcastTo');
}

export function expandDims(x: Tensor, axis = 0): Tensor {
  const a = normalizeAxis('expandDims', axis, x.rank + 1);
  const shape = [...x.shape];
  shape.splice(a, 0, 1);
  return reshape(x, shape);
}

/** Removes size-1 axes (all of them, or the given ones, which must have size 1). */
export function squeeze(x: Tensor, axes?: readonly number[]): Tensor {
  const drop = axes === undefined ? x.shape.flatMap((d, i) => (d === 1 ? [i] : [])) : axes.map((a) => normalizeAxis('squeeze', a, x.rank, 'axes'));
  for (const a of drop) if (x.shape[a] !== 1) throw new ShapeError(`squeeze: axis ${a} of ${describe(x.shape)} has size ${x.shape[a]}, not 1`);
  return reshape(x, x.shape.filter((_, i) => !drop.includes(i)));
}

/** Merges axes [start, end] into one. */
export function flatten(x: Tensor, start = 0, end = -1): Tensor {
  if (x.rank === 0) return reshape(x, [1]);
  const s = normalizeAxis('flatten', start, x.rank, 'start');
  const e = normalizeAxis('flatten', end, x.rank, 'end');
  if (e < s) throw new InvalidArgumentError(`flatten: end (${end}) must not come before start (${start})`);
  const merged = sizeOf(x.shape.slice(s, e + 1));
  return reshape(x, [...x.shape.slice(0, s), merged, ...x.shape.slice(e + 1)]);
}

/** Repeats the tensor `reps[i]` times along axis i (via broadcasting). */
export function tile(x: Tensor, reps: readonly number[]): Tensor {
  if (reps.length !== x.rank) throw new InvalidArgumentError(`tile: reps must have ${x.rank} entries, got ${describe(reps)}`);
  const expanded: number[] = [];
  const target: number[] = [];
  x.shape.forEach((d, i) => {
    expanded.push(1, d);
    target.push(checkInt('tile', `reps[${i}]`, reps[i], 0), d);
  });
  return engine.tidy(() => reshape(broadcastTo(reshape(x, expanded), target), x.shape.map((d, i) => d * (reps[i] as number))));
}
