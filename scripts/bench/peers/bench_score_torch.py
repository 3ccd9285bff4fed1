"""PyTorch peer of scripts/bench/bench_score.lua.

Trains the same score networks (bench_nn_torch.py) by denoising score
matching on Allen-Cahn-like 32 x 32 snapshots and evaluates the trained
score, timing what kubo.score.train and s(x) do per step: t ~ U(1e-5,
0.25) per sample, sigma = sigma_min (sigma_max / sigma_min)^t, x + sigma
z, the loss mean((z + net(x + sigma z, sigma))^2), backward, gradient
clipping to norm 1, Adam (lr 2e-4) and an EMA of the weights with
warm-up; evaluation runs net(x, sigma_min) / sigma_min in batches of 256
without gradients. Wall-clock times; threads follow OMP_NUM_THREADS.

    /usr/bin/python3 scripts/bench/peers/bench_score_torch.py \
        [nets [batches [steps [samples]]]]
"""
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_nn_torch import LocalScore, UNet  # noqa: E402

SIGMA_MIN, SIGMA_MAX = 0.01, 14.0
BUILDERS = {
    "local": lambda: LocalScore(channels=32, depth=4, embed=64,
                                data_std=0.25),
    "unet_small": lambda: UNet(channels=(16, 32, 64, 64), blocks=2,
                               embed=64),
}


def snapshots(count, n=32):
    """Allen-Cahn-like fields: tanh of a smooth Gaussian field, / 4."""
    rng = np.random.default_rng(1)
    kx = np.fft.rfftfreq(n, 1.0 / n)
    ky = np.fft.fftfreq(n, 1.0 / n)
    k2 = ky[:, None] ** 2 + kx[None, :] ** 2
    amp = 1.0 / (1.0 + k2)
    noise = rng.standard_normal((count, n, n // 2 + 1)) + \
        1j * rng.standard_normal((count, n, n // 2 + 1))
    field = np.fft.irfft2(noise * amp, s=(n, n))
    field = np.tanh(3 * field / field.std()) * 0.25
    return torch.tensor(field[:, None], dtype=torch.float32)


class Trainer:
    """One DSM step of kubo.score.train: noise, loss, Adam, EMA."""

    def __init__(self, net):
        self.net = net
        self.opt = torch.optim.Adam(net.parameters(), lr=2e-4)
        self.ema = [p.detach().clone() for p in net.parameters()]
        self.updates = 0

    def step(self, x):
        t = 1e-5 + (0.25 - 1e-5) * torch.rand(x.shape[0])
        sigma = SIGMA_MIN * (SIGMA_MAX / SIGMA_MIN) ** t
        z = torch.randn_like(x)
        out = self.net(x + sigma[:, None, None, None] * z, sigma)
        loss = ((z + out) ** 2).mean()
        self.opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.net.parameters(), 1.0)
        self.opt.step()
        d = min(0.999, (1 + self.updates) / (10 + self.updates))
        with torch.no_grad():
            for e, p in zip(self.ema, self.net.parameters()):
                e.mul_(d).add_(p, alpha=1 - d)
        self.updates += 1


def run(name, batch, steps, data):
    torch.manual_seed(1)
    trainer = Trainer(BUILDERS[name]())
    count = data.shape[0]
    perm = torch.randperm(count)
    pos = 0

    def next_batch():
        nonlocal pos, perm
        if pos + batch > count:
            perm, pos = torch.randperm(count), 0
        idx = perm[pos:pos + batch]
        pos += batch
        return data[idx]

    for _ in range(2):
        trainer.step(next_batch())
    start = time.perf_counter()
    for _ in range(steps):
        trainer.step(next_batch())
    train = steps * batch / (time.perf_counter() - start)

    with torch.no_grad():
        for e, p in zip(trainer.ema, trainer.net.parameters()):
            p.copy_(e)
        sigma = torch.full((256,), SIGMA_MIN)
        trainer.net(data[:256], sigma)
        start = time.perf_counter()
        for first in range(0, count, 256):
            chunk = data[first:first + 256]
            trainer.net(chunk, sigma[:chunk.shape[0]]) / SIGMA_MIN
        evaluate = count / (time.perf_counter() - start)
    return train, evaluate


def main():
    nets = (sys.argv[1] if len(sys.argv) > 1 else "local").split(",")
    batches = [int(b) for b in
               (sys.argv[2] if len(sys.argv) > 2 else "32,128").split(",")]
    steps = int(sys.argv[3]) if len(sys.argv) > 3 else 20
    samples = int(sys.argv[4]) if len(sys.argv) > 4 else 2048
    data = snapshots(samples)
    print(f"PyTorch {torch.__version__}: {samples} snapshots 32x32, "
          f"threads {torch.get_num_threads()}")
    print(f"{'net':<12} {'batch':>6} {'train samples/s':>16} "
          f"{'eval samples/s':>16}")
    for name in nets:
        for batch in batches:
            train, evaluate = run(name, batch, steps, data)
            print(f"{name:<12} {batch:>6d} {train:16.1f} {evaluate:16.1f}")


if __name__ == "__main__":
    main()
