// loadDiffusersOnnx on tiny pipelines this package saved in diffusers' ONNX layout
// (tiny-diffusers.ts): every component equals its eager core forward, the scheduler config is
// read, every missing or malformed part is reported in one error, and (last) a whole sampling
// run through core's async denoiser equals the same run with the eager network.

import { cpSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  CheckpointError,
  DTypeError,
  Generator,
  InvalidArgumentError,
  type Tensor,
  createReferenceBackend,
  createScheduler,
  engine,
  euler,
  mul,
  randn,
  sample,
  samplingSigmas,
  sliceAxis,
  tensor,
  vpDenoiser,
  vpDenoiserAsync,
} from '@denoise/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DiffusersOnnxPipeline, loadDiffusersOnnx } from './diffusers.js';
import { SD_SCHEDULER_CONFIG, TINY, type TinyPipeline, maxAbsDiff, rejection, saveTinyDiffusersOnnx, tinyPipeline } from './tiny-diffusers.js';

const reference = createReferenceBackend();

function loadError(dir: string): Promise<Error> {
  return rejection(loadDiffusersOnnx(dir, { threads: 1 }).then((p) => p.release()));
}

describe("loadDiffusersOnnx on diffusers' ONNX layout", () => {
  let root: string;
  let good: string;
  let pipe: TinyPipeline;
  let loaded: DiffusersOnnxPipeline;
  const gen = new Generator(11);
  const prev = engine.backend;

  /** A copy of the good pipeline to break. */
  const copy = (name: string): string => {
    const d = path.join(root, name);
    cpSync(good, d, { recursive: true });
    return d;
  };

  beforeAll(async () => {
    engine.setBackend(reference);
    root = mkdtempSync(path.join(tmpdir(), 'denoise-diffusers-onnx-'));
    good = path.join(root, 'good');
    pipe = tinyPipeline();
    await saveTinyDiffusersOnnx(good, pipe);
    loaded = await loadDiffusersOnnx(good, { threads: 1 });
  });
  afterAll(async () => {
    await loaded?.release();
    rmSync(root, { recursive: true, force: true });
    engine.setBackend(prev);
  });

  it('returns typed components, the scheduler config and its training schedule', () => {
    expect(loaded.modelIndex._class_name).toBe('OnnxStableDiffusionPipeline');
    expect(loaded.unet.model.name).toBe('unet');
    expect(loaded.unet.prediction).toBe('epsilon');
    expect(loaded.unet.timestepDType).toBe('float32');
    expect(loaded.vaeEncoder).not.toBeNull();
    expect(loaded.schedulerConfig).toEqual(SD_SCHEDULER_CONFIG);
    const scheduler = loaded.createScheduler();
    expect(scheduler.className).toBe('PNDMScheduler');
    expect(loaded.alphasCumprod).toEqual(createScheduler(SD_SCHEDULER_CONFIG).alphasCumprod);
    expect(loaded.denoiserOptions()).toEqual({ alphasCumprod: loaded.alphasCumprod, prediction: 'epsilon', quantize: false });
  });

  it('every component equals its eager forward (reference backend, float32)', async () => {
    const ids = tensor(Int32Array.from({ length: 3 * TINY.tokens }, (_, i) => (i * 7) % TINY.vocab), [3, TINY.tokens]);
    const { lastHiddenState, poolerOutput } = await loaded.textEncoder.encode(ids);
    const [last, pooled] = pipe.textEncoder(ids);
    expect(await maxAbsDiff(lastHiddenState, last!)).toBeLessThan(1e-4);
    expect(await maxAbsDiff(poolerOutput!, pooled!)).toBeLessThan(1e-4);

    const x = randn([3, TINY.latentChannels, 8, 8], gen);
    const eps = await loaded.unet.predict(x, 250, lastHiddenState);
    expect(await maxAbsDiff(eps, pipe.unet(x, tensor([250, 250, 250]), last!))).toBeLessThan(1e-4);

    const z = randn([1, TINY.latentChannels, TINY.latentSize, TINY.latentSize], gen);
    const image = await loaded.vaeDecoder.decode(z);
    expect(await maxAbsDiff(image, pipe.vaeDecoder(z))).toBeLessThan(1e-4);
    expect(await maxAbsDiff(await loaded.vaeEncoder!.encode(image), pipe.vaeEncoder(image))).toBeLessThan(1e-4);
  });

  it('component methods check their arguments', async () => {
    const ids = tensor(Float32Array.from({ length: TINY.tokens }, () => 1), [1, TINY.tokens]);
    await expect(loaded.textEncoder.encode(ids)).rejects.toThrow(DTypeError);
    await expect(loaded.textEncoder.encode(ids)).rejects.toThrow('textEncoder.encode: ids must be int32 token ids, got float32');
    await expect(loaded.vaeDecoder.decode([1, 2] as unknown as Tensor)).rejects.toThrow('vaeDecoder.decode: latents must be a Tensor (latents [B, 4, h, w]), got [1, 2]');
    await expect(loaded.vaeDecoder.decode(randn([1, 4, 5, 5], gen))).rejects.toThrow("vae_decoder.run: input 'latent_sample' must be [1, 4, 4, 4], got [1, 4, 5, 5]");
    const net = loaded.unet.asNetwork();
    await expect(net(randn([1, 4, 8, 8], gen), 3, {} as { context: Tensor })).rejects.toThrow(InvalidArgumentError);
    await expect(net(randn([1, 4, 8, 8], gen), 3, {} as { context: Tensor })).rejects.toThrow(/^unet\.asNetwork: cond must be \{ context: Tensor \}/);
  });

  it('reads int64 exports (timestep, input_ids) and v_prediction configs', async () => {
    const dir = path.join(root, 'int64');
    await saveTinyDiffusersOnnx(dir, pipe, { timestep: 'int64', inputIds: 'int64', vaeEncoder: false, scheduler: { prediction_type: 'v_prediction', _class_name: 'LMSDiscreteScheduler' } });
    const p = await loadDiffusersOnnx(dir, { threads: 1 });
    try {
      expect(p.vaeEncoder).toBeNull();
      expect(p.unet.integerTimesteps).toBe(true);
      expect(p.unet.prediction).toBe('v_prediction');
      // A class core does not implement still gives the training schedule (same betas keys).
      expect(p.denoiserOptions()).toEqual({ alphasCumprod: loaded.alphasCumprod, prediction: 'v_prediction', quantize: true });
      expect(() => p.createScheduler()).toThrow(/createScheduler: scheduler class "LMSDiscreteScheduler" is not supported/);
      const ids = tensor(Int32Array.from([3, 1, 4, 1, 5]), [1, TINY.tokens]);
      const { lastHiddenState } = await p.textEncoder.encode(ids);
      expect(await maxAbsDiff(lastHiddenState, pipe.textEncoder(ids)[0]!)).toBeLessThan(1e-4);
      const net = p.unet.asNetwork();
      const x = randn([1, TINY.latentChannels, 8, 8], gen);
      expect(await maxAbsDiff(await net(x, 17, { context: lastHiddenState }), pipe.unet(x, tensor([17]), lastHiddenState))).toBeLessThan(1e-4);
      await expect(net(x, 17.5, { context: lastHiddenState })).rejects.toThrow(DTypeError);
      await expect(net(x, 17.5, { context: lastHiddenState })).rejects.toThrow('unet.asNetwork: this unet takes int64 timesteps, so t must be an integer, got 17.5; wrap it with quantize: true (pipeline.denoiserOptions() sets it)');
    } finally {
      await p.release();
    }
  });

  describe('missing and malformed parts, reported together', () => {
    it('lists every missing file in one error', async () => {
      const d = copy('missing');
      unlinkSync(path.join(d, 'model_index.json'));
      unlinkSync(path.join(d, 'unet', 'weights.pb'));
      unlinkSync(path.join(d, 'vae_decoder', 'model.onnx'));
      unlinkSync(path.join(d, 'scheduler', 'scheduler_config.json'));
      const e = await loadError(d);
      expect(e).toBeInstanceOf(CheckpointError);
      expect(e.message).toBe(
        `loadDiffusersOnnx: ${d} is not a complete diffusers ONNX export: missing model_index.json, scheduler/scheduler_config.json, ` +
          "unet/weights.pb (external data of unet/model.onnx: 3 tensors, e.g. 'ext.unet.conv_in.weight'), vae_decoder/model.onnx",
      );
    });

    it('reports malformed JSON, corrupt and truncated models, and bad config values together', async () => {
      const d = copy('malformed');
      writeFileSync(path.join(d, 'model_index.json'), '["not", "an object"]');
      writeFileSync(path.join(d, 'scheduler', 'scheduler_config.json'), '{"_class_name": "PNDMScheduler", "prediction_type": "flow"');
      writeFileSync(path.join(d, 'text_encoder', 'model.onnx'), new Uint8Array([0xff, 0xff, 0xff, 0xff, 0x0f]));
      const weights = readFileSync(path.join(d, 'unet', 'weights.pb'));
      writeFileSync(path.join(d, 'unet', 'weights.pb'), weights.subarray(0, 64));
      const e = await loadError(d);
      expect(e).toBeInstanceOf(CheckpointError);
      expect(e.message).toMatch(/^loadDiffusersOnnx: .* is not a complete diffusers ONNX export: /);
      expect(e.message).toContain('model_index.json must hold a JSON object, it holds ["not", "an object"]');
      expect(e.message).toContain('scheduler/scheduler_config.json is not valid JSON');
      expect(e.message).toContain('text_encoder/model.onnx is not a valid ONNX model');
      expect(e.message).toMatch(/unet\/weights\.pb is truncated: it has 64 bytes, but \d tensor\(s\) of unet\/model\.onnx read past its end/);

      writeFileSync(path.join(d, 'scheduler', 'scheduler_config.json'), JSON.stringify({ ...SD_SCHEDULER_CONFIG, prediction_type: 'flow' }));
      expect((await loadError(d)).message).toContain('scheduler/scheduler_config.json prediction_type must be one of epsilon, v_prediction, sample, got "flow"');
    });

    it("names the inputs and outputs that are not diffusers'", async () => {
      const d = copy('renamed');
      // The unet's folder holds the VAE decoder; the text encoder lost its pooled output's partner.
      rmSync(path.join(d, 'unet'), { recursive: true });
      cpSync(path.join(d, 'vae_decoder'), path.join(d, 'unet'), { recursive: true });
      const e = await loadError(d);
      expect(e).toBeInstanceOf(CheckpointError);
      expect(e.message).toBe(
        `loadDiffusersOnnx: ${d} does not have diffusers' ONNX signatures: ` +
          "unet/model.onnx has no input 'sample' (its inputs: latent_sample); unet/model.onnx has no input 'timestep' (its inputs: latent_sample); " +
          "unet/model.onnx has no input 'encoder_hidden_states' (its inputs: latent_sample); unet/model.onnx has no output 'out_sample' (its outputs: sample)",
      );
    });

    it('points at PyTorch layouts and at folders that are not there', async () => {
      const d = path.join(root, 'pytorch');
      cpSync(path.join(good, 'scheduler'), path.join(d, 'scheduler'), { recursive: true });
      writeFileSync(path.join(d, 'model_index.json'), JSON.stringify({ _class_name: 'StableDiffusionPipeline', unet: ['diffusers', 'UNet2DConditionModel'] }));
      const e = await loadError(d);
      expect(e.message).toMatch(/is not a complete diffusers ONNX export \(model_index\.json names StableDiffusionPipeline, a PyTorch pipeline; export it to ONNX first\): missing text_encoder\/model\.onnx, unet\/model\.onnx, vae_decoder\/model\.onnx$/);
      const e2 = await loadError(path.join(root, 'nothing-here'));
      expect(e2).toBeInstanceOf(CheckpointError);
      expect(e2.message).toBe(`loadDiffusersOnnx: ${path.join(root, 'nothing-here')} is not a directory`);
      await expect(loadDiffusersOnnx('')).rejects.toThrow(InvalidArgumentError);
    });

    it('a vae_encoder listed in model_index.json must exist; one listed as absent is skipped', async () => {
      const d = copy('no-encoder');
      rmSync(path.join(d, 'vae_encoder'), { recursive: true });
      expect((await loadError(d)).message).toMatch(/: missing vae_encoder\/model\.onnx$/);
      const index = JSON.parse(readFileSync(path.join(d, 'model_index.json'), 'utf8')) as Record<string, unknown>;
      writeFileSync(path.join(d, 'model_index.json'), JSON.stringify({ ...index, vae_encoder: [null, null] }));
      const p = await loadDiffusersOnnx(d, { threads: 1 });
      expect(p.vaeEncoder).toBeNull();
      await p.release();
    });
  });

  it('samples end to end: vpDenoiserAsync over unet.asNetwork() equals vpDenoiser over the eager unet', async () => {
    const ids = tensor(Int32Array.from([1, 2, 3, 4, 5, 5, 4, 3, 2, 1]), [2, TINY.tokens]);
    const { lastHiddenState: context } = await loaded.textEncoder.encode(ids);
    const options = loaded.denoiserOptions();
    const sigmas = samplingSigmas({ alphasCumprod: options.alphasCumprod, steps: 4, spacing: 'leading', stepsOffset: 1 });
    const S = TINY.latentSize;
    const x = mul(randn([2, TINY.latentChannels, S, S], new Generator(5)), sigmas[0]!);
    const viaOnnx = await sample(euler(), vpDenoiserAsync(loaded.unet.asNetwork(), options), x, { sigmas, gen: new Generator(6), cond: { context } });
    const eagerNet = (xIn: Tensor, t: number, cond: { context: Tensor }) => pipe.unet(xIn, tensor(Array.from({ length: xIn.shape[0]! }, () => t)), cond.context);
    const viaEager = await sample(euler(), vpDenoiser(eagerNet, options), x, { sigmas, gen: new Generator(6), cond: { context } });
    expect(await maxAbsDiff(viaOnnx, viaEager)).toBeLessThan(1e-4);
    // The image the pipeline would show: batch entry 0, latents scaled by SD's 1 / 0.18215.
    const image = await loaded.vaeDecoder.decode(mul(sliceAxis(viaOnnx, 0, 0, 1), 1 / 0.18215));
    expect(await maxAbsDiff(image, pipe.vaeDecoder(mul(sliceAxis(viaEager, 0, 0, 1), 1 / 0.18215)))).toBeLessThan(1e-3);
  });
});
