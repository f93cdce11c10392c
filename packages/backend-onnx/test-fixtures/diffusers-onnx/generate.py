#!/usr/bin/env python3
"""Reference fixtures for @denoise/backend-onnx's diffusers ONNX loader (src/models/diffusers.ts).

Builds a tiny random-weight PyTorch stand-in for each network of a Stable Diffusion pipeline,
exports each one with torch.onnx.export the way diffusers' scripts/convert_stable_diffusion_
checkpoint_to_onnx.py does (same input / output names, same dynamic axes, opset 14, the unet's
weights moved to one external data file `weights.pb` with the onnx package), and writes, next to
this script:

  pipeline/model_index.json                  as OnnxStableDiffusionPipeline.save_pretrained writes it
  pipeline/scheduler/scheduler_config.json   Stable Diffusion v1's PNDM config
  pipeline/text_encoder/model.onnx           input_ids int32 [batch, sequence]
                                             -> last_hidden_state, pooler_output
  pipeline/unet/model.onnx + weights.pb      sample [batch, channels, height, width],
                                             timestep float32 [batch], encoder_hidden_states
                                             [batch, sequence, hidden] -> out_sample
  pipeline/vae_encoder/model.onnx            sample -> latent_sample (the distribution's mean;
                                             diffusers' export bakes in a random draw instead)
  pipeline/vae_decoder/model.onnx            latent_sample -> sample
  expected.json                              fixed inputs and PyTorch's float32 outputs for them

The vitest suite src/models/diffusers-fixtures.test.ts loads the folder with loadDiffusersOnnx
and compares with expected.json (within 1e-4): an independent reference, since neither the
models nor the expected values come from this package's exporter. The files are committed; CI
does not run Python.

Not run in CI. It needs torch (tested with 1.13.1 CPU, Debian's python3-torch) and onnx (tested
with 1.12.0, python3-onnx).

Usage:
    python3 generate.py [--out DIR]
"""

import argparse
import json
import math
import os
import shutil

import onnx
import torch
import torch.nn.functional as F
from torch import nn

OPSET = 14
BATCH = 2
LATENT = 4  # latent channels
CHANNELS = 8
TOKENS = 7  # 77 in Stable Diffusion
HIDDEN = 16  # 768 in SD 1.x
VOCAB = 50
LATENT_SIZE = 4  # latent height / width (64 at 512x512)


class TextEncoder(nn.Module):
    """CLIP-text-model-shaped: token + position embeddings, one pre-LN block with self-attention."""

    def __init__(self):
        super().__init__()
        self.token_embedding = nn.Embedding(VOCAB, HIDDEN)
        self.position_embedding = nn.Parameter(torch.randn(TOKENS, HIDDEN) * 0.3)
        self.ln1 = nn.LayerNorm(HIDDEN)
        self.qkv = nn.Linear(HIDDEN, 3 * HIDDEN)
        self.proj = nn.Linear(HIDDEN, HIDDEN)
        self.ln2 = nn.LayerNorm(HIDDEN)
        self.fc = nn.Linear(HIDDEN, 2 * HIDDEN)
        self.fc_out = nn.Linear(2 * HIDDEN, HIDDEN)
        self.final_ln = nn.LayerNorm(HIDDEN)

    def forward(self, input_ids):
        x = self.token_embedding(input_ids) + self.position_embedding  # [B, T, D]
        q, k, v = self.qkv(self.ln1(x)).chunk(3, dim=-1)
        att = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(HIDDEN), dim=-1)
        x = x + self.proj(att @ v)
        x = x + self.fc_out(F.gelu(self.fc(self.ln2(x))))
        last = self.final_ln(x)
        # CLIP pools at the end-of-text token (the largest id); the same here.
        eot = input_ids.to(torch.int64).argmax(dim=-1)
        pooled = last[torch.arange(last.shape[0]), eot]
        return last, pooled


class UNet(nn.Module):
    """A conv net with a sinusoidal timestep embedding and one cross-attention to the text states."""

    def __init__(self):
        super().__init__()
        self.conv_in = nn.Conv2d(LATENT, CHANNELS, 3, padding=1)
        self.time_mlp = nn.Linear(CHANNELS, CHANNELS)
        self.norm = nn.GroupNorm(2, CHANNELS)
        self.to_q = nn.Linear(CHANNELS, CHANNELS, bias=False)
        self.to_k = nn.Linear(HIDDEN, CHANNELS, bias=False)
        self.to_v = nn.Linear(HIDDEN, CHANNELS, bias=False)
        self.to_out = nn.Linear(CHANNELS, CHANNELS)
        self.conv_out = nn.Conv2d(CHANNELS, LATENT, 3, padding=1)

    def forward(self, sample, timestep, encoder_hidden_states):
        half = CHANNELS // 2
        freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32) / half)
        args = timestep.to(torch.float32)[:, None] * freqs[None, :]
        temb = self.time_mlp(torch.cat([torch.sin(args), torch.cos(args)], dim=-1))  # [B, C]
        h = self.conv_in(sample) + temb[:, :, None, None]
        b, c, hh, ww = h.shape
        x = self.norm(h).reshape(b, c, hh * ww).transpose(1, 2)  # [B, HW, C]
        q = self.to_q(x)
        k = self.to_k(encoder_hidden_states)
        v = self.to_v(encoder_hidden_states)
        att = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(CHANNELS), dim=-1)
        x = self.to_out(att @ v).transpose(1, 2).reshape(b, c, hh, ww)
        return self.conv_out(F.silu(h + x))


class VaeEncoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv_in = nn.Conv2d(3, CHANNELS, 3, stride=2, padding=1)
        self.conv_out = nn.Conv2d(CHANNELS, 2 * LATENT, 1)

    def forward(self, sample):
        moments = self.conv_out(F.silu(self.conv_in(sample)))
        mean, _logvar = moments.chunk(2, dim=1)
        return mean


class VaeDecoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv_in = nn.Conv2d(LATENT, CHANNELS, 3, padding=1)
        self.conv_out = nn.Conv2d(CHANNELS, 3, 3, padding=1)

    def forward(self, latent_sample):
        h = F.silu(self.conv_in(latent_sample))
        h = F.interpolate(h, scale_factor=2.0, mode="nearest")
        return self.conv_out(h)


def export(model, args, path, input_names, output_names, dynamic_axes):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    torch.onnx.export(
        model,
        args,
        path,
        input_names=input_names,
        output_names=output_names,
        dynamic_axes=dynamic_axes,
        do_constant_folding=True,
        opset_version=OPSET,
    )


def to_list(t):
    return [float(v) for v in t.detach().to(torch.float32).reshape(-1).tolist()]


def entry(t):
    return {"shape": list(t.shape), "dtype": str(t.dtype).replace("torch.", ""), "values": to_list(t) if t.is_floating_point() else [int(v) for v in t.reshape(-1).tolist()]}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=os.path.dirname(os.path.abspath(__file__)))
    args = parser.parse_args()
    torch.manual_seed(0)
    out = os.path.join(args.out, "pipeline")
    shutil.rmtree(out, ignore_errors=True)

    text_encoder, unet, vae_encoder, vae_decoder = TextEncoder().eval(), UNet().eval(), VaeEncoder().eval(), VaeDecoder().eval()

    # Fixed inputs (drawn once from the seed, stored in expected.json).
    g = torch.Generator().manual_seed(1)
    input_ids = torch.randint(0, VOCAB, (BATCH, TOKENS), generator=g, dtype=torch.int64).to(torch.int32)
    latents = torch.randn(BATCH, LATENT, LATENT_SIZE, LATENT_SIZE, generator=g)
    timestep = torch.tensor([981.0, 1.0])
    images = torch.rand(1, 3, 2 * LATENT_SIZE, 2 * LATENT_SIZE, generator=g) * 2 - 1

    with torch.no_grad():
        # As in diffusers' convert script: text_encoder input_ids are int32.
        export(text_encoder, (input_ids,), os.path.join(out, "text_encoder", "model.onnx"),
               ["input_ids"], ["last_hidden_state", "pooler_output"],
               {"input_ids": {0: "batch", 1: "sequence"}})
        hidden, pooled = text_encoder(input_ids)

        unet_path = os.path.join(out, "unet", "model.onnx")
        export(unet, (latents, timestep, hidden), unet_path,
               ["sample", "timestep", "encoder_hidden_states"], ["out_sample"],
               {"sample": {0: "batch", 1: "channels", 2: "height", 3: "width"},
                "timestep": {0: "batch"},
                "encoder_hidden_states": {0: "batch", 1: "sequence"}})
        # As in diffusers' convert script: the unet's weights go to one external file.
        model = onnx.load(unet_path)
        onnx.save_model(model, unet_path, save_as_external_data=True, all_tensors_to_one_file=True,
                        location="weights.pb", size_threshold=256, convert_attribute=False)
        eps = unet(latents, timestep, hidden)

        export(vae_encoder, (images,), os.path.join(out, "vae_encoder", "model.onnx"),
               ["sample"], ["latent_sample"],
               {"sample": {0: "batch", 1: "channels", 2: "height", 3: "width"}})
        encoded = vae_encoder(images)

        export(vae_decoder, (latents,), os.path.join(out, "vae_decoder", "model.onnx"),
               ["latent_sample"], ["sample"],
               {"latent_sample": {0: "batch", 1: "channels", 2: "height", 3: "width"}})
        decoded = vae_decoder(latents)

    model_index = {
        "_class_name": "OnnxStableDiffusionPipeline",
        "_diffusers_version": "0.6.0",
        "feature_extractor": [None, None],
        "requires_safety_checker": False,
        "safety_checker": [None, None],
        "scheduler": ["diffusers", "PNDMScheduler"],
        "text_encoder": ["diffusers", "OnnxRuntimeModel"],
        "tokenizer": ["transformers", "CLIPTokenizer"],
        "unet": ["diffusers", "OnnxRuntimeModel"],
        "vae_decoder": ["diffusers", "OnnxRuntimeModel"],
        "vae_encoder": ["diffusers", "OnnxRuntimeModel"],
    }
    scheduler = {
        "_class_name": "PNDMScheduler",
        "_diffusers_version": "0.6.0",
        "beta_end": 0.012,
        "beta_schedule": "scaled_linear",
        "beta_start": 0.00085,
        "num_train_timesteps": 1000,
        "set_alpha_to_one": False,
        "skip_prk_steps": True,
        "steps_offset": 1,
        "trained_betas": None,
        "clip_sample": False,
    }
    with open(os.path.join(out, "model_index.json"), "w") as f:
        json.dump(model_index, f, indent=2)
    os.makedirs(os.path.join(out, "scheduler"), exist_ok=True)
    with open(os.path.join(out, "scheduler", "scheduler_config.json"), "w") as f:
        json.dump(scheduler, f, indent=2)

    expected = {
        "generator": f"generate.py with torch {torch.__version__}, onnx {onnx.__version__}, opset {OPSET}",
        "text_encoder": {"input_ids": entry(input_ids), "last_hidden_state": entry(hidden), "pooler_output": entry(pooled)},
        "unet": {"sample": entry(latents), "timestep": entry(timestep), "encoder_hidden_states": entry(hidden), "out_sample": entry(eps)},
        "vae_encoder": {"sample": entry(images), "latent_sample": entry(encoded)},
        "vae_decoder": {"latent_sample": entry(latents), "sample": entry(decoded)},
    }
    with open(os.path.join(args.out, "expected.json"), "w") as f:
        json.dump(expected, f)
    total = 0
    for root, _dirs, files in os.walk(args.out):
        for name in files:
            if name != "generate.py":
                total += os.path.getsize(os.path.join(root, name))
    print(f"wrote {out} and expected.json ({total} bytes)")


if __name__ == "__main__":
    main()
