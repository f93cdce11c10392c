// A small class-conditional UNet for 28x28 digits, written with @denoise/core ops.
//
//   x [B, 1, 28, 28] --3x3 conv (8)--> 28x28 --space-to-depth--> [B, 32, 14, 14] --3x3 conv-->
//   c0 @ 14x14 --res--> skip0 --stride-2 conv--> 7x7 --res (c1)--> skip1 --res (mid)--> cat skip1
//   --res--> 1x1 conv + depth-to-space --> c0 @ 14x14, cat skip0 --res--> GN, SiLU, 3x3 conv (32)
//   --depth-to-space--> [B, 8, 28, 28] --SiLU, 3x3 conv--> prediction [B, 1, 28, 28]
//
// Working at 14x14 after a lossless 2x2 space-to-depth keeps the FLOPs (and the slow conv
// filter gradients of the CPU backend) 4x smaller than a UNet at 28x28, at no cost in
// resolution. Every ResNet block is GroupNorm -> SiLU -> 3x3 conv, plus a per-channel shift
// from the conditioning embedding, then GroupNorm -> SiLU -> 3x3 conv (zero-initialised), plus a
// 1x1 shortcut where the channel count changes. The conditioning embedding is
// SiLU(MLP(sinusoidal(t)) + classEmbedding(y)); class 10 is the "null" class used for
// classifier-free guidance (labels are replaced by it with probability pUncond in training).

import {
  add, attention, concat, conv2d, embedding, linear, matmul, mergeHeads, mul, ones, reshape, rsqrt, silu, split, splitHeads, sub, tensor, transpose,
} from '@denoise/core';
import { ParamStore } from './nn.mjs';

export const NULL_CLASS = 10;

export const DEFAULT_CONFIG = Object.freeze({
  /** Channels at 14x14 and at 7x7. */
  channels: [32, 64],
  groups: 8,
  tdim: 128,
  classes: 10,
  timesteps: 1000,
  /**
   * Channels of the full-resolution (28x28) stem and head convs around the 14x14 UNet (0: plain
   * space-to-depth in and depth-to-space out). They let the net see and emit pixel-level detail.
   */
  pixelChannels: 8,
  /** Self-attention heads in the 7x7 middle block (0: none; batched matmuls are slow on tfjs-wasm). */
  attnHeads: 0,
});

/** Builds the named parameters of the UNet from a seeded generator. */
export function createModel(config = DEFAULT_CONFIG, gen) {
  const c = { ...DEFAULT_CONFIG, ...config };
  const [c0, c1] = c.channels;
  const p = new ParamStore(gen);
  p.linear('time.fc1', c0, c.tdim);
  p.linear('time.fc2', c.tdim, c.tdim);
  p.normal('class.embedding', [c.classes + 1, c.tdim], 1, 1);
  const pc = c.pixelChannels;
  if (pc > 0) p.conv('stem', 1, pc);
  p.conv('conv_in', pc > 0 ? 4 * pc : 4, c0);
  resParams(p, 'down0', c0, c0, c.tdim);
  p.conv('down0.down', c0, c0);
  resParams(p, 'down1', c0, c1, c.tdim);
  resParams(p, 'mid', c1, c1, c.tdim);
  if (c.attnHeads > 0) {
    p.norm('mid.attn.norm', c1);
    p.linear('mid.attn.qkv', c1, 3 * c1);
    p.linear('mid.attn.out', c1, c1, 0);
  }
  resParams(p, 'up1', c1 + c1, c1, c.tdim);
  p.conv('up1.up', c1, 4 * c0, 1);
  resParams(p, 'up0', c0 + c0, c0, c.tdim);
  p.norm('norm_out', c0);
  if (pc > 0) {
    p.conv('conv_out', c0, 4 * pc);
    p.conv('head', pc, 1, 3, 0);
  } else {
    p.conv('conv_out', c0, 4, 3, 0);
  }
  return { config: c, params: p };
}

function resParams(p, name, cin, cout, tdim) {
  p.norm(`${name}.norm1`, cin);
  p.conv(`${name}.conv1`, cin, cout);
  p.linear(`${name}.emb`, tdim, cout);
  p.norm(`${name}.norm2`, cout);
  p.conv(`${name}.conv2`, cout, cout, 3, 0);
  if (cin !== cout) p.conv(`${name}.skip`, cin, cout, 1);
}

function conv(p, name, x, options = { padding: 1 }) {
  const y = conv2d(x, p.get(`${name}.weight`), options);
  return add(y, reshape(p.get(`${name}.bias`), [1, -1, 1, 1]));
}

function lin(p, name, x) {
  return linear(x, p.get(`${name}.weight`), p.get(`${name}.bias`));
}

function gn(p, name, x, groups) {
  return groupNormMM(x, groups, p.get(`${name}.weight`), p.get(`${name}.bias`));
}

function resBlock(p, name, x, emb, groups) {
  let h = conv(p, `${name}.conv1`, silu(gn(p, `${name}.norm1`, x, groups)));
  const shift = lin(p, `${name}.emb`, emb);
  h = add(h, reshape(shift, [shift.shape[0], shift.shape[1], 1, 1]));
  h = conv(p, `${name}.conv2`, silu(gn(p, `${name}.norm2`, h, groups)));
  const skip = p.map.has(`${name}.skip.weight`) ? conv(p, `${name}.skip`, x, { padding: 0 }) : x;
  return add(h, skip);
}

function attnBlock(p, name, x, heads, groups) {
  const [b, c, hh, ww] = x.shape;
  const tokens = transpose(reshape(gn(p, `${name}.norm`, x, groups), [b, c, hh * ww]), [0, 2, 1]); // [B, L, C]
  const qkv = lin(p, `${name}.qkv`, tokens);
  const [q, k, v] = split(qkv, 3, 2).map((t) => splitHeads(t, heads));
  const o = lin(p, `${name}.out`, mergeHeads(attention(q, k, v)));
  return add(x, reshape(transpose(o, [0, 2, 1]), [b, c, hh, ww]));
}

/** [B, C, H, W] -> [B, 4C, H/2, W/2]: channel c * 4 + i * 2 + j holds pixel (2y + i, 2x + j). */
export function spaceToDepth(x) {
  const [b, c, h, w] = x.shape;
  return reshape(transpose(reshape(x, [b, c, h / 2, 2, w / 2, 2]), [0, 1, 3, 5, 2, 4]), [b, 4 * c, h / 2, w / 2]);
}

/** The inverse of spaceToDepth: [B, 4C, H, W] -> [B, C, 2H, 2W]. */
export function depthToSpace(x) {
  const [b, c4, h, w] = x.shape;
  const c = c4 / 4;
  return reshape(transpose(reshape(x, [b, c, 2, 2, h, w]), [0, 1, 4, 2, 5, 3]), [b, c, 2 * h, 2 * w]);
}

/** Sinusoidal embedding of (possibly fractional) timesteps, computed on the host: [B, dim]. */
export function timestepEmbedding(timesteps, dim, maxPeriod = 10000) {
  const half = dim / 2;
  const out = new Float32Array(timesteps.length * dim);
  for (let b = 0; b < timesteps.length; b++) {
    for (let i = 0; i < half; i++) {
      const freq = Math.exp((-Math.log(maxPeriod) * i) / half);
      const a = timesteps[b] * freq;
      out[b * dim + i] = Math.cos(a);
      out[b * dim + half + i] = Math.sin(a);
    }
  }
  return tensor(out, [timesteps.length, dim]);
}

/**
 * The network: x [B, 1, 28, 28], timesteps (host numbers, length B, in [0, T)), labels int32
 * tensor [B] (NULL_CLASS for unconditional). Returns the prediction [B, 1, 28, 28].
 */
export function forward(model, x, timesteps, labels) {
  const { config: c, params: p } = model;
  const g = c.groups;
  const [c0] = c.channels;
  const tIn = timestepEmbedding(timesteps, c0);
  let emb = lin(p, 'time.fc2', silu(lin(p, 'time.fc1', tIn)));
  emb = silu(add(emb, embedding(p.get('class.embedding'), labels)));
  const pix = c.pixelChannels > 0 ? conv(p, 'stem', x) : x; // 28x28
  const h0 = resBlock(p, 'down0', conv(p, 'conv_in', spaceToDepth(pix)), emb, g); // 14x14
  let h = conv(p, 'down0.down', h0, { stride: 2, padding: 1 }); // 7x7
  const h1 = resBlock(p, 'down1', h, emb, g);
  h = resBlock(p, 'mid', h1, emb, g);
  if (c.attnHeads > 0) h = attnBlock(p, 'mid.attn', h, c.attnHeads, g);
  h = resBlock(p, 'up1', concat([h, h1], 1), emb, g);
  h = depthToSpace(conv(p, 'up1.up', h, { padding: 0 })); // 14x14
  h = resBlock(p, 'up0', concat([h, h0], 1), emb, g);
  const out = depthToSpace(conv(p, 'conv_out', silu(gn(p, 'norm_out', h, g)))); // 28x28
  return c.pixelChannels > 0 ? conv(p, 'head', silu(out)) : out; // [B, 1, 28, 28]
}

/** Multiply-accumulates of one forward pass per sample (convs, linears, attention), for sizing. */
export function forwardMacs(config = DEFAULT_CONFIG) {
  const c = { ...DEFAULT_CONFIG, ...config };
  const [c0, c1] = c.channels;
  const conv3 = (cin, cout, hw) => cin * cout * 9 * hw * hw;
  const res = (cin, cout, hw) => conv3(cin, cout, hw) + conv3(cout, cout, hw) + (cin !== cout ? cin * cout * hw * hw : 0);
  const attn = c.attnHeads > 0 ? 4 * c1 * c1 * 49 + 2 * 49 * 49 * c1 : 0;
  const pc = c.pixelChannels;
  const pixel = pc > 0 ? conv3(1, pc, 28) + conv3(4 * pc, c0, 14) + conv3(c0, 4 * pc, 14) + conv3(pc, 1, 28) : conv3(4, c0, 14) + conv3(c0, 4, 14);
  return pixel + res(c0, c0, 14) + conv3(c0, c0, 7) + res(c0, c1, 7) + res(c1, c1, 7) + attn
    + res(2 * c1, c1, 7) + c1 * 4 * c0 * 49 + res(2 * c0, c0, 14);
}

/**
 * Group norm whose reductions are matmuls against a ones vector. Same result as core's
 * groupNorm; used in training because on tfjs-wasm the backward of a reduction (broadcastTo)
 * is slow, while the backward of a matmul is a matmul.
 */
export function groupNormMM(x, groups, gamma, beta, eps = 1e-5) {
  const [n, c] = x.shape;
  const k = x.size / (n * groups);
  const g = reshape(x, [n * groups, k]);
  const onesK = ones([k, 1]);
  const mu = mul(matmul(g, onesK), 1 / k);
  const d = sub(g, mu);
  const v = mul(matmul(mul(d, d), onesK), 1 / k);
  let y = reshape(mul(d, rsqrt(add(v, eps))), x.shape);
  const affine = [c, ...x.shape.slice(2).map(() => 1)];
  if (gamma) y = mul(y, reshape(gamma, affine));
  if (beta) y = add(y, reshape(beta, affine));
  return y;
}
