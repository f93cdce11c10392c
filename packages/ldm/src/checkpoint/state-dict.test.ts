// loadStateDict (safetensors and PyTorch files by content), applyStateDict (key mapping, every
// shape checked, all problems in one error) and the diffusers directory reader, on files this
// test writes with core's safetensors writer and on the torch 1.13 fixtures.

import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CheckpointError, Generator, createReferenceBackend, randn, saveSafetensors, serializeTensors, setBackend, tensor, type Tensor } from '@denoise/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawToFloat32 } from './decode.js';
import { loadComponentWeights, readDiffusersPipeline } from './diffusers.js';
import { StateDictMismatchError, applyStateDict, loadStateDict, stateDictShapes } from './state-dict.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const FIXTURES = path.resolve(here, '../../test-fixtures/checkpoint');
let tmp: string;

beforeAll(async () => {
  await setBackend(createReferenceBackend());
  tmp = mkdtempSync(path.join(tmpdir(), 'ldm-state-dict-'));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function values(t: Tensor): Promise<number[]> {
  return [...(await t.data())];
}

describe('loadStateDict', () => {
  it('reads safetensors (fp32 and fp16, widened) and PyTorch files, recognised by content', async () => {
    const gen = new Generator(1);
    const w = randn([4, 3], gen);
    const file32 = path.join(tmp, 'w.bin'); // the name says nothing: the bytes decide
    await saveSafetensors(file32, { w }, { metadata: { format: 'pt' } });
    const file16 = path.join(tmp, 'w16.safetensors');
    await saveSafetensors(file16, { w }, { float16: true });
    const a = await loadStateDict(file32);
    expect(a.format).toBe('safetensors');
    expect(a.metadata).toEqual({ format: 'pt' });
    expect([...rawToFloat32(a.tensors.get('w')!)]).toEqual(await values(w));
    const b = await loadStateDict(file16);
    expect(b.tensors.get('w')!.dtype).toBe('F16');
    const diff = rawToFloat32(b.tensors.get('w')!).map((v, i) => Math.abs(v - (a.tensors.get('w') ? rawToFloat32(a.tensors.get('w')!)[i]! : 0)));
    expect(Math.max(...diff)).toBeLessThan(2e-3);
    const p = await loadStateDict(path.join(FIXTURES, 'module.pth'));
    expect(p.format).toBe('pytorch');
    expect(stateDictShapes(p.tensors)).toEqual({ '0.weight': [3, 2, 3, 3], '0.bias': [3], '1.weight': [3], '1.bias': [3], '2.weight': [1, 3, 1, 1] });
  });

  it('unwraps a Lightning state_dict by default, or takes the dict named by `key`', async () => {
    const ckpt = path.join(FIXTURES, 'lightning.ckpt');
    expect([...(await loadStateDict(ckpt)).tensors.keys()]).toEqual(['model.0.weight', 'model.0.bias', 'model.1.weight', 'model.1.bias', 'model.2.weight']);
    expect((await loadStateDict(ckpt, { key: 'state_dict' })).tensors.size).toBe(5);
    await expect(loadStateDict(ckpt, { key: 'ema' })).rejects.toThrow(/has no entry "ema"/);
  });

  it('corrupt, truncated and missing files are CheckpointErrors', async () => {
    const bytes = await serializeTensors({ w: tensor([1, 2, 3]) });
    await expect(loadStateDict(bytes.subarray(0, bytes.length - 4))).rejects.toSatisfy(CheckpointError.isInstance);
    await expect(loadStateDict(new Uint8Array([1, 2, 3]))).rejects.toSatisfy(CheckpointError.isInstance);
    await expect(loadStateDict(path.join(tmp, 'nope.safetensors'))).rejects.toThrow(/cannot read/);
    await expect(loadStateDict(path.join(FIXTURES, 'evil_system.pth'))).rejects.toThrow(/refused pickle global "posix.system"/);
  });
});

describe('applyStateDict', () => {
  const stored = async () => (await loadStateDict(path.join(FIXTURES, 'lightning.ckpt'))).tensors;
  const spec = { 'conv_in.weight': [3, 2, 3, 3], 'conv_in.bias': [3], 'norm.weight': [3], 'norm.bias': [3], 'proj.weight': [1, 3] } as const;
  const mapping = {
    rules: [
      { from: 'model.0.', to: 'conv_in.' },
      { from: 'model.1.', to: 'norm.' },
      { from: /model\.2\.(.*)/, to: 'proj.$1', reshape: true }, // a 1x1 conv stored for a linear layer
    ],
  };

  it('maps keys, reshapes where a rule allows it, uploads float32 tensors', async () => {
    const sd = await stored();
    const params = applyStateDict(spec, sd, mapping);
    expect(Object.keys(params).sort()).toEqual(Object.keys(spec).sort());
    expect(params['proj.weight']!.shape).toEqual([1, 3]);
    expect(params['conv_in.weight']!.dtype).toBe('float32');
    expect(await values(params['norm.weight']!)).toEqual([...rawToFloat32(sd.get('model.1.weight')!)]);
  });

  it('reports every missing, unexpected, mismatched and duplicated key in one error', async () => {
    const sd = await stored();
    sd.set('model.extra', sd.get('model.1.bias')!);
    sd.set('ema.0.weight', sd.get('model.0.weight')!);
    sd.set('model.0.weight2', sd.get('model.0.weight')!);
    const err = (() => {
      try {
        applyStateDict({ ...spec, 'norm.weight': [4], 'missing.one': [2], 'missing.two': [1] }, sd, {
          rules: [...mapping.rules.slice(0, 2), { from: 'model.2.', to: 'proj.' }, { from: 'model.extra', to: 'norm.bias' }],
          ignore: ['ema.'],
        });
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(StateDictMismatchError);
    expect(CheckpointError.isInstance(err)).toBe(true);
    const e = err as StateDictMismatchError;
    expect(e.missing).toEqual(['missing.one', 'missing.two']);
    expect(e.unexpected).toEqual(['model.0.weight2 (as conv_in.weight2)']); // ema.* is ignored
    expect(e.mismatched.map((m) => m.param).sort()).toEqual(['norm.weight', 'proj.weight']);
    expect(e.duplicated).toEqual(['norm.bias (from model.1.bias and model.extra)']);
    expect(e.message).toMatch(/missing \(2\): missing\.one, missing\.two/);
    expect(e.message).toMatch(/norm\.weight expects \[4\], checkpoint model\.1\.weight has \[3\]/);
    expect(e.message).toMatch(/proj\.weight expects \[1, 3\], checkpoint model\.2\.weight has \[1, 3, 1, 1\]/);
  });
});

describe('diffusers layout', () => {
  function write(file: string, content: string | Uint8Array) {
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, content);
  }

  it('reads model_index.json, configs, fp16 variants, sharded weights, tokenizer and scheduler', async () => {
    const dir = path.join(tmp, 'pipe');
    const gen = new Generator(3);
    const a = randn([2, 2], gen);
    const b = randn([3], gen);
    write(path.join(dir, 'model_index.json'), JSON.stringify({
      _class_name: 'StableDiffusionPipeline', _diffusers_version: '0.30.0',
      unet: ['diffusers', 'UNet2DConditionModel'], vae: ['diffusers', 'AutoencoderKL'], text_encoder: ['transformers', 'CLIPTextModel'],
      tokenizer: ['transformers', 'CLIPTokenizer'], scheduler: ['diffusers', 'PNDMScheduler'], safety_checker: [null, null],
      feature_extractor: ['transformers', 'CLIPImageProcessor'],
    }));
    write(path.join(dir, 'unet/config.json'), JSON.stringify({ in_channels: 4, sample_size: 8 }));
    // unet: fp16 variant only
    write(path.join(dir, 'unet/diffusion_pytorch_model.fp16.safetensors'), await serializeTensors({ a, b }, { float16: true }));
    // vae: sharded in two files
    write(path.join(dir, 'vae/config.json'), JSON.stringify({ latent_channels: 4 }));
    write(path.join(dir, 'vae/diffusion_pytorch_model-00001-of-00002.safetensors'), await serializeTensors({ a }));
    write(path.join(dir, 'vae/diffusion_pytorch_model-00002-of-00002.safetensors'), await serializeTensors({ b }));
    write(path.join(dir, 'vae/diffusion_pytorch_model.safetensors.index.json'), JSON.stringify({
      weight_map: { a: 'diffusion_pytorch_model-00001-of-00002.safetensors', b: 'diffusion_pytorch_model-00002-of-00002.safetensors' },
    }));
    write(path.join(dir, 'text_encoder/config.json'), JSON.stringify({ hidden_size: 8 }));
    write(path.join(dir, 'text_encoder/model.safetensors'), await serializeTensors({ a }));
    write(path.join(dir, 'tokenizer/vocab.json'), '{}');
    write(path.join(dir, 'tokenizer/merges.txt'), '#version: 0.2\n');
    write(path.join(dir, 'tokenizer/tokenizer_config.json'), JSON.stringify({ model_max_length: 77 }));
    write(path.join(dir, 'scheduler/scheduler_config.json'), JSON.stringify({ _class_name: 'PNDMScheduler', num_train_timesteps: 1000 }));
    write(path.join(dir, 'feature_extractor/preprocessor_config.json'), '{}');

    const pipe = await readDiffusersPipeline(dir);
    expect(pipe.className).toBe('StableDiffusionPipeline');
    expect(pipe.diffusersVersion).toBe('0.30.0');
    expect(Object.keys(pipe.components).sort()).toEqual(['feature_extractor', 'scheduler', 'text_encoder', 'tokenizer', 'unet', 'vae']);
    const unet = pipe.components.unet!;
    expect(unet.kind).toBe('model');
    if (unet.kind !== 'model') throw new Error('unreachable');
    expect(unet.config).toEqual({ in_channels: 4, sample_size: 8 });
    expect(unet.weights.variant).toBe('fp16');
    const unetWeights = await loadComponentWeights(unet);
    expect(unetWeights.tensors.get('a')!.dtype).toBe('F16');
    const vae = pipe.components.vae!;
    if (vae.kind !== 'model') throw new Error('vae must be a model');
    expect(vae.weights.files.length).toBe(2);
    const vaeWeights = await loadComponentWeights(vae);
    expect([...vaeWeights.tensors.keys()].sort()).toEqual(['a', 'b']);
    expect([...rawToFloat32(vaeWeights.tensors.get('b')!)]).toEqual(await values(b));
    const tok = pipe.components.tokenizer!;
    expect(tok.kind === 'tokenizer' && tok.mergesFile.endsWith('tokenizer/merges.txt') && tok.config.model_max_length).toBe(77);
    const sched = pipe.components.scheduler!;
    expect(sched.kind === 'scheduler' && sched.config.num_train_timesteps).toBe(1000);
    expect(pipe.components.feature_extractor!.kind).toBe('other');
    // preferring the fp16 variant where both exist
    write(path.join(dir, 'text_encoder/model.fp16.safetensors'), await serializeTensors({ a }, { float16: true }));
    const te = (await readDiffusersPipeline(dir, { variant: 'fp16' })).components.text_encoder!;
    expect(te.kind === 'model' && te.weights.variant).toBe('fp16');
  });

  it('lists every problem of a broken layout in one error', async () => {
    const dir = path.join(tmp, 'broken');
    write(path.join(dir, 'model_index.json'), JSON.stringify({
      _class_name: 'StableDiffusionPipeline', unet: ['diffusers', 'UNet2DConditionModel'], vae: ['diffusers', 'AutoencoderKL'],
      tokenizer: ['transformers', 'CLIPTokenizer'], scheduler: ['diffusers', 'DDIMScheduler'],
    }));
    write(path.join(dir, 'unet/config.json'), '{not json');
    write(path.join(dir, 'unet/diffusion_pytorch_model.safetensors'), new Uint8Array(8));
    write(path.join(dir, 'tokenizer/vocab.json'), '{}');
    write(path.join(dir, 'scheduler/other.json'), '{}');
    const err = await readDiffusersPipeline(dir).catch((e: unknown) => e as Error);
    expect(CheckpointError.isInstance(err)).toBe(true);
    const msg = (err as Error).message;
    expect(msg).toMatch(/4 problems/);
    expect(msg).toMatch(/unet\/config\.json is not valid JSON/);
    expect(msg).toMatch(/vae \(component vae: diffusers\.AutoencoderKL\) is missing/);
    expect(msg).toMatch(/tokenizer\/merges\.txt is missing/);
    expect(msg).toMatch(/scheduler\/scheduler_config\.json is missing/);
    await expect(readDiffusersPipeline(path.join(tmp, 'nowhere'))).rejects.toThrow(/is not a diffusers pipeline/);
  });
});
