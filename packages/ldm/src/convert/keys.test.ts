// The single-file key tables for the full Stable Diffusion 1.x configs, checked key by key
// against the rules of diffusers' conversion (src/diffusers/loaders/single_file_utils.py at
// 58eb52c, the code behind scripts/convert_original_stable_diffusion_to_diffusers.py), written
// out by hand here so that the table and its inverse cannot share a mistake unnoticed; the
// round trips in single-file.test.ts then cover every key of several configs. No weights are
// needed: the tables come from the models' parameter lists.

import { describe, expect, it } from 'vitest';
import { CLIPTextModel } from '../models/clip/clip-text.js';
import { UNet2DConditionModel } from '../models/unet/unet.js';
import { AutoencoderKL } from '../models/vae/autoencoder-kl.js';
import { clipSingleFileKeys, unetSingleFileKeys, vaeSingleFileKeys, type SingleFileKey } from './keys.js';
import { emaKey } from './single-file.js';

const byFile = (table: SingleFileKey[]) => new Map(table.map((k) => [k.file, k]));

describe('SD 1.x single-file key tables', () => {
  const unet = byFile(unetSingleFileKeys(new UNet2DConditionModel()));
  const vae = byFile(vaeSingleFileKeys(new AutoencoderKL()));
  const clip = byFile(clipSingleFileKeys(new CLIPTextModel()));

  it('has one file key per parameter (686 UNet, 248 VAE, 196 CLIP tensors, as in v1-5-pruned)', () => {
    expect(unet.size).toBe(686);
    expect(vae.size).toBe(248);
    expect(clip.size).toBe(196);
    expect(new Set([...unet.values()].map((k) => k.param)).size).toBe(686);
  });

  // [file key, diffusers key, the rule in single_file_utils.py that maps it]
  const UNET_CASES: Array<[string, string, string]> = [
    // DIFFUSERS_TO_LDM_MAPPING["unet"]["layers"]: "time_embedding.linear_2.bias": "time_embed.2.bias"
    ['time_embed.2.bias', 'time_embedding.linear_2.bias', 'fixed'],
    // "conv_in.weight": "input_blocks.0.0.weight"; "conv_out.weight": "out.2.weight"
    ['input_blocks.0.0.weight', 'conv_in.weight', 'fixed'],
    ['out.2.weight', 'conv_out.weight', 'fixed'],
    // convert_ldm_unet_checkpoint, down blocks: block_id = (i - 1) // (layers_per_block + 1) = 0,
    // layer_in_block_id = (i - 1) % 3 = 0; update_unet_resnet_ldm_to_diffusers: in_layers.0 -> norm1
    ['input_blocks.1.0.in_layers.0.weight', 'down_blocks.0.resnets.0.norm1.weight', 'down resnet'],
    // i = 3: "input_blocks.{i}.0.op.weight" -> "down_blocks.{block_id}.downsamplers.0.conv.weight", block_id = 2 // 3 = 0
    ['input_blocks.3.0.op.weight', 'down_blocks.0.downsamplers.0.conv.weight', 'downsampler'],
    // i = 4: block 1, layer 0; skip_connection -> conv_shortcut (320 -> 640 channels)
    ['input_blocks.4.0.skip_connection.weight', 'down_blocks.1.resnets.0.conv_shortcut.weight', 'down resnet'],
    // i = 8: block (8-1)//3 = 2, layer 7%3 = 1; attentions: "input_blocks.{i}.1" -> "down_blocks.{block_id}.attentions.{layer_in_block_id}"
    ['input_blocks.8.1.transformer_blocks.0.attn2.to_k.weight', 'down_blocks.2.attentions.1.transformer_blocks.0.attn2.to_k.weight', 'down attention'],
    // i = 11: block 3 (no attention), layer 1; emb_layers.1 -> time_emb_proj
    ['input_blocks.11.0.emb_layers.1.weight', 'down_blocks.3.resnets.1.time_emb_proj.weight', 'down resnet'],
    // mid blocks: key 1 is odd -> "mid_block.attentions.{max(key - 1, 0)}" = attentions.0
    ['middle_block.1.proj_in.weight', 'mid_block.attentions.0.proj_in.weight', 'mid attention'],
    // key 2 is even -> "mid_block.resnets.{max(2 - 1, 0)}" = resnets.1; out_layers.3 -> conv2
    ['middle_block.2.out_layers.3.weight', 'mid_block.resnets.1.conv2.weight', 'mid resnet'],
    // up blocks: i = 2: block 2 // 3 = 0, no attention there: "output_blocks.{i}.1.conv" -> upsamplers.0.conv
    ['output_blocks.2.1.conv.weight', 'up_blocks.0.upsamplers.0.conv.weight', 'upsampler'],
    // i = 5: block 1 with attention: "output_blocks.{i}.2.conv" -> upsamplers.0.conv
    ['output_blocks.5.2.conv.bias', 'up_blocks.1.upsamplers.0.conv.bias', 'upsampler'],
    // i = 3: block 1, layer 0; out_layers.0 -> norm2
    ['output_blocks.3.0.out_layers.0.bias', 'up_blocks.1.resnets.0.norm2.bias', 'up resnet'],
    // i = 11: block 3, layer 2; attentions "output_blocks.{i}.1" -> "up_blocks.3.attentions.2"
    ['output_blocks.11.1.transformer_blocks.0.ff.net.0.proj.weight', 'up_blocks.3.attentions.2.transformer_blocks.0.ff.net.0.proj.weight', 'up attention'],
    ['output_blocks.9.1.proj_out.bias', 'up_blocks.3.attentions.0.proj_out.bias', 'up attention'],
  ];
  it.each(UNET_CASES)('UNet model.diffusion_model.%s -> %s (%s)', (file, param) => {
    const k = unet.get(`model.diffusion_model.${file}`);
    expect(k?.param).toBe(param);
    expect(k?.conv1x1).toBe(false);
  });

  const VAE_CASES: Array<[string, string, boolean]> = [
    // DIFFUSERS_TO_LDM_MAPPING["vae"]: "encoder.conv_norm_out.weight": "encoder.norm_out.weight"
    ['encoder.norm_out.weight', 'encoder.conv_norm_out.weight', false],
    ['post_quant_conv.bias', 'post_quant_conv.bias', false],
    // convert_ldm_vae_checkpoint: "down.{i}.block" -> "down_blocks.{i}.resnets", nin_shortcut -> conv_shortcut
    ['encoder.down.1.block.0.nin_shortcut.weight', 'encoder.down_blocks.1.resnets.0.conv_shortcut.weight', false],
    // "encoder.down.{i}.downsample.conv.weight" -> "encoder.down_blocks.{i}.downsamplers.0.conv.weight"
    ['encoder.down.2.downsample.conv.weight', 'encoder.down_blocks.2.downsamplers.0.conv.weight', false],
    // up blocks: block_id = num_up_blocks - 1 - i: "up.3.block" -> "up_blocks.0.resnets"
    ['decoder.up.3.block.2.conv1.weight', 'decoder.up_blocks.0.resnets.2.conv1.weight', false],
    ['decoder.up.1.upsample.conv.weight', 'decoder.up_blocks.2.upsamplers.0.conv.weight', false],
    ['decoder.up.0.block.0.nin_shortcut.bias', 'decoder.up_blocks.3.resnets.0.conv_shortcut.bias', false],
    // "mid.block_{i}" -> "mid_block.resnets.{i - 1}"
    ['decoder.mid.block_2.norm2.bias', 'decoder.mid_block.resnets.1.norm2.bias', false],
    // update_vae_attentions_ldm_to_diffusers: "mid.attn_1" -> "mid_block.attentions.0", q -> to_q,
    // norm -> group_norm, proj_out -> to_out.0; conv_attn_to_linear takes [:, :, 0, 0] of the weights
    ['encoder.mid.attn_1.q.weight', 'encoder.mid_block.attentions.0.to_q.weight', true],
    ['encoder.mid.attn_1.q.bias', 'encoder.mid_block.attentions.0.to_q.bias', false],
    ['decoder.mid.attn_1.norm.weight', 'decoder.mid_block.attentions.0.group_norm.weight', false],
    ['decoder.mid.attn_1.proj_out.weight', 'decoder.mid_block.attentions.0.to_out.0.weight', true],
  ];
  it.each(VAE_CASES)('VAE first_stage_model.%s -> %s (1x1 conv: %s)', (file, param, conv1x1) => {
    const k = vae.get(`first_stage_model.${file}`);
    expect(k?.param).toBe(param);
    expect(k?.conv1x1).toBe(conv1x1);
  });

  it('CLIP: convert_ldm_clip_checkpoint removes the prefix cond_stage_model.transformer.', () => {
    expect(clip.get('cond_stage_model.transformer.text_model.encoder.layers.11.mlp.fc2.weight')?.param).toBe('text_model.encoder.layers.11.mlp.fc2.weight');
    expect(clip.get('cond_stage_model.transformer.text_model.embeddings.position_embedding.weight')?.shape).toEqual([77, 768]);
  });

  it('EMA keys: convert_ldm_unet_checkpoint reads "model_ema." + "".join(key.split(".")[1:])', () => {
    expect(emaKey('model.diffusion_model.input_blocks.1.1.proj_in.weight')).toBe('model_ema.diffusion_modelinput_blocks11proj_inweight');
  });

  it('a parameter the original layout cannot name is an error, not a gap', () => {
    expect(() => unetSingleFileKeys(new UNet2DConditionModel({ time_cond_proj_dim: 8 }))).toThrow(/time_embedding\.cond_proj\.weight/);
    expect(() => unetSingleFileKeys(new UNet2DConditionModel({ encoder_hid_dim: 1024 }))).toThrow(/encoder_hid_proj/);
  });
});
