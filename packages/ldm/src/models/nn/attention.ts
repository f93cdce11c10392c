// Multi-head attention as diffusers' `Attention` module computes it with its classic processor
// (AttnProcessor: q k^T * dim_head^-0.5, softmax, times v, to_out), plus the VAE mid-block's
// variant (a group norm before the projections, a residual connection, an output rescale), and
// the memory controls: by default one call to core's `attention` op (a backend's fused,
// memory-efficient kernel where it has one); with slicing, the (batch x heads) rows and
// optionally the query positions are computed a slice at a time inside their own scope, so the
// score matrix held at once shrinks from B*H*Tq*Tk to slice*chunk*Tk entries.

import {
  add, attention, concat, div, InvalidArgumentError, broadcastTo, describe, mergeHeads, reshape, slice, splitHeads, swapAxes, tidy, type Tensor,
} from '@denoise/core';
import { GroupNorm, Linear } from './layers.js';
import { Module } from './module.js';

export interface AttentionSlicing {
  /**
   * Rows of the flattened (batch x heads) axis computed at once: a number, 'auto' (half the
   * heads, diffusers' default for enable_attention_slicing), 'max' (one row at a time), or
   * null for all rows in one call.
   */
  slice?: number | 'auto' | 'max' | null;
  /** Query positions computed at once (splits the score matrix along Tq); null for all. */
  queryChunk?: number | null;
}

function checkSlicing(s: AttentionSlicing): void {
  const okSlice = s.slice === undefined || s.slice === null || s.slice === 'auto' || s.slice === 'max' || (Number.isInteger(s.slice) && s.slice > 0);
  const okChunk = s.queryChunk === undefined || s.queryChunk === null || (Number.isInteger(s.queryChunk) && s.queryChunk > 0);
  if (!okSlice) throw new InvalidArgumentError(`attention slicing: slice must be a positive integer, 'auto', 'max' or null, got ${describe(s.slice)}`);
  if (!okChunk) throw new InvalidArgumentError(`attention slicing: queryChunk must be a positive integer or null, got ${describe(s.queryChunk)}`);
}

/** Rows per slice for `heads` heads under `slicing` (Infinity: no slicing). */
export function rowsPerSlice(slicing: AttentionSlicing, heads: number): number {
  const s = slicing.slice;
  if (s === undefined || s === null) return Infinity;
  if (s === 'max') return 1;
  if (s === 'auto') return Math.max(1, Math.floor(heads / 2));
  return s;
}

/**
 * softmax(q k^T * scale + mask) v for q [B, H, Tq, D], k [B, H, Tk, D], v [B, H, Tk, Dv] and an
 * additive mask broadcastable to [B, H, Tq, Tk], sliced as `slicing` asks.
 */
export function slicedAttention(q: Tensor, k: Tensor, v: Tensor, scale: number, mask: Tensor | null, slicing: AttentionSlicing = {}): Tensor {
  const [b, h, tq, d] = q.shape as [number, number, number, number];
  const tk = k.shape[2]!;
  const dv = v.shape[3]!;
  const rows = b * h;
  const step = Math.min(rowsPerSlice(slicing, h), rows);
  const chunk = Math.min(slicing.queryChunk ?? tq, tq);
  if (step >= rows && chunk >= tq) return attention(q, k, v, { scale, mask });
  const q2 = reshape(q, [rows, tq, d]);
  const k2 = reshape(k, [rows, tk, d]);
  const v2 = reshape(v, [rows, tk, dv]);
  let m2: Tensor | null = null;
  if (mask) {
    const mq = mask.shape[mask.rank - 2] === 1 ? 1 : tq;
    m2 = reshape(broadcastTo(reshape(mask, [...new Array<number>(4 - mask.rank).fill(1), ...mask.shape]), [b, h, mq, tk]), [rows, mq, tk]);
  }
  const pieces: Tensor[] = [];
  for (let r = 0; r < rows; r += step) {
    const n = Math.min(step, rows - r);
    const chunks: Tensor[] = [];
    for (let c = 0; c < tq; c += chunk) {
      const m = Math.min(chunk, tq - c);
      chunks.push(
        tidy(() => {
          const qs = reshape(slice(q2, [r, c, 0], [n, m, d]), [1, n, m, d]);
          const ks = reshape(slice(k2, [r, 0, 0], [n, tk, d]), [1, n, tk, d]);
          const vs = reshape(slice(v2, [r, 0, 0], [n, tk, dv]), [1, n, tk, dv]);
          let ms: Tensor | null = null;
          if (m2) ms = reshape(m2.shape[1] === 1 ? slice(m2, [r, 0, 0], [n, 1, tk]) : slice(m2, [r, c, 0], [n, m, tk]), [1, n, m2.shape[1] === 1 ? 1 : m, tk]);
          return attention(qs, ks, vs, { scale, mask: ms });
        }),
      );
    }
    pieces.push(chunks.length === 1 ? chunks[0]! : concat(chunks, 2));
  }
  return reshape(pieces.length === 1 ? pieces[0]! : concat(pieces, 1), [b, h, tq, dv]);
}

export interface AttentionOptions {
  queryDim: number;
  /** Width of the context for cross-attention; null for self-attention. */
  crossAttentionDim?: number | null;
  heads: number;
  dimHead: number;
  /** Bias on to_q / to_k / to_v (diffusers' `bias`; false in transformer blocks, true in the VAE). */
  bias?: boolean;
  /** Bias on to_out.0 (diffusers' `out_bias`, default true). */
  outBias?: boolean;
  /** A group norm over the input channels first (the VAE mid block). */
  groupNorm?: { groups: number; eps: number } | null;
  /** Add the input back (the VAE mid block). */
  residualConnection?: boolean;
  /** Divide the output by this (diffusers' `rescale_output_factor`, default 1). */
  rescaleOutputFactor?: number;
}

/** diffusers' Attention: parameters to_q, to_k, to_v, to_out.0 and (VAE) group_norm. */
export class Attention extends Module {
  readonly heads: number;
  readonly dimHead: number;
  readonly scale: number;
  readonly isCrossAttention: boolean;
  readonly group_norm: GroupNorm | null;
  readonly to_q: Linear;
  readonly to_k: Linear;
  readonly to_v: Linear;
  readonly to_out: Linear;
  private readonly residual: boolean;
  private readonly rescale: number;
  slicing: AttentionSlicing = {};

  constructor(o: AttentionOptions) {
    super();
    this.heads = o.heads;
    this.dimHead = o.dimHead;
    this.scale = o.dimHead ** -0.5;
    const inner = o.heads * o.dimHead;
    const ctx = o.crossAttentionDim ?? o.queryDim;
    this.isCrossAttention = o.crossAttentionDim !== null && o.crossAttentionDim !== undefined;
    this.group_norm = o.groupNorm ? this.child('group_norm', new GroupNorm(o.groupNorm.groups, o.queryDim, o.groupNorm.eps)) : null;
    this.to_q = this.child('to_q', new Linear(o.queryDim, inner, o.bias ?? false));
    this.to_k = this.child('to_k', new Linear(ctx, inner, o.bias ?? false));
    this.to_v = this.child('to_v', new Linear(ctx, inner, o.bias ?? false));
    this.to_out = this.childList('to_out', [new Linear(inner, o.queryDim, o.outBias ?? true)])[0]!;
    this.residual = o.residualConnection ?? false;
    this.rescale = o.rescaleOutputFactor ?? 1;
  }

  setSlicing(slicing: AttentionSlicing): void {
    checkSlicing(slicing);
    this.slicing = { ...slicing };
  }

  /**
   * hidden [B, T, C] (or [B, C, H, W] for the VAE block); context [B, Tk, Cc] for
   * cross-attention (self-attention when null); mask an additive bias [B, 1, Tk].
   */
  forward(hidden: Tensor, context: Tensor | null = null, mask: Tensor | null = null): Tensor {
    const residual = hidden;
    const spatial = hidden.rank === 4 ? (hidden.shape as [number, number, number, number]) : null;
    let h = spatial ? swapAxes(reshape(hidden, [spatial[0], spatial[1], spatial[2] * spatial[3]]), 1, 2) : hidden; // [B, T, C]
    if (this.group_norm) h = swapAxes(this.group_norm.forward(swapAxes(h, 1, 2)), 1, 2);
    const ctx = context ?? h;
    const q = splitHeads(this.to_q.forward(h), this.heads); // [B, H, T, D]
    const k = splitHeads(this.to_k.forward(ctx), this.heads); // [B, H, Tk, D]
    const v = splitHeads(this.to_v.forward(ctx), this.heads);
    const m = mask ? reshape(mask, [mask.shape[0]!, 1, 1, mask.shape[mask.rank - 1]!]) : null;
    let out = this.to_out.forward(mergeHeads(slicedAttention(q, k, v, this.scale, m, this.slicing))); // [B, T, C]
    if (spatial) out = reshape(swapAxes(out, 1, 2), spatial);
    if (this.residual) out = add(out, residual);
    return this.rescale === 1 ? out : div(out, this.rescale);
  }
}
