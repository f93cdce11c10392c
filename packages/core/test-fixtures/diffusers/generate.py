#!/usr/bin/env python3
"""Reference fixtures for @denoise/core's diffusers scheduler adapter (src/schedulers).

Runs Hugging Face diffusers' own scheduler classes (DDIM, PNDM, Euler, Euler ancestral, Heun,
DPM-Solver multistep, DDPM) over a set of configs and records, as JSON next to this script:
timesteps, sigmas, init_noise_sigma, the schedule before set_timesteps, add_noise results, and a
whole denoising loop driven by a fixed model, step by step (model input, noise drawn, prev_sample,
pred_original_sample). The vitest suites in src/schedulers replay these files through the
TypeScript adapter.

Not run in CI. It needs:
  * torch (tested with 1.13.1 CPU, Debian build) and numpy (tested with 1.24.2), no diffusers
    install;
  * a diffusers source tree: --diffusers PATH, where PATH is a checkout (PATH/src/diffusers/
    schedulers/scheduling_*.py) or that schedulers folder itself.

The scheduler files are executed unmodified. Only the plumbing they import from the rest of the
diffusers package is replaced by small stand-ins defined below: ConfigMixin / register_to_config
(stores the constructor arguments as `self.config`), BaseOutput, deprecate, logging,
is_scipy_available, SchedulerMixin / SchedulerOutput / KarrasDiffusionSchedulers, and
randn_tensor. The randn_tensor stand-in draws from one seeded torch.Generator and records every
draw, so the fixtures carry the exact noise each stochastic step consumed; the TypeScript tests
inject it through `step(..., { noise })`.

NumPy's scalar promotion changed in NumPy 2 (NEP 50), and diffusers' _sigma_to_t (used by the
Karras / exponential / Lu ladders) computes in float32 under NumPy 1 and in float64 under NumPy 2.
The main fixtures use NumPy 2 semantics (NumPy 1.24+ can switch to them with
np._set_promotion_state("weak")); ladders.json holds the ladder schedules computed under both
rules, for the adapter's `numpy: 1 | 2` option.

tables.json holds whole float32 alphas_cumprod tables and raw torch.linspace outputs. They depend
on the torch build: torch 1.x filled linspace with 8-wide vectors, torch 2 element by element
(both with fused multiply-adds on x86-64), so the last bit of some betas differs; the adapter's
`torch: 1 | 2` option picks one, and the tests read the torch version recorded in each file.

Files written: ddim, pndm, euler, euler_ancestral, heun, dpmsolver_multistep, ddpm (.json: full
runs), ladders.json, tables.json.

The fixed model (float32, like a network's output):
    model_output = 0.1 * model_input + 0.05 * sin(t / 100)
For DDPM with variance_type 'learned_range' it returns twice the channels:
    cat([f, tanh(f)], dim=1) with f as above.

Usage:
    python3 generate.py --diffusers /path/to/diffusers [--commit SHA] [--out DIR]
"""

import argparse
import dataclasses
import enum
import functools
import importlib.util
import inspect
import json
import math
import os
import subprocess
import sys
import types

import numpy as np
import torch

SHAPE = [1, 2, 3, 3]
ADD_NOISE_SHAPE = [2, 2, 3, 3]
SEED = 1234


# ---------------------------------------------------------------------------------------------
# Stand-ins for the parts of the diffusers package that the scheduler files import.
# ---------------------------------------------------------------------------------------------

class _Config(dict):
    """Dict with attribute access, like diffusers' FrozenDict (kept mutable for set_timesteps(mu))."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError as e:
            raise AttributeError(name) from e

    def __setattr__(self, name, value):
        self[name] = value


class ConfigMixin:
    config_name = "scheduler_config.json"

    def register_to_config(self, **kwargs):
        if not hasattr(self, "_internal_config"):
            object.__setattr__(self, "_internal_config", _Config())
        self._internal_config.update(kwargs)

    @property
    def config(self):
        return self._internal_config


def register_to_config(init):
    """Records every constructor argument (defaults filled in) before running __init__."""

    @functools.wraps(init)
    def wrapped(self, *args, **kwargs):
        sig = inspect.signature(init)
        bound = sig.bind(self, *args, **kwargs)
        bound.apply_defaults()
        values = {k: v for k, v in bound.arguments.items() if k != "self"}
        self.register_to_config(**values)
        init(self, *args, **kwargs)

    return wrapped


class BaseOutput:
    pass


def deprecate(*args, **kwargs):
    return None


class _Logger:
    def warning(self, *a, **k):
        pass

    info = debug = warn = warning


_logging = types.SimpleNamespace(get_logger=lambda name=None: _Logger())


def is_scipy_available():
    return False


class NoiseSource:
    """randn_tensor stand-in: one seeded generator, every draw recorded."""

    def __init__(self):
        self.gen = torch.Generator().manual_seed(SEED + 1)
        self.drawn = []

    def reset(self):
        self.gen = torch.Generator().manual_seed(SEED + 1)
        self.drawn = []

    def __call__(self, shape, generator=None, device=None, dtype=None, layout=None):
        noise = torch.randn(tuple(shape), generator=self.gen, dtype=torch.float32)
        if dtype is not None:
            noise = noise.to(dtype)
        self.drawn.append(noise.clone())
        return noise


NOISE = NoiseSource()


class KarrasDiffusionSchedulers(enum.Enum):
    DDIMScheduler = 1
    DDPMScheduler = 2
    PNDMScheduler = 3
    LMSDiscreteScheduler = 4
    EulerDiscreteScheduler = 5
    HeunDiscreteScheduler = 6
    EulerAncestralDiscreteScheduler = 7
    DPMSolverMultistepScheduler = 8
    DPMSolverSinglestepScheduler = 9
    KDPM2DiscreteScheduler = 10
    KDPM2AncestralDiscreteScheduler = 11
    DEISMultistepScheduler = 12
    UniPCMultistepScheduler = 13
    DPMSolverSDEScheduler = 14
    EDMEulerScheduler = 15


class SchedulerMixin:
    pass


@dataclasses.dataclass
class SchedulerOutput(BaseOutput):
    prev_sample: torch.Tensor


def _module(name, package=False, **attrs):
    m = types.ModuleType(name)
    if package:
        m.__path__ = []
    for k, v in attrs.items():
        setattr(m, k, v)
    sys.modules[name] = m
    return m


def load_schedulers(schedulers_dir):
    _module("diffusers", package=True)
    _module("diffusers.configuration_utils", ConfigMixin=ConfigMixin, register_to_config=register_to_config)
    _module("diffusers.utils", package=True, BaseOutput=BaseOutput, deprecate=deprecate, logging=_logging,
            is_scipy_available=is_scipy_available)
    _module("diffusers.utils.torch_utils", randn_tensor=NOISE)
    sched_pkg = _module("diffusers.schedulers", package=True)
    sched_pkg.__path__ = [schedulers_dir]
    _module("diffusers.schedulers.scheduling_utils", KarrasDiffusionSchedulers=KarrasDiffusionSchedulers,
            SchedulerMixin=SchedulerMixin, SchedulerOutput=SchedulerOutput)
    classes = {}
    for file, cls in [
        ("scheduling_ddim", "DDIMScheduler"),
        ("scheduling_ddpm", "DDPMScheduler"),
        ("scheduling_pndm", "PNDMScheduler"),
        ("scheduling_euler_discrete", "EulerDiscreteScheduler"),
        ("scheduling_euler_ancestral_discrete", "EulerAncestralDiscreteScheduler"),
        ("scheduling_heun_discrete", "HeunDiscreteScheduler"),
        ("scheduling_dpmsolver_multistep", "DPMSolverMultistepScheduler"),
    ]:
        name = f"diffusers.schedulers.{file}"
        spec = importlib.util.spec_from_file_location(name, os.path.join(schedulers_dir, file + ".py"))
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        spec.loader.exec_module(mod)
        classes[cls] = getattr(mod, cls)
    return classes


# ---------------------------------------------------------------------------------------------
# Recording
# ---------------------------------------------------------------------------------------------

def num(v):
    """A float32-exact value, printed with 9 significant digits (enough to round-trip float32)."""
    v = float(v)
    if math.isnan(v) or math.isinf(v):
        return str(v)
    return float(f"{v:.9g}")


def flat(t):
    if t is None:
        return None
    return [num(v) for v in t.detach().to(torch.float64).flatten().tolist()]


def tvalue(t):
    """A timestep as a plain number (int when integral)."""
    v = float(t)
    return int(v) if v.is_integer() else num(v)


def model_fn(sample, t, learned_range=False):
    f = 0.1 * sample + 0.05 * math.sin(float(t) / 100.0)
    f = f.to(torch.float32)
    if learned_range:
        return torch.cat([f, torch.tanh(f)], dim=1)
    return f


def head_tail(values, n=4):
    values = list(values)
    return {"length": len(values), "head": values[:n], "tail": values[-n:]}


def set_promotion(state):
    """'weak' (NumPy 2 semantics) or 'legacy' (NumPy 1); False when this NumPy cannot switch."""
    major = int(np.__version__.split(".")[0])
    if hasattr(np, "_set_promotion_state"):
        np._set_promotion_state(state)
        return True
    return (state == "weak") == (major >= 2)


def schedule_only(classes, case):
    sched = classes[case["class"]](**case["config"])
    sched.set_timesteps(case["steps"])
    return {
        "name": case["name"],
        "class": case["class"],
        "config": case["config"],
        "steps": case["steps"],
        "timesteps": [tvalue(t) for t in sched.timesteps],
        "sigmas": flat(sched.sigmas),
    }


def run_case(classes, case, base_noise, add_noise_x0, add_noise_eps):
    cls = classes[case["class"]]
    config = dict(case["config"])
    sched = cls(**config)
    rec = {"name": case["name"], "class": case["class"], "config": config, "steps": case["steps"]}
    if case.get("step_kwargs"):
        rec["step_kwargs"] = case["step_kwargs"]

    # Before set_timesteps: the default schedule.
    before = {"timesteps": head_tail([tvalue(t) for t in sched.timesteps]) if sched.timesteps is not None else None}
    if hasattr(sched, "sigmas") and isinstance(getattr(sched, "sigmas"), torch.Tensor):
        before["sigmas"] = head_tail(flat(sched.sigmas))
    before["init_noise_sigma"] = num(sched.init_noise_sigma)
    rec["before"] = before

    ac = sched.alphas_cumprod
    probe = [0, 1, 2, len(ac) // 2, len(ac) - 2, len(ac) - 1]
    rec["alphas_cumprod"] = {"index": probe, "value": [num(ac[i]) for i in probe]}

    sched.set_timesteps(case["steps"])
    rec["timesteps"] = [tvalue(t) for t in sched.timesteps]
    rec["sigmas"] = flat(sched.sigmas) if isinstance(getattr(sched, "sigmas", None), torch.Tensor) else None
    rec["init_noise_sigma"] = num(sched.init_noise_sigma)
    rec["order"] = sched.order

    # add_noise on a batch of two, at two timesteps of the schedule (fresh state: no step taken).
    ts = sched.timesteps
    picks = [ts[0], ts[len(ts) // 2]]
    an_t = torch.stack([p.clone() for p in picks])
    noisy = sched.add_noise(add_noise_x0, add_noise_eps, an_t)
    rec["add_noise"] = {"timesteps": [tvalue(p) for p in picks], "result": flat(noisy)}

    # The denoising loop, as a pipeline runs it.
    learned = config.get("variance_type") == "learned_range" and case["class"] == "DDPMScheduler"
    kwargs = dict(case.get("step_kwargs", {}))
    captured = []
    if case["class"] == "DPMSolverMultistepScheduler" and config.get("algorithm_type", "dpmsolver++") in (
        "dpmsolver++",
        "sde-dpmsolver++",
    ):
        original = sched.convert_model_output

        def capture(*a, **k):
            out = original(*a, **k)
            captured.append(out.clone())
            return out

        sched.convert_model_output = capture

    NOISE.reset()
    sample = (base_noise * sched.init_noise_sigma).to(torch.float32)
    rec["x_T"] = flat(sample)
    traj = []
    for t in sched.timesteps:
        model_input = sched.scale_model_input(sample, t)
        out_model = model_fn(model_input, t, learned)
        before_draws = len(NOISE.drawn)
        captured.clear()
        out = sched.step(out_model, t, sample, **kwargs)
        drawn = NOISE.drawn[before_draws:]
        assert len(drawn) <= 1
        entry = {
            "t": tvalue(t),
            "model_input": flat(model_input) if model_input is not sample else None,
            "noise": flat(drawn[0]) if drawn else None,
            "prev_sample": flat(out.prev_sample),
        }
        pred = getattr(out, "pred_original_sample", None)
        if pred is None and captured:
            pred = captured[-1]
        entry["pred_original_sample"] = flat(pred)
        traj.append(entry)
        sample = out.prev_sample
    rec["trajectory"] = traj
    return rec


# ---------------------------------------------------------------------------------------------
# The configs
# ---------------------------------------------------------------------------------------------

SD = dict(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", num_train_timesteps=1000)


def cases():
    out = {}
    D = "DDIMScheduler"
    out["ddim"] = [
        dict(name="sd15 leading offset1 10", **{"class": D}, steps=10,
             config=dict(**SD, clip_sample=False, set_alpha_to_one=False, steps_offset=1, timestep_spacing="leading")),
        dict(name="sd15 leading offset1 25", **{"class": D}, steps=25,
             config=dict(**SD, clip_sample=False, set_alpha_to_one=False, steps_offset=1, timestep_spacing="leading")),
        dict(name="defaults linear clip 10", **{"class": D}, steps=10, config=dict()),
        dict(name="linspace set_alpha_to_one 10", **{"class": D}, steps=10,
             config=dict(**SD, clip_sample=False, timestep_spacing="linspace")),
        dict(name="trailing v_prediction zero-snr 10", **{"class": D}, steps=10,
             config=dict(**SD, clip_sample=False, set_alpha_to_one=False, timestep_spacing="trailing",
                         prediction_type="v_prediction", rescale_betas_zero_snr=True)),
        dict(name="trailing 7 steps", **{"class": D}, steps=7,
             config=dict(**SD, clip_sample=False, timestep_spacing="trailing")),
        dict(name="eta 1 leading offset1 10", **{"class": D}, steps=10, step_kwargs=dict(eta=1.0),
             config=dict(**SD, clip_sample=False, set_alpha_to_one=False, steps_offset=1)),
        dict(name="eta 0.5 clipped model output 10", **{"class": D}, steps=10,
             step_kwargs=dict(eta=0.5, use_clipped_model_output=True), config=dict(clip_sample_range=0.5)),
        dict(name="squaredcos sample prediction thresholding 10", **{"class": D}, steps=10,
             config=dict(beta_schedule="squaredcos_cap_v2", prediction_type="sample", thresholding=True,
                         sample_max_value=1.5, dynamic_thresholding_ratio=0.9)),
        dict(name="trained_betas 10 of 50", **{"class": D}, steps=10,
             config=dict(num_train_timesteps=50, trained_betas=[0.001 + 0.0004 * i for i in range(50)],
                         clip_sample=False)),
    ]
    P = "PNDMScheduler"
    out["pndm"] = [
        dict(name="sd15 plms leading offset1 10", **{"class": P}, steps=10,
             config=dict(**SD, skip_prk_steps=True, set_alpha_to_one=False, steps_offset=1)),
        dict(name="sd15 plms leading offset1 25", **{"class": P}, steps=25,
             config=dict(**SD, skip_prk_steps=True, set_alpha_to_one=False, steps_offset=1)),
        dict(name="plms trailing v_prediction 10", **{"class": P}, steps=10,
             config=dict(**SD, skip_prk_steps=True, timestep_spacing="trailing", prediction_type="v_prediction")),
        dict(name="plms linspace 10", **{"class": P}, steps=10,
             config=dict(**SD, skip_prk_steps=True, timestep_spacing="linspace")),
        dict(name="prk+plms linear leading 10", **{"class": P}, steps=10, config=dict()),
        dict(name="prk+plms sd offset1 25", **{"class": P}, steps=25,
             config=dict(**SD, set_alpha_to_one=False, steps_offset=1)),
    ]
    E = "EulerDiscreteScheduler"
    out["euler"] = [
        dict(name="sd15 leading offset1 10", **{"class": E}, steps=10,
             config=dict(**SD, steps_offset=1, timestep_spacing="leading")),
        dict(name="linspace 25", **{"class": E}, steps=25, config=dict(**SD)),
        dict(name="trailing v_prediction 10", **{"class": E}, steps=10,
             config=dict(**SD, timestep_spacing="trailing", prediction_type="v_prediction")),
        dict(name="karras leading offset1 10", **{"class": E}, steps=10,
             config=dict(**SD, steps_offset=1, timestep_spacing="leading", use_karras_sigmas=True)),
        dict(name="karras linspace v_prediction 25", **{"class": E}, steps=25,
             config=dict(**SD, use_karras_sigmas=True, prediction_type="v_prediction")),
        dict(name="exponential sigma_min final 10", **{"class": E}, steps=10,
             config=dict(**SD, use_exponential_sigmas=True, final_sigmas_type="sigma_min")),
        dict(name="log_linear interpolation 10", **{"class": E}, steps=10,
             config=dict(**SD, interpolation_type="log_linear")),
        dict(name="s_churn trailing 10", **{"class": E}, steps=10,
             step_kwargs=dict(s_churn=2.0, s_tmin=0.5, s_tmax=10.0, s_noise=1.003),
             config=dict(**SD, timestep_spacing="trailing")),
        dict(name="zero-snr trailing v_prediction 10", **{"class": E}, steps=10,
             config=dict(**SD, timestep_spacing="trailing", prediction_type="v_prediction",
                         rescale_betas_zero_snr=True)),
        dict(name="continuous v_prediction karras 10", **{"class": E}, steps=10,
             config=dict(**SD, timestep_type="continuous", prediction_type="v_prediction",
                         use_karras_sigmas=True, sigma_min=0.002, sigma_max=80.0)),
        dict(name="sample prediction linear 10", **{"class": E}, steps=10,
             config=dict(prediction_type="sample")),
    ]
    A = "EulerAncestralDiscreteScheduler"
    out["euler_ancestral"] = [
        dict(name="sd15 leading offset1 10", **{"class": A}, steps=10,
             config=dict(**SD, steps_offset=1, timestep_spacing="leading")),
        dict(name="linspace 25", **{"class": A}, steps=25, config=dict(**SD)),
        dict(name="trailing v_prediction 10", **{"class": A}, steps=10,
             config=dict(**SD, timestep_spacing="trailing", prediction_type="v_prediction")),
        dict(name="zero-snr trailing v_prediction 10", **{"class": A}, steps=10,
             config=dict(**SD, timestep_spacing="trailing", prediction_type="v_prediction",
                         rescale_betas_zero_snr=True)),
        dict(name="squaredcos linspace 10", **{"class": A}, steps=10,
             config=dict(beta_schedule="squaredcos_cap_v2")),
    ]
    H = "HeunDiscreteScheduler"
    out["heun"] = [
        dict(name="sd15 leading offset1 10", **{"class": H}, steps=10,
             config=dict(**SD, steps_offset=1, timestep_spacing="leading")),
        dict(name="karras linspace 25", **{"class": H}, steps=25, config=dict(**SD, use_karras_sigmas=True)),
        dict(name="trailing v_prediction 10", **{"class": H}, steps=10,
             config=dict(**SD, timestep_spacing="trailing", prediction_type="v_prediction")),
        dict(name="karras leading offset1 10", **{"class": H}, steps=10,
             config=dict(**SD, steps_offset=1, timestep_spacing="leading", use_karras_sigmas=True)),
        dict(name="defaults exp schedule sample clip 10", **{"class": H}, steps=10,
             config=dict(beta_schedule="exp", prediction_type="sample", clip_sample=True, clip_sample_range=0.8)),
        dict(name="exponential sigmas 10", **{"class": H}, steps=10,
             config=dict(**SD, use_exponential_sigmas=True)),
    ]
    M = "DPMSolverMultistepScheduler"
    out["dpmsolver_multistep"] = [
        dict(name="sd15 leading offset1 10", **{"class": M}, steps=10,
             config=dict(**SD, steps_offset=1, timestep_spacing="leading")),
        dict(name="sd15 leading offset1 25", **{"class": M}, steps=25,
             config=dict(**SD, steps_offset=1, timestep_spacing="leading")),
        dict(name="karras leading offset1 25", **{"class": M}, steps=25,
             config=dict(**SD, steps_offset=1, timestep_spacing="leading", use_karras_sigmas=True)),
        dict(name="karras trailing v_prediction 10", **{"class": M}, steps=10,
             config=dict(**SD, timestep_spacing="trailing", use_karras_sigmas=True, prediction_type="v_prediction")),
        dict(name="order 3 linspace 10", **{"class": M}, steps=10, config=dict(**SD, solver_order=3)),
        dict(name="order 3 linspace 20 no lower_order_final", **{"class": M}, steps=20,
             config=dict(**SD, solver_order=3, lower_order_final=False, final_sigmas_type="sigma_min")),
        dict(name="dpmsolver midpoint sigma_min 10", **{"class": M}, steps=10,
             config=dict(**SD, algorithm_type="dpmsolver", final_sigmas_type="sigma_min")),
        dict(name="dpmsolver order 3 heun v_prediction 10", **{"class": M}, steps=10,
             config=dict(**SD, algorithm_type="dpmsolver", solver_order=3, solver_type="heun",
                         prediction_type="v_prediction", final_sigmas_type="sigma_min")),
        dict(name="sde-dpmsolver++ heun 10", **{"class": M}, steps=10,
             config=dict(**SD, algorithm_type="sde-dpmsolver++", solver_type="heun")),
        dict(name="sde-dpmsolver midpoint sigma_min 10", **{"class": M}, steps=10,
             config=dict(**SD, algorithm_type="sde-dpmsolver", final_sigmas_type="sigma_min")),
        dict(name="lu lambdas euler_at_final 10", **{"class": M}, steps=10,
             config=dict(**SD, use_lu_lambdas=True, euler_at_final=True, final_sigmas_type="sigma_min")),
        dict(name="exponential 10", **{"class": M}, steps=10, config=dict(**SD, use_exponential_sigmas=True)),
        dict(name="squaredcos lambda_min_clipped linspace 10", **{"class": M}, steps=10,
             config=dict(beta_schedule="squaredcos_cap_v2", lambda_min_clipped=-5.1)),
        dict(name="sample prediction thresholding 10", **{"class": M}, steps=10,
             config=dict(prediction_type="sample", thresholding=True, sample_max_value=1.2)),
    ]
    Q = "DDPMScheduler"
    out["ddpm"] = [
        dict(name="defaults leading 10", **{"class": Q}, steps=10, config=dict()),
        dict(name="fixed_small_log trailing v_prediction 10", **{"class": Q}, steps=10,
             config=dict(**SD, variance_type="fixed_small_log", timestep_spacing="trailing",
                         prediction_type="v_prediction", clip_sample=False)),
        dict(name="fixed_large linspace sigmoid 25", **{"class": Q}, steps=25,
             config=dict(beta_schedule="sigmoid", variance_type="fixed_large", timestep_spacing="linspace")),
        dict(name="learned_range squaredcos 10", **{"class": Q}, steps=10,
             config=dict(beta_schedule="squaredcos_cap_v2", variance_type="learned_range", steps_offset=1)),
        dict(name="laplace sample thresholding 10", **{"class": Q}, steps=10,
             config=dict(beta_schedule="laplace", prediction_type="sample", thresholding=True)),
    ]
    return out


def ladder_cases():
    """Every config above with a Karras / exponential / Lu ladder, plus extra ladders (schedules only)."""
    out = [
        c for group in cases().values() for c in group
        if any(c["config"].get(k) for k in ("use_karras_sigmas", "use_exponential_sigmas", "use_lu_lambdas"))
    ]
    M = "DPMSolverMultistepScheduler"
    out += [
        # Under NumPy 2 the exponential ladder's first timestep truncates to 998 and repeats, so
        # diffusers starts at the second 998 and runs off the end of its sigmas: schedule only.
        dict(name="dpm squaredcos exponential 10", **{"class": M}, steps=10,
             config=dict(beta_schedule="squaredcos_cap_v2", use_exponential_sigmas=True)),
        dict(name="dpm karras squaredcos 25", **{"class": M}, steps=25,
             config=dict(beta_schedule="squaredcos_cap_v2", use_karras_sigmas=True)),
        dict(name="dpm lu linear 25", **{"class": M}, steps=25, config=dict(use_lu_lambdas=True)),
        dict(name="euler karras sd 50", **{"class": "EulerDiscreteScheduler"}, steps=50,
             config=dict(**SD, use_karras_sigmas=True)),
        dict(name="heun exponential sd 7", **{"class": "HeunDiscreteScheduler"}, steps=7,
             config=dict(**SD, use_exponential_sigmas=True)),
    ]
    return out


def tables(classes):
    """Whole float32 training tables and raw torch.linspace outputs, compared bit for bit."""
    configs = [
        ("DDPMScheduler", dict()),
        ("DDPMScheduler", dict(**SD)),
        ("DDPMScheduler", dict(beta_schedule="squaredcos_cap_v2")),
        ("DDPMScheduler", dict(beta_schedule="sigmoid")),
        ("DDPMScheduler", dict(beta_schedule="laplace")),
        ("HeunDiscreteScheduler", dict(beta_schedule="exp")),
        ("DDIMScheduler", dict(**SD, rescale_betas_zero_snr=True)),
        ("DDPMScheduler", dict(num_train_timesteps=20, beta_start=0.001, beta_end=0.05)),
        ("DDPMScheduler", dict(num_train_timesteps=37, beta_start=0.001, beta_end=0.05)),
    ]
    out = []
    for cls, config in configs:
        sched = classes[cls](**config)
        out.append({"class": cls, "config": config, "alphas_cumprod": flat(sched.alphas_cumprod)})
    spaces = []
    for start, end, steps in [(0.0001, 0.02, 1000), (0.00085 ** 0.5, 0.012 ** 0.5, 1000), (-6, 6, 1000), (0.3, 7.7, 11),
                              (-3.5, 2.7, 26), (1.5, -2.25, 33), (0.0, 1.0, 16), (2.0, 5.0, 17)]:
        spaces.append({"start": start, "end": end, "steps": steps,
                       "values": flat(torch.linspace(start, end, steps, dtype=torch.float32))})
    return {"tables": out, "linspace": spaces}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--diffusers", required=True, help="diffusers checkout, or its src/diffusers/schedulers folder")
    ap.add_argument("--commit", default=None, help="diffusers commit to record (default: git rev-parse HEAD)")
    ap.add_argument("--out", default=os.path.dirname(os.path.abspath(__file__)))
    args = ap.parse_args()

    sched_dir = args.diffusers
    if not os.path.exists(os.path.join(sched_dir, "scheduling_ddim.py")):
        sched_dir = os.path.join(args.diffusers, "src", "diffusers", "schedulers")
    if not os.path.exists(os.path.join(sched_dir, "scheduling_ddim.py")):
        sys.exit(f"no scheduling_ddim.py under {args.diffusers}")
    commit = args.commit
    if commit is None:
        try:
            commit = subprocess.check_output(["git", "-C", args.diffusers, "rev-parse", "HEAD"], text=True).strip()
        except Exception:
            commit = "unknown"

    classes = load_schedulers(sched_dir)
    torch.set_default_dtype(torch.float32)
    if not set_promotion("weak"):
        sys.exit("this NumPy cannot use NumPy 2 (NEP 50) promotion; use NumPy >= 1.24")
    g = torch.Generator().manual_seed(SEED)
    base_noise = torch.randn(SHAPE, generator=g, dtype=torch.float32)
    add_noise_x0 = torch.randn(ADD_NOISE_SHAPE, generator=g, dtype=torch.float32).clamp(-1, 1)
    add_noise_eps = torch.randn(ADD_NOISE_SHAPE, generator=g, dtype=torch.float32)

    for file, group in cases().items():
        records = [run_case(classes, c, base_noise, add_noise_x0, add_noise_eps) for c in group]
        doc = {
            "about": "diffusers reference trajectories for src/schedulers; written by generate.py, do not edit",
            "diffusers_commit": commit,
            "torch": torch.__version__,
            "numpy": np.__version__,
            "numpy_promotion": "weak (NumPy 2, NEP 50)",
            "model": "model_output = 0.1 * model_input + 0.05 * sin(t / 100) (float32); DDPM learned_range: cat([f, tanh(f)], 1)",
            "shape": SHAPE,
            "x_noise": flat(base_noise),
            "add_noise": {"shape": ADD_NOISE_SHAPE, "original": flat(add_noise_x0), "noise": flat(add_noise_eps)},
            "cases": records,
        }
        path = os.path.join(args.out, f"{file}.json")
        with open(path, "w") as f:
            json.dump(doc, f, separators=(",", ":"))
            f.write("\n")
        print(f"{path}: {len(records)} cases, {os.path.getsize(path)} bytes")

    # The ladder schedules under both promotion rules.
    ladders = {"numpy2": [schedule_only(classes, c) for c in ladder_cases()]}
    # (the schedules above and the tables below come from this torch version's CPU kernels)
    if set_promotion("legacy"):
        ladders["numpy1"] = [schedule_only(classes, c) for c in ladder_cases()]
        set_promotion("weak")
    else:
        print("this NumPy cannot emulate NumPy 1 promotion: ladders.json gets no numpy1 cases")
    doc = {
        "about": "diffusers ladder schedules (Karras / exponential / Lu) under NumPy 2 and NumPy 1 promotion; written by generate.py, do not edit",
        "diffusers_commit": commit,
        "torch": torch.__version__,
        "numpy": np.__version__,
        **ladders,
    }
    path = os.path.join(args.out, "ladders.json")
    with open(path, "w") as f:
        json.dump(doc, f, separators=(",", ":"))
        f.write("\n")
    print(f"{path}: {sum(len(v) for v in ladders.values())} schedules, {os.path.getsize(path)} bytes")

    doc = {
        "about": "whole float32 alphas_cumprod tables and torch.linspace outputs of this torch build; written by generate.py, do not edit",
        "diffusers_commit": commit,
        "torch": torch.__version__,
        **tables(classes),
    }
    path = os.path.join(args.out, "tables.json")
    with open(path, "w") as f:
        json.dump(doc, f, separators=(",", ":"))
        f.write("\n")
    print(f"{path}: {len(doc['tables'])} tables, {os.path.getsize(path)} bytes")

if __name__ == "__main__":
    main()
