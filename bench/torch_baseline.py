#!/usr/bin/env python3
"""PyTorch CPU baseline: the PyTorch twin of bench/primitives.mjs.

The Node benchmark (bench/primitives.mjs) runs this script as a subprocess so
that our JS kernels and PyTorch are measured side by side on the same machine:

    /usr/bin/python3 bench/torch_baseline.py --json --threads 2 --suite primitives

With --json exactly one JSON object is written to stdout:

    {"machine": {...}, "results": [{"name", "median_ms", "min_ms", "gflops",
                                    "flops", "repeats", "check"}],
     "skipped": [{"name", "reason"}]}

Everything else (progress, correctness checks, warnings, even output from
native libraries) goes to stderr. Without --json a readable table is printed.

Workloads are grouped in named suites (see SUITES at the bottom). A later suite
such as `blocks` or `train` is a new list of Workload factories in that dict.

Each workload does one correctness check against an independent float64
reference before timing, so that a broken BLAS / oneDNN is noticed.

Exit codes: 0 success, 2 bad arguments, 3 torch cannot be imported,
4 a correctness check failed (the JSON is still printed).
"""

import argparse
import json
import math
import os
import platform
import statistics
import sys
import time

DEFAULT_SEED = 1234
REL_TOL = 1e-3  # max|got - ref| / max|ref| allowed in the sanity checks


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=2,
                   help="torch.set_num_threads (intra-op); interop is set to 1")
    p.add_argument("--repeats", type=int, default=10, help="timed repeats")
    p.add_argument("--warmup", type=int, default=2, help="untimed warmup runs")
    p.add_argument("--suite", default="primitives", help="workload group to run")
    p.add_argument("--only", default="",
                   help="comma-separated workload names (subset of the suite)")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object on stdout, progress on stderr")
    args = p.parse_args(argv)
    if args.threads < 1 or args.repeats < 1 or args.warmup < 0:
        p.error("--threads and --repeats must be >= 1, --warmup >= 0")
    return args


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------
# Workload definition
# --------------------------------------------------------------------------

class Workload:
    """One benchmarked operation.

    setup()      -> state dict with the (seeded) input tensors
    run(state)   -> the timed operation
    reset(state) -> untimed work between repeats (e.g. clearing grads)
    check(state) -> max relative error vs a float64 reference (runs once)
    grad         -> if False, run/check execute under torch.no_grad()
    available()  -> None if runnable, else a reason string (workload skipped)
    """

    def __init__(self, name, flops, setup, run, check, reset=None,
                 grad=False, available=None, note=""):
        self.name = name
        self.flops = flops
        self.setup = setup
        self.run = run
        self.check = check
        self.reset = reset or (lambda state: None)
        self.grad = grad
        self.available = available or (lambda: None)
        self.note = note


def rel_err(got, ref):
    """max|got - ref| / max|ref|, computed in float64."""
    got = got.detach().to(torch.float64)
    ref = ref.detach().to(torch.float64)
    return float((got - ref).abs().max() / ref.abs().max().clamp_min(1e-30))


# --------------------------------------------------------------------------
# Suite: primitives
# --------------------------------------------------------------------------

def wl_matmul(n=1024):
    """[n,n] @ [n,n]; flops = 2*M*N*K."""
    def setup():
        return {"a": torch.randn(n, n), "b": torch.randn(n, n)}

    def run(s):
        return torch.matmul(s["a"], s["b"])

    def check(s):
        rows = slice(0, 64)  # a row slice keeps the float64 reference cheap
        got = torch.matmul(s["a"], s["b"])[rows]
        ref = torch.matmul(s["a"][rows].double(), s["b"].double())
        return rel_err(got, ref)

    return Workload(f"matmul_{n}", 2.0 * n * n * n, setup, run, check)


# Shared conv geometry: x [1,128,64,64], w [128,128,3,3], stride 1, padding 1.
CONV = dict(n=1, cin=128, cout=128, h=64, w=64, k=3, pad=1)


def conv_fwd_flops(c=CONV):
    hout = c["h"] + 2 * c["pad"] - c["k"] + 1
    wout = c["w"] + 2 * c["pad"] - c["k"] + 1
    # 2 * N*Cout*Hout*Wout * Cin*kh*kw
    return 2.0 * c["n"] * c["cout"] * hout * wout * c["cin"] * c["k"] * c["k"]


def conv_inputs(grad, c=CONV):
    x = torch.randn(c["n"], c["cin"], c["h"], c["w"])
    w = torch.randn(c["cout"], c["cin"], c["k"], c["k"]) / math.sqrt(c["cin"] * c["k"] ** 2)
    x.requires_grad_(grad)
    w.requires_grad_(grad)
    return x, w


def conv_reference(x, w, g=None, c=CONV):
    """float64 conv (and its gradients if g is given) via im2col + matmul.

    Independent of the oneDNN / native conv kernels under test: it only uses
    F.unfold / F.fold and a float64 GEMM.
    """
    x = x.detach().double()
    w = w.detach().double()
    n, cout = x.shape[0], w.shape[0]
    hw = (c["h"], c["w"])  # stride 1, "same" padding -> output is H x W
    cols = F.unfold(x, c["k"], padding=c["pad"])              # [N, Cin*k*k, H*W]
    wmat = w.reshape(cout, -1)                                 # [Cout, Cin*k*k]
    y = (wmat @ cols).reshape(n, cout, *hw)
    if g is None:
        return y
    gmat = g.double().reshape(n, cout, -1)                     # [N, Cout, H*W]
    grad_w = (gmat @ cols.transpose(1, 2)).sum(0).reshape(w.shape)
    grad_cols = wmat.t() @ gmat                                # [N, Cin*k*k, H*W]
    grad_x = F.fold(grad_cols, hw, c["k"], padding=c["pad"])
    return y, grad_x, grad_w


def wl_conv3x3_fwd():
    def setup():
        x, w = conv_inputs(grad=False)
        return {"x": x, "w": w}

    def run(s):
        return F.conv2d(s["x"], s["w"], stride=1, padding=CONV["pad"])

    def check(s):
        return rel_err(run(s), conv_reference(s["x"], s["w"]))

    return Workload("conv3x3_fwd", conv_fwd_flops(), setup, run, check)


def wl_conv3x3_fwd_bwd():
    """Forward + backward w.r.t. input and weight; flops = 3x forward."""
    def setup():
        x, w = conv_inputs(grad=True)
        g = torch.randn(CONV["n"], CONV["cout"], CONV["h"], CONV["w"])  # fixed upstream grad
        return {"x": x, "w": w, "g": g}

    def run(s):
        y = F.conv2d(s["x"], s["w"], stride=1, padding=CONV["pad"])
        y.backward(s["g"])
        return y

    def reset(s):  # untimed: drop grads so every repeat allocates fresh ones
        s["x"].grad = None
        s["w"].grad = None

    def check(s):
        reset(s)
        y = run(s)
        y_ref, gx_ref, gw_ref = conv_reference(s["x"], s["w"], s["g"])
        err = max(rel_err(y, y_ref), rel_err(s["x"].grad, gx_ref),
                  rel_err(s["w"].grad, gw_ref))
        reset(s)
        return err

    return Workload("conv3x3_fwd_bwd", 3.0 * conv_fwd_flops(), setup, run,
                    check, reset=reset, grad=True)


# Attention geometry: q, k, v [B, H, T, D].
ATTN = dict(b=2, h=8, t=1024, d=64)


def attn_name(prefix):
    return f"{prefix}_{ATTN['b']}x{ATTN['h']}x{ATTN['t']}x{ATTN['d']}"


def attn_flops(a=ATTN):
    # Two matmuls (q k^T and p v), 2*T*T*D each per (b, h).
    # Softmax (exp, max, sum, divide) and the 1/sqrt(D) scale are NOT counted.
    return 4.0 * a["b"] * a["h"] * a["t"] * a["t"] * a["d"]


def attn_setup():
    shape = (ATTN["b"], ATTN["h"], ATTN["t"], ATTN["d"])
    return {"q": torch.randn(shape), "k": torch.randn(shape), "v": torch.randn(shape)}


def attn_explicit(q, k, v):
    """softmax(q k^T / sqrt(D)) v, written out: matmul, softmax, matmul."""
    scores = torch.matmul(q, k.transpose(-2, -1)) / math.sqrt(q.shape[-1])
    return torch.matmul(torch.softmax(scores, dim=-1), v)


def attn_check(run):
    def check(s):
        # Reference: float64 explicit attention on batch 0, head 0.
        got = run(s)[0, 0]
        ref = attn_explicit(*(s[n][0, 0].double() for n in ("q", "k", "v")))
        return rel_err(got, ref)
    return check


def wl_attention():
    def run(s):
        return attn_explicit(s["q"], s["k"], s["v"])

    return Workload(attn_name("attention"), attn_flops(), attn_setup, run,
                    attn_check(run),
                    note="flops count the two matmuls only (softmax excluded)")


def wl_attention_sdpa():
    """Reference only: PyTorch's fused kernel (same math, same flop count)."""
    def run(s):
        return F.scaled_dot_product_attention(s["q"], s["k"], s["v"])

    def available():
        if not hasattr(F, "scaled_dot_product_attention"):
            return f"F.scaled_dot_product_attention needs torch>=2.0 (have {torch.__version__})"
        return None

    return Workload(attn_name("attention_sdpa"), attn_flops(), attn_setup, run,
                    attn_check(run), available=available,
                    note="flops count the two matmuls only (softmax excluded)")


# --------------------------------------------------------------------------
# Suite: blocks (twin of bench/models/sd-blocks.mjs, run by bench/graph.mjs)
# --------------------------------------------------------------------------

SD = dict(batch=2, channels=320, size=32, temb=1280, ctx_len=77, ctx_dim=768,
          heads=8, head_dim=40, ff_inner=1280, groups=32)


def sd_blocks_flops(c=SD):
    """Matmul/conv multiply-adds x2 (same formula as sdBlocksFlops in JS)."""
    b, ch, hw, L = c["batch"], c["channels"], c["size"] ** 2, c["ctx_len"]
    conv3 = 2.0 * b * hw * ch * ch * 9
    lin = lambda rows, i, o: 2.0 * rows * i * o
    core = lambda tq, tk: 4.0 * b * c["heads"] * tq * tk * c["head_dim"]
    return (2 * conv3 + lin(b, c["temb"], ch) + 2 * lin(b * hw, ch, ch)
            + 4 * lin(b * hw, ch, ch) + core(hw, hw)
            + 2 * lin(b * hw, ch, ch) + 2 * lin(b * L, c["ctx_dim"], ch) + core(hw, L)
            + lin(b * hw, ch, 2 * c["ff_inner"]) + lin(b * hw, c["ff_inner"], ch))


def explicit_attention(q, k, v):
    """softmax(q k^T / sqrt(D)) v on [B, H, T, D] (torch 1.13 has no SDPA)."""
    s = torch.matmul(q, k.transpose(-2, -1)) * (1.0 / math.sqrt(q.shape[-1]))
    return torch.matmul(torch.softmax(s, dim=-1), v)


def build_sd_blocks(c=SD):
    """diffusers-style ResnetBlock2D + Transformer2DModel (one BasicTransformerBlock)."""
    nn = torch.nn
    C = c["channels"]

    class Resnet(nn.Module):
        def __init__(self):
            super().__init__()
            self.norm1 = nn.GroupNorm(c["groups"], C, eps=1e-5)
            self.conv1 = nn.Conv2d(C, C, 3, padding=1)
            self.time_emb_proj = nn.Linear(c["temb"], C)
            self.norm2 = nn.GroupNorm(c["groups"], C, eps=1e-5)
            self.conv2 = nn.Conv2d(C, C, 3, padding=1)

        def forward(self, x, temb):
            h = self.conv1(F.silu(self.norm1(x)))
            h = h + self.time_emb_proj(F.silu(temb))[:, :, None, None]
            h = self.conv2(F.silu(self.norm2(h)))
            return x + h

    class Attn(nn.Module):
        def __init__(self, kv_dim):
            super().__init__()
            self.to_q = nn.Linear(C, C, bias=False)
            self.to_k = nn.Linear(kv_dim, C, bias=False)
            self.to_v = nn.Linear(kv_dim, C, bias=False)
            self.to_out = nn.ModuleList([nn.Linear(C, C)])

        def forward(self, x, ctx):
            b, t, _ = x.shape
            h = c["heads"]
            split = lambda y: y.reshape(b, y.shape[1], h, -1).transpose(1, 2)
            o = explicit_attention(split(self.to_q(x)), split(self.to_k(ctx)), split(self.to_v(ctx)))
            return self.to_out[0](o.transpose(1, 2).reshape(b, t, C))

    class GEGLU(nn.Module):
        def __init__(self):
            super().__init__()
            self.proj = nn.Linear(C, 2 * c["ff_inner"])

        def forward(self, x):
            a, gate = self.proj(x).chunk(2, dim=-1)
            return a * F.gelu(gate)

    class FF(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = nn.ModuleList([GEGLU(), nn.Identity(), nn.Linear(c["ff_inner"], C)])

        def forward(self, x):
            return self.net[2](self.net[0](x))

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.norm1, self.norm2, self.norm3 = (nn.LayerNorm(C) for _ in range(3))
            self.attn1 = Attn(C)
            self.attn2 = Attn(c["ctx_dim"])
            self.ff = FF()

        def forward(self, x, ctx):
            n1 = self.norm1(x)
            x = x + self.attn1(n1, n1)
            x = x + self.attn2(self.norm2(x), ctx)
            return x + self.ff(self.norm3(x))

    class SpatialTransformer(nn.Module):
        def __init__(self):
            super().__init__()
            self.norm = nn.GroupNorm(c["groups"], C, eps=1e-6)
            self.proj_in = nn.Conv2d(C, C, 1)
            self.transformer_blocks = nn.ModuleList([Block()])
            self.proj_out = nn.Conv2d(C, C, 1)

        def forward(self, x, ctx):
            b, _, hh, ww = x.shape
            h = self.proj_in(self.norm(x)).permute(0, 2, 3, 1).reshape(b, hh * ww, C)
            h = self.transformer_blocks[0](h, ctx)
            h = h.reshape(b, hh, ww, C).permute(0, 3, 1, 2)
            return x + self.proj_out(h)

    class SDBlocks(nn.Module):
        def __init__(self):
            super().__init__()
            self.resnet = Resnet()
            self.attn = SpatialTransformer()

        def forward(self, x, temb, ctx):
            return self.attn(self.resnet(x, temb), ctx)

    return SDBlocks().eval()


def wl_sd_blocks_fwd():
    c = SD

    def setup():
        model = build_sd_blocks(c)
        return {"model": model,
                "x": torch.randn(c["batch"], c["channels"], c["size"], c["size"]),
                "temb": torch.randn(c["batch"], c["temb"]),
                "ctx": torch.randn(c["batch"], c["ctx_len"], c["ctx_dim"])}

    def run(s):
        return s["model"](s["x"], s["temb"], s["ctx"])

    def check(s):
        import copy
        ref_model = copy.deepcopy(s["model"]).double()
        ref = ref_model(s["x"].double(), s["temb"].double(), s["ctx"].double())
        return rel_err(run(s), ref)

    return Workload("sd_blocks_fwd", sd_blocks_flops(), setup, run, check,
                    note="ResNet block + spatial transformer, float32, no_grad; "
                         "flops = matmul/conv multiply-adds x2")


# --------------------------------------------------------------------------
# Suite: train (twin of bench/models/transformer-lm.mjs, run by bench/graph.mjs)
# --------------------------------------------------------------------------

TLM = dict(layers=6, width=256, heads=4, mlp=1024, vocab=1000, batch=32, seq=64)
ADAMW = dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)


def tlm_forward_flops(c=TLM):
    n, d = c["batch"] * c["seq"], c["width"]
    per_layer = (2.0 * n * d * 3 * d + 2.0 * n * d * d + 2 * 2.0 * n * d * c["mlp"]
                 + 4.0 * c["batch"] * c["seq"] * c["seq"] * d)
    return c["layers"] * per_layer + 2.0 * n * d * c["vocab"]


def build_tlm(c=TLM):
    """Pre-LN transformer encoder LM: embedding + learned positions, untied head."""
    nn = torch.nn
    D = c["width"]

    class SelfAttn(nn.Module):
        def __init__(self):
            super().__init__()
            self.qkv = nn.Linear(D, 3 * D)
            self.out = nn.Linear(D, D)

        def forward(self, x):
            b, t, _ = x.shape
            split = lambda y: y.reshape(b, t, c["heads"], -1).transpose(1, 2)
            q, k, v = (split(y) for y in self.qkv(x).chunk(3, dim=-1))
            return self.out(explicit_attention(q, k, v).transpose(1, 2).reshape(b, t, D))

    class MLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(D, c["mlp"])
            self.fc2 = nn.Linear(c["mlp"], D)

        def forward(self, x):
            return self.fc2(F.gelu(self.fc1(x)))

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln1, self.ln2 = nn.LayerNorm(D), nn.LayerNorm(D)
            self.attn, self.mlp = SelfAttn(), MLP()

        def forward(self, x):
            x = x + self.attn(self.ln1(x))
            return x + self.mlp(self.ln2(x))

    class LM(nn.Module):
        def __init__(self):
            super().__init__()
            self.tok_emb = nn.Embedding(c["vocab"], D)
            self.pos_emb = nn.Parameter(torch.randn(c["seq"], D) * 0.02)
            self.blocks = nn.ModuleList([Block() for _ in range(c["layers"])])
            self.ln_f = nn.LayerNorm(D)
            self.head = nn.Linear(D, c["vocab"], bias=False)
            for m in self.modules():
                if isinstance(m, (nn.Linear, nn.Embedding)):
                    nn.init.normal_(m.weight, std=0.02)
                    if getattr(m, "bias", None) is not None:
                        nn.init.zeros_(m.bias)

        def forward(self, ids, targets):
            h = self.tok_emb(ids) + self.pos_emb
            for blk in self.blocks:
                h = blk(h)
            logits = self.head(self.ln_f(h))
            return F.cross_entropy(logits.reshape(-1, c["vocab"]), targets.reshape(-1))

    return LM()


def wl_tlm_train_step():
    c = TLM

    def setup():
        model = build_tlm(c)
        opt = torch.optim.AdamW(model.parameters(), **ADAMW)
        ids = torch.randint(0, c["vocab"], (c["batch"], c["seq"]))
        targets = torch.randint(0, c["vocab"], (c["batch"], c["seq"]))
        return {"model": model, "opt": opt, "ids": ids, "targets": targets}

    def run(s):
        loss = s["model"](s["ids"], s["targets"])
        loss.backward()
        s["opt"].step()
        return loss

    def reset(s):
        s["opt"].zero_grad(set_to_none=True)

    def check(s):
        # Loss and the gradient of every parameter, float32 vs a float64 copy (before any step).
        import copy
        ref_model = copy.deepcopy(s["model"]).double()
        s["model"].zero_grad(set_to_none=True)
        loss = s["model"](s["ids"], s["targets"])
        loss.backward()
        ref_loss = ref_model(s["ids"], s["targets"])
        ref_loss.backward()
        err = rel_err(loss.reshape(1), ref_loss.reshape(1))
        for p, q in zip(s["model"].parameters(), ref_model.parameters()):
            err = max(err, rel_err(p.grad, q.grad))
        s["model"].zero_grad(set_to_none=True)
        return err

    return Workload("tlm_train_step", 3 * tlm_forward_flops(c), setup, run, check,
                    reset=reset, grad=True,
                    note="6x256 pre-LN encoder, 4 heads, MLP 1024 GELU, untied head, "
                         "forward+backward+AdamW; flops = 3x forward matmul multiply-adds x2")


# Named groups of workloads. A new suite (e.g. "blocks", "train") is a new
# entry: a list of zero-argument factories returning a Workload.
SUITES = {
    "primitives": [
        wl_matmul,
        wl_conv3x3_fwd,
        wl_conv3x3_fwd_bwd,
        wl_attention,
        wl_attention_sdpa,
    ],
    "blocks": [
        wl_sd_blocks_fwd,
    ],
    "train": [
        wl_tlm_train_step,
    ],
}


# --------------------------------------------------------------------------
# Runner
# --------------------------------------------------------------------------

def time_workload(wl, repeats, warmup):
    torch.manual_seed(DEFAULT_SEED)
    state = wl.setup()
    grad_ctx = torch.enable_grad if wl.grad else torch.no_grad
    with grad_ctx():
        err = wl.check(state)
        ok = err <= REL_TOL
        log(f"  check {wl.name}: max rel err {err:.2e} (tol {REL_TOL:g}) "
            f"{'OK' if ok else 'FAILED'}")
        for _ in range(warmup):
            wl.reset(state)
            wl.run(state)
        times = []
        for _ in range(repeats):
            wl.reset(state)  # not timed
            t0 = time.perf_counter()
            wl.run(state)
            times.append(time.perf_counter() - t0)
        wl.reset(state)
    median = statistics.median(times)
    result = {
        "name": wl.name,
        "median_ms": median * 1e3,
        "min_ms": min(times) * 1e3,
        "gflops": wl.flops / median / 1e9,
        "flops": wl.flops,
        "repeats": repeats,
        "check": {"ok": ok, "max_rel_err": err, "tol": REL_TOL},
    }
    if wl.note:
        result["note"] = wl.note
    return result


def read_cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def loaded_blas_libs():
    """Shared libraries mapped into this process that look like BLAS/LAPACK
    (shows which alternative libblas.so.3 actually resolved to)."""
    keys = ("blas", "lapack", "mkl", "dnnl", "gomp", "omp")
    libs = set()
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                path = line.split()[-1]
                if path.startswith("/") and ".so" in path and \
                        any(k in os.path.basename(path).lower() for k in keys):
                    libs.add(os.path.realpath(path))
    except OSError:
        pass
    return sorted(libs)


def machine_info(args):
    config = torch.__config__.show().strip().splitlines()
    build = next((l for l in config if "Build settings" in l), "")
    build_kv = dict(kv.strip().split("=", 1) for kv in build.split(":", 1)[-1].split(", ")
                    if "=" in kv and not kv.strip().startswith("CXX_FLAGS"))
    return {
        "torch_version": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_model": read_cpu_model(),
        "logical_cpus": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "interop_threads": torch.get_num_interop_threads(),
        "requested_threads": args.threads,
        # First lines of torch.__config__.show(), minus the huge CXX_FLAGS line.
        "torch_config": [l.strip() for l in config if "Build settings" not in l][:8],
        "blas_info": build_kv.get("BLAS_INFO"),
        "lapack_info": build_kv.get("LAPACK_INFO"),
        "use_mkldnn": build_kv.get("USE_MKLDNN"),
        "blas_libs_loaded": loaded_blas_libs(),
        "env": {k: os.environ.get(k) for k in
                ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")},
        "seed": DEFAULT_SEED,
        "warmup": args.warmup,
        "suite": args.suite,
    }


def print_table(machine, results, skipped):
    print(f"torch {machine['torch_version']} | {machine['cpu_model']} | "
          f"threads={machine['threads']} interop={machine['interop_threads']} | "
          f"BLAS_INFO={machine['blas_info']}", file=sys.stdout)
    hdr = f"{'workload':<30} {'median ms':>10} {'min ms':>10} {'GFLOP/s':>9} {'GFLOP':>8}  check"
    print(hdr, file=sys.stdout)
    print("-" * len(hdr), file=sys.stdout)
    for r in results:
        chk = "ok" if r["check"]["ok"] else "FAILED"
        print(f"{r['name']:<30} {r['median_ms']:>10.2f} {r['min_ms']:>10.2f} "
              f"{r['gflops']:>9.1f} {r['flops'] / 1e9:>8.3f}  {chk} "
              f"({r['check']['max_rel_err']:.1e})", file=sys.stdout)
    for s in skipped:
        print(f"{s['name']:<30} skipped: {s['reason']}", file=sys.stdout)


def main(argv):
    args = parse_args(argv)

    # With --json, point fd 1 at stderr while working so that nothing but the
    # final JSON object (written to the saved real stdout) reaches stdout --
    # including stray prints from native libraries.
    json_out = None
    if args.json:
        sys.stdout.flush()
        json_out = os.fdopen(os.dup(1), "w")
        os.dup2(2, 1)

    def emit(obj):
        json_out.write(json.dumps(obj) + "\n")
        json_out.flush()

    # OpenBLAS/OpenMP read their thread counts at load time, and
    # torch.set_num_threads does not reach OpenBLAS's own pool: set the env
    # before importing torch (unless the caller already set it).
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, str(args.threads))

    global torch, F
    try:
        import torch
        import torch.nn.functional as F
    except Exception as e:  # ImportError, or a broken native library
        msg = f"cannot import torch: {type(e).__name__}: {e}"
        if args.json:
            emit({"error": msg})
        else:
            log(msg)
        return 3

    if args.suite not in SUITES:
        msg = f"unknown suite {args.suite!r}; known: {', '.join(SUITES)}"
        if args.json:
            emit({"error": msg})
        log(msg)
        return 2

    torch.set_num_threads(args.threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError as e:  # only allowed before any inter-op work starts
        log(f"warning: set_num_interop_threads(1) failed: {e}")

    workloads = [factory() for factory in SUITES[args.suite]]
    if args.only:
        wanted = [n.strip() for n in args.only.split(",") if n.strip()]
        known = {w.name for w in workloads}
        unknown = [n for n in wanted if n not in known]
        if unknown:
            msg = f"unknown workload(s) {unknown}; suite {args.suite!r} has: {sorted(known)}"
            if args.json:
                emit({"error": msg})
            log(msg)
            return 2
        workloads = [w for w in workloads if w.name in wanted]

    log(f"torch {torch.__version__}, threads={torch.get_num_threads()}, "
        f"suite={args.suite}, repeats={args.repeats}, warmup={args.warmup}")
    results, skipped = [], []
    for wl in workloads:
        reason = wl.available()
        if reason:
            log(f"[{wl.name}] skipped: {reason}")
            skipped.append({"name": wl.name, "reason": reason})
            continue
        log(f"[{wl.name}] running")
        r = time_workload(wl, args.repeats, args.warmup)
        log(f"  median {r['median_ms']:.2f} ms, min {r['min_ms']:.2f} ms, "
            f"{r['gflops']:.1f} GFLOP/s")
        results.append(r)

    machine = machine_info(args)  # after the runs: BLAS libs are loaded by now
    if args.json:
        emit({"machine": machine, "results": results, "skipped": skipped})
    else:
        print_table(machine, results, skipped)
    return 0 if all(r["check"]["ok"] for r in results) else 4


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
