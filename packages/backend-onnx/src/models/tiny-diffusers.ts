// Test support (not exported): tiny random-weight stand-ins for the four networks of a Stable
// Diffusion ONNX export, written with @denoise/core ops and saved by this package's exporter in
// diffusers' folder layout (unet weights in external data). The tests load them back with
// loadDiffusersOnnx and compare with these same functions run eagerly.
//
// unet and text_encoder are batch-size agnostic (only conv, elementwise, matmul, gather,
// transpose and reductions along other axes), so they are exported with a symbolic 'batch' like
// diffusers' exports; the VAE parts use resize, whose ONNX form carries the batch, so they are
// fixed at batch 1.

import {
  type Tensor,
  Generator,
  add,
  captureGraphWithExternals,
  cast,
  conv2d,
  div,
  embedding,
  gelu,
  layerNorm,
  matmul,
  mul,
  randn,
  resize,
  silu,
  sin,
  sum,
  transpose,
} from '@denoise/core';
import { type OnnxExportOptions, exportOnnxModel, saveOnnxModel } from '../export.js';

export const TINY = {
  latentChannels: 4,
  channels: 8,
  /** Tokens per prompt (77 in Stable Diffusion). */
  tokens: 5,
  /** Hidden size of the text encoder (768 in SD 1.x). */
  hidden: 6,
  vocab: 11,
  /** VAE decoder input / encoder output spatial size. */
  latentSize: 4,
} as const;

function param(gen: Generator, name: string, shape: number[], scale: number): Tensor {
  const t = randn(shape, gen, { std: scale });
  t.name = name;
  return t;
}

export interface TinyPipeline {
  /** sample [B, 4, h, w], timestep [B], encoder_hidden_states [B, T, D] -> out_sample. */
  unet(sample: Tensor, timestep: Tensor, context: Tensor): Tensor;
  /** input_ids int32 [B, T] -> [last_hidden_state [B, T, D], pooler_output [B, D]]. */
  textEncoder(ids: Tensor): Tensor[];
  /** latent_sample [1, 4, 4, 4] -> sample [1, 3, 8, 8]. */
  vaeDecoder(latents: Tensor): Tensor;
  /** sample [1, 3, 8, 8] -> latent_sample [1, 4, 4, 4]. */
  vaeEncoder(images: Tensor): Tensor;
}

/** The four networks with random weights drawn from `seed` (float32 parameters on engine.backend). */
export function tinyPipeline(seed = 42): TinyPipeline {
  const g = new Generator(seed);
  const { latentChannels: L, channels: C, tokens: T, hidden: D, vocab: V } = TINY;
  const u = {
    convIn: param(g, 'unet.conv_in.weight', [C, L, 3, 3], 0.3),
    convInBias: param(g, 'unet.conv_in.bias', [C, 1, 1], 0.1),
    timeProj: param(g, 'unet.time_proj', [C, 1], 1),
    ctxProj: param(g, 'unet.ctx_proj', [D, C], 0.5),
    convOut: param(g, 'unet.conv_out.weight', [L, C, 3, 3], 0.3),
    convOutBias: param(g, 'unet.conv_out.bias', [L, 1, 1], 0.1),
  };
  const te = {
    tokens: param(g, 'text.token_embedding', [V, D], 1),
    positions: param(g, 'text.position_embedding', [T, D], 0.3),
    fc: param(g, 'text.fc.weight', [D, D], 0.5),
    lnGamma: param(g, 'text.ln.weight', [D], 0.2),
    pool: param(g, 'text.pool.weight', [D, D], 0.5),
  };
  const dec = {
    convIn: param(g, 'vae_decoder.conv_in.weight', [C, L, 3, 3], 0.3),
    convOut: param(g, 'vae_decoder.conv_out.weight', [3, C, 3, 3], 0.3),
  };
  const enc = {
    convIn: param(g, 'vae_encoder.conv_in.weight', [C, 3, 3, 3], 0.3),
    convOut: param(g, 'vae_encoder.conv_out.weight', [L, C, 1, 1], 0.3),
  };
  return {
    unet(sample, timestep, context) {
      let h = add(conv2d(sample, u.convIn, { padding: 1 }), u.convInBias); // [B, C, h, w]
      // + time_proj * sin(t / 100), per batch entry and channel: [h, w, C, B] + [C, B]
      const temb = mul(u.timeProj, sin(div(timestep, 100))); // [C, B]
      h = transpose(add(transpose(h, [2, 3, 1, 0]), temb), [3, 2, 0, 1]);
      // + the mean text state projected to channels: [h, w, B, C] + [B, C]
      const ctx = matmul(div(sum(context, 1), TINY.tokens), u.ctxProj); // [B, C]
      h = transpose(add(transpose(h, [2, 3, 0, 1]), ctx), [2, 3, 0, 1]);
      return add(conv2d(silu(h), u.convOut, { padding: 1 }), u.convOutBias);
    },
    textEncoder(ids) {
      const x = add(embedding(te.tokens, ids), te.positions); // [B, T, D]
      const last = layerNorm(add(x, gelu(matmul(x, te.fc))), te.lnGamma);
      const pooled = matmul(div(sum(last, 1), TINY.tokens), te.pool); // [B, D]
      return [last, pooled];
    },
    vaeDecoder(latents) {
      const h = silu(conv2d(latents, dec.convIn, { padding: 1 }));
      return conv2d(resize(h, { scaleFactor: 2, mode: 'nearest' }), dec.convOut, { padding: 1 });
    },
    vaeEncoder(images) {
      const h = silu(conv2d(images, enc.convIn, { padding: 1, stride: 2 }));
      return conv2d(resize(h, { size: [TINY.latentSize, TINY.latentSize], mode: 'bilinear' }), enc.convOut);
    },
  };
}

export interface SaveTinyOptions {
  /** timestep input type of the unet export (default 'float32'). */
  readonly timestep?: 'float32' | 'int64';
  /** input_ids type of the text encoder export (default 'int32', as diffusers' exporter). */
  readonly inputIds?: 'int32' | 'int64';
  /** Export the unet with float16 inputs and output (default false). */
  readonly fp16Unet?: boolean;
  /** Write vae_encoder (default true). */
  readonly vaeEncoder?: boolean;
  /** scheduler_config.json overrides. */
  readonly scheduler?: Record<string, unknown>;
}

/** A PNDM config as in Stable Diffusion v1's scheduler/scheduler_config.json. */
export const SD_SCHEDULER_CONFIG = {
  _class_name: 'PNDMScheduler',
  _diffusers_version: '0.6.0',
  beta_end: 0.012,
  beta_schedule: 'scaled_linear',
  beta_start: 0.00085,
  clip_sample: false,
  num_train_timesteps: 1000,
  set_alpha_to_one: false,
  skip_prk_steps: true,
  steps_offset: 1,
  trained_betas: null,
} as const;

/** Writes `pipe` into `dir` in the layout of diffusers' ONNX exports. */
export async function saveTinyDiffusersOnnx(dir: string, pipe: TinyPipeline, options: SaveTinyOptions = {}): Promise<void> {
  const fs = await import('node:fs/promises');
  const path = await import('node:path');
  const { latentChannels: L, tokens: T, hidden: D, latentSize: S } = TINY;
  const save = async (component: string, fn: (...xs: Tensor[]) => Tensor | Tensor[], specs: { shape: number[]; dtype: 'float32' | 'int32' }[], names: OnnxExportOptions) => {
    const { graph, externals } = captureGraphWithExternals(fn, specs);
    const files = await exportOnnxModel(graph, { ...names, weights: externals, name: component });
    await saveOnnxModel(path.join(dir, component), files, { fsync: false });
  };
  // Captured at batch 2; the batch axis is declared symbolic (see the header).
  const B = 2;
  const batch = { 0: 'batch' } as const;
  // An int64 timestep is int32 inside the graph (ioTypes casts at the boundary), then float.
  const intT = options.timestep === 'int64';
  await save('unet', (x, t, c) => pipe.unet(x, intT ? cast(t, 'float32') : t, c), [
    { shape: [B, L, 8, 8], dtype: 'float32' },
    { shape: [B], dtype: intT ? 'int32' : 'float32' },
    { shape: [B, T, D], dtype: 'float32' },
  ], {
    inputNames: ['sample', 'timestep', 'encoder_hidden_states'],
    outputNames: ['out_sample'],
    dynamicAxes: { sample: { 0: 'batch', 2: 'height', 3: 'width' }, timestep: batch, encoder_hidden_states: batch, out_sample: { 0: 'batch', 2: 'height', 3: 'width' } },
    ioTypes: {
      ...(intT ? { timestep: 'int64' as const } : {}),
      ...(options.fp16Unet ? { sample: 'float16' as const, encoder_hidden_states: 'float16' as const, out_sample: 'float16' as const } : {}),
    },
    externalData: { location: 'weights.pb', threshold: 128 },
  });
  await save('text_encoder', (ids) => pipe.textEncoder(ids), [{ shape: [B, T], dtype: 'int32' }], {
    inputNames: ['input_ids'],
    outputNames: ['last_hidden_state', 'pooler_output'],
    dynamicAxes: { input_ids: batch, last_hidden_state: batch, pooler_output: batch },
    ...(options.inputIds === 'int64' ? { ioTypes: { input_ids: 'int64' as const } } : {}),
  });
  await save('vae_decoder', (z) => pipe.vaeDecoder(z), [{ shape: [1, L, S, S], dtype: 'float32' }], { inputNames: ['latent_sample'], outputNames: ['sample'] });
  if (options.vaeEncoder ?? true) {
    await save('vae_encoder', (x) => pipe.vaeEncoder(x), [{ shape: [1, 3, 2 * S, 2 * S], dtype: 'float32' }], { inputNames: ['sample'], outputNames: ['latent_sample'] });
  }
  const onnxModel = ['diffusers', 'OnnxRuntimeModel'];
  const index = {
    _class_name: 'OnnxStableDiffusionPipeline',
    _diffusers_version: '0.6.0',
    feature_extractor: [null, null],
    requires_safety_checker: false,
    safety_checker: [null, null],
    scheduler: ['diffusers', 'PNDMScheduler'],
    text_encoder: onnxModel,
    tokenizer: ['transformers', 'CLIPTokenizer'],
    unet: onnxModel,
    vae_decoder: onnxModel,
    vae_encoder: (options.vaeEncoder ?? true) ? onnxModel : [null, null],
  };
  await fs.writeFile(path.join(dir, 'model_index.json'), JSON.stringify(index, null, 2));
  await fs.mkdir(path.join(dir, 'scheduler'), { recursive: true });
  await fs.writeFile(path.join(dir, 'scheduler', 'scheduler_config.json'), JSON.stringify({ ...SD_SCHEDULER_CONFIG, ...options.scheduler }, null, 2));
  await fs.mkdir(path.join(dir, 'tokenizer'), { recursive: true });
  await fs.writeFile(path.join(dir, 'tokenizer', 'vocab.json'), '{}');
}

/** The largest absolute difference between two tensors of one shape (throws if the shapes differ). */
export async function maxAbsDiff(a: Tensor, b: Tensor): Promise<number> {
  if (a.shape.length !== b.shape.length || a.shape.some((d, k) => d !== b.shape[k])) {
    throw new Error(`maxAbsDiff: shapes differ: [${a.shape.join(', ')}] vs [${b.shape.join(', ')}]`);
  }
  const x = await a.data();
  const y = await b.data();
  let worst = 0;
  for (let i = 0; i < x.length; i++) worst = Math.max(worst, Math.abs(x[i]! - y[i]!));
  return worst;
}

/** What `p` rejected with (throws if it resolved). */
export async function rejection(p: Promise<unknown>): Promise<Error> {
  const e = await p.then(() => null, (x: unknown) => x);
  if (!(e instanceof Error)) throw new Error('expected a rejection');
  return e;
}
