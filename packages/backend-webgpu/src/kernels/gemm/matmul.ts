// matmul on the GEMM skeleton: operands read in place through their strides, so transposeA /
// transposeB cost nothing, and batch axes broadcast through per-operand batch strides (a
// [B, M, K] times a [K, N] weight reads the weight B times without copying it).

import { sizeOf, type OutputInfo, type TensorInfo } from '@denoise/core';
import { declarations, io, type Kernel } from '../../kernel.js';
import type { Runtime, WebGPUHandle } from '../../runtime/runtime.js';
import { broadcastStrides, planStrided, stridedFields, stridedOffsets } from '../strided.js';
import { GEMM_FIELDS, gemmDispatches, gemmMain, type GemmTile } from './gemm.js';

export interface MatmulParams {
  readonly transposeA: boolean;
  readonly transposeB: boolean;
  /** Rank of the collapsed batch loop. */
  readonly batchRank: number;
  readonly tile: GemmTile;
}

export const matmulKernel: Kernel<MatmulParams> = {
  name: 'matmul',
  workgroupSize: [16, 16, 1],
  bindings: io(['A', 'B'], ['C']),
  uniforms: (p) => [...GEMM_FIELDS, ...stridedFields('bt', p.batchRank, ['a', 'b'])],
  cacheKey: (p) => `${p.transposeA ? 'T' : 'N'}${p.transposeB ? 'T' : 'N'}:${p.batchRank}:${p.tile}`,
  source: (p) => `${declarations(matmulKernel, p, { A: 'f32', B: 'f32', C: 'f32' })}
var<private> aBase: u32;
var<private> bBase: u32;
var<private> cBase: u32;
fn setup_(batch: u32) {
${stridedOffsets('bt', p.batchRank, ['a', 'b'], 'batch')}
  aBase = bt_a;
  bBase = bt_b;
  cBase = batch * u.M * u.N;
}
fn loadA_(m: u32, k: u32) -> f32 { return A[aBase + ${p.transposeA ? 'k * u.M + m' : 'm * u.K + k'}]; }
fn loadB_(k: u32, n: u32) -> f32 { return B[bBase + ${p.transposeB ? 'n * u.K + k' : 'k * u.N + n'}]; }
fn store_(m: u32, n: u32, v: f32) { C[cBase + m * u.N + n] = v; }
${gemmMain(p.tile)}`,
};

export function matmul(
  rt: Runtime,
  a: TensorInfo,
  b: TensorInfo,
  attrs: { readonly transposeA: boolean; readonly transposeB: boolean },
  out: OutputInfo,
): WebGPUHandle {
  const c = rt.alloc(sizeOf(out.shape), 'matmul');
  const rank = out.shape.length;
  const M = out.shape[rank - 2]!;
  const N = out.shape[rank - 1]!;
  const K = attrs.transposeA ? a.shape[a.shape.length - 2]! : a.shape[a.shape.length - 1]!;
  if (c.size === 0) return c;
  const batchShape = out.shape.slice(0, rank - 2);
  const aStrides = broadcastStrides(a.shape.slice(0, -2), batchShape).map((s) => s * M * K);
  const bStrides = broadcastStrides(b.shape.slice(0, -2), batchShape).map((s) => s * K * N);
  const plan = planStrided('bt', batchShape, { a: { strides: aStrides }, b: { strides: bStrides } });
  const params = { transposeA: attrs.transposeA, transposeB: attrs.transposeB, batchRank: plan.rank, tile: rt.gemmTile };
  const buffers = [a.handle as WebGPUHandle, b.handle as WebGPUHandle, c];
  rt.run(gemmDispatches(rt, { kernel: matmulKernel, params, buffers, uniforms: plan.values }, M, N, K, sizeOf(batchShape)));
  return c;
}
