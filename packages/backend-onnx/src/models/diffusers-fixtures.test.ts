// The loader against an independent reference: a tiny pipeline exported by PyTorch's
// torch.onnx.export in diffusers' layout (unet weights in external data via the onnx package),
// with PyTorch's outputs for fixed inputs (test-fixtures/diffusers-onnx/generate.py; the files
// are committed, so this runs without Python).

import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { readFileSync } from 'node:fs';
import { type Tensor, ShapeError, createReferenceBackend, engine, tensor } from '@denoise/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DiffusersOnnxPipeline, loadDiffusersOnnx } from './diffusers.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const fixtures = path.resolve(here, '../../test-fixtures/diffusers-onnx');

interface Entry {
  shape: number[];
  dtype: string;
  values: number[];
}
type Expected = Record<'text_encoder' | 'unet' | 'vae_encoder' | 'vae_decoder', Record<string, Entry>>;

const expected = JSON.parse(readFileSync(path.join(fixtures, 'expected.json'), 'utf8')) as Expected;
const reference = createReferenceBackend();

function toTensor(e: Entry): Tensor {
  return tensor(e.dtype === 'int32' ? Int32Array.from(e.values) : Float32Array.from(e.values), e.shape, { backend: reference });
}

async function expectClose(got: Tensor, want: Entry, tol = 1e-4): Promise<void> {
  expect([...got.shape]).toEqual(want.shape);
  const values = await got.data();
  let worst = 0;
  for (let i = 0; i < want.values.length; i++) worst = Math.max(worst, Math.abs(values[i]! - want.values[i]!) / (1 + Math.abs(want.values[i]!)));
  expect(worst).toBeLessThan(tol);
}

describe("a PyTorch-exported pipeline in diffusers' ONNX layout", () => {
  let pipe: DiffusersOnnxPipeline;
  beforeAll(async () => {
    engine.setBackend(reference);
    pipe = await loadDiffusersOnnx(path.join(fixtures, 'pipeline'), { threads: 1 });
  });
  afterAll(() => pipe?.release());

  it("reads torch.onnx.export's signatures (symbolic dims included)", () => {
    expect(pipe.unet.model.input('sample')).toEqual({ name: 'sample', dtype: 'float32', shape: ['batch', 'channels', 'height', 'width'] });
    expect(pipe.unet.model.input('timestep')).toEqual({ name: 'timestep', dtype: 'float32', shape: ['batch'] });
    expect(pipe.textEncoder.model.input('input_ids')).toEqual({ name: 'input_ids', dtype: 'int32', shape: ['batch', 'sequence'] });
    expect(pipe.unet.integerTimesteps).toBe(false);
    expect(pipe.vaeEncoder).not.toBeNull();
  });

  it('text_encoder reproduces PyTorch (int32 ids)', async () => {
    const e = expected.text_encoder;
    const { lastHiddenState, poolerOutput } = await pipe.textEncoder.encode(toTensor(e.input_ids!));
    await expectClose(lastHiddenState, e.last_hidden_state!);
    await expectClose(poolerOutput!, e.pooler_output!);
  });

  it('unet (weights in external data) reproduces PyTorch', async () => {
    const e = expected.unet;
    const out = await pipe.unet.predict(toTensor(e.sample!), toTensor(e.timestep!), toTensor(e.encoder_hidden_states!));
    await expectClose(out, e.out_sample!);
  });

  it('a number timestep is broadcast to the batch', async () => {
    const e = expected.unet;
    const [t0, t1] = e.timestep!.values as [number, number];
    const sample = toTensor(e.sample!);
    const context = toTensor(e.encoder_hidden_states!);
    const both = await (await pipe.unet.predict(sample, toTensor(e.timestep!), context)).data();
    const first = await (await pipe.unet.predict(sample, t0, context)).data();
    const second = await (await pipe.unet.predict(sample, t1, context)).data();
    const half = both.length / 2;
    expect(Array.from(first.subarray(0, half))).toEqual(Array.from(both.subarray(0, half)));
    expect(Array.from(second.subarray(half))).toEqual(Array.from(both.subarray(half)));
  });

  it('vae_encoder and vae_decoder reproduce PyTorch', async () => {
    await expectClose(await pipe.vaeEncoder!.encode(toTensor(expected.vae_encoder.sample!)), expected.vae_encoder.latent_sample!);
    await expectClose(await pipe.vaeDecoder.decode(toTensor(expected.vae_decoder.latent_sample!)), expected.vae_decoder.sample!);
  });

  it("rejects inputs whose 'batch' disagrees", async () => {
    const e = expected.unet;
    const context = tensor(new Float32Array(3 * 7 * 16), [3, 7, 16], { backend: reference });
    const err = await pipe.unet.predict(toTensor(e.sample!), 1, context).catch((x: unknown) => x);
    expect(err).toBeInstanceOf(ShapeError);
    expect(String(err)).toMatch(/unet\.run: dimension 'batch' must take one size across inputs, but it is 2 in 'sample' \[2, 4, 4, 4\] and 3 in 'encoder_hidden_states' \[3, 7, 16\]/);
  });
});
