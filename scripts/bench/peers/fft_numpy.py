"""NumPy peer of scripts/bench/bench_fft.c and fft.lua.

Times, per field of a batch, NumPy's rfft2 and the spectral x-derivative
irfft2(1j * kx * rfft2(u)) on the same sizes as the kubo benchmark, with
the same method: the best of 5 rounds of at least 0.2 s. Run with
Debian's /usr/bin/python3 and python3-numpy.

    /usr/bin/python3 scripts/bench/peers/fft_numpy.py [nx ny count] ...
"""
import sys
import time

import numpy as np


def time_per_field(fn, count):
    """Return the best time per field in microseconds over 5 rounds."""
    fn()
    best = float("inf")
    for _ in range(5):
        reps = 0
        start = time.perf_counter()
        while True:
            fn()
            reps += 1
            elapsed = time.perf_counter() - start
            if elapsed >= 0.2:
                break
        best = min(best, elapsed / reps / count * 1e6)
    return best


def bench(nx, ny, count):
    rng = np.random.default_rng(1)
    u = rng.standard_normal((count, ny, nx))
    # Wavenumbers of the half spectrum on a 2 pi box; like kubo's "drop"
    # convention, the Nyquist column (even nx) gets no derivative.
    kx = np.arange(nx // 2 + 1, dtype=float)
    if nx % 2 == 0:
        kx[-1] = 0
    ikx = 1j * kx[np.newaxis, np.newaxis, :]

    def fft():
        np.fft.rfft2(u)

    def dx():
        np.fft.irfft2(ikx * np.fft.rfft2(u), s=(ny, nx))

    # The derivative of a smooth field checks the formula once.
    x = 2 * np.pi * np.arange(nx) / nx
    probe = np.broadcast_to(np.sin(3 * x), (1, ny, nx))
    got = np.fft.irfft2(ikx * np.fft.rfft2(probe), s=(ny, nx))
    assert np.allclose(got[0], 3 * np.cos(3 * x)[np.newaxis, :])

    print(f"numpy {np.__version__} {nx}x{ny}, batch {count} "
          "(microseconds per field)")
    print(f"  {'numpy rfft2':30s} {time_per_field(fft, count):10.3f}")
    print(f"  {'numpy dx (rfft2, i kx, irfft2)':30s} "
          f"{time_per_field(dx, count):10.3f}")


def main(argv):
    args = [int(a) for a in argv[1:]]
    if len(args) % 3 != 0:
        sys.exit("usage: fft_numpy.py [nx ny count] ...")
    cases = [args[i:i + 3] for i in range(0, len(args), 3)]
    for nx, ny, count in cases or [(32, 32, 128), (256, 256, 16)]:
        bench(nx, ny, count)


if __name__ == "__main__":
    main(sys.argv)
