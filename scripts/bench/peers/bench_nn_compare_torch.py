"""Check that kubo's U-Net and local score network compute what the
PyTorch networks of bench_nn_torch.py compute.

The script loads the weights that scripts/bench/bench_nn_compare.lua
saved and runs forward and backward on the same batch. It prints the
largest relative differences of the output, the input gradient and the
parameter gradients. Both sides compute in float32, so differences of
about 1e-5 are rounding.

    python3 scripts/bench/peers/bench_nn_compare_torch.py folder
"""
import os
import sys

import h5py
import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_nn_torch import LocalScore, UNet  # noqa: E402


def unet_name(name, levels):
    """Maps a kubo array name of nn.unet to the PyTorch parameter name."""
    parts = name.split(".")
    head, rest = parts[0], ".".join(parts[1:])
    if head == "embed":
        return {"fourier.freq": "embed.freq"}.get(rest, "embed." + rest)
    if head.startswith("enc"):
        i = int(head[3:]) - 1
        layer, leaf = rest.split(".")
        return {"conv": "enc_conv", "embed": "enc_dense",
                "norm": "enc_norm"}[layer] + f".{i}.{leaf}"
    if head.startswith("res"):
        j = int(head[3:]) - 1
        layer, leaf = rest.split(".")
        return f"blocks.{j}." + {"embed": "dense"}.get(layer, layer) + \
            "." + leaf
    if head == "dec" and rest.startswith("norm"):
        return "dec_norm." + rest.split(".")[1]
    if head.startswith("dec"):
        k = levels - 1 - int(head[3:])
        layer, leaf = rest.split(".")
        return {"conv": "dec_conv", "embed": "dec_dense",
                "norm": "dec_gn"}[layer] + f".{k}.{leaf}"
    if head == "out":
        return "out." + rest.split(".")[1]
    raise KeyError(name)


def local_name(name, depth):
    parts = name.split(".")
    if parts[0] == "embed":
        return {"fourier.freq": "embed.freq"}.get(
            ".".join(parts[1:]), "embed." + ".".join(parts[1:]))
    if parts[0] == "out":
        return "out." + parts[1]
    i = depth if parts[0] == "mix" else int(parts[0][4:]) - 1
    if parts[1] == "film":
        return f"films.{i}.{parts[2]}"
    return f"convs.{i}.{parts[1]}"


def rel(a, b, floor=1e-30):
    return float(np.abs(a - b).max() / max(np.abs(b).max(), floor))


def compare(folder, name, net, mapping):
    state = net.state_dict()
    with h5py.File(os.path.join(folder, name + ".h5"), "r") as f:
        for group in ("parameters", "buffers"):
            for key, value in f["network"][group].items():
                state[mapping(key)].copy_(torch.from_numpy(value[()]))
    data = h5py.File(os.path.join(folder, name + "_data.h5"), "r")
    x = torch.from_numpy(data["x"][()]).requires_grad_(True)
    sigma = torch.from_numpy(data["sigma"][()])
    y = net(x, sigma)
    (y * torch.from_numpy(data["dy"][()])).sum().backward()
    params = dict(net.named_parameters())
    # Some gradients vanish in exact arithmetic (a bias followed by a group
    # norm of one channel per group) and hold only rounding noise on both
    # sides: each array is compared against at least 1e-3 of the largest
    # gradient of the network.
    largest = max(np.abs(v[()]).max() for v in data["grads"].values())
    worst = max(rel(params[mapping(k)].grad.numpy(), v[()], 1e-3 * largest)
                for k, v in data["grads"].items())
    print(f"{name:<6} output {rel(y.detach().numpy(), data['y'][()]):.2e}  "
          f"input gradient {rel(x.grad.numpy(), data['dx'][()]):.2e}  "
          f"worst parameter gradient {worst:.2e} "
          f"({len(data['grads'])} arrays)")


def main():
    folder = sys.argv[1]
    torch.set_num_threads(1)
    compare(folder, "unet", UNet(channels=(8, 16, 32, 32), blocks=2,
                                 embed=32), lambda k: unet_name(k, 4))
    compare(folder, "local", LocalScore(), lambda k: local_name(k, 4))


if __name__ == "__main__":
    main()
