// Fused attention, softmax(q k^T * scale + mask) v, by one of two algorithms chosen by size (as
// PyTorch's scaled_dot_product_attention chooses among its kernels):
//
//   scores  (attention-scores.ts) the [Tq, Tk] scores of a chunk of (batch, head) entries are
//           materialised and the work runs on the tiled GEMM: S = q k^T * scale + mask, row
//           statistics, O = exp(S - max) v / sum. GEMM-shaped work keeps a GPU's ALUs far busier
//           than a fused kernel can, at the cost of memory for S.
//   flash   never forms the scores: O(Tq D + Tk D) memory for any length. On GPUs the
//           register-blocked kernel (attention-flash.ts); on software adapters, whose LLVM-based
//           compilers take up to a minute on that kernel, the simple one (attention-simple.ts).
//
// The scores path runs when one [Tq, Tk] score matrix (Tq * Tk * 4 bytes) fits
// `scoresLimitBytes` (and the device's maxStorageBufferBindingSize and maxBufferSize); the
// batch entries are then grouped into chunks of as many matrices as fit, all chunks sharing one
// scratch buffer that returns to the pool when the call's work is submitted. Otherwise, the
// flash kernel runs. The default, 32 MiB, sends [2, 8, 1024, 64] to the scores path in two chunks
// of 8 heads (a chunk's scores stay within the L2 cache of current large GPUs, 50 MB on an
// H100 / H200), and every score matrix of 4,096 x 4,096 tokens or more (64 MiB each) to the flash
// kernel. `scoresLimitBytes: 0` always uses the flash kernel; Infinity uses the scores path
// whenever a matrix fits a binding.

import { InvalidArgumentError, sizeOf, type OutputInfo, type TensorInfo } from '@denoise/core';
import type { Kernel } from '../../kernel.js';
import type { Dispatch, Runtime, Step, WebGPUHandle } from '../../runtime/runtime.js';
import { gemmDispatches } from '../gemm/gemm.js';
import { broadcastStrides, planStrided } from '../strided.js';
import { flashAttentionKernel, planFlash, type FlashParams } from './attention-flash.js';
import { attentionOutputKernel, attentionScoresKernel, attentionStatsKernel, STATS_MAX_WORKGROUPS, type ScoresParams } from './attention-scores.js';
import { attentionSimpleKernel, keysPerTile, SIMPLE_ROWS, type SimpleParams } from './attention-simple.js';

/** The register-blocked flash kernel is the one named `attention`. */
export const attentionKernel = flashAttentionKernel;

/** Every kernel attention may run. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const ATTENTION_KERNELS: readonly Kernel<any>[] = [
  flashAttentionKernel, attentionSimpleKernel, attentionScoresKernel, attentionStatsKernel, attentionOutputKernel,
];

/** Default bound on the attention scores materialised at once: 32 MiB. */
export const DEFAULT_ATTENTION_SCORES_LIMIT = 32 << 20;

export interface AttentionOptions {
  /** Most bytes of scores materialised at once (see the top of this file). */
  readonly scoresLimitBytes: number;
  /** The flash kernel: register-blocked (GPUs) or simple (software adapters). Default 'registers'. */
  readonly flash?: 'registers' | 'simple';
}

/** Options of createWebGPUBackend that concern attention. */
export interface WebGPUAttentionOptions {
  /**
   * Attention materialises its [Tq, Tk] score matrices (as float32) for chunks of (batch, head)
   * entries of at most this many bytes, and runs GEMMs on them; when a single matrix is larger,
   * it runs the memory-efficient flash kernel, which never forms them. Default: 0 (always the
   * flash kernel) on hardware adapters, where the register-blocked flash kernel measured faster
   * than the materialised path (NVIDIA H200, [2, 8, 1024, 64]: 0.65 vs 1.53 ms per queued call);
   * 32 MiB on software adapters, where the flash kernel's compile time dominates (4,096 x 4,096
   * scores are 64 MiB, so long sequences still take the flash kernel there).
   */
  readonly attentionScoresLimitBytes?: number;
}

/** The attention options from createWebGPUBackend's options (validated), for a hardware or software adapter. */
export function attentionOptions(options: WebGPUAttentionOptions, softwareAdapter: boolean): AttentionOptions {
  const limit = options.attentionScoresLimitBytes ?? (softwareAdapter ? DEFAULT_ATTENTION_SCORES_LIMIT : 0);
  if (typeof limit !== 'number' || Number.isNaN(limit) || limit < 0) {
    throw new InvalidArgumentError(`createWebGPUBackend: attentionScoresLimitBytes must be a number >= 0 (bytes), got ${String(limit)}`);
  }
  return { scoresLimitBytes: limit, flash: softwareAdapter ? 'simple' : 'registers' };
}

/** Batch entries per chunk of the scores path, or 0 for the flash kernel. */
export function scoresChunk(rt: Runtime, batches: number, Tq: number, Tk: number, options: AttentionOptions): number {
  const perMatrix = Tq * Tk * 4;
  const cap = Math.min(options.scoresLimitBytes, rt.limits.maxStorageBufferBindingSize, rt.limits.maxBufferSize);
  if (perMatrix === 0 || perMatrix > cap) return 0;
  return Math.min(batches, Math.floor(cap / perMatrix));
}

export function attention(
  rt: Runtime,
  q: TensorInfo,
  k: TensorInfo,
  v: TensorInfo,
  mask: TensorInfo | null,
  attrs: { readonly scale: number },
  out: OutputInfo,
  options: AttentionOptions = { scoresLimitBytes: DEFAULT_ATTENTION_SCORES_LIMIT },
): WebGPUHandle {
  const y = rt.alloc(sizeOf(out.shape), 'attention');
  const rank = out.shape.length;
  const Tq = q.shape[q.shape.length - 2]!;
  const D = q.shape[q.shape.length - 1]!;
  const Tk = k.shape[k.shape.length - 2]!;
  const Dv = v.shape[v.shape.length - 1]!;
  if (y.size === 0) return y;
  const batchShape = out.shape.slice(0, rank - 2);
  const batches = sizeOf(batchShape);
  const batchStrides = (shape: readonly number[], matrix: number) => broadcastStrides(shape.slice(0, -2), batchShape).map((s) => s * matrix);
  // The mask broadcasts to [...batch, Tq, Tk]: its strides over all of those axes.
  const maskStrides = mask ? broadcastStrides(mask.shape, [...batchShape, Tq, Tk]) : new Array<number>(rank).fill(0);
  const plan = planStrided('bt', batchShape, {
    q: { strides: batchStrides(q.shape, Tq * D) },
    k: { strides: batchStrides(k.shape, Tk * D) },
    v: { strides: batchStrides(v.shape, Tk * Dv) },
    m: { strides: maskStrides.slice(0, rank - 2) },
  });
  const common = { scale: attrs.scale, maskQ: maskStrides[rank - 2]!, maskK: maskStrides[rank - 1]!, ...plan.values };
  const [qh, kh, vh] = [q, k, v].map((t) => t.handle as WebGPUHandle) as [WebGPUHandle, WebGPUHandle, WebGPUHandle];
  const mh = (mask?.handle as WebGPUHandle | undefined) ?? qh;

  const chunk = scoresChunk(rt, batches, Tq, Tk, options);
  if (chunk > 0) {
    const scores = rt.scratch(chunk * Tq * Tk * 4);
    const stats = rt.scratch(chunk * Tq * 8);
    const params: ScoresParams = { masked: mask !== null, batchRank: plan.rank, tile: rt.gemmTile };
    const steps: Step[] = [];
    for (let b0 = 0; b0 < batches; b0 += chunk) {
      const n = Math.min(chunk, batches - b0);
      const uniforms = { ...common, b0 };
      steps.push(...gemmDispatches(rt, { kernel: attentionScoresKernel, params, buffers: [qh, kh, mh, scores], uniforms }, Tq, Tk, D, n));
      steps.push({ kernel: attentionStatsKernel, params: {}, buffers: [scores, stats], uniforms: { rows: n * Tq, len: Tk }, workgroups: statsWorkgroups(rt, n * Tq) });
      steps.push(...gemmDispatches(rt, { kernel: attentionOutputKernel, params, buffers: [scores, stats, vh, y], uniforms }, Tq, Dv, Tk, n));
    }
    rt.run(steps, [scores, stats]);
    return y;
  }

  const flashUniforms = { Tq, Tk, ...common };
  const buffers = [qh, kh, vh, mh, y];
  if (options.flash === 'simple') {
    const BK = keysPerTile(rt.limits.maxComputeWorkgroupStorageSize, D, Dv);
    if (BK < 1) throw tooLarge(rt, D, Dv);
    const params: SimpleParams = { D, Dv, BK, masked: mask !== null, batchRank: plan.rank };
    rt.run(flashDispatches(rt, attentionSimpleKernel, params, buffers, flashUniforms, Math.ceil(Tq / SIMPLE_ROWS), batches));
    return y;
  }
  const flash = planFlash(rt.limits.maxComputeWorkgroupStorageSize, rt.limits.maxComputeInvocationsPerWorkgroup, D, Dv);
  if (!flash) throw tooLarge(rt, D, Dv);
  const params: FlashParams = { D, Dv, ...flash, masked: mask !== null, batchRank: plan.rank };
  rt.run(flashDispatches(rt, flashAttentionKernel, params, buffers, flashUniforms, Math.ceil(Tq / flash.QB), batches));
  return y;
}

/** Workgroups of the row-statistics pass: one per row, at most 65,536 and what the grid limit allows (the rest loop). */
function statsWorkgroups(rt: Runtime, rows: number): number {
  return Math.min(rows, STATS_MAX_WORKGROUPS, rt.limits.maxComputeWorkgroupsPerDimension ** 3);
}

function tooLarge(rt: Runtime, D: number, Dv: number): InvalidArgumentError {
  return new InvalidArgumentError(
    `webgpu: attention: head sizes D=${D}, Dv=${Dv} need more workgroup memory for one key than this device's maxComputeWorkgroupStorageSize (${rt.limits.maxComputeWorkgroupStorageSize})`,
  );
}

/** A grid of query blocks by batch entries, dispatched in chunks with offsets where a side exceeds the device's limit. */
function flashDispatches<P>(
  rt: Runtime,
  kernel: Kernel<P>,
  params: P,
  buffers: readonly WebGPUHandle[],
  uniforms: Readonly<Record<string, number>>,
  blocks: number,
  batches: number,
): Dispatch<P>[] {
  const max = rt.limits.maxComputeWorkgroupsPerDimension;
  const steps: Dispatch<P>[] = [];
  for (let yOff = 0; yOff < batches; yOff += max) {
    for (let xOff = 0; xOff < blocks; xOff += max) {
      steps.push({
        kernel,
        params,
        buffers,
        uniforms: { ...uniforms, offX: xOff, offY: yOff },
        workgroups: [Math.min(max, blocks - xOff), Math.min(max, batches - yOff), 1],
      });
    }
  }
  return steps;
}
