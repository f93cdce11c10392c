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
