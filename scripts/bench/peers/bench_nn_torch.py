"""Time PyTorch training steps of the networks of scripts/bench/bench_nn.lua.

The networks and the step (forward, MSE loss, backward, one Adam step on
(batch, 1, 32, 32) float32 inputs) are those of the kubo script. The
figure is samples per second of wall-clock time over at least 3 steps and
min_seconds, after one warm-up step.

    python3 scripts/bench/peers/bench_nn_torch.py [nets [batches
        [min_seconds]]]

The thread count is OMP_NUM_THREADS (torch.set_num_threads), default 1.
Written for Debian's python3-torch (1.13). The layers mirror kubo's. The
convolutions are circular, 3x3 and with bias. The group norms use kubo's
group counts: the largest divisor of the channel count not above the
requested one. The embedding passes ln(sigma) / 4 through Gaussian
Fourier features (frequencies N(0, 30^2), not trained) and a dense layer
with swish. The parameter count printed beside each figure must equal
kubo's, and scripts/bench/bench_nn_compare.sh checks that both compute
the same function.
"""
import math
import os
import sys
import time

import torch
from torch import nn
import torch.nn.functional as F


def groups_for(channels, want):
    g = max(1, min(want, channels))
    while channels % g:
        g -= 1
    return g


def conv(cin, cout, kernel, stride=1, periodic=True):
    return nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2,
                     padding_mode="circular" if periodic else "zeros")


class Embedding(nn.Module):
    """swish(linear(fourier(ln(sigma) / 4)))"""

    def __init__(self, size, scale=30.0):
        super().__init__()
        self.register_buffer("freq", torch.randn(size // 2) * scale)
        self.dense = nn.Linear(size, size)

    def forward(self, sigma):
        c = torch.log(sigma) / 4
        arg = 2 * math.pi * c[:, None] * self.freq[None, :]
        return F.silu(self.dense(torch.cat([arg.sin(), arg.cos()], dim=1)))


class ResBlock(nn.Module):
    def __init__(self, c, embed, k):
        super().__init__()
        g = groups_for(c, min(c // 4, 32))
        self.norm1 = nn.GroupNorm(g, c)
        self.conv1 = conv(c, c, k)
        self.dense = nn.Linear(embed, c)
        self.norm2 = nn.GroupNorm(g, c)
        self.conv2 = conv(c, c, k)

    def forward(self, h, emb):
        a = self.conv1(F.silu(self.norm1(h)))
        a = a + F.silu(self.dense(emb))[:, :, None, None]
        a = self.conv2(F.silu(self.norm2(a)))
        return a + h


class UNet(nn.Module):
    """The noise-conditional U-Net of kubo's nn.unet (options off)."""

    def __init__(self, channels=(32, 64, 128, 256), blocks=8, embed=256,
                 in_channels=1, k=3, groups_first=4, groups=32):
        super().__init__()
        L = len(channels)
        self.embed = Embedding(embed)
        self.enc_conv = nn.ModuleList()
        self.enc_dense = nn.ModuleList()
        self.enc_norm = nn.ModuleList()
        for i, c in enumerate(channels):
            cin = in_channels if i == 0 else channels[i - 1]
            self.enc_conv.append(conv(cin, c, k, 1 if i == 0 else 2))
            self.enc_dense.append(nn.Linear(embed, c))
            if i < L - 1:
                g = groups_first if i == 0 else groups
                self.enc_norm.append(nn.GroupNorm(groups_for(c, g), c))
        self.blocks = nn.ModuleList(
            [ResBlock(channels[-1], embed, k) for _ in range(blocks)])
        self.dec_norm = nn.GroupNorm(groups_for(channels[-1], groups),
                                     channels[-1])
        self.dec_conv = nn.ModuleList()
        self.dec_dense = nn.ModuleList()
        self.dec_gn = nn.ModuleList()
        for i in range(L - 1, 0, -1):
            cin = channels[-1] if i == L - 1 else 2 * channels[i]
            c = channels[i - 1]
            self.dec_conv.append(conv(cin, c, k))
            self.dec_dense.append(nn.Linear(embed, c))
            self.dec_gn.append(nn.GroupNorm(groups_for(c, groups), c))
        self.out = conv(2 * channels[0], in_channels, k)

    def forward(self, x, sigma):
        emb = self.embed(sigma)
        skips = []
        h = x
        for i, (cv, dn) in enumerate(zip(self.enc_conv, self.enc_dense)):
            h = cv(h) + dn(emb)[:, :, None, None]
            if i < len(self.enc_norm):
                h = F.silu(self.enc_norm[i](h))
            skips.append(h)
        for block in self.blocks:
            h = block(h, emb)
        h = F.silu(self.dec_norm(h))
        for j, (cv, dn, gn) in enumerate(zip(self.dec_conv, self.dec_dense,
                                             self.dec_gn)):
            h = F.interpolate(h, scale_factor=2, mode="nearest")
            h = cv(h) + dn(emb)[:, :, None, None]
            h = F.silu(gn(h))
            h = torch.cat([h, skips[len(skips) - 2 - j]], dim=1)
        return self.out(h)


class LocalScore(nn.Module):
    """kubo's nn.local_score: x / sqrt(sigma^2 + s^2), convolutions with a
    per-channel scale and shift from the embedding, swish."""

    def __init__(self, channels=32, depth=4, embed=64, in_channels=1,
                 data_std=1.0):
        super().__init__()
        self.s2 = data_std ** 2
        self.embed = Embedding(embed)
        self.convs = nn.ModuleList()
        self.films = nn.ModuleList()
        for i in range(depth + 1):
            cin = in_channels if i == 0 else channels
            self.convs.append(conv(cin, channels, 3 if i < depth else 1))
            self.films.append(nn.Linear(embed, 2 * channels))
        self.out = conv(channels, in_channels, 1)

    def forward(self, x, sigma):
        emb = self.embed(sigma)
        h = x / torch.sqrt(sigma ** 2 + self.s2)[:, None, None, None]
        for cv, film in zip(self.convs, self.films):
            g, b = film(emb).chunk(2, dim=1)
            h = F.silu(cv(h) * (1 + g[:, :, None, None]) +
                       b[:, :, None, None])
        return self.out(h)


BUILDERS = {
    "unet": lambda: UNet(),
    "unet_small": lambda: UNet(channels=(16, 32, 64, 64), blocks=2,
                               embed=64),
    "local": lambda: LocalScore(),
}


def bench(name, batch, min_seconds):
    torch.manual_seed(1)
    net = BUILDERS[name]()
    opt = torch.optim.Adam(net.parameters(), lr=1e-4)
    x = torch.randn(batch, 1, 32, 32)
    target = torch.randn(batch, 1, 32, 32)
    sigma = torch.rand(batch) * 0.5 + 0.01

    def step():
        opt.zero_grad()
        loss = F.mse_loss(net(x, sigma), target)
        loss.backward()
        opt.step()

    step()
    start, steps = time.perf_counter(), 0
    while steps < 3 or time.perf_counter() - start < min_seconds:
        step()
        steps += 1
    elapsed = time.perf_counter() - start
    params = sum(p.numel() for p in net.parameters())
    print(f"torch  {name:<10} batch {batch:4d}  "
          f"{steps * batch / elapsed:9.1f} samples/s  "
          f"{elapsed / steps:7.3f} s/step  {params} parameters", flush=True)


def main():
    nets = (sys.argv[1] if len(sys.argv) > 1 else
            "unet,unet_small,local").split(",")
    batches = [int(b) for b in (sys.argv[2] if len(sys.argv) > 2 else
                                "32,128").split(",")]
    min_seconds = float(sys.argv[3]) if len(sys.argv) > 3 else 5.0
    threads = int(os.environ.get("OMP_NUM_THREADS", "1"))
    torch.set_num_threads(threads)
    print(f"torch {torch.__version__} training steps, 32x32 inputs, "
          f"{torch.get_num_threads()} thread(s)")
    for name in nets:
        if name not in BUILDERS:
            sys.exit(f"bench_nn_torch.py: unknown net '{name}' "
                     "(known: unet, unet_small, local)")
        for b in batches:
            bench(name, b, min_seconds)


if __name__ == "__main__":
    main()
