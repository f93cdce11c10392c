// UNet2DConditionModel against diffusers' own UNet2DConditionModel (fixtures from
// test-fixtures/models/generate.py): five configurations, max |diff| <= 1e-4; attention slicing
// gives the same numbers; config validation.

import { InvalidArgumentError, ShapeError, tidy } from '@denoise/core';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../config-fields.js';
import { unetFromStateDict } from '../io.js';
import { io, loadFixture, maxAbsDiff, measured, report } from '../test-utils.js';
import { SD15_UNET, parseUNetConfig, resolveUNet, unetConfig } from './config.js';
import type { UNet2DConditionModel } from './unet.js';

const TOL = 1e-4;

async function run(name: string, slicing: Parameters<UNet2DConditionModel['setAttentionSlicing']>[0] = null) {
  const f = await loadFixture(`unet-${name}`);
  const model = unetFromStateDict(f.config, f.weights);
  model.setAttentionSlicing(slicing);
  const has = (k: string) => f.io.has(k);
  const t = io(f, 'in.timestep');
  const timestep = t.shape[0] === 1 ? t.item() : t; // one timestep: as a number, broadcast over the batch
  const out = model.forward(io(f, 'in.sample'), timestep, io(f, 'in.encoder_hidden_states'), {
    classLabels: has('in.class_labels') ? io(f, 'in.class_labels') : null,
    timestepCond: has('in.timestep_cond') ? io(f, 'in.timestep_cond') : null,
  });
  const diff = maxAbsDiff(out, io(f, 'out.sample'));
  model.dispose();
  return diff;
}

describe('UNet2DConditionModel vs diffusers', () => {
  afterAll(() => report('UNet2DConditionModel'));
  for (const name of ['sd15', 'sd2', 'inpaint-class', 'upscale-concat', 'projection']) {
    it(`${name}: same output`, async () => {
      const diff = await run(name);
      measured[name] = diff;
      expect(diff).toBeLessThanOrEqual(TOL);
    });
  }

  it('encoderAttentionMask: dropped context tokens become a -10000 bias, as in diffusers', async () => {
    const f = await loadFixture('unet-sd15');
    const model = unetFromStateDict(f.config, f.weights);
    const out = model.forward(io(f, 'in.sample'), io(f, 'in.timestep'), io(f, 'in.encoder_hidden_states'), { encoderAttentionMask: io(f, 'in.encoder_attention_mask') });
    measured['sd15 context mask'] = maxAbsDiff(out, io(f, 'out.sample_masked'));
    expect(measured['sd15 context mask']).toBeLessThanOrEqual(TOL);
    expect(maxAbsDiff(out, io(f, 'out.sample'))).toBeGreaterThan(1e-3);
    model.dispose();
  });

  it('attention slicing (one head at a time, query chunks of 7) gives the same output', async () => {
    const diff = await run('sd15', { slice: 'max', queryChunk: 7 });
    measured['sd15 sliced'] = diff;
    expect(diff).toBeLessThanOrEqual(TOL);
    expect(await run('sd2', { slice: 'auto' })).toBeLessThanOrEqual(TOL);
  });
});

describe('UNet config', () => {
  it('SD 1.x defaults and diffusers defaults differ only where diffusers\' class does', () => {
    const sd = unetConfig();
    expect(sd.cross_attention_dim).toBe(768);
    expect(sd.block_out_channels).toEqual([320, 640, 1280, 1280]);
    const d = parseUNetConfig({});
    expect(d.cross_attention_dim).toBe(1280);
    expect(d.sample_size).toBe(null);
    const r = resolveUNet(SD15_UNET as never);
    expect(r.timeEmbedDim).toBe(1280);
    expect(r.down.map((l) => [l.channels, l.heads, l.layers, l.attention])).toEqual([
      [320, 8, 2, true], [640, 8, 2, true], [1280, 8, 2, true], [1280, 8, 2, false],
    ]);
    expect(r.up.map((l) => [l.channels, l.prevChannels, l.inChannels, l.layers])).toEqual([
      [1280, 1280, 1280, 3], [1280, 1280, 640, 3], [640, 1280, 320, 3], [320, 640, 320, 3],
    ]);
  });

  it('attention_head_dim is the number of heads (SD 2.x lists); num_attention_heads overrides it', () => {
    const r = resolveUNet(unetConfig({ attention_head_dim: [5, 10, 20, 20] }));
    expect(r.down.map((l) => l.channels / l.heads)).toEqual([64, 64, 64, 64]);
    expect(r.up.map((l) => l.heads)).toEqual([20, 20, 10, 5]);
    expect(resolveUNet(unetConfig({ num_attention_heads: 5 })).down[0]!.heads).toBe(5);
  });

  it('every bad or unsupported field is reported in one ConfigError', () => {
    let err: unknown;
    try {
      parseUNetConfig({
        in_channels: 0, down_block_types: ['CrossAttnDownBlock2D', 'SimpleCrossAttnDownBlock2D'], dual_cross_attention: true,
        addition_embed_type: 'text_time', act_fn: 'tanh', time_embedding_type: 'fourier', attention_type: 'gated',
      });
    } catch (e) {
      err = e;
    }
    expect(ConfigError.isInstance(err)).toBe(true);
    expect(InvalidArgumentError.isInstance(err)).toBe(true);
    const e = err as ConfigError;
    expect(e.component).toBe('UNet2DConditionModel');
    const text = e.problems.join('\n');
    for (const field of ['in_channels', 'down_block_types', 'dual_cross_attention', 'addition_embed_type', 'act_fn', 'time_embedding_type', 'attention_type']) expect(text).toContain(field);
    expect(text).toContain('"SimpleCrossAttnDownBlock2D" is not supported');
    expect(e.message).toContain('addition_embed_type: "text_time" is not supported');
  });

  it('structural mismatches: list lengths, groups and heads that do not divide', () => {
    expect(() => unetConfig({ block_out_channels: [32, 64] })).toThrow(/block_out_channels: expected 4 entries/);
    expect(() => unetConfig({ block_out_channels: [320, 640, 1280, 1000] })).toThrow(/norm_num_groups: 32 does not divide/);
    expect(() => unetConfig({ attention_head_dim: 7 })).toThrow(/7 heads do not divide/);
    expect(() => unetConfig({ layers_per_block: [1, 2] })).toThrow(/layers_per_block: expected 4 entries/);
    expect(() => unetConfig({ class_embed_type: 'projection' })).toThrow(/needs projection_class_embeddings_input_dim/);
    expect(() => unetConfig({ transformer_layers_per_block: [1, [2, 2], 1, 1] })).toThrow(/reverse_transformer_layers_per_block/);
  });

  it('forward checks its inputs', async () => {
    const f = await loadFixture('unet-projection');
    const model = unetFromStateDict(f.config, f.weights);
    const x = io(f, 'in.sample');
    const ctx = io(f, 'in.encoder_hidden_states');
    tidy(() => {
      expect(() => model.forward(ctx, 1, ctx)).toThrow(ShapeError);
      expect(() => model.forward(x, 1, x)).toThrow(/encoderHiddenStates must be \[1, T, 5\]/);
      expect(() => model.forward(x, [1, 2], ctx, { classLabels: io(f, 'in.class_labels') })).toThrow(/timestep must be a finite number or 1 of them/);
      expect(() => model.forward(x, 1, ctx)).toThrow(/class-conditioned/);
    });
    model.dispose();
  });
});
