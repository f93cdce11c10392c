// loadOnnxModel / OnnxModel.run on models this package exported (tiny-diffusers.ts): outputs equal
// the eager core forward on the reference backend, every conversion the module promises, and a
// typed error naming the input, the expected and the actual value for everything else.

import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CheckpointError, DTypeError, Generator, InvalidArgumentError, ShapeError, type Tensor, createReferenceBackend, engine, randn, tensor } from '@denoise/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromFloat16Bits, toFloat16Bits } from './float16.js';
import { type OnnxModel, loadOnnxModel } from './onnx-model.js';
import { TINY, type TinyPipeline, maxAbsDiff, rejection, saveTinyDiffusersOnnx, tinyPipeline } from './tiny-diffusers.js';

const reference = createReferenceBackend();

describe('float16 conversions', () => {
  it('rounds to nearest even, saturates to infinity, keeps subnormals', () => {
    expect(toFloat16Bits(1)).toBe(0x3c00);
    expect(toFloat16Bits(-2)).toBe(0xc000);
    expect(toFloat16Bits(65504)).toBe(0x7bff);
    expect(toFloat16Bits(65520)).toBe(0x7c00); // the tie above the largest half rounds to even: infinity
    expect(toFloat16Bits(1 + 2 ** -11)).toBe(0x3c00); // a tie: to the even mantissa
    expect(toFloat16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02);
    expect(toFloat16Bits(2 ** -24)).toBe(0x0001);
    expect(toFloat16Bits(2 ** -25)).toBe(0x0000); // a tie with zero
    expect(toFloat16Bits(1.5 * 2 ** -25)).toBe(0x0001);
    expect(toFloat16Bits(-0)).toBe(0x8000);
    expect(toFloat16Bits(Infinity)).toBe(0x7c00);
    expect(Number.isNaN(fromFloat16Bits(toFloat16Bits(NaN)))).toBe(true);
  });
  it('every finite half survives a round trip through numbers', () => {
    const wrong: number[] = [];
    for (let h = 0; h < 0x10000; h++) {
      if ((h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0) continue; // NaN payloads
      if (toFloat16Bits(fromFloat16Bits(h)) !== h) wrong.push(h);
    }
    expect(wrong).toEqual([]);
  });
});

describe('loadOnnxModel and OnnxModel.run', () => {
  let dir: string;
  let pipe: TinyPipeline;
  let unet: OnnxModel;
  let unetInt: OnnxModel;
  let textInt64: OnnxModel;
  const gen = new Generator(3);
  const prev = engine.backend;

  beforeAll(async () => {
    engine.setBackend(reference);
    dir = mkdtempSync(path.join(tmpdir(), 'denoise-onnx-model-'));
    pipe = tinyPipeline();
    await saveTinyDiffusersOnnx(path.join(dir, 'f32'), pipe, { vaeEncoder: false });
    await saveTinyDiffusersOnnx(path.join(dir, 'int'), pipe, { timestep: 'int64', inputIds: 'int64', fp16Unet: true, vaeEncoder: false });
    unet = await loadOnnxModel(path.join(dir, 'f32', 'unet', 'model.onnx'), { threads: 1 });
    unetInt = await loadOnnxModel(path.join(dir, 'int', 'unet', 'model.onnx'), { threads: 1, name: 'unet16' });
    textInt64 = await loadOnnxModel(path.join(dir, 'int', 'text_encoder', 'model.onnx'), { threads: 1 });
  });
  afterAll(async () => {
    await Promise.all([unet, unetInt, textInt64].map((m) => m?.release()));
    rmSync(dir, { recursive: true, force: true });
    engine.setBackend(prev);
  });

  const inputs = (b: number, h = 8, w = 8) => ({
    sample: randn([b, TINY.latentChannels, h, w], gen),
    context: randn([b, TINY.tokens, TINY.hidden], gen),
  });

  it('knows its inputs and outputs: names, dtypes, symbolic dims', () => {
    expect(unet.name).toBe('unet');
    expect(unet.inputs).toEqual([
      { name: 'sample', dtype: 'float32', shape: ['batch', 4, 'height', 'width'] },
      { name: 'timestep', dtype: 'float32', shape: ['batch'] },
      { name: 'encoder_hidden_states', dtype: 'float32', shape: ['batch', TINY.tokens, TINY.hidden] },
    ]);
    expect(unet.outputs).toEqual([{ name: 'out_sample', dtype: 'float32', shape: ['batch', 4, 'height', 'width'] }]);
    expect(unetInt.input('timestep')).toEqual({ name: 'timestep', dtype: 'int64', shape: ['batch'] });
    expect(unetInt.input('sample')!.dtype).toBe('float16');
    expect(unet.signature).toMatch(/^sample: float32 \[batch, 4, height, width\], .* -> out_sample: float32/);
  });

  it('equals the eager forward at other batch and spatial sizes (a number timestep broadcast to the batch)', async () => {
    const { sample, context } = inputs(3, 6, 10);
    const got = await unet.run({ sample, timestep: 421, encoder_hidden_states: context });
    expect(Object.keys(got)).toEqual(['out_sample']);
    expect(await maxAbsDiff(got.out_sample!, pipe.unet(sample, tensor([421, 421, 421]), context))).toBeLessThan(1e-4);
    const t = tensor([1, 500, 999]);
    const perEntry = await unet.run({ sample, timestep: t, encoder_hidden_states: context });
    expect(await maxAbsDiff(perEntry.out_sample!, pipe.unet(sample, t, context))).toBeLessThan(1e-4);
  });

  it('accepts { data, dims } host inputs', async () => {
    const { sample, context } = inputs(1);
    const got = await unet.run({ sample: { data: (await sample.data()) as Float32Array, dims: sample.shape }, timestep: { data: Float32Array.of(7), dims: [1] }, encoder_hidden_states: context });
    expect(await maxAbsDiff(got.out_sample!, pipe.unet(sample, tensor([7]), context))).toBeLessThan(1e-4);
  });

  it('puts outputs on options.backend, else on the first Tensor input\'s backend', async () => {
    const other = createReferenceBackend();
    const { sample, context } = inputs(1);
    const onInput = await unet.run({ sample, timestep: 1, encoder_hidden_states: context });
    expect(onInput.out_sample!.backend).toBe(reference);
    const onOption = await unet.run({ sample, timestep: 1, encoder_hidden_states: context }, { backend: other });
    expect(onOption.out_sample!.backend).toBe(other);
  });

  it('feeds int32 tensors and integer numbers to int64 inputs', async () => {
    const ids = tensor(Int32Array.from([1, 4, 0, 10, 3, 2, 2, 9, 5, 7]), [2, TINY.tokens]);
    const got = await textInt64.run({ input_ids: ids });
    const [last, pooled] = pipe.textEncoder(ids);
    expect(await maxAbsDiff(got.last_hidden_state!, last!)).toBeLessThan(1e-4);
    expect(await maxAbsDiff(got.pooler_output!, pooled!)).toBeLessThan(1e-4);
    const ts = tensor(Int32Array.from([3, 998]), [2]);
    const { sample, context } = inputs(2);
    const byTensor = await unetInt.run({ sample, timestep: ts, encoder_hidden_states: context });
    const byNumber = await unetInt.run({ sample, timestep: 998, encoder_hidden_states: context });
    expect(byTensor.out_sample!.dtype).toBe('float32');
    const a = await byTensor.out_sample!.data();
    const b = await byNumber.out_sample!.data();
    expect(Array.from(a.subarray(a.length / 2))).toEqual(Array.from(b.subarray(b.length / 2)));
  });

  it('rounds float32 inputs to float16 and returns float16 outputs as float32', async () => {
    const { sample, context } = inputs(2);
    const got = await unetInt.run({ sample, timestep: 10, encoder_hidden_states: context });
    expect(got.out_sample!.dtype).toBe('float32');
    // Reference: the eager forward on the float16-rounded inputs, its output rounded to float16.
    const round16 = async (t: Tensor) => tensor(Float32Array.from(await t.data(), (v) => fromFloat16Bits(toFloat16Bits(v))), t.shape);
    const want = pipe.unet(await round16(sample), tensor([10, 10]), await round16(context));
    // Every output value is a float16 value, within half a float16 ulp (2^-11 relative) of the reference.
    const w = await want.data();
    const g = await got.out_sample!.data();
    for (let i = 0; i < w.length; i++) {
      expect(fromFloat16Bits(toFloat16Bits(g[i]!))).toBe(g[i]);
      expect(Math.abs(g[i]! - w[i]!)).toBeLessThanOrEqual(1e-4 + Math.abs(w[i]!) * 2 ** -11);
    }
  });

  describe('checks before running', () => {
    it('lists every missing input, with the model\'s signature', async () => {
      const { sample } = inputs(1);
      const e = await rejection(unet.run({ sample }));
      expect(e).toBeInstanceOf(InvalidArgumentError);
      expect(e.message).toBe("unet.run: missing input timestep: float32 [batch], encoder_hidden_states: float32 [batch, 5, 6]");
    });
    it('rejects unknown inputs', async () => {
      const { sample, context } = inputs(1);
      const e = await rejection(unet.run({ sample, timestep: 1, encoder_hidden_states: context, text_embeds: context }));
      expect(e).toBeInstanceOf(InvalidArgumentError);
      expect(e.message).toMatch(/^unet\.run: the model has no input 'text_embeds'; it takes sample: float32 \[batch, 4, height, width\], timestep/);
    });
    it('rejects a wrong rank and a wrong fixed dim', async () => {
      const { context } = inputs(1);
      const e1 = await rejection(unet.run({ sample: randn([4, 8, 8], gen), timestep: 1, encoder_hidden_states: context }));
      expect(e1).toBeInstanceOf(ShapeError);
      expect(e1.message).toBe("unet.run: input 'sample' must be [batch, 4, height, width], got [4, 8, 8]");
      const e2 = await rejection(unet.run({ sample: randn([1, 3, 8, 8], gen), timestep: 1, encoder_hidden_states: context }));
      expect(e2).toBeInstanceOf(ShapeError);
      expect(e2.message).toBe("unet.run: input 'sample' must be [batch, 4, height, width], got [1, 3, 8, 8]");
    });
    it('rejects a symbolic dim that takes two sizes', async () => {
      const { sample } = inputs(2);
      const { context } = inputs(3);
      const e = await rejection(unet.run({ sample, timestep: 1, encoder_hidden_states: context }));
      expect(e).toBeInstanceOf(ShapeError);
      expect(e.message).toBe("unet.run: dimension 'batch' must take one size across inputs, but it is 2 in 'sample' [2, 4, 8, 8] and 3 in 'encoder_hidden_states' [3, 5, 6]");
      const e2 = await rejection(unet.run({ sample, timestep: tensor([1, 2, 3]), encoder_hidden_states: inputs(2).context }));
      expect(e2).toBeInstanceOf(ShapeError);
      expect(e2.message).toMatch(/'batch' .* 2 in 'sample' \[2, 4, 8, 8\] and 3 in 'timestep' \[3\]/);
    });
    it('never coerces a float tensor into an int64 input, float64 into float32, or a fraction into int64', async () => {
      const { sample, context } = inputs(1);
      const e1 = await rejection(unetInt.run({ sample, timestep: tensor([1.5]), encoder_hidden_states: context }));
      expect(e1).toBeInstanceOf(DTypeError);
      expect(e1.message).toBe("unet16.run: input 'timestep' must be int64 (int32 tensors and integer numbers convert), got float32");
      const e2 = await rejection(unetInt.run({ sample, timestep: 1.5, encoder_hidden_states: context }));
      expect(e2).toBeInstanceOf(DTypeError);
      expect(e2.message).toBe("unet16.run: input 'timestep' is int64, so the number must be an integer, got 1.5");
      const s64 = tensor(Float64Array.from(await sample.data()), sample.shape, { dtype: 'float64' });
      const e3 = await rejection(unet.run({ sample: s64, timestep: 1, encoder_hidden_states: context }));
      expect(e3).toBeInstanceOf(DTypeError);
      expect(e3.message).toBe("unet.run: input 'sample' must be float32, got float64");
      const ids = tensor(Float32Array.from({ length: 2 * TINY.tokens }, () => 1), [2, TINY.tokens]);
      const e4 = await rejection(textInt64.run({ input_ids: ids }));
      expect(e4).toBeInstanceOf(DTypeError);
      expect(e4.message).toMatch(/^text_encoder\.run: input 'input_ids' must be int64 .* got float32$/);
    });
    it('rejects numbers where the shape cannot be told, and malformed values', async () => {
      const { sample, context } = inputs(1);
      const e1 = await rejection(unet.run({ sample: 1, timestep: 1, encoder_hidden_states: context }));
      expect(e1).toBeInstanceOf(ShapeError);
      expect(e1.message).toMatch(/^unet\.run: input 'sample' is \[batch, 4, height, width\]; a number only fills a scalar, \[1\] or \[batch\] input/);
      const e2 = await rejection(unet.run({ sample, timestep: [1] as unknown as number, encoder_hidden_states: context }));
      expect(e2).toBeInstanceOf(InvalidArgumentError);
      expect(e2.message).toMatch(/^unet\.run: input 'timestep' must be a Tensor, a number or \{ data, dims \}, got \[1\]/);
      const e3 = await rejection(unet.run({ sample, timestep: { data: new Float32Array(3), dims: [1] }, encoder_hidden_states: context }));
      expect(e3).toBeInstanceOf(ShapeError);
      expect(e3.message).toBe("unet.run: input 'timestep' has 3 values for dims [1] (1 values)");
      const e4 = await rejection(unet.run({ sample, timestep: Number.NaN, encoder_hidden_states: context }));
      expect(e4).toBeInstanceOf(InvalidArgumentError);
    });
  });

  describe('file checks', () => {
    const unetDir = () => path.join(dir, 'f32', 'unet');
    async function loadError(file: string | Uint8Array): Promise<Error> {
      return rejection(loadOnnxModel(file, { threads: 1 }));
    }

    it('a missing file', async () => {
      const e = await loadError(path.join(dir, 'nope', 'model.onnx'));
      expect(e).toBeInstanceOf(CheckpointError);
      expect(e.message).toBe(`loadOnnxModel: model file not found: ${path.join(dir, 'nope', 'model.onnx')}`);
    });

    it('bytes that are not a model, a truncated model, a Git LFS pointer', async () => {
      const bad = path.join(dir, 'bad.onnx');
      writeFileSync(bad, Uint8Array.from({ length: 300 }, (_, i) => (i * 37 + 11) & 0xff));
      const e1 = await loadError(bad);
      expect(e1).toBeInstanceOf(CheckpointError);
      expect(e1.message).toMatch(/bad\.onnx is not a valid ONNX model: /);
      const bytes = readFileSync(path.join(unetDir(), 'model.onnx'));
      writeFileSync(bad, bytes.subarray(0, Math.floor(bytes.length / 2)));
      const e2 = await loadError(bad);
      expect(e2).toBeInstanceOf(CheckpointError);
      expect(e2.message).toMatch(/is not a valid ONNX model: .*runs past the end/);
      writeFileSync(bad, 'version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 3438167534\n');
      const e3 = await loadError(bad);
      expect(e3.message).toMatch(/is a Git LFS pointer file, not the model/);
      const e4 = await loadError(new Uint8Array([1, 2, 3, 4]));
      expect(e4).toBeInstanceOf(CheckpointError);
      expect(e4.message).toMatch(/^loadOnnxModel: the model is not a valid ONNX model/);
    });

    it('a missing or short external data file', async () => {
      const d = path.join(dir, 'unet-copy');
      mkdirSync(d);
      copyFileSync(path.join(unetDir(), 'model.onnx'), path.join(d, 'model.onnx'));
      const e1 = await loadError(path.join(d, 'model.onnx'));
      expect(e1).toBeInstanceOf(CheckpointError);
      expect(e1.message).toMatch(/^loadOnnxModel: cannot load .*unet-copy\/model\.onnx: missing .*unet-copy\/weights\.pb \(external data of .*model\.onnx: 3 tensors, e\.g\. 'ext\.unet\.conv_in\.weight'\)$/);
      copyFileSync(path.join(unetDir(), 'weights.pb'), path.join(d, 'weights.pb'));
      truncateSync(path.join(d, 'weights.pb'), 100);
      const e2 = await loadError(path.join(d, 'model.onnx'));
      expect(e2).toBeInstanceOf(CheckpointError);
      expect(e2.message).toMatch(/weights\.pb is truncated: it has 100 bytes, but \d+ tensor\(s\) of .* read past its end/);
      unlinkSync(path.join(d, 'weights.pb'));
      const e3 = await loadError(readFileSync(path.join(d, 'model.onnx')));
      expect(e3).toBeInstanceOf(CheckpointError);
      expect(e3.message).toMatch(/keeps \d+ tensor\(s\) in external data \(weights\.pb\); load it from its path/);
    });

    it('a file ONNX Runtime rejects after it parses', async () => {
      // A valid protobuf that is no runnable model: ir_version and an empty graph with an unknown op.
      const { onnx } = await import('../export.js');
      const bytes = onnx.ModelProto.encode(onnx.ModelProto.create({ irVersion: 8, opsetImport: [{ domain: '', version: 17 }], graph: { name: 'g', node: [{ opType: 'NoSuchOp', input: ['x'], output: ['y'] }], input: [], output: [{ name: 'y' }] } })).finish();
      const e = await loadError(bytes);
      expect(e).toBeInstanceOf(CheckpointError);
      expect(e.message).toMatch(/^loadOnnxModel: createOnnxSession: onnxruntime-node could not load the model: /);
    });

    it('rejects malformed arguments', async () => {
      expect(await loadError(42 as unknown as string)).toBeInstanceOf(InvalidArgumentError);
      const e = await rejection(loadOnnxModel(path.join(unetDir(), 'model.onnx'), { name: '' }));
      expect(e).toBeInstanceOf(InvalidArgumentError);
      expect(e.message).toBe('loadOnnxModel: options.name must be a non-empty string, got ""');
    });
  });
});
