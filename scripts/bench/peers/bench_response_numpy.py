"""NumPy peer of scripts/bench/bench_response.lua.

The same algorithm on the same sizes: for one member of T frames of 32x32
fields, the spatial rfft2 of every frame, the FFT of each mode's series
over time (length T, circular; a smooth length >= T + L - 1 when
zero-padded), the product x^ conj(y^), the inverse FFT over time, lags
0..L-1 divided by the pair count, the ratio per wavenumber by lag 0, and
irfft2 back to real space. The Gaussian estimate subtracts the global
mean; the score estimate uses s(x) = -x and is normalised. Frames per
second of the whole estimate, best of 3 runs. Run with Debian's
/usr/bin/python3 and python3-numpy (NumPy's FFT runs on one thread).

    /usr/bin/python3 scripts/bench/peers/bench_response_numpy.py \
        [frames [lags]]
"""
import sys
import time

import numpy as np


def smooth_size(n):
    """Return the smallest m >= n whose prime factors are 2, 3, 5, 7."""
    m = max(n, 1)
    while True:
        r = m
        for p in (2, 3, 5, 7):
            while r % p == 0:
                r //= p
        if r == 1:
            return m
        m += 1


def correlation(x, y, lags, circular):
    """Return C^(k, tau) for tau < lags: shape (lags, ny, nx//2 + 1)."""
    frames, ny, nx = x.shape
    length = frames if circular else smooth_size(frames + lags - 1)
    xs = np.fft.fft(np.fft.rfft2(x), n=length, axis=0)
    ys = xs if y is None else np.fft.fft(np.fft.rfft2(y), n=length, axis=0)
    c = np.fft.ifft(xs * np.conj(ys), axis=0)[:lags]
    pairs = np.full(lags, frames) if circular else frames - np.arange(lags)
    return c / (pairs[:, None, None] * nx * ny)


def ratio(c):
    """Return the per-wavenumber ratio C^(k, tau) / C^(k, 0)."""
    c0 = c[0]
    keep = np.abs(c0) > 1e-12 * np.abs(c0).max()
    return np.where(keep, c / np.where(keep, c0, 1), 0)


def gaussian(u, lags, circular=True):
    x = u - u.mean()
    return np.fft.irfft2(ratio(correlation(x, None, lags, circular)),
                         s=u.shape[1:])


def score(u, lags, circular=True):
    s = -u
    return np.fft.irfft2(ratio(correlation(u, s, lags, circular)),
                         s=u.shape[1:])


def best_of(runs, fn):
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main():
    frames = int(sys.argv[1]) if len(sys.argv) > 1 else 100000
    lags = int(sys.argv[2]) if len(sys.argv) > 2 else 100
    n = 32
    u = np.random.default_rng(1).standard_normal((frames, n, n))
    print(f"NumPy {np.__version__} response estimators, {n}x{n}, "
          f"{frames} frames, {lags} lags")
    cases = [
        ("gaussian, circular", lambda: gaussian(u, lags)),
        ("gaussian, zero-padded", lambda: gaussian(u, lags, False)),
        ("score, circular, normalised", lambda: score(u, lags)),
    ]
    for name, fn in cases:
        t = best_of(3, fn)
        print(f"  {name:30s} {frames / t:12.0f} frames/s  ({t:.3f} s)")


if __name__ == "__main__":
    main()
