// scatterAdd without float atomics, and deterministic: the same inputs give the same bits on
// every run. The indices are first grouped by target position into a CSR list whose segments
// are sorted, then each output element adds its own updates in index order:
//   1. scatterCount   counts[p] = #{ j : indices[j] == p }        (u32 atomics: exact)
//   2. scatterScan    offsets = exclusive prefix sum of counts    (one workgroup)
//   3. scatterFill    list[offsets[p] + slot] = j                 (slot from a u32 atomic cursor)
//   4. scatterSort    each segment sorted ascending (insertion sort; segments are short)
//   5. scatterSum     out[o, p, i] = sum over the segment of p of updates[o, j, i]
// Work is O(J) for the index passes and O(output + updates) for the sum, so an embedding
// gradient over a large vocabulary costs what its updates cost. Out-of-range indices are skipped.

import { sizeOf, type OutputInfo, type TensorInfo } from '@denoise/core';
import { declarations, elementwiseMain, io, type Kernel, storageType, u32 } from '../../kernel.js';
import { perElement, type Runtime, type Step, type WebGPUHandle } from '../../runtime/runtime.js';
import { aroundAxis } from './gather.js';

const WG = 64;
const SCAN_WG = 256;

const INDEX_FIELDS = () => ['size', 'len'].map(u32);

export const scatterCountKernel: Kernel<Record<string, never>> = {
  name: 'scatterCount',
  workgroupSize: [WG, 1, 1],
  bindings: io(['indices'], ['counts']),
  uniforms: INDEX_FIELDS,
  cacheKey: () => '',
  source: (p) => `${declarations(scatterCountKernel, p, { indices: 'i32', counts: 'atomic<u32>' })}
${elementwiseMain(WG, `  let p = indices[i];
  if (p >= 0 && u32(p) < u.len) { atomicAdd(&counts[u32(p)], 1u); }`)}`,
};

export const scatterScanKernel: Kernel<Record<string, never>> = {
  name: 'scatterScan',
  workgroupSize: [SCAN_WG, 1, 1],
  bindings: io(['counts'], ['offsets']),
  uniforms: () => [u32('len')],
  cacheKey: () => '',
  source: (p) => `${declarations(scatterScanKernel, p)}
var<workgroup> partial: array<u32, ${SCAN_WG}>;
@compute @workgroup_size(${SCAN_WG})
fn main(@builtin(local_invocation_index) lid: u32) {
  let chunk = (u.len + ${SCAN_WG - 1}u) / ${SCAN_WG}u;
  let begin = min(lid * chunk, u.len);
  let end = min(begin + chunk, u.len);
  var sum = 0u;
  for (var p = begin; p < end; p++) { sum += counts[p]; }
  partial[lid] = sum;
  workgroupBarrier();
  if (lid == 0u) {
    var run = 0u;
    for (var t = 0u; t < ${SCAN_WG}u; t++) { let c = partial[t]; partial[t] = run; run += c; }
    offsets[u.len] = run;
  }
  workgroupBarrier();
  var run = partial[lid];
  for (var p = begin; p < end; p++) { offsets[p] = run; run += counts[p]; }
}`,
};

export const scatterFillKernel: Kernel<Record<string, never>> = {
  name: 'scatterFill',
  workgroupSize: [WG, 1, 1],
  bindings: io(['indices', 'offsets'], ['cursor', 'list']),
  uniforms: INDEX_FIELDS,
  cacheKey: () => '',
  source: (p) => `${declarations(scatterFillKernel, p, { indices: 'i32', cursor: 'atomic<u32>' })}
${elementwiseMain(WG, `  let p = indices[i];
  if (p < 0 || u32(p) >= u.len) { return; }
  let slot = offsets[u32(p)] + atomicAdd(&cursor[u32(p)], 1u);
  list[slot] = i;`)}`,
};

export const scatterSortKernel: Kernel<Record<string, never>> = {
  name: 'scatterSort',
  workgroupSize: [WG, 1, 1],
  bindings: io(['offsets'], ['list']),
  uniforms: () => [u32('size')],
  cacheKey: () => '',
  source: (p) => `${declarations(scatterSortKernel, p)}
${elementwiseMain(WG, `  let begin = offsets[i];
  let end = offsets[i + 1u];
  for (var s = begin + 1u; s < end; s++) {
    let v = list[s];
    var t = s;
    while (t > begin && list[t - 1u] > v) { list[t] = list[t - 1u]; t -= 1u; }
    list[t] = v;
  }`)}`,
};

export const scatterSumKernel: Kernel<{ readonly dtype: TensorInfo['dtype'] }> = {
  name: 'scatterSum',
  workgroupSize: [WG, 1, 1],
  bindings: io(['updates', 'offsets', 'list'], ['dst']),
  uniforms: () => ['size', 'inner', 'J', 'len'].map(u32),
  cacheKey: (p) => p.dtype,
  source: (p) => {
    const t = storageType(p.dtype);
    return `${declarations(scatterSumKernel, p, { updates: t, dst: t })}
${elementwiseMain(WG, `  let ii = i % u.inner;
  let q = i / u.inner;
  let p = q % u.len;
  let o = q / u.len;
  var acc = ${t}(0);
  for (var s = offsets[p]; s < offsets[p + 1u]; s++) { acc += updates[(o * u.J + list[s]) * u.inner + ii]; }
  dst[i] = acc;`)}`;
  },
};

export function scatterAdd(rt: Runtime, indices: TensorInfo, updates: TensorInfo, attrs: { readonly axis: number }, out: OutputInfo): WebGPUHandle {
  const y = rt.alloc(sizeOf(out.shape), 'scatterAdd');
  if (y.size === 0) return y;
  const { len, inner } = aroundAxis(out.shape, attrs.axis);
  const J = sizeOf(indices.shape);
  const idx = indices.handle as WebGPUHandle;
  const counts = rt.scratch(len * 4);
  const offsets = rt.scratch((len + 1) * 4);
  const cursor = rt.scratch(len * 4);
  const list = rt.scratch(Math.max(J, 1) * 4);
  const steps: Step[] = [
    { clear: counts.buffer },
    { clear: cursor.buffer },
    perElement(scatterCountKernel, {}, [idx, counts], J, { len }),
    { kernel: scatterScanKernel, params: {}, buffers: [counts, offsets], uniforms: { len }, workgroups: 1 },
    perElement(scatterFillKernel, {}, [idx, offsets, cursor, list], J, { len }),
    perElement(scatterSortKernel, {}, [offsets, list], len),
    perElement(scatterSumKernel, { dtype: out.dtype }, [updates.handle as WebGPUHandle, offsets, list, y], y.size, { inner, J, len }),
  ];
  rt.run(steps, [counts, offsets, cursor, list]);
  return y;
}
