#!/usr/bin/env python3
"""Exactness fixtures for @denoise/ldm's models (src/models/**).

Tiny random-weight models in several configurations, built by the reference libraries' own model
classes (diffusers' UNet2DConditionModel and AutoencoderKL, transformers' CLIPTextModel and
CLIPTextModelWithProjection), saved as config.json + safetensors weights + one safetensors file
of fixed inputs and the reference outputs. The TypeScript tests rebuild each model from its
config.json, load the weights by name and compare outputs (max |diff| <= 1e-4).

Run (Debian's CPU PyTorch 1.13: `apt-get install -y python3-torch python3-packaging`):

    DIFFUSERS_SRC=/path/to/diffusers TRANSFORMERS_SRC=/path/to/transformers \
        /usr/bin/python3 packages/ldm/test-fixtures/models/generate.py

DIFFUSERS_SRC and TRANSFORMERS_SRC are source checkouts (the folders holding src/diffusers and
src/transformers). The fixtures in this folder were made from diffusers 58eb52c0 (2026-08) and
transformers d6751d91 (4.45.0.dev0, 2024-08). Neither library needs to be installed: this
script copies the few model files it needs into a temporary package and supplies small
stand-ins for their infrastructure (configuration registration, logging, hub mix-ins), which
never touch the arithmetic. On torch 1.13 diffusers' attention takes its classic AttnProcessor
path (baddbmm + softmax), since F.scaled_dot_product_attention does not exist there.

Nothing from those libraries is written into this folder: only configs, weights and tensors.
"""

import json
import os
import shutil
import struct
import sys
import tempfile
import textwrap

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))

# ----------------------------------------------------------------------------- safetensors


def save_safetensors(path, tensors):
    """Writes float32 / int32 tensors in the safetensors format (8-byte header length, JSON, data)."""
    header = {}
    offset = 0
    blobs = []
    for name in sorted(tensors):
        t = tensors[name]
        a = t.detach().cpu().contiguous().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)
        if a.dtype == np.float64:
            a = a.astype(np.float32)
        if a.dtype == np.int64:
            a = a.astype(np.int32)
        dtype = {np.dtype(np.float32): "F32", np.dtype(np.int32): "I32"}[a.dtype]
        b = a.astype(a.dtype.newbyteorder("<")).tobytes()
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


# ----------------------------------------------------------------------------- stand-ins

DIFFUSERS_FILES = [
    "models/activations.py",
    "models/attention.py",
    "models/attention_processor.py",
    "models/embeddings.py",
    "models/normalization.py",
    "models/resnet.py",
    "models/downsampling.py",
    "models/upsampling.py",
    "models/modeling_outputs.py",
    "models/unets/unet_2d_blocks.py",
    "models/unets/unet_2d_condition.py",
    "models/transformers/transformer_2d.py",
    "models/transformers/dual_transformer_2d.py",
    "models/autoencoders/autoencoder_kl.py",
    "models/autoencoders/vae.py",
]

TRANSFORMERS_FILES = [
    "activations.py",
    "modeling_attn_mask_utils.py",
    "modeling_outputs.py",
    "models/clip/modeling_clip.py",
    "models/clip/configuration_clip.py",
]

COMMON_STUBS = '''
import functools, logging as _pylogging
from packaging import version as _version
import torch

class _Logging:
    @staticmethod
    def get_logger(name=None):
        return _pylogging.getLogger(name)
logging = _Logging()

def _identity(x):
    return x

def _decorator_factory(*args, **kwargs):
    return _identity

def is_torch_version(op, ver):
    a, b = _version.parse(torch.__version__.split("+")[0]), _version.parse(ver)
    return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b, "==": a == b, "!=": a != b}[op]

def _false(*args, **kwargs):
    return False
'''

DIFFUSERS_STUBS = {
    "__init__.py": "",
    "utils/__init__.py": COMMON_STUBS + '''
def deprecate(*args, **kwargs):
    pass

class BaseOutput:
    pass

apply_lora_scale = _decorator_factory
is_torch_npu_available = is_torch_xla_available = is_xformers_available = is_torch_xla_version = _false
''',
    "utils/import_utils.py": "from . import is_torch_version, _false\nis_torch_npu_available = is_torch_xla_available = is_xformers_available = is_torch_xla_version = _false\n",
    "utils/torch_utils.py": '''
import torch
from . import is_torch_version, _identity
maybe_allow_in_graph = _identity
def maybe_adjust_dtype_for_device(dtype, device):
    return dtype
def randn_tensor(shape, generator=None, device=None, dtype=None, layout=None):
    return torch.randn(shape, generator=generator, dtype=dtype)
def apply_freeu(*args, **kwargs):
    raise NotImplementedError("FreeU is not used by these fixtures")
''',
    "utils/accelerate_utils.py": "from . import _identity as apply_forward_hook\n",
    "image_processor.py": "class IPAdapterMaskProcessor:\n    pass\n",
    "configuration_utils.py": '''
import functools, inspect

class FrozenDict(dict):
    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError as e:
            raise AttributeError(name) from e

def register_to_config(init):
    @functools.wraps(init)
    def inner(self, *args, **kwargs):
        bound = inspect.signature(init).bind(self, *args, **kwargs)
        bound.apply_defaults()
        cfg = {k: v for k, v in bound.arguments.items() if k not in ("self", "kwargs") and not k.startswith("_")}
        object.__setattr__(self, "_internal_dict", FrozenDict(cfg))
        init(self, *args, **kwargs)
    return inner

class ConfigMixin:
    @property
    def config(self):
        return self.__dict__["_internal_dict"]
    def register_to_config(self, **kwargs):
        d = dict(self.__dict__.get("_internal_dict", {}))
        d.update(kwargs)
        object.__setattr__(self, "_internal_dict", FrozenDict(d))

class LegacyConfigMixin(ConfigMixin):
    pass
''',
    "loaders/__init__.py": "class PeftAdapterMixin:\n    pass\nclass UNet2DConditionLoadersMixin:\n    pass\n",
    "loaders/single_file_model.py": "class FromOriginalModelMixin:\n    pass\n",
    "models/__init__.py": "",
    "models/unets/__init__.py": "",
    "models/transformers/__init__.py": "",
    "models/autoencoders/__init__.py": "",
    "models/modeling_utils.py": '''
import torch
class ModelMixin(torch.nn.Module):
    @property
    def dtype(self):
        return next(self.parameters()).dtype
    @property
    def device(self):
        return next(self.parameters()).device
class LegacyModelMixin(ModelMixin):
    pass
''',
}

TRANSFORMERS_STUBS = {
    "__init__.py": "",
    "models/__init__.py": "",
    "models/clip/__init__.py": "",
    "utils/__init__.py": COMMON_STUBS + '''
import dataclasses
from collections import OrderedDict

class ModelOutput(OrderedDict):
    def __post_init__(self):
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if v is not None:
                self[f.name] = v
    def __getitem__(self, k):
        if isinstance(k, str):
            return dict.__getitem__(self, k)
        return self.to_tuple()[k]
    def to_tuple(self):
        return tuple(self[k] for k in self.keys())

add_code_sample_docstrings = add_start_docstrings = add_start_docstrings_to_model_forward = replace_return_docstrings = _decorator_factory
is_flash_attn_2_available = is_flash_attn_greater_or_equal_2_10 = _false
''',
    "pytorch_utils.py": "is_torch_greater_or_equal_than_2_2 = False\n",
    "onnx/__init__.py": "class OnnxConfig:\n    pass\n",
    "configuration_utils.py": '''
class PretrainedConfig:
    def __init__(self, **kwargs):
        self.output_attentions = False
        self.output_hidden_states = False
        self.use_return_dict = True
        self._attn_implementation = "eager"
        for k, v in kwargs.items():
            setattr(self, k, v)
''',
    "modeling_utils.py": '''
import torch
class PreTrainedModel(torch.nn.Module):
    def __init__(self, config, *inputs, **kwargs):
        super().__init__()
        self.config = config
    def post_init(self):
        pass
    @classmethod
    def _from_config(cls, config, **kwargs):
        return cls(config)
''',
}


def build_package(root, name, src_root, files, stubs):
    pkg = os.path.join(root, name)
    for rel, text in stubs.items():
        path = os.path.join(pkg, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(textwrap.dedent(text))
    for rel in files:
        src = os.path.join(src_root, "src", name, rel)
        if not os.path.exists(src):
            sys.exit(f"{src} not found: set {name.upper()}_SRC to a {name} source checkout")
        dst = os.path.join(pkg, rel)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        shutil.copyfile(src, dst)


# ----------------------------------------------------------------------------- weights


def randomize(model, seed):
    """Random weights that keep activations O(1): weights ~ N(0, 1/fan_in), norms near identity."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            leaf = name.rsplit(".", 1)[-1]
            if "norm" in name and leaf == "weight" and p.dim() == 1:
                p.copy_(1 + 0.2 * torch.randn(p.shape, generator=g))
            elif leaf == "bias" or p.dim() == 1:
                p.copy_(0.2 * torch.randn(p.shape, generator=g))
            elif "embedding" in name and p.dim() == 2:
                p.copy_(torch.randn(p.shape, generator=g))
            else:
                fan_in = p[0].numel()
                p.copy_(torch.randn(p.shape, generator=g) / fan_in ** 0.5)


def state_dict(model):
    return {k: v for k, v in model.state_dict().items()}


def write_case(kind, name, config, model, io, weights_file):
    out = os.path.join(HERE, f"{kind}-{name}")
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(config, f, indent=2, sort_keys=True)
        f.write("\n")
    save_safetensors(os.path.join(out, weights_file), state_dict(model))
    save_safetensors(os.path.join(out, "io.safetensors"), io)
    print(f"{kind}-{name}: {sum(p.numel() for p in model.parameters())} parameters, outputs {sorted(k for k in io if k.startswith('out.'))}")


def randn(g, *shape):
    return torch.randn(shape, generator=g)


# ----------------------------------------------------------------------------- UNet

UNET_CASES = {
    # SD 1.x structure in miniature: conv projections, cross-attention in the first two levels,
    # a plain bottom level, two layers per block, heads given by attention_head_dim (an int).
    "sd15": dict(
        config=dict(
            sample_size=8, in_channels=4, out_channels=4, block_out_channels=[8, 8, 12], layers_per_block=2,
            down_block_types=["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
            up_block_types=["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
            attention_head_dim=2, cross_attention_dim=12, norm_num_groups=4,
        ),
        batch=2, size=(8, 8), ctx=5, timestep=[999, 3], encoder_attention_mask=[[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]],
    ),
    # SD 2.x traits: linear projections, per-block head counts, upcast attention, a plain first
    # level; odd spatial sizes take the forward_upsample_size path; a float timestep.
    "sd2": dict(
        config=dict(
            sample_size=8, in_channels=4, out_channels=4, block_out_channels=[8, 8, 12], layers_per_block=1,
            down_block_types=["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
            up_block_types=["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"],
            attention_head_dim=[2, 4, 3], cross_attention_dim=10, norm_num_groups=4, use_linear_projection=True,
            upcast_attention=True,
        ),
        batch=1, size=(7, 10), ctx=4, timestep=417.25,
    ),
    # Inpainting-style input (9 channels), class embeddings from an embedding table, scale-shift
    # ResNets, a ResNet-only mid block, two transformer layers, cross-attention-only first level.
    "inpaint-class": dict(
        config=dict(
            sample_size=8, in_channels=9, out_channels=4, block_out_channels=[8, 8], layers_per_block=1,
            down_block_types=["CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
            up_block_types=["CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
            attention_head_dim=2, cross_attention_dim=6, norm_num_groups=4, num_class_embeds=5,
            resnet_time_scale_shift="scale_shift", mid_block_type="UNetMidBlock2D", transformer_layers_per_block=2,
            only_cross_attention=[True, False], flip_sin_to_cos=False, freq_shift=1, center_input_sample=True,
            act_fn="silu", norm_eps=1e-6, mid_block_scale_factor=1.5,
        ),
        batch=2, size=(8, 8), ctx=3, timestep=[20, 700], class_labels="int:5",
    ),
    # x4-upscaler-style input (7 channels) with a timestep class embedding concatenated to the
    # time embedding, a timestep condition projection, a text projection of the context, no mid
    # block, 1x1 in/out convolutions, GELU activations.
    "upscale-concat": dict(
        config=dict(
            sample_size=8, in_channels=7, out_channels=4, block_out_channels=[8, 12], layers_per_block=1,
            down_block_types=["CrossAttnDownBlock2D", "DownBlock2D"], up_block_types=["UpBlock2D", "CrossAttnUpBlock2D"],
            attention_head_dim=[2, 3], cross_attention_dim=6, norm_num_groups=4, class_embed_type="timestep",
            class_embeddings_concat=True, time_cond_proj_dim=5, encoder_hid_dim=9, mid_block_type=None,
            conv_in_kernel=1, conv_out_kernel=1, act_fn="gelu", time_embedding_act_fn="silu", timestep_post_act="silu",
            time_embedding_dim=20, transformer_layers_per_block=[1, 2], downsample_padding=1,
        ),
        batch=2, size=(6, 6), ctx=4, timestep=[5, 250], class_labels="float", timestep_cond=5,
    ),
    # Projection class embedding, resnet_out_scale_factor / skip_time_act, Mish, per-block
    # cross_attention_dim (a list, equal entries: one context feeds every block).
    "projection": dict(
        config=dict(
            sample_size=8, in_channels=4, out_channels=3, block_out_channels=[8, 8], layers_per_block=1,
            down_block_types=["CrossAttnDownBlock2D", "DownBlock2D"], up_block_types=["UpBlock2D", "CrossAttnUpBlock2D"],
            attention_head_dim=4, cross_attention_dim=[5, 5], norm_num_groups=2, class_embed_type="projection",
            projection_class_embeddings_input_dim=3, resnet_out_scale_factor=2.0, resnet_skip_time_act=True,
            act_fn="mish",
        ),
        batch=1, size=(4, 4), ctx=2, timestep=[61], class_labels="proj:3",
    ),
}


def unet_cases(diffusers):
    from diffusers.models.unets.unet_2d_condition import UNet2DConditionModel

    for seed, (name, case) in enumerate(UNET_CASES.items()):
        torch.manual_seed(seed)
        model = UNet2DConditionModel(**case["config"]).eval()
        randomize(model, 100 + seed)
        g = torch.Generator().manual_seed(200 + seed)
        cfg = model.config
        h, w = case["size"]
        b = case["batch"]
        cad = cfg["cross_attention_dim"]
        ctx_dim = cfg["encoder_hid_dim"] or (cad if isinstance(cad, int) else cad[0])
        io = {
            "in.sample": randn(g, b, cfg["in_channels"], h, w),
            "in.encoder_hidden_states": randn(g, b, case["ctx"], ctx_dim),
        }
        t = case["timestep"]
        kwargs = {}
        if isinstance(t, list):
            io["in.timestep"] = torch.tensor(t, dtype=torch.float32)
            timestep = torch.tensor(t, dtype=torch.int64)
        else:
            io["in.timestep"] = torch.tensor([t], dtype=torch.float32)
            timestep = t
        cl = case.get("class_labels")
        if cl is not None:
            if cl.startswith("int:"):
                labels = torch.randint(0, int(cl[4:]), (b,), generator=g)
                io["in.class_labels"] = labels.to(torch.int32)
            elif cl == "float":
                labels = torch.rand(b, generator=g) * 300
                io["in.class_labels"] = labels
            else:
                labels = randn(g, b, int(cl[5:]))
                io["in.class_labels"] = labels
            kwargs["class_labels"] = labels
        if case.get("timestep_cond"):
            io["in.timestep_cond"] = randn(g, b, case["timestep_cond"])
            kwargs["timestep_cond"] = io["in.timestep_cond"]
        with torch.no_grad():
            out = model(io["in.sample"], timestep, io["in.encoder_hidden_states"], **kwargs).sample
            io["out.sample"] = out
            mask = case.get("encoder_attention_mask")
            if mask is not None:
                io["in.encoder_attention_mask"] = torch.tensor(mask, dtype=torch.float32)
                io["out.sample_masked"] = model(
                    io["in.sample"], timestep, io["in.encoder_hidden_states"], encoder_attention_mask=io["in.encoder_attention_mask"], **kwargs
                ).sample
        write_case("unet", name, dict(cfg, _class_name="UNet2DConditionModel"), model, io, "diffusion_pytorch_model.safetensors")


# ----------------------------------------------------------------------------- VAE

VAE_CASES = {
    "two-level": dict(
        config=dict(
            in_channels=3, out_channels=3, block_out_channels=[8, 12], layers_per_block=1, latent_channels=4,
            norm_num_groups=4, sample_size=16, down_block_types=["DownEncoderBlock2D"] * 2,
            up_block_types=["UpDecoderBlock2D"] * 2,
        ),
        batch=1, size=(16, 12), tiled=dict(image=(1, 40, 28), latent=(1, 20, 14)),
    ),
    "three-level": dict(
        config=dict(
            in_channels=3, out_channels=3, block_out_channels=[4, 8, 8], layers_per_block=2, latent_channels=3,
            norm_num_groups=2, sample_size=32, down_block_types=["DownEncoderBlock2D"] * 3,
            up_block_types=["UpDecoderBlock2D"] * 3, scaling_factor=0.5, mid_block_add_attention=False,
            use_quant_conv=False, act_fn="silu",
        ),
        batch=2, size=(12, 16),
    ),
    "no-post-quant": dict(
        config=dict(
            in_channels=2, out_channels=1, block_out_channels=[4, 8], layers_per_block=1, latent_channels=2,
            norm_num_groups=2, sample_size=8, down_block_types=["DownEncoderBlock2D"] * 2,
            up_block_types=["UpDecoderBlock2D"] * 2, use_post_quant_conv=False, scaling_factor=0.13025,
        ),
        batch=1, size=(8, 8),
    ),
}


def vae_cases(diffusers):
    from diffusers.models.autoencoders.autoencoder_kl import AutoencoderKL

    for seed, (name, case) in enumerate(VAE_CASES.items()):
        torch.manual_seed(seed)
        model = AutoencoderKL(**case["config"]).eval()
        randomize(model, 300 + seed)
        g = torch.Generator().manual_seed(400 + seed)
        cfg = model.config
        h, w = case["size"]
        b = case["batch"]
        x = randn(g, b, cfg["in_channels"], h, w)
        io = {"in.sample": x}
        with torch.no_grad():
            post = model.encode(x).latent_dist
            io["out.mean"] = post.mean
            io["out.logvar"] = post.logvar
            io["out.std"] = post.std
            noise = randn(g, *post.mean.shape)
            io["in.noise"] = noise
            io["out.posterior_sample"] = post.mean + post.std * noise
            z = randn(g, *post.mean.shape)
            io["in.latents"] = z
            io["out.decoded"] = model.decode(z).sample
            tiled = case.get("tiled")
            if tiled:
                model.enable_tiling()
                c, th, tw = tiled["image"]
                xi = randn(g, b, cfg["in_channels"], th, tw)
                io["in.tiled_sample"] = xi
                tp = model.encode(xi).latent_dist
                io["out.tiled_mean"] = tp.mean
                io["out.tiled_logvar"] = tp.logvar
                _, lh, lw = tiled["latent"]
                zl = randn(g, b, cfg["latent_channels"], lh, lw)
                io["in.tiled_latents"] = zl
                io["out.tiled_decoded"] = model.decode(zl).sample
                model.disable_tiling()
        write_case("vae", name, dict(cfg, _class_name="AutoencoderKL"), model, io, "diffusion_pytorch_model.safetensors")


# ----------------------------------------------------------------------------- CLIP

CLIP_CASES = {
    # The legacy configs (SD 1.x's text encoder writes eos_token_id 2): pooled at argmax(ids).
    "legacy-eos": dict(
        cls="CLIPTextModel",
        config=dict(vocab_size=99, hidden_size=16, intermediate_size=37, num_hidden_layers=2, num_attention_heads=2,
                    max_position_embeddings=12, hidden_act="quick_gelu", eos_token_id=2, bos_token_id=0, pad_token_id=1,
                    projection_dim=8, layer_norm_eps=1e-5),
        ids=[[0, 17, 45, 98, 98, 98, 98, 98, 98, 98], [0, 5, 6, 7, 8, 9, 10, 98, 1, 1]],
        attention_mask=[[1, 1, 1, 1, 0, 0, 0, 0, 0, 0], [1, 1, 1, 1, 1, 1, 1, 1, 0, 0]],
    ),
    # An updated config (eos_token_id = the real end token): pooled at its first occurrence.
    "with-projection": dict(
        cls="CLIPTextModelWithProjection",
        config=dict(vocab_size=64, hidden_size=12, intermediate_size=20, num_hidden_layers=3, num_attention_heads=3,
                    max_position_embeddings=9, hidden_act="gelu", eos_token_id=60, bos_token_id=59, pad_token_id=60,
                    projection_dim=5, layer_norm_eps=1e-6),
        ids=[[59, 3, 63, 4, 60, 60, 60, 60, 60], [59, 60, 60, 60, 60, 60, 60, 60, 60]],
    ),
}


def clip_cases(transformers):
    from transformers.models.clip import modeling_clip
    from transformers.models.clip.configuration_clip import CLIPTextConfig

    for seed, (name, case) in enumerate(CLIP_CASES.items()):
        torch.manual_seed(seed)
        config = CLIPTextConfig(**case["config"])
        model = getattr(modeling_clip, case["cls"])(config).eval()
        randomize(model, 500 + seed)
        ids = torch.tensor(case["ids"], dtype=torch.int64)
        io = {"in.input_ids": ids.to(torch.int32)}
        with torch.no_grad():
            if case["cls"] == "CLIPTextModel":
                out = model(input_ids=ids, output_hidden_states=True)
                io["out.pooler_output"] = out.pooler_output
            else:
                out = model(input_ids=ids, output_hidden_states=True)
                io["out.text_embeds"] = out.text_embeds
            io["out.last_hidden_state"] = out.last_hidden_state
            for i, hs in enumerate(out.hidden_states):
                io[f"out.hidden_states.{i}"] = hs
            if case.get("attention_mask"):
                io["in.attention_mask"] = torch.tensor(case["attention_mask"], dtype=torch.int32)
                masked = model(input_ids=ids, attention_mask=io["in.attention_mask"].to(torch.int64))
                io["out.last_hidden_state_masked"] = masked.last_hidden_state
        cfg = {k: v for k, v in vars(config).items() if not k.startswith("_") and k not in ("output_attentions", "output_hidden_states", "use_return_dict")}
        cfg["architectures"] = [case["cls"]]
        cfg["model_type"] = "clip_text_model"
        write_case("clip", name, cfg, model, io, "model.safetensors")


def patch_torch_113():
    """torch 1.13's CPU baddbmm lets NaN in `input` through even with beta=0 for some shapes (it is
    documented to ignore input then); diffusers' classic attention passes torch.empty() there.
    Restore the documented behaviour so uninitialised memory cannot leak into the fixtures."""
    baddbmm = torch.baddbmm

    def fixed(input, batch1, batch2, *, beta=1, alpha=1, out=None):
        if beta == 0 and out is None:
            return alpha * torch.bmm(batch1, batch2)
        return baddbmm(input, batch1, batch2, beta=beta, alpha=alpha, out=out)

    torch.baddbmm = fixed


def main():
    dsrc, tsrc = os.environ.get("DIFFUSERS_SRC"), os.environ.get("TRANSFORMERS_SRC")
    if not dsrc or not tsrc:
        sys.exit(__doc__)
    torch.set_num_threads(1)
    patch_torch_113()
    with tempfile.TemporaryDirectory() as root:
        build_package(root, "diffusers", dsrc, DIFFUSERS_FILES, DIFFUSERS_STUBS)
        build_package(root, "transformers", tsrc, TRANSFORMERS_FILES, TRANSFORMERS_STUBS)
        sys.path.insert(0, root)
        import diffusers  # noqa: F401
        import transformers  # noqa: F401

        unet_cases(diffusers)
        vae_cases(diffusers)
        clip_cases(transformers)
    total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(HERE) for f in fs)
    print(f"fixtures: {total} bytes")


if __name__ == "__main__":
    main()
