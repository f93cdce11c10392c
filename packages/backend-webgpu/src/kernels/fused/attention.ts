// Memory-efficient attention (flash-attention style): softmax(q k^T * scale + mask) v without
// ever forming the [Tq, Tk] score matrix. A workgroup of 64 invocations owns 64 query rows of
// one batch entry; it walks the keys in tiles of BK, staging K and V tiles in workgroup memory.
// Each invocation keeps its query row (pre-scaled), a running maximum m, a running sum l and an
// output accumulator in registers, and for every tile:
//   s_j = q . k_j + mask_ij          (BK scores, registers)
//   m'  = max(m, max_j s_j);  c = exp(m - m')
//   l   = l c + sum_j exp(s_j - m');  acc = acc c + sum_j exp(s_j - m') v_j
// and writes acc / l at the end (online softmax). Memory is O(Tq D + Tk D) for any length.
//
// D and Dv are compile-time constants (register arrays); BK is the largest tile (at most 64 keys)
// whose K and V fit the device's maxComputeWorkgroupStorageSize. The mask broadcasts through
// its own strides, batch axes like matmul's.

import { InvalidArgumentError, sizeOf, type OutputInfo, type TensorInfo } from '@denoise/core';
import { declarations, f32, io, type Kernel, u32 } from '../../kernel.js';
import type { Dispatch, Runtime, WebGPUHandle } from '../../runtime/runtime.js';
import { broadcastStrides, planStrided, stridedFields, stridedOffsets } from '../strided.js';

const WG = 64;
const MAX_BK = 64;
/** Finite stand-in for -infinity as the initial running maximum (exp(m - m') stays 0, not NaN). */
const LOWEST = '-3.4028234e38';

export interface AttentionParams {
  readonly D: number;
  readonly Dv: number;
  /** Keys per tile. */
  readonly BK: number;
  readonly masked: boolean;
  readonly batchRank: number;
}

export const attentionKernel: Kernel<AttentionParams> = {
  name: 'attention',
  workgroupSize: [WG, 1, 1],
  bindings: io(['Q', 'Kt', 'V', 'Mask'], ['O']),
  uniforms: (p) => [u32('Tq'), u32('Tk'), f32('scale'), u32('maskQ'), u32('maskK'), u32('offX'), u32('offY'), ...stridedFields('bt', p.batchRank, ['q', 'k', 'v', 'm'])],
  cacheKey: (p) => `${p.D}:${p.Dv}:${p.BK}:${p.masked}:${p.batchRank}`,
  source: (p) => `${declarations(attentionKernel, p, { Q: 'f32', Kt: 'f32', V: 'f32', Mask: 'f32', O: 'f32' })}
const D = ${p.D}u;
const DV = ${p.Dv}u;
const BK = ${p.BK}u;
var<workgroup> kTile: array<f32, ${p.BK * p.D}>;
var<workgroup> vTile: array<f32, ${p.BK * p.Dv}>;

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let batch = wid.y + u.offY;
  let qi = (wid.x + u.offX) * ${WG}u + lid;
  let live = qi < u.Tq;
${stridedOffsets('bt', p.batchRank, ['q', 'k', 'v', 'm'], 'batch')}
  var q: array<f32, ${p.D}>;
  if (live) {
    for (var d = 0u; d < D; d++) { q[d] = Q[bt_q + qi * D + d] * u.scale; }
  }
  var acc: array<f32, ${p.Dv}>;
  var m = ${LOWEST};
  var l = 0.0;
  for (var j0 = 0u; j0 < u.Tk; j0 += BK) {
    let n = min(BK, u.Tk - j0);
    for (var e = lid; e < n * D; e += ${WG}u) { kTile[e] = Kt[bt_k + j0 * D + e]; }
    for (var e = lid; e < n * DV; e += ${WG}u) { vTile[e] = V[bt_v + j0 * DV + e]; }
    workgroupBarrier();
    if (live) {
      var s: array<f32, ${p.BK}>;
      var tileMax = ${LOWEST};
      for (var j = 0u; j < n; j++) {
        var dot = 0.0;
        for (var d = 0u; d < D; d++) { dot = fma(q[d], kTile[j * D + d], dot); }
${p.masked ? '        dot += Mask[bt_m + qi * u.maskQ + (j0 + j) * u.maskK];\n' : ''}        s[j] = dot;
        tileMax = max(tileMax, dot);
      }
      let mNew = max(m, tileMax);
      let c = exp(m - mNew);
      l *= c;
      for (var d = 0u; d < DV; d++) { acc[d] *= c; }
      for (var j = 0u; j < n; j++) {
        let w = exp(s[j] - mNew);
        l += w;
        for (var d = 0u; d < DV; d++) { acc[d] = fma(w, vTile[j * DV + d], acc[d]); }
      }
      m = mNew;
    }
    workgroupBarrier();
  }
  if (live) {
    let o = (batch * u.Tq + qi) * DV;
    for (var d = 0u; d < DV; d++) { O[o + d] = acc[d] / l; }
  }
}`,
};

/** Keys per tile: as many as fit (K and V tiles) in workgroup memory, at most 64. */
export function keysPerTile(limitBytes: number, D: number, Dv: number): number {
  return Math.min(MAX_BK, Math.floor(limitBytes / (4 * (D + Dv))));
}

export function attention(
  rt: Runtime,
  q: TensorInfo,
  k: TensorInfo,
  v: TensorInfo,
  mask: TensorInfo | null,
  attrs: { readonly scale: number },
  out: OutputInfo,
): WebGPUHandle {
  const y = rt.alloc(sizeOf(out.shape), 'attention');
  const rank = out.shape.length;
  const Tq = q.shape[q.shape.length - 2]!;
  const D = q.shape[q.shape.length - 1]!;
  const Tk = k.shape[k.shape.length - 2]!;
  const Dv = v.shape[v.shape.length - 1]!;
  if (y.size === 0) return y;
  const BK = keysPerTile(rt.limits.maxComputeWorkgroupStorageSize, D, Dv);
  if (BK < 1) {
    throw new InvalidArgumentError(
      `webgpu: attention: head sizes D=${D}, Dv=${Dv} need ${4 * (D + Dv)} bytes of workgroup memory per key, more than this device's maxComputeWorkgroupStorageSize (${rt.limits.maxComputeWorkgroupStorageSize})`,
    );
  }
  const batchShape = out.shape.slice(0, rank - 2);
  const batchStrides = (shape: readonly number[], matrix: number) => broadcastStrides(shape.slice(0, -2), batchShape).map((s) => s * matrix);
  // The mask broadcasts to [...batch, Tq, Tk]: its strides over all of those axes.
  const maskStrides = mask ? broadcastStrides(mask.shape, [...batchShape, Tq, Tk]) : new Array<number>(rank).fill(0);
  const plan = planStrided('bt', batchShape, {
    q: { strides: batchStrides(q.shape, Tq * D) },
    k: { strides: batchStrides(k.shape, Tk * D) },
    v: { strides: batchStrides(v.shape, Tk * Dv) },
    m: { strides: maskStrides.slice(0, rank - 2) },
  });
  const params: AttentionParams = { D, Dv, BK, masked: mask !== null, batchRank: plan.rank };
  const uniforms = { Tq, Tk, scale: attrs.scale, maskQ: maskStrides[rank - 2]!, maskK: maskStrides[rank - 1]!, ...plan.values };
  const buffers = [q, k, v, mask ?? q].map((t) => t.handle as WebGPUHandle);
  const max = rt.limits.maxComputeWorkgroupsPerDimension;
  const tiles = Math.ceil(Tq / WG);
  const batches = sizeOf(batchShape);
  const steps: Dispatch<AttentionParams>[] = [];
  for (let yOff = 0; yOff < batches; yOff += max) {
    for (let xOff = 0; xOff < tiles; xOff += max) {
      steps.push({
        kernel: attentionKernel,
        params,
        buffers: [...buffers, y],
        uniforms: { ...uniforms, offX: xOff, offY: yOff },
        workgroups: [Math.min(max, tiles - xOff), Math.min(max, batches - yOff), 1],
      });
    }
  }
  rt.run(steps);
  return y;
}
