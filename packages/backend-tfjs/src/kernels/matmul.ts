// Batched matrix products.
//
// tfjs-backend-wasm traps this avoids:
//  - BatchMatMul with transposeA / transposeB, and any BatchMatMul whose batch is > 1, runs a
//    naive single-threaded loop (0.5 GFLOP/s, 20-60x slower than XNNPACK); only a plain
//    [1, M, K] x [1, K, N] product reaches XNNPACK. So on wasm every transpose is explicit, batch
//    axes of `a` are folded into M when `b` has no batch, a single `a` against a batch of `b`
//    becomes one wide product, a batch of small products is one depthwise convolution (a
//    grouped GEMM inside XNNPACK), and a batch of large ones a loop of 2-D products.
//  - The wasm kernel does not broadcast batch axes (and the cpu kernel maps mismatched batches
//    wrongly), so broadcasting is explicit everywhere.

import type { PrimitiveKernels } from '@denoise/core';
import type { TfTensor } from '../types.js';
import type { KernelContext } from './context.js';

const prod = (xs: readonly number[]) => xs.reduce((p, d) => p * d, 1);

function broadcastBatch(a: readonly number[], b: readonly number[]): number[] {
  const rank = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    const da = a[a.length - rank + i] ?? 1;
    const db = b[b.length - rank + i] ?? 1;
    out.push(da === 1 ? db : da);
  }
  return out;
}

export function swapLast2(ctx: KernelContext, x: TfTensor): TfTensor {
  const r = x.rank;
  const perm = Array.from({ length: r }, (_, i) => i);
  perm[r - 2] = r - 1;
  perm[r - 1] = r - 2;
  return ctx.tf.transpose(x, perm);
}

/** A plain 2-D product [M, K] x [K, N] (the fast path of every tfjs backend). */
export function matmul2d(ctx: KernelContext, a: TfTensor, b: TfTensor): TfTensor {
  return ctx.tf.matMul(a as never, b as never);
}

/** Batched product of tf tensors with the contract's semantics (batch axes broadcast). */
export function matmulTensors(ctx: KernelContext, a: TfTensor, b: TfTensor, transposeA: boolean, transposeB: boolean): TfTensor {
  const { tf } = ctx;
  if (ctx.wasm) {
    if (transposeA) a = swapLast2(ctx, a);
    if (transposeB) b = swapLast2(ctx, b);
    transposeA = transposeB = false;
  }
  const M = transposeA ? a.shape[a.rank - 1]! : a.shape[a.rank - 2]!;
  const K = transposeA ? a.shape[a.rank - 2]! : a.shape[a.rank - 1]!;
  const N = transposeB ? b.shape[b.rank - 2]! : b.shape[b.rank - 1]!;
  const batchA = a.shape.slice(0, -2);
  const batchB = b.shape.slice(0, -2);
  const outBatch = broadcastBatch(batchA, batchB);
  const outShape = [...outBatch, M, N];
  const sizeA = prod(batchA);
  const sizeB = prod(batchB);
  const sizeOut = prod(outBatch);

  if (sizeOut === 0 || M === 0 || N === 0) return tf.zeros(outShape);
  if (K === 0) return tf.zeros(outShape);

  // b is one matrix: fold a's batch into its rows (one big product; no copies).
  if (sizeB === 1 && !transposeA) {
    const a2 = tf.reshape(a, [sizeA * M, K]);
    const b2 = tf.reshape(b, transposeB ? [N, K] : [K, N]);
    const r = ctx.wasm ? matmul2d(ctx, a2, b2) : tf.matMul(a2, b2, false, transposeB);
    return tf.reshape(r, outShape);
  }
  // a is one matrix against a batch of b (wasm): one wide product a [M, K] x [K, sizeB * N].
  if (ctx.wasm && sizeA === 1 && sizeB === sizeOut) {
    const a2 = tf.reshape(a, [M, K]);
    const b2 = tf.reshape(tf.transpose(tf.reshape(b, [sizeB, K, N]), [1, 0, 2]), [K, sizeB * N]);
    const r = matmul2d(ctx, a2, b2);
    return tf.reshape(tf.transpose(tf.reshape(r, [M, sizeB, N]), [1, 0, 2]), outShape);
  }
  // General case: broadcast the batch axes explicitly, then one rank-3 product.
  const lastA = a.shape.slice(-2);
  const lastB = b.shape.slice(-2);
  let a3 = a;
  let b3 = b;
  if (sizeA !== sizeOut || batchA.length !== outBatch.length) {
    a3 = sizeA === sizeOut ? a : tf.broadcastTo(tf.reshape(a, [...new Array(outBatch.length - batchA.length).fill(1), ...a.shape]), [...outBatch, ...lastA]);
  }
  if (sizeB !== sizeOut || batchB.length !== outBatch.length) {
    b3 = sizeB === sizeOut ? b : tf.broadcastTo(tf.reshape(b, [...new Array(outBatch.length - batchB.length).fill(1), ...b.shape]), [...outBatch, ...lastB]);
  }
  a3 = tf.reshape(a3, [sizeOut, lastA[0]!, lastA[1]!]);
  b3 = tf.reshape(b3, [sizeOut, lastB[0]!, lastB[1]!]);
  if (!ctx.wasm) return tf.reshape(tf.matMul(a3, b3, transposeA, transposeB), outShape);
  if (sizeOut === 1) return tf.reshape(matmul2d(ctx, tf.reshape(a3, [M, K]), tf.reshape(b3, [K, N])), outShape);
  if (M * K * N < DEPTHWISE_MAX_MACS && M * K <= DEPTHWISE_MAX_TAPS) return tf.reshape(batchedAsDepthwise(ctx, a3, b3), outShape);
  const as = ctx.unstack(a3);
  const bs = ctx.unstack(b3);
  const rs = as.map((ai, i) => matmul2d(ctx, ai, bs[i]!));
  return tf.reshape(tf.stack(rs), outShape);
}

/**
 * Below this many multiply-adds per matrix, a batch of products runs as one depthwise
 * convolution (each 2-D product on wasm has a fixed cost of ~1-2 ms: 32 products of 64^3 take
 * ~60 ms as a loop, ~4 ms as one convolution; 16 of 256x64x256 take ~50 vs ~19 ms).
 */
const DEPTHWISE_MAX_MACS = 1 << 23;
/** ...and at most this many (output row, k) pairs, XNNPACK's indirection buffer for it. */
const DEPTHWISE_MAX_TAPS = 1 << 20;

/**
 * a [B, M, K] x b [B, K, N] as ONE XNNPACK convolution: a depthwise conv of the image
 * [1, M, K, B] (channel = batch) with the filter [1, K, B, N] (kernel 1 x K, channel multiplier
 * N) gives out[0, i, 0, b * N + j] = sum_k a[b, i, k] * b[b, k, j], i.e. a grouped GEMM over the
 * batch, threaded by XNNPACK.
 */
function batchedAsDepthwise(ctx: KernelContext, a: TfTensor, b: TfTensor): TfTensor {
  const { tf } = ctx;
  const [B, M, K] = a.shape as [number, number, number];
  const N = b.shape[2]!;
  const x = tf.reshape(tf.transpose(a, [1, 2, 0]), [1, M, K, B]);
  const f = tf.reshape(tf.transpose(b, [1, 0, 2]), [1, K, B, N]);
  const y = tf.depthwiseConv2d(x as never, f as never, 1, 'valid');
  return tf.transpose(tf.reshape(y, [M, B, N]), [1, 0, 2]);
}

export function matmulKernels(ctx: KernelContext): Pick<PrimitiveKernels, 'matmul'> {
  return {
    matmul: (a, b, attrs, out) =>
      ctx.run(out, () => {
        if (!ctx.wasm) return matmulTensors(ctx, ctx.t(a), ctx.t(b), attrs.transposeA, attrs.transposeB);
        // wasm: explicit transposes, cached on a reused operand (a weight), so that the transposed
        // copy is made once and XNNPACK's packed-operator cache (keyed by tensor) hits.
        const x = attrs.transposeA ? ctx.derived(a, 'matmul.T', (t) => swapLast2(ctx, t)) : ctx.t(a);
        const y = attrs.transposeB ? ctx.derived(b, 'matmul.T', (t) => swapLast2(ctx, t)) : ctx.t(b);
        return matmulTensors(ctx, x, y, false, false);
      }),
  };
}
