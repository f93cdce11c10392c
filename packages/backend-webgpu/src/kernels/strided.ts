// Strided index arithmetic shared by most kernels. A loop over a shape visits flat index i; each
// named view reads (or writes) element base + sum_d coord_d(i) * stride_d of its buffer. Before a
// dispatch the shape is collapsed: size-1 axes are dropped and neighbouring axes merged where
// every view is contiguous across them, so a plain elementwise op on equal shapes becomes rank 1
// and the rank in the cache key (and the unrolled WGSL) stays small.
//
// Uniform names for a loop called `o` over views `a`, `b`:
//   o_s<d>          row-major strides of the collapsed loop shape (d < rank - 1)
//   o_a_b, o_a_s<d> base offset and strides of view a
// and the WGSL from `stridedOffsets` leaves the offsets in variables `o_a`, `o_b`.

import { stridesOf } from '@denoise/core';
import { u32, type UniformField } from '../kernel.js';

export interface StridedView {
  readonly strides: readonly number[];
  readonly base?: number;
}

export interface StridedPlan {
  /** Rank after collapsing (at least 1). */
  readonly rank: number;
  /** Uniform values by field name. */
  readonly values: Readonly<Record<string, number>>;
}

/** Collapses `shape` under `views` and lays out the uniforms of loop `loop`. */
export function planStrided(loop: string, shape: readonly number[], views: Readonly<Record<string, StridedView>>): StridedPlan {
  const names = Object.keys(views);
  const dims: number[] = [];
  const strides: number[][] = names.map(() => []);
  for (let d = 0; d < shape.length; d++) {
    const n = shape[d]!;
    if (n === 1) continue;
    const last = dims.length - 1;
    const mergeable = last >= 0 && names.every((name, v) => strides[v]![last] === views[name]!.strides[d]! * n);
    if (mergeable) {
      dims[last] = dims[last]! * n;
      names.forEach((name, v) => (strides[v]![last] = views[name]!.strides[d]!));
    } else {
      dims.push(n);
      names.forEach((name, v) => strides[v]!.push(views[name]!.strides[d]!));
    }
  }
  if (dims.length === 0) {
    dims.push(1);
    strides.forEach((s) => s.push(0));
  }
  const values: Record<string, number> = {};
  const loopStrides = stridesOf(dims);
  for (let d = 0; d < dims.length - 1; d++) values[`${loop}_s${d}`] = loopStrides[d]!;
  names.forEach((name, v) => {
    values[`${loop}_${name}_b`] = views[name]!.base ?? 0;
    strides[v]!.forEach((s, d) => (values[`${loop}_${name}_s${d}`] = s));
  });
  return { rank: dims.length, values };
}

/** The uniform fields `planStrided(loop, ...)` fills for `rank` and `names`. */
export function stridedFields(loop: string, rank: number, names: readonly string[]): UniformField[] {
  const fields: UniformField[] = [];
  for (let d = 0; d < rank - 1; d++) fields.push(u32(`${loop}_s${d}`));
  for (const name of names) {
    fields.push(u32(`${loop}_${name}_b`));
    for (let d = 0; d < rank; d++) fields.push(u32(`${loop}_${name}_s${d}`));
  }
  return fields;
}

/** WGSL statements that leave each view's offset for flat loop index `index` in `<loop>_<name>`. */
export function stridedOffsets(loop: string, rank: number, names: readonly string[], index: string): string {
  const lines = [`  var ${loop}_rem = ${index};`];
  for (const n of names) lines.push(`  var ${loop}_${n} = u.${loop}_${n}_b;`);
  for (let d = 0; d < rank - 1; d++) {
    const add = names.map((n) => `${loop}_${n} += c * u.${loop}_${n}_s${d};`).join(' ');
    lines.push(`  { let c = ${loop}_rem / u.${loop}_s${d}; ${loop}_rem -= c * u.${loop}_s${d}; ${add} }`);
  }
  for (const n of names) lines.push(`  ${loop}_${n} += ${loop}_rem * u.${loop}_${n}_s${rank - 1};`);
  return lines.join('\n');
}

/** Strides of a tensor of `inShape` read through NumPy broadcasting as `outShape` (0 where broadcast). */
export function broadcastStrides(inShape: readonly number[], outShape: readonly number[]): number[] {
  const lead = outShape.length - inShape.length;
  const inStrides = stridesOf(inShape);
  return outShape.map((_, i) => {
    const a = i - lead;
    return a < 0 || inShape[a] === 1 ? 0 : inStrides[a]!;
  });
}
