// Stable-Diffusion-style UNet blocks built from @denoise/core ops (the JS twin of the `blocks`
// suite of bench/torch_baseline.py): a ResNet block with a time-embedding projection, then a
// spatial transformer block (self-attention, cross-attention to a text context, GEGLU FF).
// Parameter names and layouts follow diffusers' ResnetBlock2D / Transformer2DModel (OIHW convs,
// [out, in] linears), so the same state dict shapes load in both.

import {
  Generator, add, attention, conv2d, geglu, groupNorm, layerNorm, linear, mergeHeads, mul, randn, reshape, silu, splitHeads, transpose, zeros, ones,
} from '@denoise/core';

export const SD = { batch: 2, channels: 320, size: 32, tembDim: 1280, ctxLen: 77, ctxDim: 768, heads: 8, headDim: 40, ffInner: 1280, groups: 32 };

/** name -> shape, with the init kind ('w' fan-in scaled normal, 'g' ones, 'b' zeros-ish small normal). */
export function sdBlockShapes(c = SD) {
  const C = c.channels;
  const s = {};
  const gn = (n) => { s[`${n}.weight`] = [C]; s[`${n}.bias`] = [C]; };
  gn('resnet.norm1');
  s['resnet.conv1.weight'] = [C, C, 3, 3]; s['resnet.conv1.bias'] = [C];
  s['resnet.time_emb_proj.weight'] = [C, c.tembDim]; s['resnet.time_emb_proj.bias'] = [C];
  gn('resnet.norm2');
  s['resnet.conv2.weight'] = [C, C, 3, 3]; s['resnet.conv2.bias'] = [C];
  gn('attn.norm');
  s['attn.proj_in.weight'] = [C, C, 1, 1]; s['attn.proj_in.bias'] = [C];
  const t = 'attn.transformer_blocks.0';
  for (const n of ['norm1', 'norm2', 'norm3']) { s[`${t}.${n}.weight`] = [C]; s[`${t}.${n}.bias`] = [C]; }
  for (const a of ['attn1', 'attn2']) {
    const kv = a === 'attn1' ? C : c.ctxDim;
    s[`${t}.${a}.to_q.weight`] = [C, C];
    s[`${t}.${a}.to_k.weight`] = [C, kv];
    s[`${t}.${a}.to_v.weight`] = [C, kv];
    s[`${t}.${a}.to_out.0.weight`] = [C, C]; s[`${t}.${a}.to_out.0.bias`] = [C];
  }
  s[`${t}.ff.net.0.proj.weight`] = [2 * c.ffInner, C]; s[`${t}.ff.net.0.proj.bias`] = [2 * c.ffInner];
  s[`${t}.ff.net.2.weight`] = [C, c.ffInner]; s[`${t}.ff.net.2.bias`] = [C];
  s['attn.proj_out.weight'] = [C, C, 1, 1]; s['attn.proj_out.bias'] = [C];
  return s;
}

/** Seeded weights on `backend`: weights ~ N(0, 1/fan_in), norm gains 1, biases ~ N(0, 0.02^2). */
export function initSdBlocks(backend, seed = 7, c = SD) {
  const gen = new Generator(seed);
  const params = {};
  for (const [name, shape] of Object.entries(sdBlockShapes(c))) {
    const isNorm = /norm\d?\.(weight|bias)$/.test(name);
    let t;
    if (isNorm) t = name.endsWith('weight') ? ones(shape, 'float32', backend) : zeros(shape, 'float32', backend);
    else {
      const r = randn(shape, gen, { backend });
      const fanIn = shape.length > 1 ? shape.slice(1).reduce((a, b) => a * b, 1) : 0;
      t = mul(r, shape.length > 1 ? 1 / Math.sqrt(fanIn) : 0.02);
      r.dispose();
    }
    params[name] = t;
  }
  return params;
}

const conv = (x, p, n, padding) => add(conv2d(x, p[`${n}.weight`], { padding }), reshape(p[`${n}.bias`], [-1, 1, 1]));

function resnet(p, x, temb, c) {
  let h = conv(silu(groupNorm(x, c.groups, p['resnet.norm1.weight'], p['resnet.norm1.bias'], 1e-5)), p, 'resnet.conv1', 1);
  const t = linear(silu(temb), p['resnet.time_emb_proj.weight'], p['resnet.time_emb_proj.bias']);
  h = add(h, reshape(t, [t.shape[0], -1, 1, 1]));
  h = conv(silu(groupNorm(h, c.groups, p['resnet.norm2.weight'], p['resnet.norm2.bias'], 1e-5)), p, 'resnet.conv2', 1);
  return add(x, h);
}

function mha(p, n, x, ctx, heads) {
  const q = splitHeads(linear(x, p[`${n}.to_q.weight`]), heads);
  const k = splitHeads(linear(ctx, p[`${n}.to_k.weight`]), heads);
  const v = splitHeads(linear(ctx, p[`${n}.to_v.weight`]), heads);
  return linear(mergeHeads(attention(q, k, v)), p[`${n}.to_out.0.weight`], p[`${n}.to_out.0.bias`]);
}

function spatialTransformer(p, x, ctx, c) {
  const [b, C, hgt, wid] = x.shape;
  const t = 'attn.transformer_blocks.0';
  let h = conv(groupNorm(x, c.groups, p['attn.norm.weight'], p['attn.norm.bias'], 1e-6), p, 'attn.proj_in', 0);
  h = reshape(transpose(h, [0, 2, 3, 1]), [b, hgt * wid, C]);
  const ln = (y, n) => layerNorm(y, p[`${t}.${n}.weight`], p[`${t}.${n}.bias`], 1e-5);
  const n1 = ln(h, 'norm1');
  h = add(h, mha(p, `${t}.attn1`, n1, n1, c.heads));
  h = add(h, mha(p, `${t}.attn2`, ln(h, 'norm2'), ctx, c.heads));
  const ff = linear(geglu(linear(ln(h, 'norm3'), p[`${t}.ff.net.0.proj.weight`], p[`${t}.ff.net.0.proj.bias`])), p[`${t}.ff.net.2.weight`], p[`${t}.ff.net.2.bias`]);
  h = add(h, ff);
  h = transpose(reshape(h, [b, hgt, wid, C]), [0, 3, 1, 2]);
  return add(x, conv(h, p, 'attn.proj_out', 0));
}

/** x [B, 320, H, W], temb [B, 1280], ctx [B, 77, 768] -> [B, 320, H, W]. */
export function sdBlocksForward(p, x, temb, ctx, c = SD) {
  return spatialTransformer(p, resnet(p, x, temb, c), ctx, c);
}

/** Matmul/conv FLOPs (2 per multiply-add); norms, activations, softmax and adds are not counted. */
export function sdBlocksFlops(c = SD) {
  const B = c.batch, C = c.channels, HW = c.size * c.size, T = HW, L = c.ctxLen;
  const conv3 = 2 * B * HW * C * C * 9;
  const lin = (rows, i, o) => 2 * rows * i * o;
  const attnCore = (tq, tk) => 4 * B * c.heads * tq * tk * c.headDim;
  return 2 * conv3 + lin(B, c.tembDim, C)
    + 2 * lin(B * HW, C, C) // proj_in, proj_out
    + 4 * lin(B * T, C, C) + attnCore(T, T) // self-attention q k v out
    + 2 * lin(B * T, C, C) + 2 * lin(B * L, c.ctxDim, C) + attnCore(T, L) // cross-attention
    + lin(B * T, C, 2 * c.ffInner) + lin(B * T, c.ffInner, C);
}
