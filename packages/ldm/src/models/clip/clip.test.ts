// CLIPTextModel against transformers' CLIPTextModel / CLIPTextModelWithProjection (fixtures from
// test-fixtures/models/generate.py): every hidden state, the final layer norm, the pooled token
// under both pooling rules, the projection; max |diff| <= 1e-4.

import { tensor, tidy } from '@denoise/core';
import { asyncReadBackend } from '@denoise/core/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../config-fields.js';
import { clipTextFromStateDict } from '../io.js';
import { io, loadFixture, maxAbsDiff, measured, report } from '../test-utils.js';
import { CLIPTextModel } from './clip-text.js';
import { clipTextConfig, parseCLIPTextConfig } from './config.js';

const TOL = 1e-4;

describe('CLIPTextModel vs transformers', () => {
  afterAll(() => report('CLIPTextModel'));
  for (const name of ['legacy-eos', 'with-projection']) {
    it(`${name}: hidden states, last hidden state, pooled output`, async () => {
      const f = await loadFixture(`clip-${name}`, 'model.safetensors');
      const model = clipTextFromStateDict(f.config, f.weights);
      expect(model.text_projection !== null).toBe(name === 'with-projection');
      const out = model.forward(io(f, 'in.input_ids'), { outputHiddenStates: true });
      const diffs: Record<string, number> = { last: maxAbsDiff(out.lastHiddenState, io(f, 'out.last_hidden_state')) };
      out.hiddenStates!.forEach((h, i) => (diffs[`hidden ${i}`] = maxAbsDiff(h, io(f, `out.hidden_states.${i}`))));
      expect(out.hiddenStates!.length).toBe(model.config.num_hidden_layers + 1);
      if (f.io.has('in.attention_mask')) diffs.masked = maxAbsDiff(model.forward(io(f, 'in.input_ids'), { attentionMask: io(f, 'in.attention_mask') }).lastHiddenState, io(f, 'out.last_hidden_state_masked'));
      if (f.io.has('out.pooler_output')) diffs.pooled = maxAbsDiff(out.pooledOutput, io(f, 'out.pooler_output'));
      if (f.io.has('out.text_embeds')) diffs.textEmbeds = maxAbsDiff(out.textEmbeds!, io(f, 'out.text_embeds'));
      for (const [k, v] of Object.entries(diffs)) {
        measured[`${name} ${k}`] = v;
        expect(v, k).toBeLessThanOrEqual(TOL);
      }
      // Ids as plain arrays give the same result.
      const ids = io(f, 'in.input_ids').arraySync() as number[][];
      expect(maxAbsDiff(model.forward(ids).lastHiddenState, out.lastHiddenState)).toBe(0);
      model.dispose();
    });
  }

  it('pooling rules: eos_token_id 2 pools at argmax(ids) (legacy), else at the first eos; latest keys on max id 49407', async () => {
    const f = await loadFixture('clip-with-projection', 'model.safetensors');
    const m = clipTextFromStateDict(f.config, f.weights);
    // eos 60: the first 60 in each row.
    expect(m.pooledPositions([[59, 3, 63, 4, 60, 60], [59, 60, 60, 60, 60, 60]])).toEqual([4, 1]);
    expect(m.pooledPositions([[59, 3, 4]])).toEqual([0]); // no eos: position 0, as argmax of all-zero
    const legacy = new CLIPTextModel({ vocab_size: 50000, hidden_size: 4, num_attention_heads: 1, intermediate_size: 4, num_hidden_layers: 1, eos_token_id: 2 });
    expect(legacy.pooledPositions([[49406, 320, 49407, 0, 0], [49406, 2, 7, 49407, 49407]])).toEqual([2, 3]);
    legacy.poolingRule = 'latest';
    expect(legacy.pooledPositions([[49406, 320, 49407, 0, 0], [49406, 2, 7, 49407, 49407]])).toEqual([2, 3]);
    // The rules differ only when the ids lack CLIP's end token: legacy argmax, latest first eos_token_id.
    expect(legacy.pooledPositions([[5, 2, 9, 2]])).toEqual([1]);
    legacy.poolingRule = 'legacy';
    expect(legacy.pooledPositions([[5, 2, 9, 2]])).toEqual([2]);
    // Ids as a tensor on a backend that reads only asynchronously (WebGPU): a typed error saying
    // to pass arrays, which work on every backend.
    const ids = tensor([49406, 320, 49407], [1, 3], { dtype: 'int32', backend: asyncReadBackend() });
    expect(() => legacy.forward(ids)).toThrow(
      'CLIPTextModel.forward: inputIds as a tensor are read on the host to find each row\'s end token, and backend "reference-async-read" reads only asynchronously; pass the ids as arrays of integers (a tokenizer\'s output) instead',
    );
    ids.dispose();
    m.dispose();
  });

  it('clip skip: promptEmbeds(ids, 1) is the final layer norm of the penultimate layer', async () => {
    const f = await loadFixture('clip-legacy-eos', 'model.safetensors');
    const model = clipTextFromStateDict(f.config, f.weights);
    const ids = io(f, 'in.input_ids');
    tidy(() => {
      expect(maxAbsDiff(model.promptEmbeds(ids), io(f, 'out.last_hidden_state'))).toBeLessThanOrEqual(TOL);
      const skip1 = model.promptEmbeds(ids, 1);
      const expected = model.text_model.final_layer_norm.forward(io(f, 'out.hidden_states.1'));
      expect(maxAbsDiff(skip1, expected)).toBeLessThanOrEqual(TOL);
      expect(() => model.promptEmbeds(ids, 2)).toThrow(/clipSkip must be an integer in \[0, 2\)/);
    });
    model.dispose();
  });

  it('a padding mask keeps the unpadded prefix unchanged (causal) and checks its shape', async () => {
    const f = await loadFixture('clip-legacy-eos', 'model.safetensors');
    const model = clipTextFromStateDict(f.config, f.weights);
    const ids = io(f, 'in.input_ids');
    tidy(() => {
      const mask = [new Array(10).fill(1), [1, 1, 1, 1, 1, 1, 1, 1, 0, 0]];
      const masked = model.forward(ids, { attentionMask: mask }).lastHiddenState.arraySync() as number[][][];
      const plain = model.forward(ids).lastHiddenState.arraySync() as number[][][];
      expect(masked[1]!.slice(0, 8)).toEqual(plain[1]!.slice(0, 8));
      expect(() => model.forward(ids, { attentionMask: tensor([1, 1], [1, 2]) })).toThrow(/attentionMask must be \[2, 10\]/);
      expect(() => model.forward([[1, 2, 99]])).toThrow(/outside the vocabulary/);
      expect(() => model.forward([new Array(13).fill(1)])).toThrow(/exceeds max_position_embeddings 12/);
    });
    model.dispose();
  });

  it('configs: SD 1.x defaults, transformers defaults, nested text_config, typed errors', () => {
    expect(clipTextConfig().hidden_size).toBe(768);
    expect(clipTextConfig().eos_token_id).toBe(2);
    expect(parseCLIPTextConfig({}).hidden_size).toBe(512);
    expect(parseCLIPTextConfig({}).eos_token_id).toBe(49407);
    expect(parseCLIPTextConfig({ text_config: { hidden_size: 1024, num_attention_heads: 16 } }).hidden_size).toBe(1024);
    expect(() => parseCLIPTextConfig({ hidden_act: 'swiglu', hidden_size: 10, num_attention_heads: 3 })).toThrow(ConfigError);
  });
});
