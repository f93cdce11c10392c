// The flash attention kernel for software adapters (lavapipe, SwiftShader): one invocation per
// query row, 64 rows per workgroup, K and V tiles of up to 64 keys in workgroup memory, and the
// query row and output accumulator in arrays walked by loops. LLVM-based shader compilers build
// it in about a second, where the register-blocked kernel (attention-flash.ts), unrolled over
// the head dimension with several invocations per row, takes them from seconds to about a minute
// at D = 64; on a CPU the register blocking gains nothing. Per tile of BK keys:
//   s_j = q . k_j + mask_ij          (BK scores)
//   m'  = max(m, max_j s_j);  c = exp(m - m')
//   l   = l c + sum_j exp(s_j - m');  acc = acc c + sum_j exp(s_j - m') v_j
// and acc / l at the end.

import { declarations, f32, io, type Kernel, u32 } from '../../kernel.js';
import { stridedFields, stridedOffsets } from '../strided.js';

const WG = 64;
const MAX_BK = 64;
/** Finite stand-in for -infinity as the initial running maximum (exp(m - m') stays 0, not NaN). */
const LOWEST = '-3.4028234e38';

/** Query rows per workgroup. */
export const SIMPLE_ROWS = WG;

export interface SimpleParams {
  readonly D: number;
  readonly Dv: number;
  /** Keys per tile. */
  readonly BK: number;
  readonly masked: boolean;
  readonly batchRank: number;
}

/** Keys per tile: as many as fit (K and V tiles) in workgroup memory, at most 64. */
export function keysPerTile(limitBytes: number, D: number, Dv: number): number {
  return Math.min(MAX_BK, Math.floor(limitBytes / (4 * (D + Dv))));
}

export const attentionSimpleKernel: Kernel<SimpleParams> = {
  name: 'attentionSimple',
  workgroupSize: [WG, 1, 1],
  bindings: io(['Q', 'Kt', 'V', 'Mask'], ['O']),
  uniforms: (p) => [u32('Tq'), u32('Tk'), f32('scale'), u32('maskQ'), u32('maskK'), u32('offX'), u32('offY'), ...stridedFields('bt', p.batchRank, ['q', 'k', 'v', 'm'])],
  cacheKey: (p) => `${p.D}:${p.Dv}:${p.BK}:${p.masked}:${p.batchRank}`,
  source: (p) => `${declarations(attentionSimpleKernel, p, { Q: 'f32', Kt: 'f32', V: 'f32', Mask: 'f32', O: 'f32' })}
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
