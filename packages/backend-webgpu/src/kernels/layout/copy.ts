// The layout primitives are one strided copy: dst[dst view(i)] = src[src view(i)] over a copy
// shape, moving raw 32-bit words so one pipeline per rank serves every dtype.
//   transpose    src strides permuted, dst contiguous
//   slice        src strides with a base offset, dst contiguous
//   broadcastTo  src broadcast strides (0 on broadcast axes), dst contiguous
//   concat       one copy per input into its block of dst (dst strides, base at the block)
//   pad          fill dst with the constant, then copy src into the interior
// reshape shares the input's storage (reference-counted in the runtime) and copies nothing.

import { sizeOf, stridesOf, type OutputInfo, type TensorInfo } from '@denoise/core';
import { bitsOf, declarations, elementwiseMain, io, type Kernel, u32 } from '../../kernel.js';
import { perElement, type Runtime, type Step, type WebGPUHandle } from '../../runtime/runtime.js';
import { broadcastStrides, planStrided, stridedFields, stridedOffsets, type StridedView } from '../strided.js';

const WG = 64;

export const copyKernel: Kernel<{ readonly rank: number }> = {
  name: 'stridedCopy',
  workgroupSize: [WG, 1, 1],
  bindings: io(['src'], ['dst']),
  uniforms: (p) => [u32('size'), ...stridedFields('o', p.rank, ['s', 'd'])],
  cacheKey: (p) => `${p.rank}`,
  source: (p) => `${declarations(copyKernel, p)}
${elementwiseMain(WG, `${stridedOffsets('o', p.rank, ['s', 'd'], 'i')}
  dst[o_d] = src[o_s];`)}`,
};

export const fillKernel: Kernel<Record<string, never>> = {
  name: 'fill',
  workgroupSize: [WG, 1, 1],
  bindings: io([], ['dst']),
  uniforms: () => [u32('size'), u32('bits')],
  cacheKey: () => '',
  source: (p) => `${declarations(fillKernel, p)}
${elementwiseMain(WG, '  dst[i] = u.bits;')}`,
};

/** The dispatch copying `shape` elements from `src` (view s) to `dst` (view d). */
export function copyStep(src: WebGPUHandle, dst: WebGPUHandle, shape: readonly number[], s: StridedView, d: StridedView): Step {
  const plan = planStrided('o', shape, { s, d });
  return perElement(copyKernel, { rank: plan.rank }, [src, dst], sizeOf(shape), plan.values);
}

export function fillStep(dst: WebGPUHandle, bits: number): Step {
  return perElement(fillKernel, {}, [dst], dst.size, { bits });
}

/** Copies `x` viewed through `s` into a new contiguous tensor of out.shape. */
function gatherCopy(rt: Runtime, op: string, x: TensorInfo, s: StridedView, out: OutputInfo): WebGPUHandle {
  const y = rt.alloc(sizeOf(out.shape), op);
  rt.run([copyStep(x.handle as WebGPUHandle, y, out.shape, s, { strides: stridesOf(out.shape) })]);
  return y;
}

export function reshape(rt: Runtime, x: TensorInfo, out: OutputInfo): WebGPUHandle {
  return rt.share(x.handle as WebGPUHandle, sizeOf(out.shape));
}

export function transpose(rt: Runtime, x: TensorInfo, attrs: { readonly perm: readonly number[] }, out: OutputInfo): WebGPUHandle {
  const xStrides = stridesOf(x.shape);
  return gatherCopy(rt, 'transpose', x, { strides: attrs.perm.map((p) => xStrides[p]!) }, out);
}

export function slice(rt: Runtime, x: TensorInfo, attrs: { readonly begin: readonly number[] }, out: OutputInfo): WebGPUHandle {
  const xStrides = stridesOf(x.shape);
  const base = attrs.begin.reduce((acc, b, d) => acc + b * xStrides[d]!, 0);
  return gatherCopy(rt, 'slice', x, { strides: xStrides, base }, out);
}

export function broadcastTo(rt: Runtime, x: TensorInfo, out: OutputInfo): WebGPUHandle {
  return gatherCopy(rt, 'broadcastTo', x, { strides: broadcastStrides(x.shape, out.shape) }, out);
}

export function concat(rt: Runtime, xs: readonly TensorInfo[], attrs: { readonly axis: number }, out: OutputInfo): WebGPUHandle {
  const y = rt.alloc(sizeOf(out.shape), 'concat');
  const outStrides = stridesOf(out.shape);
  const steps: Step[] = [];
  let start = 0;
  for (const x of xs) {
    if (sizeOf(x.shape) > 0) {
      steps.push(copyStep(x.handle as WebGPUHandle, y, x.shape, { strides: stridesOf(x.shape) }, { strides: outStrides, base: start * outStrides[attrs.axis]! }));
    }
    start += x.shape[attrs.axis]!;
  }
  rt.run(steps);
  return y;
}

export function pad(
  rt: Runtime,
  x: TensorInfo,
  attrs: { readonly pads: ReadonlyArray<readonly [number, number]>; readonly value: number },
  out: OutputInfo,
): WebGPUHandle {
  const y = rt.alloc(sizeOf(out.shape), 'pad');
  const outStrides = stridesOf(out.shape);
  const base = attrs.pads.reduce((acc, [before], d) => acc + before * outStrides[d]!, 0);
  const steps = [fillStep(y, bitsOf(attrs.value, out.dtype))];
  if (sizeOf(x.shape) > 0) steps.push(copyStep(x.handle as WebGPUHandle, y, x.shape, { strides: stridesOf(x.shape) }, { strides: outStrides, base }));
  rt.run(steps);
  return y;
}

export function fill(rt: Runtime, attrs: { readonly value: number }, out: OutputInfo): WebGPUHandle {
  const y = rt.alloc(sizeOf(out.shape), 'fill');
  rt.run([fillStep(y, bitsOf(attrs.value, out.dtype))]);
  return y;
}
