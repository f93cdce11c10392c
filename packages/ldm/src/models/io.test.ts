// Round trips through the diffusers / transformers folder layout: tiny random-weight models in
// every fixture configuration are saved (config.json + safetensors), reloaded, and give
// bit-identical outputs; checkpoints that do not fit the model fail with one typed error listing
// every missing, unexpected and mismatched key.

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CheckpointError, Generator, randn, serializeTensors, tidy, type Tensor } from '@denoise/core';
import { afterAll, describe, expect, it } from 'vitest';
import { StateDictMismatchError, loadStateDict } from '../checkpoint/state-dict.js';
import { CLIPTextModel } from './clip/clip-text.js';
import { parseCLIPTextConfig } from './clip/config.js';
import {
  loadAutoencoderKL, loadCLIPTextModel, loadUNet2DConditionModel, saveModel, unetFromStateDict, vaeFromStateDict,
} from './io.js';
import { initRandom, loadWeights } from './nn/module.js';
import { MODEL_FIXTURES, maxAbsDiff } from './test-utils.js';
import { parseUNetConfig } from './unet/config.js';
import { UNet2DConditionModel } from './unet/unet.js';
import { AutoencoderKL } from './vae/autoencoder-kl.js';
import { parseVAEConfig } from './vae/config.js';

const root = mkdtempSync(path.join(tmpdir(), 'ldm-models-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const fixtureConfig = (name: string) => JSON.parse(readFileSync(path.join(MODEL_FIXTURES, name, 'config.json'), 'utf8')) as Record<string, unknown>;

function unetInputs(m: UNet2DConditionModel, gen: Generator) {
  const c = m.config;
  const ctxDim = c.encoder_hid_dim ?? (Array.isArray(c.cross_attention_dim) ? c.cross_attention_dim[0]! : c.cross_attention_dim);
  const classLabels = m.class_embedding === null ? null : c.class_embed_type === 'projection' ? randn([2, c.projection_class_embeddings_input_dim!], gen) : c.class_embed_type === 'timestep' ? [10, 400] : [1, 3];
  return {
    x: randn([2, c.in_channels, 8, 8], gen),
    ctx: randn([2, 3, ctxDim], gen),
    options: { classLabels, timestepCond: c.time_cond_proj_dim ? randn([2, c.time_cond_proj_dim], gen) : null },
  };
}

describe('save and reload in the diffusers layout', () => {
  for (const name of ['sd15', 'sd2', 'inpaint-class', 'upscale-concat', 'projection']) {
    it(`UNet (${name} config): identical outputs after save / load`, async () => {
      const model = new UNet2DConditionModel(parseUNetConfig(fixtureConfig(`unet-${name}`)));
      initRandom(model, new Generator(11));
      const dir = path.join(root, `unet-${name}`);
      await saveModel(dir, model);
      const config = JSON.parse(readFileSync(path.join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
      expect(config._class_name).toBe('UNet2DConditionModel');
      const back = await loadUNet2DConditionModel(dir);
      expect(back.config).toEqual(model.config);
      const { x, ctx, options } = unetInputs(model, new Generator(12));
      tidy(() => expect(maxAbsDiff(back.forward(x, [3, 900], ctx, options), model.forward(x, [3, 900], ctx, options))).toBe(0));
      model.dispose();
      back.dispose();
    });
  }

  for (const name of ['two-level', 'three-level', 'no-post-quant']) {
    it(`AutoencoderKL (${name} config): identical posterior and decoding after save / load`, async () => {
      const model = new AutoencoderKL(parseVAEConfig(fixtureConfig(`vae-${name}`)));
      initRandom(model, new Generator(21));
      const dir = path.join(root, `vae-${name}`);
      await saveModel(dir, model);
      const back = await loadAutoencoderKL(dir);
      const gen = new Generator(22);
      const x = randn([1, model.config.in_channels, 16, 16], gen);
      const z = randn([1, model.config.latent_channels, 4, 4], gen);
      tidy(() => {
        expect(maxAbsDiff(back.encode(x).mean, model.encode(x).mean)).toBe(0);
        expect(maxAbsDiff(back.decode(z), model.decode(z))).toBe(0);
      });
      model.dispose();
      back.dispose();
    });
  }

  for (const name of ['legacy-eos', 'with-projection']) {
    it(`CLIP text encoder (${name} config): identical outputs after save / load as model.safetensors`, async () => {
      const json = fixtureConfig(`clip-${name}`);
      const model = new CLIPTextModel(parseCLIPTextConfig(json), { withProjection: name === 'with-projection' });
      initRandom(model, new Generator(31));
      const dir = path.join(root, `clip-${name}`);
      await saveModel(dir, model);
      const back = await loadCLIPTextModel(dir);
      expect(back.text_projection !== null).toBe(name === 'with-projection');
      const ids = [[1, 5, 7, 2, 2, 2, 2, 2, 2], [1, 2, 3, 4, 5, 6, 7, 8, 2]];
      tidy(() => {
        const a = model.forward(ids);
        const b = back.forward(ids);
        expect(maxAbsDiff(a.lastHiddenState, b.lastHiddenState)).toBe(0);
        expect(maxAbsDiff(a.pooledOutput, b.pooledOutput)).toBe(0);
      });
      model.dispose();
      back.dispose();
    });
  }
});

describe('checkpoints that do not fit', () => {
  it('every missing, unexpected and mismatched key in one StateDictMismatchError (a CheckpointError)', async () => {
    const dir = path.join(MODEL_FIXTURES, 'unet-sd15');
    const sd = (await loadStateDict(path.join(dir, 'diffusion_pytorch_model.safetensors'))).tensors;
    sd.delete('conv_in.bias');
    sd.delete('mid_block.attentions.0.transformer_blocks.0.attn2.to_k.weight');
    sd.set('extra.weight', sd.get('conv_out.bias')!);
    const config = fixtureConfig('unet-sd15');
    // A context of width 10 instead of 12: every to_k / to_v of every cross-attention mismatches.
    let err: unknown;
    try {
      unetFromStateDict({ ...config, cross_attention_dim: 10 }, sd);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(StateDictMismatchError);
    expect(CheckpointError.isInstance(err)).toBe(true);
    const e = err as StateDictMismatchError;
    expect(e.missing).toEqual(['conv_in.bias', 'mid_block.attentions.0.transformer_blocks.0.attn2.to_k.weight']);
    expect(e.unexpected).toEqual(['extra.weight']);
    const crossAttn = 2 * 2 + 3 * 2 + 1; // transformer blocks: 2 per CrossAttnDown level x 2 levels, 3 per CrossAttnUp level x 2, 1 mid
    expect(e.mismatched.length).toBe(2 * crossAttn - 1); // to_k and to_v each, less the deleted one
    expect(e.mismatched[0]).toMatchObject({ param: 'down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.weight', expected: [8, 10], actual: [8, 12] });
    expect(e.message).toContain('missing (2)');
    expect(e.message).toContain('unexpected (1)');
  });

  it('a failed load leaves the model untouched; setWeights-style loads check too', async () => {
    const model = new AutoencoderKL(parseVAEConfig(fixtureConfig('vae-no-post-quant')));
    const sd = (await loadStateDict(path.join(MODEL_FIXTURES, 'vae-two-level', 'diffusion_pytorch_model.safetensors'))).tensors;
    expect(() => loadWeights(model, sd)).toThrow(StateDictMismatchError);
    expect(model.namedParameters().every(([, p]) => !p.isSet)).toBe(true);
    expect(() => model.decode(randn([1, 2, 2, 2], new Generator(1)))).toThrow(/has no value: load weights/);
  });

  it('legacy VAE attention names (query / key / value / proj_attn) load as to_q / to_k / to_v / to_out.0', async () => {
    const dir = path.join(MODEL_FIXTURES, 'vae-two-level');
    const sd = (await loadStateDict(path.join(dir, 'diffusion_pytorch_model.safetensors'))).tensors;
    const renamed = new Map([...sd].map(([k, v]) => [k.replace(/\.to_q\./, '.query.').replace(/\.to_k\./, '.key.').replace(/\.to_v\./, '.value.').replace(/\.to_out\.0\./, '.proj_attn.'), v]));
    expect(renamed.has('encoder.mid_block.attentions.0.query.weight')).toBe(true);
    const a = await loadAutoencoderKL(dir);
    const b = vaeFromStateDict(fixtureConfig('vae-two-level'), renamed);
    const z = randn([1, 4, 3, 3], new Generator(5));
    tidy(() => expect(maxAbsDiff(a.decode(z), b.decode(z))).toBe(0));
  });

  it('a folder without weights or with a broken config.json is a CheckpointError', async () => {
    const dir = mkdtempSync(path.join(root, 'empty-'));
    await expect(loadUNet2DConditionModel(dir)).rejects.toThrow(/cannot read .*config\.json/);
    writeFileSync(path.join(dir, 'config.json'), '{"block_out_channels": [8, 8], ');
    await expect(loadUNet2DConditionModel(dir)).rejects.toThrow(/not a valid config/);
    writeFileSync(path.join(dir, 'config.json'), '{}');
    await expect(loadUNet2DConditionModel(dir)).rejects.toThrow(/has no single-file weights/);
    const bytes = await serializeTensors({ x: randn([1], new Generator(1)) as Tensor });
    writeFileSync(path.join(dir, 'diffusion_pytorch_model.safetensors'), bytes);
    writeFileSync(path.join(dir, 'config.json'), JSON.stringify(fixtureConfig('unet-projection')));
    await expect(loadUNet2DConditionModel(dir)).rejects.toThrow(StateDictMismatchError);
  });
});
