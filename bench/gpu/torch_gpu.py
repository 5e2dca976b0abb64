"""PyTorch side of bench_gpu: on a CUDA GPU, in eager mode (no torch.compile, no CUDA
graphs), the same two workloads bench_gpu.cpp times for kiln:

  train   one DDPM training step of a U-Net from shared/REFERENCE_MODELS.md (forward,
          L_simple, backward, Adam lr 2e-4), float32 with TF32 matrix products unless
          --no-tf32:  t ~ U{1..T}, eps ~ N(0, I), x_t = sqrt(ab_t) x_0 + sqrt(1 - ab_t) eps
  sample  DDIM (eta = 0) with S steps ("ddimS": t = T, T - T/S, ..., T/S) on a batch of
          images, in eval mode, without autograd

  /usr/bin/python3 torch_gpu.py --config ddpm-cifar10 --batch 128 --steps 20 --warmup 3 \
      --samples 64 --sample-steps 50 --sample-runs 3 [--no-tf32] [--json]

The network is bench/unet_step/torch_unet_step.py's UNet, the layer-for-layer twin of
diffusion/unet.cpp. Prints one JSON document (--json) or a line of text. Exits with 77
when there is no CUDA GPU (nothing is measured then).
"""
import argparse
import json
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "unet_step"))
from torch_unet_step import CONFIGS, UNet  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", default="ddpm-cifar10", choices=sorted(CONFIGS))
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--steps", type=int, default=20, help="timed training steps")
    ap.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    ap.add_argument("--samples", type=int, default=64)
    ap.add_argument("--sample-steps", type=int, default=50)
    ap.add_argument("--sample-runs", type=int, default=3, help="timed sampling runs (after one warm-up)")
    ap.add_argument("--no-tf32", action="store_true")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    if not torch.cuda.is_available():
        msg = "torch_gpu.py: no CUDA GPU visible to PyTorch; nothing measured"
        print(json.dumps(dict(error=msg)) if a.json else msg)
        sys.exit(77)
    dev = torch.device("cuda")
    tf32 = not a.no_tf32
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    torch.manual_seed(0)
    cfg = CONFIGS[a.config]
    net = UNet(**cfg).to(dev)
    params = sum(p.numel() for p in net.parameters())
    opt = torch.optim.Adam(net.parameters(), lr=2e-4)
    T = 1000
    betas = torch.linspace(1e-4, 0.02, T, dtype=torch.float64)
    alpha_bar = torch.cat((torch.ones(1, dtype=torch.float64), torch.cumprod(1 - betas, 0))).to(dev)
    res = cfg["res"]
    x0 = torch.randn(a.batch, 3, res, res, device=dev)

    def step():
        t = torch.randint(1, T + 1, (a.batch,), device=dev)
        eps = torch.randn_like(x0)
        ab = alpha_bar[t].to(torch.float32).view(-1, 1, 1, 1)
        xt = ab.sqrt() * x0 + (1 - ab).sqrt() * eps
        loss = F.mse_loss(net(xt, t), eps)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss.item()  # synchronises

    net.train()
    for _ in range(a.warmup):
        step()
    train_times = []
    for _ in range(a.steps):
        t0 = time.perf_counter()
        step()
        train_times.append(time.perf_counter() - t0)

    k = T // a.sample_steps
    ts = [T - k * i for i in range(a.sample_steps)][::-1]  # ascending: k, 2k, ..., T

    @torch.no_grad()
    def sample():
        x = torch.randn(a.samples, 3, res, res, device=dev)
        for i in reversed(range(len(ts))):
            ab_t = alpha_bar[ts[i]].item()
            ab_prev = alpha_bar[ts[i - 1]].item() if i > 0 else 1.0
            eps = net(x, torch.full((a.samples,), ts[i], device=dev, dtype=torch.long))
            x0_hat = (x - (1 - ab_t) ** 0.5 * eps) / ab_t ** 0.5
            x = ab_prev ** 0.5 * x0_hat + (1 - ab_prev) ** 0.5 * eps
        torch.cuda.synchronize()
        return x

    net.eval()
    sample()
    sample_times = []
    for _ in range(a.sample_runs):
        t0 = time.perf_counter()
        sample()
        sample_times.append(time.perf_counter() - t0)

    s = sorted(train_times)
    u = sorted(sample_times)
    result = dict(framework="pytorch", torch=torch.__version__, device=torch.cuda.get_device_name(0),
                  config=a.config, batch=a.batch, tf32=tf32, params=params, steps=a.steps,
                  warmup=a.warmup, train_median_s=s[len(s) // 2], train_min_s=s[0],
                  train_times_s=train_times, samples=a.samples, sample_steps=a.sample_steps,
                  sample_median_s=u[len(u) // 2], sample_min_s=u[0], sample_times_s=sample_times,
                  peak_gpu_mb=torch.cuda.max_memory_allocated() / 2**20)
    if a.json:
        print(json.dumps(result))
    else:
        print(f"torch {result['torch']} on {result['device']}: {a.config} batch {a.batch} train step "
              f"median {result['train_median_s'] * 1e3:.1f} ms; DDIM {a.sample_steps} x {a.samples} "
              f"median {result['sample_median_s']:.3f} s; peak {result['peak_gpu_mb']:.0f} MiB")


if __name__ == "__main__":
    main()
