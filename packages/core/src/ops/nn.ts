// Composite neural-network ops, written once from primitives so that autograd and every backend
// get them for free. softmax, logSoftmax, layerNorm, groupNorm and attention go through
// engine.runFused: a backend's fused kernel runs when no input needs a gradient.

import { InvalidArgumentError, ShapeError, describe } from '../errors/index.js';
import { engine, expectDType } from '../engine/engine.js';
import { arange } from './creation.js';
import { normalizeAxis } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { add, cast, div, erf, exp, maximum, mul, neg, notEqual, rsqrt, sigmoid, sub, tanh, where } from './elementwise.js';
import { gather } from './indexing.js';
import { reshape, split, swapAxes } from './layout.js';
import { matmul } from './linalg.js';
import { logSumExp, max, mean, sum, variance } from './reduce.js';

/** x W^T + b for x [..., in], weight [out, in] (PyTorch's nn.Linear layout), bias [out]. */
export function linear(x: Tensor, weight: Tensor, bias?: Tensor | null): Tensor {
  if (weight.rank !== 2) throw new ShapeError(`linear: weight must be [out, in], got ${describe(weight.shape)}`);
  if (x.shape[x.rank - 1] !== weight.shape[1]) {
    throw new ShapeError(`linear: x's last axis (${x.shape[x.rank - 1]}) must equal weight's in-features (${weight.shape[1]}); x ${describe(x.shape)}, weight ${describe(weight.shape)}`);
  }
  return engine.tidy(() => {
    const lead = x.shape.slice(0, -1);
    const y = reshape(matmul(reshape(x, [-1, weight.shape[1]!]), weight, { transposeB: true }), [...lead, weight.shape[0]!]);
    if (!bias) return y;
    if (bias.rank !== 1 || bias.shape[0] !== weight.shape[0]) throw new ShapeError(`linear: bias must be [${weight.shape[0]}], got ${describe(bias.shape)}`);
    return add(y, bias);
  });
}

function lastAxisOnly(op: string, x: Tensor, axis: number): void {
  const a = normalizeAxis(op, axis, x.rank);
  if (a !== x.rank - 1) throw new InvalidArgumentError(`${op}: only the last axis is supported, got axis ${axis} for rank ${x.rank}`);
}

/** softmax along `axis` (default and only supported: the last). */
export function softmax(x: Tensor, axis = -1): Tensor {
  expectDType('softmax', 'x', x, ['float32', 'float64']);
  lastAxisOnly('softmax', x, axis);
  return engine.runFused('softmax', [x], {}, { shape: x.shape, dtype: x.dtype }, () => {
    const m = engine.noGrad(() => max(x, -1, true));
    const e = exp(sub(x, m));
    return div(e, sum(e, -1, true));
  });
}

export function logSoftmax(x: Tensor, axis = -1): Tensor {
  expectDType('logSoftmax', 'x', x, ['float32', 'float64']);
  lastAxisOnly('logSoftmax', x, axis);
  return engine.runFused('logSoftmax', [x], {}, { shape: x.shape, dtype: x.dtype }, () => sub(x, logSumExp(x, -1, true)));
}

/** Layer norm over the last axis (biased variance), with optional affine gamma, beta [C]. */
export function layerNorm(x: Tensor, gamma?: Tensor | null, beta?: Tensor | null, eps = 1e-5): Tensor {
  const c = x.shape[x.rank - 1]!;
  for (const [n, p] of [['gamma', gamma], ['beta', beta]] as const) {
    if (p && (p.rank !== 1 || p.shape[0] !== c)) throw new ShapeError(`layerNorm: ${n} must be [${c}], got ${describe(p.shape)}`);
  }
  const compose = () => {
    const mu = mean(x, -1, true);
    const v = variance(x, -1, true);
    let y = mul(sub(x, mu), rsqrt(add(v, eps)));
    if (gamma) y = mul(y, gamma);
    if (beta) y = add(y, beta);
    return y;
  };
  if (!gamma || !beta) return compose();
  return engine.runFused('layerNorm', [x, gamma, beta], { eps }, { shape: x.shape, dtype: x.dtype }, compose);
}

/** Group norm of x [N, C, ...] over (C/groups) channels and all spatial positions, affine per channel. */
export function groupNorm(x: Tensor, groups: number, gamma?: Tensor | null, beta?: Tensor | null, eps = 1e-5): Tensor {
  if (x.rank < 2) throw new ShapeError(`groupNorm: x must be [N, C, ...], got ${describe(x.shape)}`);
  const [n, c] = x.shape as [number, number];
  if (!Number.isInteger(groups) || groups < 1 || c % groups !== 0) throw new InvalidArgumentError(`groupNorm: groups must divide C (${c}), got ${describe(groups)}`);
  for (const [name, p] of [['gamma', gamma], ['beta', beta]] as const) {
    if (p && (p.rank !== 1 || p.shape[0] !== c)) throw new ShapeError(`groupNorm: ${name} must be [${c}], got ${describe(p.shape)}`);
  }
  const compose = () => {
    const g = reshape(x, [n, groups, -1]);
    const mu = mean(g, -1, true);
    const v = variance(g, -1, true);
    let y = reshape(mul(sub(g, mu), rsqrt(add(v, eps))), x.shape);
    const affineShape = [c, ...x.shape.slice(2).map(() => 1)];
    if (gamma) y = mul(y, reshape(gamma, affineShape));
    if (beta) y = add(y, reshape(beta, affineShape));
    return y;
  };
  if (!gamma || !beta) return compose();
  return engine.runFused('groupNorm', [x, gamma, beta], { groups, eps }, { shape: x.shape, dtype: x.dtype }, compose);
}

export interface AttentionOptions {
  /** Additive float mask broadcastable to [B, H, Tq, Tk] (use -Infinity or a large negative to block). */
  mask?: Tensor | null;
  /** Default 1/sqrt(D). */
  scale?: number;
  /** Adds a causal mask (position i attends to j <= i). */
  causal?: boolean;
}

/** softmax(q k^T * scale + mask) v for q [B, H, Tq, D], k [B, H, Tk, D], v [B, H, Tk, Dv]. */
export function attention(q: Tensor, k: Tensor, v: Tensor, options: AttentionOptions = {}): Tensor {
  if (q.rank !== 4 || k.rank !== 4 || v.rank !== 4) {
    throw new ShapeError(`attention: q, k, v must be [B, H, T, D], got ${describe(q.shape)}, ${describe(k.shape)}, ${describe(v.shape)}`);
  }
  if (q.shape[3] !== k.shape[3] || k.shape[2] !== v.shape[2]) {
    throw new ShapeError(`attention: q and k must share D and k and v must share Tk; got q ${describe(q.shape)}, k ${describe(k.shape)}, v ${describe(v.shape)}`);
  }
  const d = q.shape[3]!;
  const scale = options.scale ?? 1 / Math.sqrt(d);
  let mask = options.mask ?? null;
  if (options.causal) {
    const tq = q.shape[2]!;
    const tk = k.shape[2]!;
    const m = new Float32Array(tq * tk);
    for (let i = 0; i < tq; i++) for (let j = 0; j < tk; j++) m[i * tk + j] = j > i + (tk - tq) ? -1e30 : 0;
    const causal = engine.upload(q.dtype === 'float64' ? Float64Array.from(m) : m, [tq, tk], q.dtype, q._backend);
    mask = mask ? add(mask, causal) : causal;
  }
  const shape = [q.shape[0]!, q.shape[1]!, q.shape[2]!, v.shape[3]!];
  return engine.runFused('attention', [q, k, v, mask], { scale }, { shape, dtype: q.dtype }, () => {
    let s = mul(matmul(q, k, { transposeB: true }), scale);
    if (mask) s = add(s, mask);
    return matmul(softmax(s), v);
  });
}

/** Splits [B, T, H*D] into heads [B, H, T, D]. */
export function splitHeads(x: Tensor, heads: number): Tensor {
  return engine.tidy(() => {
    const [b, t, c] = x.shape as [number, number, number];
    if (c % heads !== 0) throw new ShapeError(`splitHeads: channels (${c}) must divide by heads (${heads})`);
    return swapAxes(reshape(x, [b, t, heads, c / heads]), 1, 2);
  });
}

/** Merges heads [B, H, T, D] into [B, T, H*D]. */
export function mergeHeads(x: Tensor): Tensor {
  return engine.tidy(() => {
    const [b, h, t, d] = x.shape as [number, number, number, number];
    return reshape(swapAxes(x, 1, 2), [b, t, h * d]);
  });
}

/** Exact GELU: x * Phi(x). */
export function gelu(x: Tensor): Tensor {
  return engine.tidy(() => mul(mul(x, 0.5), add(erf(mul(x, Math.SQRT1_2)), 1)));
}

/** The tanh approximation of GELU. */
export function geluTanh(x: Tensor): Tensor {
  return engine.tidy(() => {
    const inner = mul(add(x, mul(mul(mul(x, x), x), 0.044715)), Math.sqrt(2 / Math.PI));
    return mul(mul(x, 0.5), add(tanh(inner), 1));
  });
}

/** CLIP's quick GELU: x * sigmoid(1.702 x). */
export function quickGelu(x: Tensor): Tensor {
  return engine.tidy(() => mul(x, sigmoid(mul(x, 1.702))));
}

/** SiLU / swish: x * sigmoid(x). */
export function silu(x: Tensor): Tensor {
  return engine.tidy(() => mul(x, sigmoid(x)));
}

/** GEGLU (Shazeer 2020): splits the last axis in half, a * gelu(gate). */
export function geglu(x: Tensor): Tensor {
  return engine.tidy(() => {
    const c = x.shape[x.rank - 1]!;
    if (c % 2 !== 0) throw new ShapeError(`geglu: the last axis must be even, got ${describe(x.shape)}`);
    const [a, gate] = split(x, 2, -1) as [Tensor, Tensor];
    return mul(a, gelu(gate));
  });
}

export interface CrossEntropyOptions {
  /** 'mean' (default), 'sum' or 'none'. */
  reduction?: 'mean' | 'sum' | 'none';
  /** Targets equal to this id are ignored (mean over the rest). */
  ignoreIndex?: number;
}

/** Cross-entropy of logits [..., C] against int32 class ids [...]. */
export function crossEntropy(logits: Tensor, targets: Tensor, options: CrossEntropyOptions = {}): Tensor {
  expectDType('crossEntropy', 'targets', targets, ['int32']);
  const c = logits.shape[logits.rank - 1]!;
  if (targets.rank !== logits.rank - 1 || targets.shape.some((d, i) => d !== logits.shape[i])) {
    throw new ShapeError(`crossEntropy: targets must have shape ${describe(logits.shape.slice(0, -1))} for logits ${describe(logits.shape)}, got ${describe(targets.shape)}`);
  }
  return engine.tidy(() => {
    const lp = reshape(logSoftmax(reshape(logits, [-1, c])), [-1]);
    const flatT = reshape(targets, [-1]);
    const ignore = options.ignoreIndex;
    // The targets select entries, they are not differentiated: index arithmetic runs without a tape.
    const { idx, valid } = engine.noGrad(() => {
      const keep = ignore === undefined ? null : notEqual(flatT, ignore);
      const safe = keep ? where(keep, flatT, 0) : flatT;
      // Flat position of each target's log-probability: row * C + target.
      return { idx: add(arange(0, targets.size * c, c, 'int32'), safe), valid: keep ? cast(keep, logits.dtype) : null };
    });
    let nll = neg(gather(lp, idx, 0));
    if (valid) nll = mul(nll, valid);
    const reduction = options.reduction ?? 'mean';
    if (reduction === 'none') return reshape(nll, targets.shape);
    if (reduction === 'sum') return sum(nll);
    if (valid) return div(sum(nll), maximum(sum(valid), 1));
    return mean(nll);
  });
}

/** Mean (or summed, or unreduced) squared error. */
export function mse(pred: Tensor, target: Tensor, reduction: 'mean' | 'sum' | 'none' = 'mean'): Tensor {
  return engine.tidy(() => {
    const d = sub(pred, target);
    const sq = mul(d, d);
    return reduction === 'none' ? sq : reduction === 'sum' ? sum(sq) : mean(sq);
  });
}
