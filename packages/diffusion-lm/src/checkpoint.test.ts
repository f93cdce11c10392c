// Checkpoints: a saved model reloads with identical parameters and identical generations; the
// EMA copy loads by prefix; wrong files fail with one CheckpointError that lists every problem.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CheckpointError, engine, saveSafetensors, tidy, mul } from '@denoise/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { deserializeDiffusionLM, loadDiffusionLM, saveDiffusionLM, serializeDiffusionLM } from './checkpoint.js';
import { Vocabulary } from './data/vocab.js';
import { DiffusionLM } from './generate.js';
import { sqrtSchedule } from './model/loss.js';
import { type DiffusionLMConfig, initParams } from './model/model.js';

const vocab = new Vocabulary(['START', 'END', 'UNK', 'PAD', 'a', 'b', 'c']);
const C: DiffusionLMConfig = { vocabSize: 7, seqLen: 6, embedDim: 3, width: 8, layers: 1, heads: 2, diffusionSteps: 30 };
const dir = mkdtempSync(join(tmpdir(), 'dlm-ckpt-'));

beforeAll(() => engine.setBackend(engine.reference));

describe('Diffusion-LM checkpoints', () => {
  it('round-trip: same parameters, same samples; extra tensors and the EMA prefix', async () => {
    const model = new DiffusionLM(initParams(C, 1), C, vocab, sqrtSchedule(30));
    const ema = Object.fromEntries(Object.entries(model.params).map(([k, t]) => [`ema.${k}`, tidy(() => mul(t, 0.5))]));
    const path = join(dir, 'm.safetensors');
    await saveDiffusionLM(path, model, { extra: ema, metadata: { step: '12' } });
    const { model: back, extra, metadata } = await loadDiffusionLM(path);
    expect(metadata.step).toBe('12');
    expect(extra.size).toBe(Object.keys(ema).length);
    for (const [k, t] of Object.entries(model.params)) expect(Array.from(back.params[k]!.dataSync())).toEqual(Array.from(t.dataSync()));
    const a = await model.generate({ n: 2, seed: 5, steps: 5 });
    const b = await back.generate({ n: 2, seed: 5, steps: 5 });
    expect(b.texts).toEqual(a.texts);
    const { model: emaModel } = deserializeDiffusionLM(await serializeDiffusionLM(model, { extra: ema }), { paramsPrefix: 'ema.' });
    expect(Array.from(emaModel.params['LayerNorm.weight']!.dataSync())).toEqual([0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5]);
  });

  it('refuses other files, naming every missing or mismatched tensor', async () => {
    const model = new DiffusionLM(initParams(C, 2), C, vocab, sqrtSchedule(30));
    const plain = join(dir, 'plain.safetensors');
    await saveSafetensors(plain, { x: model.params['LayerNorm.bias']! });
    await expect(loadDiffusionLM(plain)).rejects.toThrow(/not a Diffusion-LM checkpoint/);
    const bytes = await serializeDiffusionLM(model);
    // A checkpoint whose config claims a wider model: every shape is wrong.
    const text = new TextDecoder().decode(bytes.slice(8, 8 + Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true))));
    const header = JSON.parse(text) as { __metadata__: Record<string, string> };
    const cfg = JSON.parse(header.__metadata__.config!) as DiffusionLMConfig;
    const wider = { ...cfg, width: 12, heads: 2 };
    const bad = await serializeDiffusionLM(new DiffusionLM(model.params, wider as DiffusionLMConfig, vocab, sqrtSchedule(30)));
    const err = (() => { try { deserializeDiffusionLM(bad); } catch (e) { return e; } })();
    expect(err).toBeInstanceOf(CheckpointError);
    expect(String(err)).toMatch(/wrong shapes: input_up_proj.0.weight: file \[8, 3\], model \[12, 3\]/);
    expect(String(err)).toMatch(/output_down_proj.2.weight: file \[3, 8\], model \[3, 12\]/);
    const trunc = join(dir, 'trunc.safetensors');
    writeFileSync(trunc, readFileSync(join(dir, 'm.safetensors')).subarray(0, 200));
    await expect(loadDiffusionLM(trunc)).rejects.toBeInstanceOf(CheckpointError);
    await expect(loadDiffusionLM(join(dir, 'nope.safetensors'))).rejects.toThrow();
  });
});
