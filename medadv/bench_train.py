"""``medadv bench train``: training images/s of medadv's loop per architecture, against a plain timm + torch loop.

The plain loop is what a user would write: the same model, optimiser, batch size and one validation pass per epoch
(the study early-stops on validation AUC), images already on the device as float, no augmentation, no checkpoint.
medadv's loop adds uint8 batching, on-device augmentation, the LR schedule, the resume checkpoint (as the study
writes it: at an epoch's end once 30 s have passed since the last) and bookkeeping;
the goal is that these cost at most 5% (ratio ≥ 0.95). Runs alternate, so both see the same machine noise.
Both loops run with the same execution options (``--no-amp``, ``--no-channels-last``, ``--compile``); with
``--compile`` every run compiles a fresh model, so give it enough ``--epochs`` for the compiling to amortise.
"""
from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from medadv.data.base import ImageSet
from medadv.device import amp_dtype, autocast, grad_scaler
from medadv.models import create_model
from medadv.train import Execution, TrainSettings, compiled, train


def _data(n: int, size: int, seed: int = 0) -> ImageSet:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8)
    labels = rng.integers(0, 2, n).astype(np.int64)
    return ImageSet(images, labels, np.array([f"p{i}" for i in range(n)]), ("negative", "positive"))


def _as_tensor(data: ImageSet, device: torch.device, channels_last: bool) -> torch.Tensor:
    x = torch.from_numpy(data.images).permute(0, 3, 1, 2).float().div(255).to(device)
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x.contiguous()


def _plain(arch: str, data: ImageSet, val: ImageSet, batch_size: int, epochs: int, device: torch.device,
           execution: Execution) -> float:
    model = create_model(arch, "random", 2, seed=0).to(device)
    if execution.channels_last:
        model.to(memory_format=torch.channels_last)
    forward = compiled(model) if execution.compile else model
    dtype = amp_dtype(device, execution.amp)
    scaler = grad_scaler(device, dtype)
    x_all, x_val = _as_tensor(data, device, execution.channels_last), _as_tensor(val, device, execution.channels_last)
    y_all = torch.from_numpy(data.labels).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4)
    start = time.perf_counter()
    for _ in range(epochs):
        model.train()
        for i in range(0, len(data), batch_size):
            with autocast(device, dtype):
                loss = F.cross_entropy(forward(x_all[i : i + batch_size]).float(), y_all[i : i + batch_size])
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        model.eval()
        with torch.no_grad(), autocast(device, dtype):
            for i in range(0, len(val), 128):
                model(x_val[i : i + 128]).float().softmax(1).cpu()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return epochs * len(data) / (time.perf_counter() - start)


def _ours(arch: str, data: ImageSet, val: ImageSet, batch_size: int, epochs: int, device: torch.device,
          execution: Execution) -> float:
    model = create_model(arch, "random", 2, seed=0)
    settings = TrainSettings(epochs=epochs, batch_size=batch_size, augment="flips", seed=0, patience=epochs)
    with tempfile.TemporaryDirectory() as tmp:  # with the study's checkpoint policy
        start = time.perf_counter()
        train(model, data, val, settings, device=device, progress=False, checkpoint=Path(tmp) / "last.pt",
              execution=execution)
        if device.type == "cuda":
            torch.cuda.synchronize()
        return epochs * len(data) / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    from medadv.cli import Parser, plain
    from medadv.config import check_archs, check_device_available

    parser = Parser(prog="medadv bench train", description=plain(__doc__.splitlines()[0]))
    parser.add_argument("--archs", nargs="+", default=["tf_efficientnet_lite0", "tf_efficientnet_lite1"])
    parser.add_argument("--size", type=int, default=48)
    parser.add_argument("--images", type=int, default=512)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--no-amp", dest="amp", action="store_false", help="float32 on CUDA too")
    parser.add_argument("--no-channels-last", dest="channels_last", action="store_false")
    parser.add_argument("--compile", action="store_true", help="torch.compile both loops")
    args = parser.parse_args(argv)
    check_archs(args.archs, "--archs")
    check_device_available(args.device)
    device = torch.device(args.device)
    execution = Execution(amp=args.amp, channels_last=args.channels_last, compile=args.compile)
    data, val = _data(args.images, args.size), _data(64, args.size, seed=1)
    ratios = []
    dtype = amp_dtype(device, execution.amp)
    print(f"{'arch':24s} {'ours img/s':>11s} {'plain img/s':>12s} {'ratio':>6s}   ({device}, {args.size} px, "
          f"batch {args.batch}, {args.epochs} epoch(s), {str(dtype or torch.float32).removeprefix('torch.')}, "
          f"channels_last={execution.channels_last}, compile={execution.compile})")
    for arch in args.archs:
        _plain(arch, data, val, args.batch, 1, device, execution)  # warm-up (and the compile caches)
        ours, plain = [], []
        for _ in range(args.repeats):
            ours.append(_ours(arch, data, val, args.batch, args.epochs, device, execution))
            plain.append(_plain(arch, data, val, args.batch, args.epochs, device, execution))
        ratio = statistics.median(ours) / statistics.median(plain)
        ratios.append(ratio)
        print(f"{arch:24s} {statistics.median(ours):11.1f} {statistics.median(plain):12.1f} {ratio:6.3f}")
    print(f"train_vs_plain={statistics.median(ratios):.3f}")
    return 0
