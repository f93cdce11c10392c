#!/usr/bin/env python3
"""The SD-style block stack in PyTorch on a GPU: the baseline for bench/gpu/run.sh.

The model is bench/torch_baseline.py's `blocks` suite (build_sd_blocks, the twin of
bench/models/sd-blocks.mjs: ResNet block + spatial transformer, explicit attention), moved to
--device (default: cuda where available, else cpu). Forward only, no_grad, float32, batch 2,
x [2,320,32,32]; --small runs the small stack of bench/webgpu.mjs (batch 1, 64 channels,
16x16) instead. On CUDA it runs twice: with TF32 off ("fp32", the arithmetic WebGPU's f32
kernels do) and on ("tf32", PyTorch's default for convolutions). One check against a float64
copy first. The clock stops after torch.cuda.synchronize(): after each call, and (as
bench/webgpu.mjs's queued clock) after 10 calls queued back to back.

    python3 bench/gpu/torch_blocks.py [--device cuda] [--small] [--repeats 20] [--warmup 3] [--json]

With --json, one JSON object on stdout: {"machine": {...}, "results": [{name, variant,
median_ms, min_ms, gflops, flops, repeats, queued, check}]}; progress goes to stderr.
"""

import argparse
import copy
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

# Same keys as torch_baseline.SD; the sizes of SD_SMALL in bench/webgpu.mjs.
QUEUED = 10  # calls per queued batch, as in bench/webgpu.mjs
SD_SMALL = dict(batch=1, channels=64, size=16, temb=256, ctx_len=16, ctx_dim=64,
                heads=2, head_dim=32, ff_inner=256, groups=32)


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def set_tf32(torch, on):
    """TF32 for matmuls and cuDNN convolutions, through whichever API this torch has."""
    matmul = torch.backends.cuda.matmul
    if hasattr(matmul, "fp32_precision"):  # torch >= 2.9
        precision = "tf32" if on else "ieee"
        matmul.fp32_precision = precision
        torch.backends.cudnn.conv.fp32_precision = precision
    else:
        matmul.allow_tf32 = on
        torch.backends.cudnn.allow_tf32 = on


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="")
    p.add_argument("--small", action="store_true")
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)

    try:
        import torch
        import torch.nn.functional as F
    except Exception as e:  # ImportError, or a broken native library
        msg = f"cannot import torch: {type(e).__name__}: {e}"
        print(json.dumps({"error": msg}) if args.json else msg)
        return 3
    import torch_baseline as tb
    tb.torch, tb.F = torch, F  # the module imports torch inside its own main()

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    cuda = device.startswith("cuda")
    c = SD_SMALL if args.small else tb.SD
    name = f"sd_blocks_fwd_{c['batch']}x{c['channels']}x{c['size']}x{c['size']}"
    flops = tb.sd_blocks_flops(c)
    machine = {"torch": torch.__version__, "device": device,
               "name": torch.cuda.get_device_name(device) if cuda else "cpu"}
    log(f"torch {torch.__version__} on {machine['name']}")

    torch.manual_seed(1234)
    model = tb.build_sd_blocks(c).to(device)
    x = torch.randn(c["batch"], c["channels"], c["size"], c["size"], device=device)
    temb = torch.randn(c["batch"], c["temb"], device=device)
    ctx = torch.randn(c["batch"], c["ctx_len"], c["ctx_dim"], device=device)
    sync = torch.cuda.synchronize if cuda else (lambda: None)

    results = []
    with torch.no_grad():
        ref = copy.deepcopy(model).double()(x.double(), temb.double(), ctx.double())
        for variant in (["fp32", "tf32"] if cuda else ["fp32"]):
            if cuda:
                set_tf32(torch, variant == "tf32")
            err = tb.rel_err(model(x, temb, ctx), ref)
            times = []
            for i in range(args.warmup + args.repeats):
                sync()
                t0 = time.perf_counter()
                model(x, temb, ctx)
                sync()
                if i >= args.warmup:
                    times.append(time.perf_counter() - t0)
            # As bench/webgpu.mjs: also QUEUED calls back to back, one synchronize at the end.
            per_call = []
            for i in range(1 + max(3, -(-args.repeats // 3))):
                sync()
                t0 = time.perf_counter()
                for _ in range(QUEUED):
                    model(x, temb, ctx)
                sync()
                if i >= 1:
                    per_call.append((time.perf_counter() - t0) / QUEUED)
            median = statistics.median(times)
            queued = statistics.median(per_call)
            results.append({"name": name, "variant": variant, "median_ms": median * 1e3,
                            "min_ms": min(times) * 1e3, "gflops": flops / median / 1e9,
                            "flops": flops, "repeats": args.repeats,
                            "queued": {"per_call_ms": queued * 1e3, "calls": QUEUED,
                                       "batches": len(per_call), "gflops": flops / queued / 1e9},
                            "check": {"max_rel_err": err, "ok": err <= (1e-2 if variant == "tf32" else 1e-3)}})
            log(f"  {name} {variant}: {median * 1e3:.3f} ms, queued {queued * 1e3:.3f} ms/call, "
                f"{flops / queued / 1e9:.1f} GFLOP/s, max rel err {err:.1e}")
    if cuda:
        set_tf32(torch, False)

    if args.json:
        print(json.dumps({"machine": machine, "results": results}))
    else:
        for r in results:
            print(f"{r['name']:<28} {r['variant']:<5} {r['median_ms']:>9.3f} ms, queued "
                  f"{r['queued']['per_call_ms']:>9.3f} ms/call {r['queued']['gflops']:>9.1f} GFLOP/s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
