"""NumPy and h5py peers of bench_rng_h5.c: the same fills and HDF5
operations, best of five wall-clock runs each.

    /usr/bin/python3 scripts/bench/peers/rng_h5py.py FOLDER [log2 n]
"""
import os
import sys
import time

import h5py
import numpy as np


def best_of_five(fn):
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main():
    folder = sys.argv[1]
    n = 1 << (int(sys.argv[2]) if len(sys.argv) > 2 else 24)
    gen = np.random.default_rng(1)
    out64 = np.empty(n)
    out32 = np.empty(n, dtype=np.float32)
    print(f"NumPy {np.__version__} default_rng (PCG64), {n} values, "
          "one thread")
    rows = [
        ("standard_normal float64",
         lambda: gen.standard_normal(out=out64)),
        ("standard_normal float32",
         lambda: gen.standard_normal(dtype=np.float32, out=out32)),
        ("random float64", lambda: gen.random(out=out64)),
        ("random float32", lambda: gen.random(dtype=np.float32, out=out32)),
    ]
    for label, fn in rows:
        t = best_of_five(fn)
        print(f"  {label:34s} {t / n * 1e9:8.2f} ns/value "
              f"{n / t * 1e-6:9.1f} Mvalues/s")

    path = os.path.join(folder, "bench_h5py.h5")
    data = gen.standard_normal(n)
    mib = data.nbytes / 2**20

    def write():
        with h5py.File(path, "w") as f:
            f.create_dataset("x", data=data)

    def read():
        with h5py.File(path, "r") as f:
            f["x"][()]

    tw = best_of_five(write)
    tr = best_of_five(read)
    frame = gen.standard_normal((128, 32, 32)).astype(np.float32)
    frames = 200

    def stream(compression):
        with h5py.File(path, "w") as f:
            d = f.create_dataset("traj", shape=(0,) + frame.shape,
                                 maxshape=(None,) + frame.shape,
                                 chunks=(1,) + frame.shape, dtype="f4",
                                 compression=compression, shuffle=bool(
                                     compression))
            for i in range(frames):
                d.resize(i + 1, axis=0)
                d[i] = frame

    ts = best_of_five(lambda: stream(None))
    tc = best_of_five(lambda: stream("gzip"))
    os.unlink(path)
    frame_mib = frame.nbytes / 2**20
    print(f"h5py {h5py.__version__} (HDF5 {h5py.version.hdf5_version})")
    print(f"  {'write float64, one call':34s} {mib / tw:8.1f} MiB/s "
          f"({mib:.0f} MiB)")
    print(f"  {'read float64, one call':34s} {mib / tr:8.1f} MiB/s")
    print(f"  {'resize + write float32 frames':34s} "
          f"{frames * frame_mib / ts:8.1f} MiB/s")
    print(f"  {'same, gzip 4 and shuffle':34s} "
          f"{frames * frame_mib / tc:8.1f} MiB/s of input")


if __name__ == "__main__":
    main()
