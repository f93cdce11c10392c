#!/usr/bin/env python3
"""Pipeline fixtures for @denoise/ldm's StableDiffusionPipeline (src/pipelines/diffusers.test.ts).

A tiny Stable Diffusion (diffusers' UNet2DConditionModel and AutoencoderKL, transformers'
CLIPTextModel, random weights rounded to float16 so that both sides hold the same values) is run
through the denoising loop of diffusers' StableDiffusionPipeline.__call__ with diffusers' own
scheduler classes, from fixed starting latents, for several scheduler_config.json files:

    embeds = text_encoder(ids)[0]                  for the negative and the positive prompt
    scheduler.set_timesteps(steps); latents *= scheduler.init_noise_sigma
    for t in scheduler.timesteps:
        x = scheduler.scale_model_input(cat([latents] * 2), t)
        eps_u, eps_c = unet(x, t, cat([negative, positive])).chunk(2)
        latents = scheduler.step(eps_u + g (eps_c - eps_u), t, latents).prev_sample
    image = vae.decode(latents / scaling_factor)

The token ids are those CLIP's tokenizer gives for the prompts (written below; the TypeScript
test checks that the shipped tokenizer gives the same). Written: unet/, vae/, text_encoder/
(config.json + float16 safetensors, the diffusers layout) and one safetensors file per scheduler
with the starting latents, the final latents and the decoded image; and image-to-image runs
(StableDiffusionImg2ImgPipeline's loop: the posterior mean of an 8-bit image, noised with a fixed
noise at the strength's start step) and inpainting runs with a 4-channel UNet (the blend of
StableDiffusionInpaintPipeline: the same image, the same noise, the left half repainted), and with
a 9-channel inpainting UNet (unet-inpaint/); and the x4 upscaler's loop (unet-x4/, vae-x4/).

Run (Debian's CPU PyTorch 1.13):

    DIFFUSERS_SRC=/path/to/diffusers TRANSFORMERS_SRC=/path/to/transformers \\
        /usr/bin/python3 packages/ldm/test-fixtures/pipelines/generate.py

It reuses the stand-ins of ../models/generate.py (model classes) and of core's
test-fixtures/diffusers/generate.py (scheduler classes). Made from diffusers 58eb52c0 and
transformers 4.44.
"""

import importlib.util
import inspect
import json
import os
import struct
import sys
import tempfile

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "../../../.."))

PROMPT = "a photo of an astronaut riding a horse on mars"
NEGATIVE = "blurry, low quality"
PROMPT_IDS = [49406, 320, 1125, 539, 550, 18376, 6765, 320, 4558, 525, 7496] + [49407] * 66
NEGATIVE_IDS = [49406, 21977, 267, 1042, 3027] + [49407] * 72
GUIDANCE = 7.5
STEPS = 6
STRENGTH = 0.6
# Image-to-image: diffusers' PNDM slices its duplicated warm-up timestep list at t_start, which
# evaluates the model at timesteps that do not match the sample's noise level after the warm-up;
# that run is not reproduced, so PNDM is left out here.
IMG2IMG = ["ddim", "euler"]
# Inpainting with a 4-channel UNet (StableDiffusionInpaintPipeline's blend of the known latents):
# PNDM's warm-up blends its predictor sample too, which a sampler step does not expose; left out.
INPAINT = ["ddim", "euler"]
# Inpainting with a 9-channel UNet (input [latents, mask, masked-image latents]).
INPAINT9 = ["pndm", "euler"]
# The x4 upscaler layout (StableDiffusionUpscalePipeline): 7-channel UNet with a class embedding of
# the noise level, a VAE with a 4x factor, DDIM with v-prediction as the released model ships.
X4_SCHEDULER = dict(_class_name="DDIMScheduler", num_train_timesteps=1000, beta_start=0.0001, beta_end=0.02, beta_schedule="scaled_linear",
                    prediction_type="v_prediction", set_alpha_to_one=False, steps_offset=1, clip_sample=False)
X4_LOW_RES = dict(num_train_timesteps=1000, beta_start=0.0001, beta_end=0.02, beta_schedule="scaled_linear")
X4_NOISE_LEVEL = 20

SD = dict(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear")
SCHEDULERS = {
    "pndm": dict(_class_name="PNDMScheduler", **SD, set_alpha_to_one=False, skip_prk_steps=True, steps_offset=1, clip_sample=False),
    "ddim": dict(_class_name="DDIMScheduler", **SD, set_alpha_to_one=False, steps_offset=1, clip_sample=False),
    "euler": dict(_class_name="EulerDiscreteScheduler", **SD, steps_offset=1, timestep_spacing="linspace"),
    "dpmsolver": dict(_class_name="DPMSolverMultistepScheduler", **SD, steps_offset=1),
}

UNET = dict(
    sample_size=8, in_channels=4, out_channels=4, block_out_channels=[16, 32], layers_per_block=1,
    down_block_types=["CrossAttnDownBlock2D", "DownBlock2D"], up_block_types=["UpBlock2D", "CrossAttnUpBlock2D"],
    cross_attention_dim=16, attention_head_dim=8, norm_num_groups=8,
)
VAE = dict(
    in_channels=3, out_channels=3, block_out_channels=[16, 32], down_block_types=["DownEncoderBlock2D"] * 2,
    up_block_types=["UpDecoderBlock2D"] * 2, latent_channels=4, norm_num_groups=8, layers_per_block=1, sample_size=16,
)
CLIP = dict(vocab_size=49408, hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=2, max_position_embeddings=77)


def load(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def to_half_values(model):
    """Rounds every parameter to float16 (kept in float32): what the float16 files hold."""
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(p.half().float())


def save(path, tensors, dtype="F32"):
    """Writes tensors as safetensors in float32 ("F32") or float16 ("F16")."""
    np_dtype = {"F32": "<f4", "F16": "<f2"}[dtype]
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        a = tensors[name].detach().cpu().contiguous().numpy().astype(np_dtype)
        b = a.tobytes()
        header[name] = {"dtype": dtype, "shape": list(a.shape), "data_offsets": [offset, offset + len(b)]}
        offset += len(b)
        blobs.append(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def write_model(name, config, model, weights):
    out = os.path.join(HERE, name)
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(config, f, indent=2, sort_keys=True)
        f.write("\n")
    save(os.path.join(out, weights), dict(model.state_dict()), "F16")


def main():
    dsrc, tsrc = os.environ.get("DIFFUSERS_SRC"), os.environ.get("TRANSFORMERS_SRC")
    if not dsrc or not tsrc:
        sys.exit(__doc__)
    torch.set_num_threads(1)
    models = load(os.path.join(ROOT, "packages/ldm/test-fixtures/models/generate.py"), "ldm_model_fixtures")
    models.patch_torch_113()
    with tempfile.TemporaryDirectory() as root:
        models.build_package(root, "diffusers", dsrc, models.DIFFUSERS_FILES, models.DIFFUSERS_STUBS)
        models.build_package(root, "transformers", tsrc, models.TRANSFORMERS_FILES, models.TRANSFORMERS_STUBS)
        sys.path.insert(0, root)
        from diffusers.models.autoencoders.autoencoder_kl import AutoencoderKL
        from diffusers.models.unets.unet_2d_condition import UNet2DConditionModel
        from transformers.models.clip.configuration_clip import CLIPTextConfig
        from transformers.models.clip.modeling_clip import CLIPTextModel

        unet = UNet2DConditionModel(**UNET).eval()
        vae = AutoencoderKL(**VAE).eval()
        clip_config = CLIPTextConfig(**CLIP)
        clip = CLIPTextModel(clip_config).eval()
        for i, m in enumerate([unet, vae, clip]):
            models.randomize(m, 900 + i)
            to_half_values(m)
        write_model("unet", {**UNET, "_class_name": "UNet2DConditionModel"}, unet, "diffusion_pytorch_model.safetensors")
        write_model("vae", {**VAE, "_class_name": "AutoencoderKL", "scaling_factor": vae.config.scaling_factor}, vae, "diffusion_pytorch_model.safetensors")
        write_model("text_encoder", {**CLIP, "architectures": ["CLIPTextModel"], "model_type": "clip_text_model"}, clip, "model.safetensors")

        # The scheduler classes through core's stand-ins (they replace the `diffusers` modules;
        # the model objects above are already built).
        sched = load(os.path.join(ROOT, "packages/core/test-fixtures/diffusers/generate.py"), "core_scheduler_fixtures")
        classes = sched.load_schedulers(os.path.join(dsrc, "src/diffusers/schedulers"))

        with torch.no_grad():
            ids = torch.tensor([NEGATIVE_IDS, PROMPT_IDS], dtype=torch.int64)
            embeds = clip(input_ids=ids)[0]
            g = torch.Generator().manual_seed(1234)
            start = torch.randn((1, 4, 8, 8), generator=g)
            cases = {}
            for name, config in SCHEDULERS.items():
                # As from_config: keys the class does not take are left out.
                takes = inspect.signature(classes[config["_class_name"]].__init__).parameters
                cfg = {k: v for k, v in config.items() if k in takes}
                s = classes[config["_class_name"]](**cfg)
                s.set_timesteps(STEPS)
                latents = start * s.init_noise_sigma
                for t in s.timesteps:
                    x = s.scale_model_input(torch.cat([latents] * 2), t)
                    eps_u, eps_c = unet(x, t, encoder_hidden_states=embeds).sample.chunk(2)
                    latents = s.step(eps_u + GUIDANCE * (eps_c - eps_u), t, latents).prev_sample
                image = vae.decode(latents / vae.config.scaling_factor).sample
                save(os.path.join(HERE, f"run-{name}.safetensors"), {"start": start, "latents": latents, "image": image})
                cases[name] = {"scheduler": config, "timesteps": [int(t) if float(t).is_integer() else float(t) for t in s.timesteps]}
                print(f"{name}: timesteps {cases[name]['timesteps']}, |latents| max {latents.abs().max():.3f}, image range [{image.min():.3f}, {image.max():.3f}]")
            # Image-to-image (StableDiffusionImg2ImgPipeline's loop): the posterior mean of an 8-bit
            # image, noised at the strength's start step with a fixed noise, then denoised.
            rng = np.random.RandomState(7)
            pixels = rng.randint(0, 256, size=(16, 16, 3)).astype(np.uint8)
            image = torch.from_numpy(pixels.astype(np.float32) / 127.5 - 1).permute(2, 0, 1)[None]
            init = vae.encode(image).latent_dist.mean * vae.config.scaling_factor
            noise = torch.randn((1, 4, 8, 8), generator=g)
            for name in IMG2IMG:
                config = SCHEDULERS[name]
                takes = inspect.signature(classes[config["_class_name"]].__init__).parameters
                s = classes[config["_class_name"]](**{k: v for k, v in config.items() if k in takes})
                s.set_timesteps(STEPS)
                t_start = STEPS - min(int(STEPS * STRENGTH), STEPS)
                timesteps = s.timesteps[t_start * s.order:]
                if hasattr(s, "set_begin_index"):
                    s.set_begin_index(t_start * s.order)
                latents = s.add_noise(init, noise, timesteps[:1])
                for t in timesteps:
                    x = s.scale_model_input(torch.cat([latents] * 2), t)
                    eps_u, eps_c = unet(x, t, encoder_hidden_states=embeds).sample.chunk(2)
                    latents = s.step(eps_u + GUIDANCE * (eps_c - eps_u), t, latents).prev_sample
                out = vae.decode(latents / vae.config.scaling_factor).sample
                save(os.path.join(HERE, f"img2img-{name}.safetensors"), {"pixels": torch.from_numpy(pixels.astype(np.float32)), "noise": noise, "latents": latents, "image": out})
                print(f"img2img {name}: timesteps {[float(t) for t in timesteps]}, |latents| max {latents.abs().max():.3f}")
            # Inpainting, 4-channel UNet, strength 1: the left half (mask 1) is repainted; after every
            # step the known latents, noised to the next timestep (clean after the last), are blended back.
            mask = torch.zeros((1, 1, 16, 16))
            mask[..., :8] = 1
            mask_latent = torch.nn.functional.interpolate(mask, size=(8, 8))
            for name in INPAINT:
                config = SCHEDULERS[name]
                takes = inspect.signature(classes[config["_class_name"]].__init__).parameters
                s = classes[config["_class_name"]](**{k: v for k, v in config.items() if k in takes})
                s.set_timesteps(STEPS)
                timesteps = s.timesteps
                latents = noise * s.init_noise_sigma
                for i, t in enumerate(timesteps):
                    x = s.scale_model_input(torch.cat([latents] * 2), t)
                    eps_u, eps_c = unet(x, t, encoder_hidden_states=embeds).sample.chunk(2)
                    latents = s.step(eps_u + GUIDANCE * (eps_c - eps_u), t, latents).prev_sample
                    known = init
                    if i < len(timesteps) - 1:
                        known = s.add_noise(init, noise, torch.tensor([timesteps[i + 1]]))
                    latents = (1 - mask_latent) * known + mask_latent * latents
                out = vae.decode(latents / vae.config.scaling_factor).sample
                save(os.path.join(HERE, f"inpaint-{name}.safetensors"), {"latents": latents, "image": out})
                print(f"inpaint {name}: |latents| max {latents.abs().max():.3f}")
            # Inpainting with a 9-channel UNet: [latents, mask, masked-image latents] after the input
            # scaling; the masked image keeps the pixels where mask < 0.5 (its posterior mean).
            unet9 = UNet2DConditionModel(**{**UNET, "in_channels": 9}).eval()
            models.randomize(unet9, 950)
            to_half_values(unet9)
            write_model("unet-inpaint", {**UNET, "in_channels": 9, "_class_name": "UNet2DConditionModel"}, unet9, "diffusion_pytorch_model.safetensors")
            masked = vae.encode(image * (mask < 0.5)).latent_dist.mean * vae.config.scaling_factor
            for name in INPAINT9:
                config = SCHEDULERS[name]
                takes = inspect.signature(classes[config["_class_name"]].__init__).parameters
                s = classes[config["_class_name"]](**{k: v for k, v in config.items() if k in takes})
                s.set_timesteps(STEPS)
                latents = noise * s.init_noise_sigma
                for t in s.timesteps:
                    x = s.scale_model_input(torch.cat([latents] * 2), t)
                    x = torch.cat([x, torch.cat([mask_latent] * 2), torch.cat([masked] * 2)], dim=1)
                    eps_u, eps_c = unet9(x, t, encoder_hidden_states=embeds).sample.chunk(2)
                    latents = s.step(eps_u + GUIDANCE * (eps_c - eps_u), t, latents).prev_sample
                out = vae.decode(latents / vae.config.scaling_factor).sample
                save(os.path.join(HERE, f"inpaint9-{name}.safetensors"), {"latents": latents, "image": out})
                print(f"inpaint (9 channels) {name}: |latents| max {latents.abs().max():.3f}")
            # The x4 upscaler: the low-res image noised by the low-res DDPM schedule at the noise
            # level joins the latents after the input scaling; the noise level is the class label.
            unet4 = UNet2DConditionModel(**{**UNET, "in_channels": 7, "num_class_embeds": 1000}).eval()
            vae4_config = {**VAE, "block_out_channels": [16, 16, 32], "down_block_types": ["DownEncoderBlock2D"] * 3,
                           "up_block_types": ["UpDecoderBlock2D"] * 3, "scaling_factor": 0.08333}
            vae4 = AutoencoderKL(**vae4_config).eval()
            for i, m in enumerate([unet4, vae4]):
                models.randomize(m, 960 + i)
                to_half_values(m)
            write_model("unet-x4", {**UNET, "in_channels": 7, "num_class_embeds": 1000, "_class_name": "UNet2DConditionModel"}, unet4, "diffusion_pytorch_model.safetensors")
            write_model("vae-x4", {**vae4_config, "_class_name": "AutoencoderKL"}, vae4, "diffusion_pytorch_model.safetensors")
            low_pixels = rng.randint(0, 256, size=(8, 8, 3)).astype(np.uint8)
            low = torch.from_numpy(low_pixels.astype(np.float32) / 127.5 - 1).permute(2, 0, 1)[None]
            image_noise = torch.randn((1, 3, 8, 8), generator=g)
            start4 = torch.randn((1, 4, 8, 8), generator=g)
            low_res = classes["DDPMScheduler"](**X4_LOW_RES)
            level = torch.tensor([X4_NOISE_LEVEL], dtype=torch.long)
            noisy = low_res.add_noise(low, image_noise, level)
            takes = inspect.signature(classes["DDIMScheduler"].__init__).parameters
            s = classes["DDIMScheduler"](**{k: v for k, v in X4_SCHEDULER.items() if k in takes})
            s.set_timesteps(STEPS)
            latents = start4 * s.init_noise_sigma
            for t in s.timesteps:
                x = s.scale_model_input(torch.cat([latents] * 2), t)
                x = torch.cat([x, torch.cat([noisy] * 2)], dim=1)
                out = unet4(x, t, encoder_hidden_states=embeds, class_labels=torch.cat([level] * 2)).sample
                v_u, v_c = out.chunk(2)
                latents = s.step(v_u + GUIDANCE * (v_c - v_u), t, latents).prev_sample
            up = vae4.decode(latents / vae4.config.scaling_factor).sample
            save(os.path.join(HERE, "x4.safetensors"), {"pixels": torch.from_numpy(low_pixels.astype(np.float32)), "image_noise": image_noise,
                                                             "start": start4, "latents": latents, "image": up})
            print(f"x4 upscale: {list(up.shape)}, |latents| max {latents.abs().max():.3f}")
        with open(os.path.join(HERE, "runs.json"), "w") as f:
            json.dump({"prompt": PROMPT, "negative_prompt": NEGATIVE, "prompt_ids": PROMPT_IDS, "negative_ids": NEGATIVE_IDS,
                       "guidance_scale": GUIDANCE, "steps": STEPS, "cases": cases, "img2img": {"strength": STRENGTH, "cases": IMG2IMG}, "inpaint": {"cases": INPAINT}, "inpaint9": {"cases": INPAINT9},
                       "x4": {"scheduler": X4_SCHEDULER, "low_res_scheduler": {"_class_name": "DDPMScheduler", **X4_LOW_RES}, "noise_level": X4_NOISE_LEVEL}}, f, indent=2)
            f.write("\n")
    total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(HERE) for f in fs)
    print(f"fixtures: {total} bytes")


if __name__ == "__main__":
    main()
