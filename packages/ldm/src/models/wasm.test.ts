// The same exactness fixtures on the tfjs-wasm backend (float32 kernels, fused attention and
// softmax, XNNPACK matmuls and convolutions), so the models are checked on a production backend
// and not only on the float64-accumulating reference: max |diff| <= 1e-4 against diffusers /
// transformers.

import { setBackend } from '@denoise/core';
import { loadTfjsBackend } from '@denoise/backend-tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clipTextFromStateDict, unetFromStateDict, vaeFromStateDict } from './io.js';
import { io, loadFixture, maxAbsDiff, measured, report } from './test-utils.js';

const TOL = 1e-4;

beforeAll(async () => {
  await setBackend(await loadTfjsBackend('wasm', { threads: 2 }));
});
afterAll(() => report('tfjs-wasm'));

describe('models on tfjs-wasm vs the references', () => {
  it('UNet: sd15, sd2 (sliced), inpaint-class', async () => {
    for (const [name, slicing] of [['sd15', null], ['sd2', { slice: 'max' as const, queryChunk: 16 }], ['inpaint-class', null]] as const) {
      const f = await loadFixture(`unet-${name}`);
      const model = unetFromStateDict(f.config, f.weights);
      model.setAttentionSlicing(slicing);
      const t = io(f, 'in.timestep');
      const out = model.forward(io(f, 'in.sample'), t.shape[0] === 1 ? t.item() : t, io(f, 'in.encoder_hidden_states'), {
        classLabels: f.io.has('in.class_labels') ? io(f, 'in.class_labels') : null,
      });
      measured[`unet ${name}`] = maxAbsDiff(out, io(f, 'out.sample'));
      expect(measured[`unet ${name}`]).toBeLessThanOrEqual(TOL);
      model.dispose();
    }
  });

  it('VAE: posterior, decoding and tiled decoding', async () => {
    const f = await loadFixture('vae-two-level');
    const vae = vaeFromStateDict(f.config, f.weights);
    const post = vae.encode(io(f, 'in.sample'));
    measured['vae mean'] = maxAbsDiff(post.mean, io(f, 'out.mean'));
    measured['vae decoded'] = maxAbsDiff(vae.decode(io(f, 'in.latents')), io(f, 'out.decoded'));
    measured['vae tiled decoded'] = maxAbsDiff(vae.tiledDecode(io(f, 'in.tiled_latents')), io(f, 'out.tiled_decoded'));
    for (const k of ['vae mean', 'vae decoded', 'vae tiled decoded']) expect(measured[k]).toBeLessThanOrEqual(TOL);
    vae.dispose();
  });

  it('CLIP: last hidden state and pooled output', async () => {
    const f = await loadFixture('clip-legacy-eos', 'model.safetensors');
    const model = clipTextFromStateDict(f.config, f.weights);
    const out = model.forward(io(f, 'in.input_ids'));
    measured['clip last'] = maxAbsDiff(out.lastHiddenState, io(f, 'out.last_hidden_state'));
    measured['clip pooled'] = maxAbsDiff(out.pooledOutput, io(f, 'out.pooler_output'));
    expect(Math.max(measured['clip last']!, measured['clip pooled']!)).toBeLessThanOrEqual(TOL);
    model.dispose();
  });
});
