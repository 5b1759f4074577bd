"""``medadv bench attacks``: our PGD against torchattacks' PGD and against the compute bound.

Three timings per model, on the same model (timm, random init, eval mode) and the same inputs, run alternately
(rotating the order each repeat) and summarised by their medians:
- ours: :func:`medadv.attacks.pgd`, L∞, ``random_start=False``;
- torchattacks: ``torchattacks.PGD`` with the same eps, alpha, steps (its inputs as given: NCHW);
- bound: ``steps`` × (one forward + one backward to the input, nothing else), in the faster of the NCHW and
  channels_last layouts: no PGD can do less work, so ours/bound is our loop's overhead.
Our PGD feeds the model channels_last inputs (faster convolutions on oneDNN and cuDNN); that, not the few saved
element-wise kernels per step, is where it beats torchattacks, and the bound shows it does no less work than needed.
The last line is ``pgd_vs_torchattacks=R1 pgd_vs_bound=R2`` (time ratios, medians over models).
"""
from __future__ import annotations

import argparse
import statistics
import time
from typing import Callable

import torch
import torch.nn.functional as F

from medadv.attacks import pgd


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(fn: Callable[[], object], device: torch.device) -> float:
    _sync(device)
    start = time.perf_counter()
    fn()
    _sync(device)
    return time.perf_counter() - start


def _forward_backward(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int) -> None:
    for _ in range(steps):
        leaf = x.detach().requires_grad_(True)
        torch.autograd.grad(F.cross_entropy(model(leaf), y, reduction="sum"), leaf)


def bench_model(name: str, *, device: torch.device, size: int, batch: int, steps: int, repeats: int,
                eps: float = 0.01, alpha: float = 0.005, seed: int = 0) -> dict[str, float]:
    """Median seconds of ours, torchattacks and the bound for one timm model."""
    import timm
    import torchattacks

    torch.manual_seed(seed)
    model = timm.create_model(name, pretrained=False, num_classes=2).eval().to(device)
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(batch, 3, size, size, generator=gen).to(device)
    y = torch.randint(0, 2, (batch,), generator=gen).to(device)
    x_cl = x.contiguous(memory_format=torch.channels_last)
    reference = torchattacks.PGD(model, eps=eps, alpha=alpha, steps=steps, random_start=False)
    runs: dict[str, Callable[[], object]] = {
        "ours": lambda: pgd(model, x, y, eps=eps, alpha=alpha, steps=steps, random_start=False),
        "torchattacks": lambda: reference(x, y),
        "bound_nchw": lambda: _forward_backward(model, x, y, steps),
        "bound_cl": lambda: _forward_backward(model, x_cl, y, steps),
    }
    # warm-up (allocator, oneDNN/cuDNN kernel choice), one step of each
    pgd(model, x, y, eps=eps, alpha=alpha, steps=1, random_start=False)
    torchattacks.PGD(model, eps=eps, alpha=alpha, steps=1, random_start=False)(x, y)
    _forward_backward(model, x, y, 1)
    _forward_backward(model, x_cl, y, 1)
    times: dict[str, list[float]] = {k: [] for k in runs}
    keys = list(runs)
    for r in range(repeats):
        for key in keys[r % len(keys):] + keys[:r % len(keys)]:
            times[key].append(_timed(runs[key], device))
    med = {k: statistics.median(v) for k, v in times.items()}
    med["bound"] = min(med["bound_nchw"], med["bound_cl"])
    return med


def main(argv: list[str] | None = None) -> int:
    from medadv.cli import Parser, plain
    from medadv.config import ConfigError, check_archs, check_device_available

    p = Parser(prog="medadv bench attacks", description=plain(__doc__), formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu",
                   help="where to run: cpu, cuda, cuda:N (default: cuda when a GPU is visible, else cpu)")
    p.add_argument("--size", type=int, default=None, help="image side in px (default: 224 on GPU, 96 on CPU)")
    p.add_argument("--repeats", type=int, default=5, help="timed runs of each kind, alternating; at least 3 (default: 5)")
    p.add_argument("--models", default="resnet50,tf_efficientnet_lite0",
                   help="comma-separated timm model names (default: resnet50,tf_efficientnet_lite0)")
    p.add_argument("--batch", type=int, default=32, help="images per batch (default: 32)")
    p.add_argument("--steps", type=int, default=10, help="PGD steps (default: 10)")
    p.add_argument("--threads", type=int, default=1, help="CPU threads, torch.set_num_threads (default: 1)")
    args = p.parse_args(argv)
    if args.repeats < 3:
        p.error("--repeats must be >= 3 for a median that means something")
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    if not models:
        raise ConfigError("--models names no model; give comma-separated timm names, e.g. resnet50,tf_efficientnet_lite0")
    check_archs(models, "--models")
    check_device_available(args.device)
    try:
        import torchattacks  # noqa: F401
    except ImportError:
        raise ConfigError("torchattacks (the reference) is not installed: pip install --no-deps torchattacks==3.5.1") from None
    device = torch.device(args.device)
    if device.type == "cpu":
        torch.set_num_threads(args.threads)
    size = args.size or (224 if device.type == "cuda" else 96)
    print(f"PGD {args.steps} steps, batch {args.batch}, {size} px, {device}, {args.repeats} repeats (median seconds)")
    header = f"{'model':<24}{'ours':>9}{'torchatt':>10}{'fb nchw':>9}{'fb cl':>9}{'ours/ta':>9}{'ours/bound':>11}"
    print(header)
    r1, r2 = [], []
    for name in models:
        t = bench_model(name, device=device, size=size, batch=args.batch, steps=args.steps, repeats=args.repeats)
        r1.append(t["ours"] / t["torchattacks"])
        r2.append(t["ours"] / t["bound"])
        print(f"{name:<24}{t['ours']:>9.3f}{t['torchattacks']:>10.3f}{t['bound_nchw']:>9.3f}{t['bound_cl']:>9.3f}"
              f"{r1[-1]:>9.3f}{r2[-1]:>11.3f}", flush=True)
    print(f"pgd_vs_torchattacks={statistics.median(r1):.3f} pgd_vs_bound={statistics.median(r2):.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
