"""One training loop for every model of the study: seeded, resumable, early-stopped on validation AUC.

Why hand-written rather than a trainer framework: the loop is short, and the study depends on details a framework
hides: the copy index must change init, data order and augmentation together (independent copies), images stay uint8
until they are on the device, and an interrupted training must resume from its last epoch.
"""
from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from medadv.attacks import images_to_tensor
from medadv.data.base import ImageSet
from medadv.device import amp_dtype, autocast, grad_scaler
from medadv.metrics import auc, scores_from_logits


@dataclass(frozen=True)
class TrainSettings:
    epochs: int
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-4
    patience: int = 3
    augment: str = "flips"  # "flips" (pathology, fundus: flips and 90° rotations), "mild" (chest: small shifts), "none"
    seed: int = 0  # batch order and augmentation (and the model's initial weights, see ``medadv.study.model_seed``)
    init_seed: int | None = None  # the initial weights' seed where it is not ``seed`` (a shared-initialisation control)
    # images per epoch at least: a smaller training set repeats its images (a fresh permutation each pass), so a model
    # on a tenth of the data gets as many optimizer steps as one on all of it; None: one pass over the set
    epoch_images: int | None = None
    # standard deviation (on [0, 1]) of Gaussian noise added to each training image after the geometric augmentation:
    # real images carry acquisition noise of varying level, and a model that has learned to ignore it leans on larger
    # structures (0: none, the paper's models)
    noise: float = 0.0
    # fraction of the training's steps over which the learning rate rises linearly from 1% of ``lr``, before the
    # cosine decay (0: cosine from the first step)
    warmup: float = 0.0
    # the largest global L2 norm of a step's gradients (larger ones are scaled down to it; 0: no clipping): a spike
    # early in a random start at a large learning rate can otherwise leave a model at a constant output
    grad_clip: float = 0.0


@dataclass(frozen=True)
class Execution:
    """How a training runs, not what it computes: not part of a model's store key (see ``medadv.device``)."""

    amp: bool = True  # mixed precision on CUDA (bfloat16, or float16 with loss scaling); float32 elsewhere
    channels_last: bool = True  # faster on CUDA and for EfficientNets on CPU (measured 1.8x for lite0 fwd+bwd)
    compile: bool = False  # torch.compile the training forward/backward: minutes of compiling, then faster steps
    # write the resume checkpoint after an epoch once this many seconds have passed since the last one: an epoch of
    # seconds (small data on a GPU) then does not spend a tenth of its time saving, and a kill loses at most this
    # much beyond the epoch under way; 0 saves every epoch
    checkpoint_every_s: float = 30.0
    # torch CPU threads a study unit computes with (``medadv.device.cpu_threads``; None: torch's default, every core).
    # Fixed, a unit's numbers do not depend on the machine's core count or on how many units run at once
    cpu_threads: int | None = None


AUGMENT_BY_DOMAIN = {"pathology": "flips", "ophthalmology": "flips", "radiology": "mild"}


def to_device_batch(images: Any, index: np.ndarray, device: torch.device, image_size: int) -> torch.Tensor:
    """Rows ``index`` (sorted; repeats allowed) of uint8 N×H×W×C images (numpy or a lazy reader, which wants unique
    increasing rows) → float NCHW in [0, 1] on ``device``."""
    rows, inverse = np.unique(index, return_inverse=True)
    x = images_to_tensor(images[rows], device, image_size)
    return x if len(rows) == len(index) else x[torch.from_numpy(inverse).to(x.device)]


def lr_schedule(optimizer: torch.optim.Optimizer, steps: int, warmup: float) -> torch.optim.lr_scheduler.LRScheduler:
    """Cosine decay over ``steps``, after a linear rise from 1% over their first ``warmup`` fraction (where > 0)."""
    rise = int(round(warmup * steps))
    if rise < 1 or rise >= steps:
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, steps))
    return torch.optim.lr_scheduler.SequentialLR(
        optimizer, [torch.optim.lr_scheduler.LinearLR(optimizer, start_factor=0.01, total_iters=rise),
                    torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps - rise)], milestones=[rise])


def epoch_length(n: float, epoch_images: int | None) -> float:
    """Images in one epoch of a training set of ``n``: the set, or ``epoch_images`` where the set is smaller (it
    repeats), so a small development set gets as many steps as a large one."""
    return max(n, epoch_images or 0)


def epoch_order(n: int, epoch_images: int | None, generator: torch.Generator) -> np.ndarray:
    """The training images of one epoch, in order: a permutation of the set, repeated (each pass a fresh one) until
    ``epoch_images`` images are reached."""
    length = int(epoch_length(n, epoch_images))
    passes = [torch.randperm(n, generator=generator) for _ in range(math.ceil(length / n))]
    return torch.cat(passes)[:length].numpy()


def augment(x: torch.Tensor, kind: str, generator: torch.Generator, noise: float = 0.0) -> torch.Tensor:
    """Label-preserving augmentation on the device batch, drawn from ``generator`` (so copies differ, reruns agree):
    the geometric ``kind``, then Gaussian noise of standard deviation ``noise``, clipped to [0, 1]."""
    x = _geometric(x, kind, generator)
    if noise > 0:
        draw = torch.randn(x.shape, generator=generator, dtype=torch.float32).to(device=x.device, dtype=x.dtype)
        x = (x + noise * draw).clamp_(0.0, 1.0)
    return x


def _geometric(x: torch.Tensor, kind: str, generator: torch.Generator) -> torch.Tensor:
    if kind == "none":
        return x
    n = x.shape[0]
    if kind == "flips":
        flip = torch.rand(n, generator=generator) < 0.5
        x = torch.where(flip.view(-1, 1, 1, 1).to(x.device), x.flip(-1), x)
        k = int(torch.randint(0, 4, (1,), generator=generator))
        return torch.rot90(x, k, dims=(-2, -1))
    if kind == "mild":  # shift by up to 1/16 of the size with edge padding
        pad = max(1, x.shape[-1] // 16)
        dx, dy = (int(v) for v in torch.randint(-pad, pad + 1, (2,), generator=generator))
        padded = F.pad(x, (pad, pad, pad, pad), mode="replicate")
        size = x.shape[-1]
        return padded[..., pad + dy : pad + dy + size, pad + dx : pad + dx + size]
    raise ValueError(f"unknown augmentation {kind!r}; allowed: flips, mild, none")


def loss_function(train_set: ImageSet, device: torch.device) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """CE for single-label, BCE-with-logits for multi-label tasks, weighted against class imbalance."""
    if train_set.multilabel:
        positives = torch.as_tensor(train_set.labels.sum(0), dtype=torch.float32)
        pos_weight = ((len(train_set) - positives) / positives.clamp(min=1)).clamp(max=20).to(device)
        return lambda logits, y: F.binary_cross_entropy_with_logits(logits, y, pos_weight=pos_weight)
    counts = np.bincount(train_set.labels, minlength=train_set.num_outputs).astype(np.float64)
    weight = torch.as_tensor(len(train_set) / (len(counts) * np.maximum(counts, 1)), dtype=torch.float32).to(device)
    return lambda logits, y: F.cross_entropy(logits, y, weight=weight)


def label_tensor(labels: np.ndarray, device: torch.device) -> torch.Tensor:
    dtype = torch.float32 if labels.ndim == 2 else torch.int64
    return torch.as_tensor(labels, dtype=dtype).to(device)


@torch.no_grad()
def predict(
    model: nn.Module, images: Any, *, batch_size: int, device: torch.device | str, image_size: int,
    perturbation: np.ndarray | None = None, amp: bool = True, channels_last: bool = True,
) -> np.ndarray:
    """Scores of ``model`` on uint8 images (optionally plus a float perturbation, clipped to [0, 1]).

    Returns P(positive) (N,) for 2-class softmax models, sigmoid probabilities (N, L) for multi-label models, and
    softmax probabilities (N, K) otherwise. ``amp``: mixed precision on CUDA (see ``medadv.device``).
    ``channels_last``: feed NHWC batches, which oneDNN and cuDNN convolve faster (1.5-2x, lite0 on CPU); values unchanged.
    """
    device = torch.device(device)
    dtype = amp_dtype(device, amp)
    model.eval()
    out = []
    for start in range(0, len(images), batch_size):
        index = np.arange(start, min(start + batch_size, len(images)))
        x = to_device_batch(images, index, device, image_size)
        if perturbation is not None:
            x = (x + torch.from_numpy(perturbation[index]).to(device).float()).clamp_(0, 1)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with autocast(device, dtype):
            logits = model(x).float()
        out.append(torch.as_tensor(scores_from_logits(logits, multilabel=bool(getattr(getattr(model, "info", None), "multilabel", False)))))
    return torch.cat(out).cpu().numpy()



CHECKPOINT_KEYS = ("model", "optimizer", "scheduler", "rng", "history_keys", "history", "best_auc", "stale")


def read_checkpoint(path: Path, description: str = "training") -> dict[str, Any] | None:
    """The resume state at ``path``, or None when there is none or it cannot be used: a damaged checkpoint (a full
    disk, a kill mid-copy) is discarded with a warning naming it, and the training starts afresh instead of failing
    on every run."""
    if not path.exists():
        return None
    try:
        # to CPU first: the generator states must stay CPU tensors; the loads after this copy the rest to the device
        state = torch.load(path, map_location="cpu", weights_only=True)
        missing = [k for k in CHECKPOINT_KEYS if k not in state]
        if missing:
            raise ValueError(f"it lacks {', '.join(missing)}")
    except Exception as error:  # noqa: BLE001 - any unreadable file: torch, pickle, zip and EOF errors differ
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        warnings.warn(f"{description}: discarding the unreadable resume checkpoint {path} ({reason[:200]}); "
                      "training from the start", stacklevel=3)
        path.unlink(missing_ok=True)
        return None
    return state


def _rng_state(generators: dict[str, torch.Generator]) -> dict[str, torch.Tensor]:
    return {name: g.get_state() for name, g in generators.items()}


def compiled(model: torch.nn.Module) -> torch.nn.Module:
    """``torch.compile`` with static shapes: a dynamic batch dimension plus channels_last feature maps of 1 x 1 (small
    images, e.g. inception_v3 at 96 px) makes inductor's convolution backward fail its stride check (measured on an
    H200 with torch 2.11: resnet10t at 32 px fails with dynamic shapes, runs with ``dynamic=False``; pytorch/pytorch
    #171622). Static shapes cost one more compilation, for the last, smaller batch of an epoch."""
    return torch.compile(model, dynamic=False)


def train(
    model: nn.Module,
    train_set: ImageSet,
    val_set: ImageSet,
    settings: TrainSettings,
    *,
    device: torch.device | str = "cpu",
    image_size: int | None = None,
    checkpoint: Path | None = None,
    progress: bool = True,
    description: str = "train",
    execution: Execution = Execution(),
) -> list[dict[str, float]]:
    """Train ``model`` in place; return the per-epoch history. The model ends with its best-validation-AUC weights.

    With ``checkpoint`` (a file path), the state after an epoch is saved there (every epoch, or every
    ``execution.checkpoint_every_s`` seconds at epoch ends), and a later call with the same arguments resumes from it
    (same result as an uninterrupted run on CPU). ``execution`` picks mixed precision,
    memory layout and compilation; the checkpoint and the returned model hold plain (uncompiled) weights either way.
    """
    device = torch.device(device)
    image_size = image_size or train_set.image_size
    dtype = amp_dtype(device, execution.amp)
    model.to(device)
    if execution.channels_last:
        model.to(memory_format=torch.channels_last)
    forward = compiled(model) if execution.compile else model
    generators = {
        "order": torch.Generator().manual_seed(settings.seed),
        "augment": torch.Generator().manual_seed(settings.seed + 1),
    }
    optimizer = torch.optim.AdamW(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    epoch_len = int(epoch_length(len(train_set), settings.epoch_images))
    steps_per_epoch = math.ceil(epoch_len / settings.batch_size)
    scheduler = lr_schedule(optimizer, settings.epochs * steps_per_epoch, settings.warmup)
    scaler = grad_scaler(device, dtype)
    criterion = loss_function(train_set, device)
    y_all = label_tensor(train_set.labels, device)
    history: list[dict[str, float]] = []
    best_auc, best_state, start_epoch, stale = -math.inf, None, 0, 0
    last_saved = time.monotonic()

    state = read_checkpoint(checkpoint, description) if checkpoint is not None else None
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        for name, g in generators.items():
            g.set_state(state["rng"][name])
        history = [dict(zip(state["history_keys"], row.tolist())) for row in state["history"]]
        best_auc, stale, start_epoch = float(state["best_auc"]), int(state["stale"]), len(history)
        best_state = state["best_model"] if "best_model" in state else state["model"]  # absent: the last is the best

    for epoch in range(start_epoch, settings.epochs):
        if stale >= settings.patience:
            break
        model.train()
        order = epoch_order(len(train_set), settings.epoch_images, generators["order"])
        total = torch.zeros((), device=device)
        bar = tqdm(range(steps_per_epoch), desc=f"{description} epoch {epoch + 1}/{settings.epochs}",
                   disable=not progress, leave=False)
        for step in bar:
            index = np.sort(order[step * settings.batch_size : (step + 1) * settings.batch_size])
            x = augment(to_device_batch(train_set.images, index, device, image_size), settings.augment, generators["augment"],
                        settings.noise)
            if execution.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            with autocast(device, dtype):
                loss = criterion(forward(x).float(), y_all[torch.from_numpy(index).to(device)])
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            if settings.grad_clip:
                scaler.unscale_(optimizer)  # clip the true gradients, not the loss-scaled ones (float16 AMP)
                torch.nn.utils.clip_grad_norm_(model.parameters(), settings.grad_clip)
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            total += loss.detach() * len(index)
            if progress and step % 25 == 24:  # the running loss; reading it waits for the GPU, so not every step
                bar.set_postfix(loss=f"{float(total) / min(epoch_len, (step + 1) * settings.batch_size):.4f}")
        val_scores = predict(model, val_set.images, batch_size=max(settings.batch_size, 128), device=device,
                             image_size=image_size, amp=execution.amp, channels_last=execution.channels_last)
        try:
            val_auc = auc(val_set.labels, val_scores)
        except ValueError:  # a tiny validation set (e.g. d1/10 of a small pool) may hold one class only
            val_auc = float("nan")
        history.append({"epoch": epoch + 1, "loss": float(total) / epoch_len, "val_auc": val_auc})
        if progress:
            tqdm.write(f"{description} epoch {epoch + 1}: loss {history[-1]['loss']:.4f}  val AUC {val_auc:.4f}")
        if val_auc > best_auc or math.isnan(val_auc):  # without a validation AUC, keep the latest weights
            best_auc, stale = val_auc, 0
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            stale += 1
        if checkpoint is not None and time.monotonic() - last_saved >= execution.checkpoint_every_s:
            keys = list(history[0])
            state = {
                "model": model.state_dict(), "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                "rng": _rng_state(generators), "history_keys": keys,
                "history": torch.tensor([[row[k] for k in keys] for row in history], dtype=torch.float64),
                "best_auc": best_auc, "stale": stale,
            }
            if stale:  # the best weights are an earlier epoch's (else they are "model": no second copy)
                state["best_model"] = best_state
            torch.save(state, checkpoint.with_suffix(".tmp"))
            checkpoint.with_suffix(".tmp").replace(checkpoint)
            last_saved = time.monotonic()
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return history
