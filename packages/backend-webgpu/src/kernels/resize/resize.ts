// resize and resizeGrad of NCHW images. The per-axis taps (source index and weight of every
// output row and column) come from core's resizeAxisTaps, the same function the reference
// backend uses, so the sampling positions (nearest's floor(dst * in / out), bilinear's
// half-pixel or align-corners source) agree exactly; they travel to the GPU as a small table.
//   resize      one invocation per output element: at most 2 x 2 taps.
//   resizeGrad  one invocation per input element: the taps inverted on the host into, per input
//               row and column, the list of (output index, weight) that read it, so every dx
//               element sums its own terms (no atomics, deterministic).

import { resizeAxisTaps, sizeOf, type OutputInfo, type ResizeAttrs, type TensorInfo } from '@denoise/core';
import { declarations, elementwiseMain, io, type Kernel, u32 } from '../../kernel.js';
import { perElement, type Runtime, type WebGPUHandle } from '../../runtime/runtime.js';

const WG = 64;

const f32Bits = (v: number) => new Uint32Array(Float32Array.of(v).buffer)[0]!;

export const resizeKernel: Kernel<{ readonly mode: ResizeAttrs['mode'] }> = {
  name: 'resize',
  workgroupSize: [WG, 1, 1],
  bindings: io(['xs', 'taps'], ['dst']),
  uniforms: () => ['size', 'inH', 'inW', 'outH', 'outW', 'wTaps'].map(u32),
  cacheKey: (p) => p.mode,
  source: (p) => `${declarations(resizeKernel, p, { xs: 'f32', dst: 'f32' })}
fn x_(plane: u32, h: u32, w: u32) -> f32 { return xs[(plane * u.inH + h) * u.inW + w]; }
${elementwiseMain(WG, `  let ow = i % u.outW;
  let t = i / u.outW;
  let oh = t % u.outH;
  let plane = t / u.outH;
  // taps: 4 words per position (i0, i1, weight0, weight1), rows first, columns from u.wTaps.
  let h = oh * 4u;
  let w = u.wTaps + ow * 4u;
${p.mode === 'nearest'
    ? '  dst[i] = x_(plane, taps[h], taps[w]);'
    : `  let wh0 = bitcast<f32>(taps[h + 2u]);
  let wh1 = bitcast<f32>(taps[h + 3u]);
  let ww0 = bitcast<f32>(taps[w + 2u]);
  let ww1 = bitcast<f32>(taps[w + 3u]);
  dst[i] = wh0 * ww0 * x_(plane, taps[h], taps[w]) + wh0 * ww1 * x_(plane, taps[h], taps[w + 1u])
         + wh1 * ww0 * x_(plane, taps[h + 1u], taps[w]) + wh1 * ww1 * x_(plane, taps[h + 1u], taps[w + 1u]);`}`)}`,
};

export const resizeGradKernel: Kernel<Record<string, never>> = {
  name: 'resizeGrad',
  workgroupSize: [WG, 1, 1],
  bindings: io(['dy', 'taps'], ['dst']),
  uniforms: () => ['size', 'inH', 'inW', 'outH', 'outW', 'hEntries', 'wStarts', 'wEntries'].map(u32),
  cacheKey: () => '',
  source: (p) => `${declarations(resizeGradKernel, p, { dy: 'f32', dst: 'f32' })}
${elementwiseMain(WG, `  let iw = i % u.inW;
  let t = i / u.inW;
  let ih = t % u.inH;
  let plane = t / u.inH;
  // taps: row starts (inH + 1), row entries (output row, weight), then the same for columns.
  var acc = 0.0;
  for (var a = taps[ih]; a < taps[ih + 1u]; a++) {
    let oh = taps[u.hEntries + 2u * a];
    let wh = bitcast<f32>(taps[u.hEntries + 2u * a + 1u]);
    for (var b = taps[u.wStarts + iw]; b < taps[u.wStarts + iw + 1u]; b++) {
      let ow = taps[u.wEntries + 2u * b];
      let ww = bitcast<f32>(taps[u.wEntries + 2u * b + 1u]);
      acc += wh * ww * dy[(plane * u.outH + oh) * u.outW + ow];
    }
  }
  dst[i] = acc;`)}`,
};

/** Forward taps of one axis: 4 words per output position. */
function forwardTaps(attrs: ResizeAttrs, inSize: number, outSize: number): number[] {
  const words: number[] = [];
  for (const taps of resizeAxisTaps(attrs.mode, attrs.alignCorners, inSize, outSize)) {
    const t0 = taps[0]!;
    const t1 = taps[1] ?? { index: t0.index, weight: 0 };
    words.push(t0.index, t1.index, f32Bits(t0.weight), f32Bits(t1.weight));
  }
  return words;
}

/** Inverted taps of one axis: starts (inSize + 1) and (output index, weight) entries. */
function inverseTaps(attrs: ResizeAttrs, inSize: number, outSize: number): { starts: number[]; entries: number[] } {
  const byInput: Array<Array<[number, number]>> = Array.from({ length: inSize }, () => []);
  resizeAxisTaps(attrs.mode, attrs.alignCorners, inSize, outSize).forEach((taps, dst) => {
    for (const t of taps) byInput[t.index]!.push([dst, t.weight]);
  });
  const starts = [0];
  const entries: number[] = [];
  for (const list of byInput) {
    for (const [dst, weight] of list) entries.push(dst, f32Bits(weight));
    starts.push(entries.length / 2);
  }
  return { starts, entries };
}

export function resize(rt: Runtime, x: TensorInfo, attrs: ResizeAttrs, out: OutputInfo): WebGPUHandle {
  const y = rt.alloc(sizeOf(out.shape), 'resize');
  if (y.size === 0) return y;
  const [, , inH, inW] = x.shape as [number, number, number, number];
  const [outH, outW] = attrs.size;
  const h = forwardTaps(attrs, inH, outH);
  const taps = rt.scratchWith(Uint32Array.from([...h, ...forwardTaps(attrs, inW, outW)]));
  rt.run([perElement(resizeKernel, { mode: attrs.mode }, [x.handle as WebGPUHandle, taps, y], y.size, { inH, inW, outH, outW, wTaps: h.length })], [taps]);
  return y;
}

export function resizeGrad(rt: Runtime, dy: TensorInfo, attrs: ResizeAttrs, out: OutputInfo): WebGPUHandle {
  const dx = rt.alloc(sizeOf(out.shape), 'resizeGrad');
  if (dx.size === 0) return dx;
  const [, , inH, inW] = out.shape as [number, number, number, number];
  const [outH, outW] = attrs.size;
  const h = inverseTaps(attrs, inH, outH);
  const w = inverseTaps(attrs, inW, outW);
  const hEntries = h.starts.length;
  const wStarts = hEntries + h.entries.length;
  const wEntries = wStarts + w.starts.length;
  const taps = rt.scratchWith(Uint32Array.from([...h.starts, ...h.entries, ...w.starts, ...w.entries]));
  const uniforms = { inH, inW, outH, outW, hEntries, wStarts, wEntries };
  rt.run([perElement(resizeGradKernel, {}, [dy.handle as WebGPUHandle, taps, dx], dx.size, uniforms)], [taps]);
  return dx;
}
