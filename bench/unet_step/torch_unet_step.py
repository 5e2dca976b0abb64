"""PyTorch side of bench_unet_step: one DDPM training step (forward, L_simple, backward,
Adam) of a U-Net from shared/REFERENCE_MODELS.md on the CPU, float32.

  /usr/bin/python3 torch_unet_step.py --config ddpm-small --batch 32 --threads 2 \
      --steps 20 --warmup 3 [--json]

The network is written here from the description in REFERENCE_MODELS.md, layer for layer
what diffusion/unet.cpp builds (same parameter count and names), so the two sides time
the same arithmetic. A step is what bench_unet_step.cpp times:
  t ~ U{1..T}, ε ~ N(0, I), x_t = √ᾱ_t x_0 + √(1-ᾱ_t) ε,
  loss = mean((ε - ε̂(x_t, t))²), zero_grad, backward, Adam(lr 2e-4) step.
Prints one JSON document (--json) or a line of text: parameters, the median and best
step times, every step time, and the peak RSS of this process (getrusage, as the C++ side).
"""
import argparse
import json
import math
import resource
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

CONFIGS = {
    "ddpm-cifar10": dict(res=32, ch=128, mult=(1, 2, 2, 2), blocks=2, attn_res=(16,), groups=32, dropout=0.1),
    "ddpm-small": dict(res=32, ch=32, mult=(1, 2, 2), blocks=1, attn_res=(8,), groups=8, dropout=0.0),
    "ddpm-tiny": dict(res=16, ch=8, mult=(1, 2), blocks=1, attn_res=(8,), groups=4, dropout=0.0),
}


def sinusoidal(t, d):
    """E28: [sin(t w_i), cos(t w_i)], w_i = exp(-ln(10000) i / (h - 1)), h = d / 2."""
    h = d // 2
    w = torch.exp(torch.arange(h, dtype=torch.float32) * (-math.log(10000.0) / (h - 1)))
    angles = t.to(torch.float32).unsqueeze(1) * w.unsqueeze(0)
    return torch.cat((angles.sin(), angles.cos()), dim=1)


class ResBlock(nn.Module):
    def __init__(self, cin, cout, tdim, groups, dropout):
        super().__init__()
        self.n1 = nn.GroupNorm(groups, cin)
        self.c1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.t = nn.Linear(tdim, cout)
        self.n2 = nn.GroupNorm(groups, cout)
        self.drop = nn.Dropout(dropout)
        self.c2 = nn.Conv2d(cout, cout, 3, padding=1)
        nn.init.zeros_(self.c2.weight)
        nn.init.zeros_(self.c2.bias)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else None

    def forward(self, x, temb):
        h = self.c1(F.silu(self.n1(x))) + self.t(F.silu(temb)).unsqueeze(-1).unsqueeze(-1)
        h = self.c2(self.drop(F.silu(self.n2(h))))
        return (x if self.skip is None else self.skip(x)) + h


class AttnBlock(nn.Module):
    def __init__(self, c, groups):
        super().__init__()
        self.n = nn.GroupNorm(groups, c)
        self.qkv = nn.Conv2d(c, 3 * c, 1)
        self.o = nn.Conv2d(c, c, 1)
        nn.init.zeros_(self.o.weight)
        nn.init.zeros_(self.o.bias)

    def forward(self, x):
        b, c, hh, ww = x.shape
        q, k, v = self.qkv(self.n(x)).view(b, 3, c, hh * ww).unbind(1)  # each [B, C, HW]
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)  # [B, HW, C]
        w = torch.softmax(torch.bmm(q * (1.0 / math.sqrt(c)), k.transpose(1, 2)), dim=-1)
        h = torch.bmm(w, v)  # [B, HW, C]
        return x + self.o(h.transpose(1, 2).reshape(b, c, hh, ww))


class UNetBlock(nn.Module):
    """A ResBlock ("0") and attention or nothing ("1"): names as diffusion/unet.h."""

    def __init__(self, res, attn):
        super().__init__()
        self.add_module("0", res)
        self.add_module("1", attn if attn is not None else nn.Identity())

    def forward(self, x, temb):
        return getattr(self, "1")(getattr(self, "0")(x, temb))


class UNet(nn.Module):
    def __init__(self, res, ch, mult, blocks, attn_res, groups, dropout):
        super().__init__()
        tdim = 4 * ch
        self.ch = ch
        self.temb = nn.Sequential(nn.Linear(ch, tdim), nn.SiLU(), nn.Linear(tdim, tdim))
        self.inc = nn.Conv2d(3, ch, 3, padding=1)

        def block(cin, cout, r):
            return UNetBlock(ResBlock(cin, cout, tdim, groups, dropout),
                             AttnBlock(cout, groups) if r in attn_res else None)

        self.down = nn.ModuleList()
        skips, cur, r = [ch], ch, res
        for i, m in enumerate(mult):
            for _ in range(blocks):
                self.down.append(block(cur, ch * m, r))
                cur = ch * m
                skips.append(cur)
            if i + 1 < len(mult):
                self.down.append(nn.Conv2d(cur, cur, 3, stride=2, padding=1))
                skips.append(cur)
                r //= 2
        self.mid1 = ResBlock(cur, cur, tdim, groups, dropout)
        self.mida = AttnBlock(cur, groups)
        self.mid2 = ResBlock(cur, cur, tdim, groups, dropout)
        self.up = nn.ModuleList()
        for i in reversed(range(len(mult))):
            for _ in range(blocks + 1):
                self.up.append(block(cur + skips.pop(), ch * mult[i], r))
                cur = ch * mult[i]
            if i > 0:
                self.up.append(nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"),
                                             nn.Conv2d(cur, cur, 3, padding=1)))
                r *= 2
        self.out = nn.Sequential(nn.GroupNorm(groups, cur), nn.SiLU(), nn.Conv2d(cur, 3, 3, padding=1))
        nn.init.zeros_(self.out[2].weight)
        nn.init.zeros_(self.out[2].bias)

    def forward(self, x, t):
        emb = self.temb(sinusoidal(t, self.ch))
        h = self.inc(x)
        skips = [h]
        for layer in self.down:
            h = layer(h, emb) if isinstance(layer, UNetBlock) else layer(h)
            skips.append(h)
        h = self.mid2(self.mida(self.mid1(h, emb)), emb)
        for layer in self.up:
            if isinstance(layer, UNetBlock):
                h = layer(torch.cat((h, skips.pop()), dim=1), emb)
            else:
                h = layer(h)
        return self.out(h)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", default="ddpm-small", choices=sorted(CONFIGS))
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=20, help="timed steps")
    ap.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    cfg = CONFIGS[a.config]
    net = UNet(**cfg)
    net.train()
    params = sum(p.numel() for p in net.parameters())
    opt = torch.optim.Adam(net.parameters(), lr=2e-4)
    T = 1000
    betas = torch.linspace(1e-4, 0.02, T, dtype=torch.float64)
    alpha_bar = torch.cat((torch.ones(1, dtype=torch.float64), torch.cumprod(1 - betas, 0)))  # index t = 0..T
    x0 = torch.randn(a.batch, 3, cfg["res"], cfg["res"])
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    def step():
        t = torch.randint(1, T + 1, (a.batch,))
        eps = torch.randn_like(x0)
        ab = alpha_bar[t].to(torch.float32).view(-1, 1, 1, 1)
        xt = ab.sqrt() * x0 + (1 - ab).sqrt() * eps
        loss = F.mse_loss(net(xt, t), eps)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss.item()

    for _ in range(a.warmup):
        step()
    times = []
    for _ in range(a.steps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    s = sorted(times)
    result = dict(framework="pytorch", torch=torch.__version__, config=a.config, batch=a.batch,
                  threads=torch.get_num_threads(), mkldnn=torch.backends.mkldnn.is_available(),
                  params=params, steps=a.steps, warmup=a.warmup, median_s=s[len(s) // 2],
                  min_s=s[0], times_s=times,
                  peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  rss_before_steps_mb=rss_before)
    if a.json:
        print(json.dumps(result))
    else:
        print(f"torch {result['torch']} {a.config} batch {a.batch} threads {result['threads']}: "
              f"{params} params, median {result['median_s'] * 1e3:.1f} ms, best {result['min_s'] * 1e3:.1f} ms, "
              f"peak RSS {result['peak_rss_mb']:.0f} MB")


if __name__ == "__main__":
    main()
