// Attention through materialised scores, for problems whose scores fit a bound (see
// attention.ts): the backend's tiled GEMM (gemm/gemm.ts) twice, with a row-statistics pass in
// between, over a chunk of batch entries at a time:
//   attentionScores  S = q k^T * scale + mask          GEMM with k read transposed in place; the
//                                                      scale and the mask are applied as S is stored
//   attentionStats   per row of S: max m, 1 / sum_j exp(S_j - m)   one workgroup per row
//   attentionOutput  O = exp(S - m) v / sum            GEMM that exponentiates S as it loads it
//                                                      and normalises as it stores
// so the normalised probabilities are never written: S is written once and read twice (stats,
// output). Batch axes broadcast through the same strides as the flash kernel; u.b0 is the first
// batch entry of the chunk, S and the statistics are indexed within the chunk.

import { declarations, f32, io, type Kernel, u32 } from '../../kernel.js';
import { GEMM_FIELDS, gemmMain, type GemmTile } from '../gemm/gemm.js';
import { stridedFields, stridedOffsets } from '../strided.js';
import { ROW_REDUCTIONS, ROW_WG, rowMaxSumExp } from './rows.js';

export interface ScoresParams {
  readonly masked: boolean;
  readonly batchRank: number;
  readonly tile: GemmTile;
}

/** Uniforms of both GEMMs besides GEMM_FIELDS. */
const fields = (p: { readonly batchRank: number }) => [
  u32('b0'), f32('scale'), u32('maskQ'), u32('maskK'), ...stridedFields('bt', p.batchRank, ['q', 'k', 'v', 'm']),
];

/**
 * The GEMM skeleton's setup_(z) for batch entry b0 + z of the chunk: the offsets of q, k, v and
 * the mask (bt_q, bt_k, bt_v, bt_m), then `bases`, private variables set from expressions in them,
 * `z` and `batch`.
 */
function setup(p: { readonly batchRank: number }, bases: Readonly<Record<string, string>>): string {
  const names = Object.keys(bases);
  return `${names.map((n) => `var<private> ${n}: u32;`).join('\n')}
fn setup_(z: u32) {
  let batch = u.b0 + z;
${stridedOffsets('bt', p.batchRank, ['q', 'k', 'v', 'm'], 'batch')}
${names.map((n) => `  ${n} = ${bases[n]};`).join('\n')}
}`;
}

/** S[z, m, n] = (q[batch, m] . k[batch, n]) * scale (+ mask), for batch = b0 + z; M = Tq, N = Tk, K = D. */
export const attentionScoresKernel: Kernel<ScoresParams> = {
  name: 'attentionScores',
  workgroupSize: [16, 16, 1],
  bindings: io(['Q', 'Kt', 'Mask'], ['S']),
  uniforms: (p) => [...GEMM_FIELDS, ...fields(p)],
  cacheKey: (p) => `${p.masked}:${p.batchRank}:${p.tile}`,
  source: (p) => `${declarations(attentionScoresKernel, p, { Q: 'f32', Kt: 'f32', Mask: 'f32', S: 'f32' })}
${setup(p, { qBase: 'bt_q', kBase: 'bt_k', mBase: 'bt_m', sBase: 'z * u.M * u.N' })}
fn loadA_(m: u32, k: u32) -> f32 { return Q[qBase + m * u.K + k]; }
fn loadB_(k: u32, n: u32) -> f32 { return Kt[kBase + n * u.K + k]; }
fn store_(m: u32, n: u32, v: f32) { S[sBase + m * u.N + n] = v * u.scale${p.masked ? ' + Mask[mBase + m * u.maskQ + n * u.maskK]' : ''}; }
${gemmMain(p.tile)}`,
};

/** Most workgroups of one attentionStats dispatch (each then takes several rows in turn). */
export const STATS_MAX_WORKGROUPS = 1 << 16;

/** Stats[row] = (max_j S[row, j], 1 / sum_j exp(S[row, j] - max)), one workgroup per row. */
export const attentionStatsKernel: Kernel<Record<string, never>> = {
  name: 'attentionStats',
  workgroupSize: [ROW_WG, 1, 1],
  bindings: io(['S'], ['Stats']),
  uniforms: () => [u32('rows'), u32('len')],
  cacheKey: () => '',
  source: (p) => `${declarations(attentionStatsKernel, p, { S: 'f32', Stats: 'vec2<f32>' })}
${ROW_REDUCTIONS}
@compute @workgroup_size(${ROW_WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  // Rows beyond the grid (its size is capped) are taken in turns; the loop is uniform per workgroup.
  for (var row = (wid.z * nwg.y + wid.y) * nwg.x + wid.x; row < u.rows; row += nwg.x * nwg.y * nwg.z) {
    let base = row * u.len;
${rowMaxSumExp('S', '    ')}
    if (lid == 0u) { Stats[row] = vec2<f32>(m, 1.0 / s); }
  }
}`,
};

/** O[batch, m] = sum_k exp(S[z, m, k] - max) v[batch, k] / sum, for batch = b0 + z; M = Tq, N = Dv, K = Tk. */
export const attentionOutputKernel: Kernel<ScoresParams> = {
  name: 'attentionOutput',
  workgroupSize: [16, 16, 1],
  bindings: io(['S', 'Stats', 'V'], ['O']),
  uniforms: (p) => [...GEMM_FIELDS, ...fields(p)],
  cacheKey: (p) => `${p.batchRank}:${p.tile}`,
  source: (p) => `${declarations(attentionOutputKernel, p, { S: 'f32', Stats: 'vec2<f32>', V: 'f32', O: 'f32' })}
${setup(p, { sBase: 'z * u.M * u.K', rBase: 'z * u.M', vBase: 'bt_v', oBase: 'batch * u.M * u.N' })}
fn loadA_(m: u32, k: u32) -> f32 { return exp(S[sBase + m * u.K + k] - Stats[rBase + m].x); }
fn loadB_(k: u32, n: u32) -> f32 { return V[vBase + k * u.N + n]; }
fn store_(m: u32, n: u32, v: f32) { O[oBase + m * u.N + n] = v * Stats[rBase + m].y; }
${gemmMain(p.tile)}`,
};
