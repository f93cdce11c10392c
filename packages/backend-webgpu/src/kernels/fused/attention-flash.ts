// Memory-efficient attention (flash-attention style) for GPUs: softmax(q k^T * scale + mask) v
// without ever forming the [Tq, Tk] score matrix. Memory is O(Tq D + Tk D) for any length.
//
// A workgroup owns QB query rows of one batch entry (QB = 32) and has KS invocations per row
// (KS = 4): invocation (ks, ql), ql varying fastest, so the 32 lanes of a warp hold 32 different
// query rows and the same key split. The workgroup walks the keys in tiles of BK = KS * KPT keys
// (32 at D = Dv = 64 in 16 KiB of workgroup memory, 64 in 32 KiB), staged as vec4s (K rows, then
// V rows); split ks takes keys ks*KPT .. ks*KPT + KPT - 1 of each tile. All lanes of a warp read
// the same key at the same time, so every vec4 read from workgroup memory is a broadcast (no bank
// conflicts) feeding 4 FMAs. Each invocation keeps its query row (pre-scaled) and its output
// accumulator in vec4 registers: the WGSL is unrolled over the head dimension (named variables,
// nothing indexed dynamically, so nothing goes to local memory), and per key it computes
//   s = q . k + mask
//   if s > m:  c = exp(m - s); l *= c; acc *= c; m = s     (rare once the first keys are seen)
//   w = exp(s - m);  l += w;  acc += w v
// (online softmax with a running maximum m and sum l). At the end the KS partial states of a row
// merge through workgroup memory (the tile space): M = max m_ks, L = sum l_ks exp(m_ks - M),
// out = sum acc_ks exp(m_ks - M) / L, and the workgroup writes its [QB, Dv] output block
// contiguously.
//
// The key split gives 4 invocations per query row: [2, 8, 1024, 64] runs 65,536 invocations
// (16,384 with one per row), enough to keep every SM of a large GPU busy, with about 150 registers
// each at D = Dv = 64. The plan (QB, KS, KPT) is the largest that fits the device's
// maxComputeWorkgroupStorageSize and maxComputeInvocationsPerWorkgroup; very large head sizes
// get smaller query blocks (the merged rows must fit too) and, past the registers, spill.

import { declarations, f32, io, type Kernel, u32 } from '../../kernel.js';
import { stridedFields, stridedOffsets } from '../strided.js';

/** Finite stand-in for -infinity as the initial running maximum (exp(m - m') stays 0, not NaN). */
const LOWEST = '-3.4028234e38';
/** Keys per invocation per tile, at most. */
const MAX_KPT = 16;

export interface FlashParams {
  readonly D: number;
  readonly Dv: number;
  /** Query rows per workgroup. */
  readonly QB: number;
  /** Invocations (key splits) per query row. */
  readonly KS: number;
  /** Keys per invocation per tile. */
  readonly KPT: number;
  readonly masked: boolean;
  readonly batchRank: number;
}

export type FlashPlan = Pick<FlashParams, 'QB' | 'KS' | 'KPT'>;

/** Preferred (QB, KS) pairs: 128 invocations with a warp's 32 lanes on 32 queries first. */
const SHAPES: readonly (readonly [number, number])[] = [[32, 4], [16, 8], [8, 16], [16, 4], [8, 4], [4, 4], [4, 2], [2, 2], [1, 2], [1, 1]];

const vec4s = (n: number) => Math.ceil(n / 4);

/**
 * Workgroup memory of a plan, in vec4s: the K / V tile, reused after the last tile for the merged
 * output rows (QB rows of V4 + 1 vec4s, padded against bank conflicts) and each invocation's (m, l).
 */
function flashVec4s(D: number, Dv: number, p: FlashPlan): number {
  const V4 = vec4s(Dv);
  return Math.max(p.KS * p.KPT * (vec4s(D) + V4), p.QB * (V4 + 1) + p.QB * p.KS);
}

/** Workgroup memory of a plan, in bytes. */
export function flashWorkgroupBytes(D: number, Dv: number, p: FlashPlan): number {
  return 16 * flashVec4s(D, Dv, p);
}

/**
 * The largest plan that fits `storageBytes` of workgroup memory and `invocations` per workgroup,
 * or null when even one key of K and V does not fit.
 */
export function planFlash(storageBytes: number, invocations: number, D: number, Dv: number): FlashPlan | null {
  for (const [QB, KS] of SHAPES) {
    if (QB * KS > invocations) continue;
    for (let KPT = MAX_KPT; KPT >= 1; KPT--) {
      const plan = { QB, KS, KPT };
      if (flashWorkgroupBytes(D, Dv, plan) <= storageBytes) return plan;
    }
  }
  return null;
}

/** `vec4<f32>(B[o], B[o + 1], B[o + 2], B[o + 3])`, components at or past `len` (from chunk `c`) zero. */
function load4(buffer: string, offset: string, chunk: string, len: number): string {
  const parts = [0, 1, 2, 3].map((t) => {
    const read = `${buffer}[${offset}${t ? ` + ${t}u` : ''}]`;
    return len % 4 === 0 ? read : `select(0.0, ${read}, 4u * ${chunk} + ${t}u < ${len}u)`;
  });
  return `vec4<f32>(${parts.join(', ')})`;
}

/** The query row: D4 vec4 registers, scaled. */
function loadQuery(p: FlashParams): string {
  const D4 = vec4s(p.D);
  const lines: string[] = [];
  for (let c = 0; c < D4; c++) lines.push(`  var q${c} = vec4<f32>();`);
  lines.push('  if (live) {');
  lines.push(`    let qb = bt_q + qi * ${p.D}u;`);
  for (let c = 0; c < D4; c++) {
    const parts = [0, 1, 2, 3].map((t) => (4 * c + t < p.D ? `Q[qb + ${4 * c + t}u]` : '0.0'));
    lines.push(`    q${c} = vec4<f32>(${parts.join(', ')}) * u.scale;`);
  }
  lines.push('  }');
  return lines.join('\n');
}

/**
 * This invocation's keys of the tile, one at a time: the score, the running maximum (the
 * accumulator is rescaled only when it grows, which after the first keys is rare), the weight
 * and the weighted V row.
 */
function keyLoop(p: FlashParams): string {
  const D4 = vec4s(p.D);
  const V4 = vec4s(p.Dv);
  const BK = p.KS * p.KPT;
  const lines: string[] = [];
  lines.push('    for (var i = 0u; i < cnt; i++) {');
  lines.push(`      let kb = (jb + i) * ${D4}u;`);
  lines.push(`      let vb = ${BK * D4}u + (jb + i) * ${V4}u;`);
  lines.push('      var t = q0 * kv[kb];');
  for (let c = 1; c < D4; c++) lines.push(`      t = fma(q${c}, kv[kb + ${c}u], t);`);
  lines.push('      var s = (t.x + t.y) + (t.z + t.w);');
  if (p.masked) lines.push('      s += Mask[bt_m + qi * u.maskQ + (j0 + jb + i) * u.maskK];');
  lines.push('      if (s > m) {');
  lines.push('        let c = exp(m - s);');
  lines.push('        l *= c;');
  for (let d = 0; d < V4; d++) lines.push(`        a${d} *= c;`);
  lines.push('        m = s;');
  lines.push('      }');
  lines.push('      let w = exp(s - m);');
  lines.push('      l += w;');
  for (let d = 0; d < V4; d++) lines.push(`      a${d} = fma(vec4<f32>(w), kv[vb + ${d}u], a${d});`);
  lines.push('    }');
  return lines.join('\n');
}

export const flashAttentionKernel: Kernel<FlashParams> = {
  name: 'attention',
  workgroupSize: [128, 1, 1],
  bindings: io(['Q', 'Kt', 'V', 'Mask'], ['O']),
  uniforms: (p) => [u32('Tq'), u32('Tk'), f32('scale'), u32('maskQ'), u32('maskK'), u32('offX'), u32('offY'), ...stridedFields('bt', p.batchRank, ['q', 'k', 'v', 'm'])],
  cacheKey: (p) => `${p.D}:${p.Dv}:${p.QB}x${p.KS}x${p.KPT}:${p.masked}:${p.batchRank}`,
  source: (p) => {
    const D4 = vec4s(p.D);
    const V4 = vec4s(p.Dv);
    const BK = p.KS * p.KPT;
    const WG = p.QB * p.KS;
    const kvSize = flashVec4s(p.D, p.Dv, p);
    const mlBase = p.QB * (V4 + 1);
    const accs = Array.from({ length: V4 }, (_, d) => `  var a${d} = vec4<f32>();`).join('\n');
    const merge = Array.from({ length: V4 }, (_, d) => `      kv[ob + ${d}u] = select(fma(a${d}, vec4<f32>(f), kv[ob + ${d}u]), a${d} * f, r == 0u);`).join('\n');
    return `${declarations(flashAttentionKernel, p, { Q: 'f32', Kt: 'f32', V: 'f32', Mask: 'f32', O: 'f32' })}
const BK = ${BK}u;
const WG = ${WG}u;
// K rows (D4 vec4s each) then V rows (V4 vec4s each); after the last tile, the merged output
// rows, then (m, l, -, -) of every invocation from vec4 ${mlBase}.
var<workgroup> kv: array<vec4<f32>, ${kvSize}>;

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let batch = wid.y + u.offY;
  let row0 = (wid.x + u.offX) * ${p.QB}u;
  let ql = lid % ${p.QB}u;
  let ks = lid / ${p.QB}u;
  let qi = row0 + ql;
  let live = qi < u.Tq;
${stridedOffsets('bt', p.batchRank, ['q', 'k', 'v', 'm'], 'batch')}
${loadQuery(p)}
${accs}
  var m = ${LOWEST};
  var l = 0.0;
  let jb = ks * ${p.KPT}u;
  for (var j0 = 0u; j0 < u.Tk; j0 += BK) {
    for (var e = lid; e < BK * ${D4}u; e += WG) {
      let j = j0 + e / ${D4}u;
      let c = e % ${D4}u;
      var k4 = vec4<f32>();
      if (j < u.Tk) { let o = bt_k + j * ${p.D}u + 4u * c; k4 = ${load4('Kt', 'o', 'c', p.D)}; }
      kv[e] = k4;
    }
    for (var e = lid; e < BK * ${V4}u; e += WG) {
      let j = j0 + e / ${V4}u;
      let c = e % ${V4}u;
      var v4 = vec4<f32>();
      if (j < u.Tk) { let o = bt_v + j * ${p.Dv}u + 4u * c; v4 = ${load4('V', 'o', 'c', p.Dv)}; }
      kv[${BK * D4}u + e] = v4;
    }
    workgroupBarrier();
    // Keys of this invocation in the tile that exist: KPT in every tile but the last.
    let n = min(BK, u.Tk - j0);
    let cnt = select(0u, min(${p.KPT}u, n - jb), n > jb);
${keyLoop(p)}
    workgroupBarrier();
  }
  // Merge the KS partial states of each row (the tile space is free after the last barrier).
  kv[${mlBase}u + lid] = vec4<f32>(m, l, 0.0, 0.0);
  workgroupBarrier();
  var M = ${LOWEST};
  for (var r = 0u; r < ${p.KS}u; r++) { M = max(M, kv[${mlBase}u + r * ${p.QB}u + ql].x); }
  var L = 0.0;
  for (var r = 0u; r < ${p.KS}u; r++) { let e = kv[${mlBase}u + r * ${p.QB}u + ql]; L += e.y * exp(e.x - M); }
  let f = exp(m - M) / L;
  let ob = ql * ${V4 + 1}u;
  for (var r = 0u; r < ${p.KS}u; r++) {
    if (ks == r) {
${merge}
    }
    workgroupBarrier();
  }
  for (var e = lid; e < ${p.QB * p.Dv}u; e += WG) {
    let row = e / ${p.Dv}u;
    let d = e % ${p.Dv}u;
    if (row0 + row < u.Tq) { O[(batch * u.Tq + row0 + row) * ${p.Dv}u + d] = kv[row * ${V4 + 1}u + d / 4u][d % 4u]; }
  }
}`;
  },
};
