// gather: out[o, j, i] = x[o, indices[j], i] with o over x.shape[:axis], j over the (flattened)
// indices and i over x.shape[axis+1:]; one invocation per output element, raw 32-bit words so
// one pipeline serves every dtype. Indices are clamped into range (core checks them when it can
// read them; a GPU read must stay in bounds regardless).

import { sizeOf, type OutputInfo, type TensorInfo } from '@denoise/core';
import { declarations, elementwiseMain, io, type Kernel, u32 } from '../../kernel.js';
import { perElement, type Runtime, type WebGPUHandle } from '../../runtime/runtime.js';

const WG = 64;

export const gatherKernel: Kernel<Record<string, never>> = {
  name: 'gather',
  workgroupSize: [WG, 1, 1],
  bindings: io(['xs', 'indices'], ['dst']),
  uniforms: () => ['size', 'inner', 'J', 'len'].map(u32),
  cacheKey: () => '',
  source: (p) => `${declarations(gatherKernel, p, { indices: 'i32' })}
${elementwiseMain(WG, `  let ii = i % u.inner;
  let t = i / u.inner;
  let j = t % u.J;
  let o = t / u.J;
  let p = u32(clamp(indices[j], 0, i32(u.len) - 1));
  dst[i] = xs[(o * u.len + p) * u.inner + ii];`)}`,
};

/** Sizes of the three parts of a gather / scatterAdd along `axis` of `shape`. */
export function aroundAxis(shape: readonly number[], axis: number): { outer: number; len: number; inner: number } {
  return { outer: sizeOf(shape.slice(0, axis)), len: shape[axis]!, inner: sizeOf(shape.slice(axis + 1)) };
}

export function gather(rt: Runtime, x: TensorInfo, indices: TensorInfo, attrs: { readonly axis: number }, out: OutputInfo): WebGPUHandle {
  const y = rt.alloc(sizeOf(out.shape), 'gather');
  const { len, inner } = aroundAxis(x.shape, attrs.axis);
  rt.run([perElement(gatherKernel, {}, [x.handle as WebGPUHandle, indices.handle as WebGPUHandle, y], y.size, { inner, J: sizeOf(indices.shape), len })]);
  return y;
}
