"""PyTorch side of bench_conv: times conv2d forward and backward (input, weight and bias
gradients) on CPU float32 for a list of layer shapes, and prints one JSON document.

  /usr/bin/python3 torch_conv.py --threads 2 --json [--shapes SPECS] [--budget SECONDS]

SPECS is a ';'-separated list of 'N,C_in,H,W,C_out,KH,KW,stride,padding' (dilation 1,
groups 1); bench_conv passes its own table so the two sides cannot drift. Without
--shapes the ddpm-small table below is used. Each measurement is one warm-up call and
then timed calls (about `budget` seconds, at least 5); best and median are reported in
milliseconds. Without --json a table is printed instead.
"""
import argparse
import json
import time

import torch
import torch.nn.functional as F

# Every distinct conv layer of ddpm-small (shared/REFERENCE_MODELS.md) at batch 32.
DDPM_SMALL = ("32,3,32,32,32,3,3,1,1;32,32,32,32,32,3,3,1,1;32,32,32,32,32,3,3,2,1;"
              "32,32,16,16,64,3,3,1,1;32,64,16,16,64,3,3,1,1;32,32,16,16,64,1,1,1,0;"
              "32,64,16,16,64,3,3,2,1;32,64,8,8,64,3,3,1,1;32,64,8,8,192,1,1,1,0;"
              "32,64,8,8,64,1,1,1,0;32,128,8,8,64,3,3,1,1;32,128,8,8,64,1,1,1,0;"
              "32,128,16,16,64,3,3,1,1;32,128,16,16,64,1,1,1,0;32,96,16,16,64,3,3,1,1;"
              "32,96,16,16,64,1,1,1,0;32,64,32,32,64,3,3,1,1;32,96,32,32,32,3,3,1,1;"
              "32,96,32,32,32,1,1,1,0;32,64,32,32,32,3,3,1,1;32,64,32,32,32,1,1,1,0;"
              "32,32,32,32,3,3,3,1,1")


def time_calls(call, budget, min_reps=5, max_reps=200):
    call()
    times, total = [], 0.0
    while len(times) < max_reps and (len(times) < min_reps or total < budget):
        t0 = time.perf_counter()
        call()
        s = time.perf_counter() - t0
        times.append(s)
        total += s
    times.sort()
    return times[0] * 1e3, times[len(times) // 2] * 1e3, len(times)


def bench(spec, budget):
    n, cin, h, w, cout, kh, kw, stride, pad = (int(v) for v in spec.split(","))
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, cin, h, w, generator=g, requires_grad=True)
    wt = (torch.randn(cout, cin, kh, kw, generator=g) / (cin * kh * kw) ** 0.5).requires_grad_()
    b = torch.randn(cout, generator=g, requires_grad=True)
    with torch.no_grad():
        gy = torch.randn_like(F.conv2d(x, wt, b, stride, pad))

    def forward():
        return F.conv2d(x, wt, b, stride, pad)

    def forward_backward():
        x.grad = wt.grad = b.grad = None
        y = F.conv2d(x, wt, b, stride, pad)
        y.backward(gy)

    fwd = time_calls(forward, budget)
    total = time_calls(forward_backward, budget)
    return {"shape": spec, "forward_ms_best": fwd[0], "forward_ms_median": fwd[1],
            "total_ms_best": total[0], "total_ms_median": total[1], "reps": total[2]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", action="store_true", help="print one JSON document")
    ap.add_argument("--shapes", default=DDPM_SMALL)
    ap.add_argument("--budget", type=float, default=0.5, help="seconds per measurement")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    rows = [bench(s, a.budget) for s in a.shapes.split(";") if s.strip()]
    if a.json:
        print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(),
                          "mkldnn": torch.backends.mkldnn.is_available(), "results": rows}))
    else:
        print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
        print(f"{'N,C_in,H,W,C_out,KH,KW,s,p':>30} {'fwd ms':>8} {'fwd+bwd ms':>11}")
        for r in rows:
            print(f"{r['shape']:>30} {r['forward_ms_best']:8.3f} {r['total_ms_best']:11.3f}")


if __name__ == "__main__":
    main()
