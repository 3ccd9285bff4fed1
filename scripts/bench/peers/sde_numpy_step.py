"""NumPy peer of scripts/bench/bench_sde.c: the same ensemble steps,
vectorised over members, with the state kept as half spectra as kubo
keeps it.

  Allen-Cahn 32x32 (128 members): RK4 on
    F(y) = lin * y + S * rfft2(lambda_c u (1 - u^2)),  u = irfft2(y),
  then y += sqrt(dt) * eta, eta a Hermitian half spectrum drawn from
  2 H normals (kubo's "half" noise draw): 8 transforms per member-step.
  Navier-Stokes 32x32 (64 members) and 256x256 (2 members): RK4 with 5
  inverse and 3 forward transforms per stage and the random-phase forcing
  built in spectral space, phases advanced inside the step.

Prints member-steps per second and microseconds or milliseconds per
member-step, best of 3 rounds of at least 0.5 s, on one thread.

  /usr/bin/python3 scripts/bench/peers/sde_numpy_step.py [members]
"""
import sys
import time

import numpy as np


def wavenumbers(n):
    """FourierCore's convention: the Nyquist index gets wavenumber 0."""
    k = np.fft.fftfreq(n, 1.0 / n)
    k[n // 2] = 0
    return k


def hermitian_noise(rng, members, n, coef_half, coef_self, pairs, selfs):
    """Draw a Hermitian half spectrum from 2 H normals, as kubo's half
    draw does."""
    nh = n // 2 + 1
    z = rng.standard_normal((members, n, nh, 2))
    eta = coef_half * (z[..., 0] + 1j * z[..., 1])
    for col in (0, n // 2):
        lo, hi = pairs
        eta[:, hi, col] = np.conj(eta[:, lo, col])
        eta[:, selfs, col] = coef_self[selfs, col] * z[:, selfs, col, 0]
    return eta


def allen_cahn_setup(n, members):
    k = wavenumbers(n)
    kx = k[: n // 2 + 1][None, :]
    ky = k[:, None]
    k2 = kx * kx + ky * ky
    eps2, kappa, u_adv, lc = 0.004, 2.5e-4, 0.02, 4000.0
    s = eps2 / (1 + k2)
    lin = -kappa * k2 - 1j * u_adv * kx
    m = float(n * n)
    coef_half = m * np.sqrt(0.5 * s)
    coef_self = m * np.sqrt(s)
    lo = np.arange(1, n // 2)
    pairs = (lo, n - lo)
    selfs = np.array([0, n // 2])
    rng = np.random.default_rng(1)
    u = rng.standard_normal((members, n, n))
    u /= np.abs(u).max()
    y = np.fft.rfft2(u)
    dt = 1.0 / n

    def drift(v):
        th = np.fft.irfft2(v, s=(n, n))
        return lin * v + s * np.fft.rfft2(lc * th * (1 - th * th))

    def step(v):
        k1 = drift(v)
        k2_ = drift(v + 0.5 * dt * k1)
        k3 = drift(v + 0.5 * dt * k2_)
        k4 = drift(v + dt * k3)
        eta = hermitian_noise(rng, members, n, coef_half, coef_self, pairs,
                              selfs)
        return v + dt / 6 * (k1 + 2 * k2_ + 2 * k3 + k4) + np.sqrt(dt) * eta

    return y, step


def navier_stokes_setup(n, members):
    k = wavenumbers(n)
    nh = n // 2 + 1
    kx = k[:nh][None, :]
    ky = k[:, None]
    k2 = kx * kx + ky * ky
    safe = np.where(k2 > 0, k2, 1)
    invlap = np.where(k2 > 0, -1 / safe, 0)
    diss = np.where(k2 > 0, -1e-2 / safe**2 - 1e-5 * safe**2, 0)
    u_mean, f0 = np.pi, 300 * (n / 128) ** 2
    kmax2 = 2 * ((n / 2 - 1) / 2) ** 2
    idx = np.fft.fftfreq(n, 1.0 / n).astype(int)
    targets_p, targets_q = [], []
    for iy in range(n):
        for ix in range(n):
            if ix == n // 2 or iy == n // 2:
                continue
            if idx[ix] ** 2 + idx[iy] ** 2 > kmax2:
                continue
            ixn, iyn = (n - ix) % n, (n - iy) % n
            targets_p.append(iy * nh + ix if ix < nh else -1)
            targets_q.append(iyn * nh + ixn if ixn < nh else -1)
    tp, tq = np.array(targets_p), np.array(targets_q)
    has_p, has_q = tp >= 0, tq >= 0
    nforced = len(tp)
    rng = np.random.default_rng(2)
    phases = rng.uniform(0, 2 * np.pi, (members, nforced))
    x = np.arange(n) * 2 * np.pi / n
    z0 = np.sin(3 * x)[None, :] * np.sin(3 * x)[:, None]
    y = np.fft.rfft2(np.broadcast_to(z0, (members, n, n)))
    dt = 1.0 / (4 * n)

    def forcing(ph):
        c = 0.5 * f0 * np.exp(1j * ph)
        f = np.zeros((members, n * nh), complex)
        np.add.at(f, (slice(None), tp[has_p]), c[:, has_p])
        np.add.at(f, (slice(None), tq[has_q]), np.conj(c[:, has_q]))
        f[:, 0] *= 0.1
        return f.reshape(members, n, nh)

    def drift(v, f):
        psi = invlap * v
        u = np.fft.irfft2(1j * ky * psi, s=(n, n)) + u_mean
        w = np.fft.irfft2(-1j * kx * psi, s=(n, n))
        zx = np.fft.irfft2(1j * kx * v, s=(n, n))
        zy = np.fft.irfft2(1j * ky * v, s=(n, n))
        z = np.fft.irfft2(v, s=(n, n))
        adv = np.fft.rfft2(u * zx + w * zy)
        ux = np.fft.rfft2(u * z)
        wy = np.fft.rfft2(w * z)
        out = -0.5 * (adv + 1j * kx * ux + 1j * ky * wy) + diss * v + f
        out[:, 0, 0] -= v[:, 0, 0]
        return out

    state = {"phases": phases}

    def step(v):
        ph = state["phases"]
        k1 = drift(v, forcing(ph))
        ph = ph + np.sqrt(dt) * rng.standard_normal(ph.shape)
        f = forcing(ph)
        k2_ = drift(v + 0.5 * dt * k1, f)
        k3 = drift(v + 0.5 * dt * k2_, f)
        ph = ph + np.sqrt(dt) * rng.standard_normal(ph.shape)
        k4 = drift(v + dt * k3, forcing(ph))
        state["phases"] = ph
        return v + dt / 6 * (k1 + 2 * k2_ + 2 * k3 + k4)

    return y, step


def seconds_per_step(y, step):
    y = step(y)
    best = float("inf")
    for _ in range(3):
        start, done = time.perf_counter(), 0
        while True:
            y = step(y)
            done += 1
            elapsed = time.perf_counter() - start
            if elapsed >= 0.5:
                break
        best = min(best, elapsed / done)
    return best


def main():
    members = int(sys.argv[1]) if len(sys.argv) > 1 else 128
    y, step = allen_cahn_setup(32, members)
    t = seconds_per_step(y, step) / members
    print(f"numpy allen_cahn 32x32, {members} members, rk4: "
          f"{1 / t:.0f} member-steps/s ({1e6 * t:.2f} us per member-step)")
    for n, m in ((32, 64), (256, 2)):
        y, step = navier_stokes_setup(n, m)
        t = seconds_per_step(y, step) / m
        print(f"numpy navier_stokes {n}x{n}, {m} members, rk4: "
              f"{1e3 * t:.3f} ms per member-step")


if __name__ == "__main__":
    main()
