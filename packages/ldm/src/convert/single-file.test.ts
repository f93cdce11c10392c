// Single-file SD 1.x checkpoints (keys.ts + single-file.ts), three ways:
//  1. files made by CompVis' own model classes (fixtures/generate.py: .ckpt as Lightning saves
//     it, .safetensors, an EMA copy, float16), loaded and run: outputs match the original models';
//  2. our tiny random models of several SD-1.x-shaped configs written under the original names
//     (saveSingleFileCheckpoint, the table read backwards) as .safetensors and, where
//     /usr/bin/python3 has torch, as a PyTorch .ckpt, loaded back: outputs identical;
//  3. broken files: one error listing every missing, unexpected, mismatched and duplicated key.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Generator, engine, loadSafetensors, randn, type RawTensor, type Tensor } from '@denoise/core';
import { afterAll, describe, expect, it } from 'vitest';
import { loadStateDict, StateDictMismatchError, type StateDict } from '../checkpoint/state-dict.js';
import { CLIPTextModel } from '../models/clip/clip-text.js';
import type { CLIPTextConfig } from '../models/clip/config.js';
import { initRandom, type Module } from '../models/nn/module.js';
import { MODEL_FIXTURES, maxAbsDiff, measured, report } from '../models/test-utils.js';
import type { UNet2DConditionConfig } from '../models/unet/config.js';
import { UNet2DConditionModel } from '../models/unet/unet.js';
import { AutoencoderKL } from '../models/vae/autoencoder-kl.js';
import type { AutoencoderKLConfig } from '../models/vae/config.js';
import { loadSingleFileCheckpoint, saveSingleFileCheckpoint, singleFileModelsFromStateDict, type SingleFileModelSet, type SingleFileOptions } from './single-file.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const FIXTURES = path.join(here, 'fixtures');
const TOL = 1e-4;
const tmp = mkdtempSync(path.join(tmpdir(), 'single-file-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const CLIP_CONFIG = JSON.parse(readFileSync(path.join(MODEL_FIXTURES, 'clip-legacy-eos', 'config.json'), 'utf8')) as Partial<CLIPTextConfig>;

interface CompVisConfig {
  compvis_unet: { model_channels: number; channel_mult: number[]; num_res_blocks: number; attention_resolutions: number[]; num_heads: number; transformer_depth: number };
  compvis_first_stage: { ch: number; ch_mult: number[]; num_res_blocks: number };
  groups: number;
  context_dim: number;
  ema: boolean;
  safetensors: boolean;
}

/** The diffusers configs of CompVis' UNetModel / Encoder+Decoder arguments (what create_unet_diffusers_config_from_ldm derives). */
function configsOf(c: CompVisConfig): SingleFileOptions {
  const u = c.compvis_unet;
  const attn = u.channel_mult.map((_, i) => u.attention_resolutions.includes(2 ** i));
  const v = c.compvis_first_stage;
  return {
    unetConfig: {
      block_out_channels: u.channel_mult.map((m) => m * u.model_channels),
      down_block_types: attn.map((a) => (a ? 'CrossAttnDownBlock2D' : 'DownBlock2D')),
      up_block_types: [...attn].reverse().map((a) => (a ? 'CrossAttnUpBlock2D' : 'UpBlock2D')),
      layers_per_block: u.num_res_blocks,
      attention_head_dim: u.num_heads,
      transformer_layers_per_block: u.transformer_depth,
      cross_attention_dim: c.context_dim,
      norm_num_groups: c.groups,
      sample_size: 8,
    },
    vaeConfig: {
      block_out_channels: v.ch_mult.map((m) => m * v.ch),
      down_block_types: v.ch_mult.map(() => 'DownEncoderBlock2D' as const),
      up_block_types: v.ch_mult.map(() => 'UpDecoderBlock2D' as const),
      layers_per_block: v.num_res_blocks,
      norm_num_groups: c.groups,
      sample_size: 16,
    },
    clipConfig: CLIP_CONFIG,
  };
}

async function loadIo(dir: string): Promise<Map<string, Tensor>> {
  return (await loadSafetensors(path.join(dir, 'io.safetensors'))).tensors;
}

function get(io: Map<string, Tensor>, k: string): Tensor {
  const t = io.get(k);
  if (!t) throw new Error(`io has no ${k}`);
  return t;
}

const dispose = (m: SingleFileModelSet) => [m.unet, m.vae, m.textEncoder].forEach((x) => x.dispose());

describe('CompVis-made single files (fixtures/generate.py)', () => {
  afterAll(() => report('single files vs CompVis'));
  for (const name of ['sd1-lpb1-2levels', 'sd1-lpb2-3levels', 'sd1-mid-attention-fp16']) {
    it(`${name}: the .ckpt loads and every component computes what the original computed`, async () => {
      const dir = path.join(FIXTURES, name);
      const cfg = JSON.parse(readFileSync(path.join(dir, 'config.json'), 'utf8')) as CompVisConfig;
      const io = await loadIo(dir);
      const m = await loadSingleFileCheckpoint(path.join(dir, 'model.ckpt'), configsOf(cfg));
      expect(m.format).toBe('pytorch');
      const outputs = (mm: SingleFileModelSet) => ({
        unet: mm.unet.forward(get(io, 'in.x'), get(io, 'in.t'), get(io, 'in.context')),
        moments: mm.vae.encodeMoments(get(io, 'in.image')),
        decoded: mm.vae.decode(get(io, 'in.z')),
        clip: mm.textEncoder.forward(get(io, 'in.input_ids')).lastHiddenState,
      });
      const got = outputs(m);
      const diffs = {
        unet: maxAbsDiff(got.unet, get(io, 'out.unet')),
        moments: maxAbsDiff(got.moments, get(io, 'out.vae_moments')),
        decoded: maxAbsDiff(got.decoded, get(io, 'out.vae_decode')),
        clip: maxAbsDiff(got.clip, get(io, 'out.clip_last_hidden_state')),
      };
      for (const [k, v] of Object.entries(diffs)) {
        measured[`${name} ${k}`] = v;
        expect(v, k).toBeLessThanOrEqual(TOL);
      }
      // The schedule buffers and the position_ids buffer are left unused, nothing else.
      expect(m.ignored).toContain('alphas_cumprod');
      expect(m.ignored).toContain('cond_stage_model.transformer.text_model.embeddings.position_ids');
      expect(m.ignored.filter((k) => !k.startsWith('model_ema.'))).toHaveLength(13);

      if (cfg.safetensors) {
        // The same weights as .safetensors give the same outputs, bit for bit.
        const s = await loadSingleFileCheckpoint(path.join(dir, 'model.safetensors'), configsOf(cfg));
        expect(s.format).toBe('safetensors');
        expect(s.metadata.format).toBe('pt');
        const again = outputs(s);
        for (const k of ['unet', 'moments', 'decoded', 'clip'] as const) expect(maxAbsDiff(again[k], got[k]), k).toBe(0);
        dispose(s);
      }
      if (cfg.ema) {
        const e = await loadSingleFileCheckpoint(path.join(dir, 'model.ckpt'), { ...configsOf(cfg), extractEma: true });
        expect(maxAbsDiff(e.unet.forward(get(io, 'in.x'), get(io, 'in.t'), get(io, 'in.context')), get(io, 'out.unet_ema'))).toBeLessThanOrEqual(TOL);
        expect(e.ignored.some((k) => k.startsWith('model.diffusion_model.'))).toBe(true);
        dispose(e);
      } else {
        await expect(loadSingleFileCheckpoint(path.join(dir, 'model.ckpt'), { ...configsOf(cfg), extractEma: true })).rejects.toThrow(/no EMA weights/);
      }
      dispose(m);
    });
  }
});

// ---------------------------------------------------------------- our models, written and read back

interface RoundTripCase {
  name: string;
  unet: Partial<UNet2DConditionConfig>;
  vae: Partial<AutoencoderKLConfig>;
}

const CLIP_TINY: Partial<CLIPTextConfig> = { vocab_size: 50, hidden_size: 12, intermediate_size: 20, num_hidden_layers: 2, num_attention_heads: 2, max_position_embeddings: 7 };
const UNET_TINY: Partial<UNet2DConditionConfig> = { norm_num_groups: 4, cross_attention_dim: 12, attention_head_dim: 2, sample_size: 8 };
const VAE_TINY: Partial<AutoencoderKLConfig> = { norm_num_groups: 4, sample_size: 16 };

const ROUND_TRIPS: RoundTripCase[] = [
  {
    name: 'layers_per_block 1, 2 levels, attention in the first',
    unet: { ...UNET_TINY, block_out_channels: [8, 16], layers_per_block: 1, down_block_types: ['CrossAttnDownBlock2D', 'DownBlock2D'], up_block_types: ['UpBlock2D', 'CrossAttnUpBlock2D'] },
    vae: { ...VAE_TINY, block_out_channels: [8, 16], layers_per_block: 1, down_block_types: ['DownEncoderBlock2D', 'DownEncoderBlock2D'], up_block_types: ['UpDecoderBlock2D', 'UpDecoderBlock2D'] },
  },
  {
    name: 'layers_per_block 2, 3 levels, attention in the first two (SD 1.x without its fourth level)',
    unet: {
      ...UNET_TINY, block_out_channels: [8, 16, 16], layers_per_block: 2,
      down_block_types: ['CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'DownBlock2D'], up_block_types: ['UpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D'],
    },
    vae: { ...VAE_TINY, block_out_channels: [8, 8, 16], layers_per_block: 2, down_block_types: ['DownEncoderBlock2D', 'DownEncoderBlock2D', 'DownEncoderBlock2D'], up_block_types: ['UpDecoderBlock2D', 'UpDecoderBlock2D', 'UpDecoderBlock2D'] },
  },
  {
    name: 'per-level layers [2, 1, 1], attention in the middle level only, linear projections, 2 transformer layers, per-level heads; VAE without mid attention',
    unet: {
      ...UNET_TINY, block_out_channels: [8, 16, 16], layers_per_block: [2, 1, 1], attention_head_dim: [2, 4, 4], use_linear_projection: true, transformer_layers_per_block: 2,
      down_block_types: ['DownBlock2D', 'CrossAttnDownBlock2D', 'DownBlock2D'], up_block_types: ['UpBlock2D', 'CrossAttnUpBlock2D', 'UpBlock2D'],
    },
    vae: { ...VAE_TINY, block_out_channels: [8, 16], layers_per_block: 2, mid_block_add_attention: false, down_block_types: ['DownEncoderBlock2D', 'DownEncoderBlock2D'], up_block_types: ['UpDecoderBlock2D', 'UpDecoderBlock2D'] },
  },
];

function randomModels(c: RoundTripCase, seed: number): SingleFileModelSet {
  const models = { unet: new UNet2DConditionModel(c.unet), vae: new AutoencoderKL(c.vae), textEncoder: new CLIPTextModel(CLIP_TINY) };
  const gen = new Generator(seed);
  for (const m of [models.unet, models.vae, models.textEncoder] as Module[]) initRandom(m, gen);
  return models;
}

function runAll(m: SingleFileModelSet, seed: number): Tensor[] {
  const gen = new Generator(seed);
  const ctx = randn([2, 5, 12], gen);
  const down = 2 ** (m.vae.config.block_out_channels.length - 1);
  return [
    m.unet.forward(randn([2, 4, 8, 8], gen), [3, 700], ctx),
    m.vae.encodeMoments(randn([1, 3, 16, 16], gen)),
    m.vae.decode(randn([1, 4, 16 / down, 16 / down], gen)),
    m.textEncoder.forward([[49, 3, 7, 1, 0, 2, 5]]).lastHiddenState,
  ];
}

/** /usr/bin/python3 with torch, to write a PyTorch .ckpt (null: not available, the .ckpt leg is skipped). */
function pythonWithTorch(): string | null {
  try {
    execFileSync('/usr/bin/python3', ['-c', 'import torch'], { stdio: 'ignore' });
    return '/usr/bin/python3';
  } catch {
    return null;
  }
}
const python = pythonWithTorch();
if (!python) console.log('single-file round trips: /usr/bin/python3 cannot import torch, the .ckpt leg is skipped (apt-get install -y python3-torch libopenblas0-pthread)');

describe('our models written under the original names and read back', () => {
  ROUND_TRIPS.forEach((c, i) => {
    it(`${c.name}: .safetensors${python ? ' and .ckpt' : ''} give identical outputs`, async () => {
      const original = randomModels(c, 10 + i);
      const want = runAll(original, 99);
      const file = path.join(tmp, `rt${i}.safetensors`);
      await saveSingleFileCheckpoint(file, original);
      const options: SingleFileOptions = { unetConfig: c.unet, vaeConfig: c.vae, clipConfig: CLIP_TINY };
      const files = [file];
      if (python) {
        const ckpt = path.join(tmp, `rt${i}.ckpt`);
        execFileSync(python, [path.join(FIXTURES, 'to-ckpt.py'), file, ckpt], { stdio: 'inherit' });
        files.push(ckpt);
      }
      for (const f of files) {
        const loaded = await loadSingleFileCheckpoint(f, options);
        expect(loaded.ignored).toEqual([]);
        const got = runAll(loaded, 99);
        got.forEach((t, j) => expect(maxAbsDiff(t, want[j]!), `${path.extname(f)} output ${j}`).toBe(0));
        dispose(loaded);
      }
      // The VAE's attention weights are stored as CompVis' 1x1 convolutions.
      if (c.vae.mid_block_add_attention !== false) {
        const sd = (await loadStateDict(file)).tensors;
        expect(sd.get('first_stage_model.decoder.mid.attn_1.v.weight')?.shape).toEqual([16, 16, 1, 1]);
      }
      dispose(original);
    });
  });
});

// ---------------------------------------------------------------- broken files

function replaced(sd: StateDict, edits: (m: StateDict) => void): StateDict {
  const m = new Map(sd);
  edits(m);
  return m;
}

function raw(shape: number[]): RawTensor {
  return { dtype: 'F32', shape, data: new Uint8Array(4 * shape.reduce((a, b) => a * b, 1)) };
}

describe('checkpoints that do not match', () => {
  const name = 'sd1-lpb1-2levels';
  const dir = path.join(FIXTURES, name);
  const options = () => configsOf(JSON.parse(readFileSync(path.join(dir, 'config.json'), 'utf8')) as CompVisConfig);

  it('one StateDictMismatchError lists every missing, unexpected, mismatched and duplicated key across the components; nothing is uploaded', async () => {
    const sd = (await loadStateDict(path.join(dir, 'model.ckpt'))).tensors;
    const broken = replaced(sd, (m) => {
      m.delete('model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight');
      m.delete('first_stage_model.decoder.up.0.block.1.conv2.bias');
      m.set('model.diffusion_model.input_blocks.9.0.in_layers.0.weight', raw([8]));
      m.set('first_stage_model.encoder.mid.attn_1.k.weight', raw([8, 8, 3, 3]));
      m.set('cond_stage_model.transformer.text_model.final_layer_norm.weight', raw([17]));
      m.set('cond_stage_model.transformer.encoder.layers.0.mlp.fc1.bias', sd.get('cond_stage_model.transformer.text_model.encoder.layers.0.mlp.fc1.bias')!);
    });
    const before = engine.memory().numTensors;
    let err: unknown;
    try {
      singleFileModelsFromStateDict(broken, options());
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(StateDictMismatchError);
    const e = err as StateDictMismatchError;
    expect(e.missing).toEqual(['model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight', 'first_stage_model.decoder.up.0.block.1.conv2.bias']);
    expect(e.unexpected).toEqual(['model.diffusion_model.input_blocks.9.0.in_layers.0.weight']);
    expect(e.mismatched.map((x) => x.key)).toEqual(['first_stage_model.encoder.mid.attn_1.k.weight', 'cond_stage_model.transformer.text_model.final_layer_norm.weight']);
    expect(e.mismatched[0]!.expected).toEqual([8, 8, 1, 1]);
    expect(e.duplicated).toHaveLength(1);
    expect(e.duplicated[0]).toMatch(/given as cond_stage_model\.transformer\.text_model\.encoder\.layers\.0\.mlp\.fc1\.bias and cond_stage_model\.transformer\.encoder\.layers\.0\.mlp\.fc1\.bias/);
    expect(e.message).toMatch(/missing \(2\).*\n.*unexpected \(1\).*\n.*shape mismatch \(2\): first_stage_model\.encoder\.mid\.attn_1\.k\.weight is \[8, 8, 3, 3\], vae encoder\.mid_block\.attentions\.0\.to_k\.weight needs \[8, 8, 1, 1\]/);
    expect(engine.memory().numTensors).toBe(before);
  });

  it('names the layout when the file is SD 2.x (OpenCLIP) and the in_channels when it is an inpainting UNet', async () => {
    const sd = (await loadStateDict(path.join(dir, 'model.ckpt'))).tensors;
    const sd2 = replaced(sd, (m) => {
      for (const k of [...m.keys()]) if (k.startsWith('cond_stage_model.transformer.')) m.delete(k);
      m.set('cond_stage_model.model.ln_final.weight', raw([16]));
    });
    expect(() => singleFileModelsFromStateDict(sd2, options())).toThrow(/OpenCLIP text encoder \(SD 2\.x\)/);
    const inpaint = replaced(sd, (m) => m.set('model.diffusion_model.input_blocks.0.0.weight', raw([4, 9, 3, 3])));
    expect(() => singleFileModelsFromStateDict(inpaint, options())).toThrow(/set unetConfig\.in_channels/);
  });

  it('accepts text encoders saved without the text_model level, and extra ignore patterns', async () => {
    const sd = (await loadStateDict(path.join(dir, 'model.ckpt'))).tensors;
    const legacy = replaced(sd, (m) => {
      for (const [k, v] of [...m]) {
        if (!k.startsWith('cond_stage_model.transformer.text_model.') || k.endsWith('position_ids')) continue;
        m.delete(k);
        m.set(k.replace('transformer.text_model.', 'transformer.'), v);
      }
      m.set('my_extra.thing', raw([2]));
    });
    expect(() => singleFileModelsFromStateDict(legacy, options())).toThrow(/unexpected \(1\): my_extra\.thing/);
    const m = singleFileModelsFromStateDict(legacy, { ...options(), ignore: ['my_extra.'] });
    const io = await loadIo(dir);
    expect(maxAbsDiff(m.textEncoder.forward(get(io, 'in.input_ids')).lastHiddenState, get(io, 'out.clip_last_hidden_state'))).toBeLessThanOrEqual(TOL);
    expect(m.ignored).toContain('my_extra.thing');
    dispose(m);
  });

  it('refuses a file that is not a single file', async () => {
    const diffusers = path.join(MODEL_FIXTURES, 'vae-two-level', 'diffusion_pytorch_model.safetensors');
    await expect(loadSingleFileCheckpoint(diffusers)).rejects.toThrow(/not a single-file SD checkpoint \(first keys: decoder\./);
    const bytes = new Uint8Array(readFileSync(diffusers));
    await expect(loadSingleFileCheckpoint(bytes)).rejects.toThrow(/not a single-file/);
  });
});
