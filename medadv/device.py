"""Where tensors run and in which precision: one place for the device choice and mixed precision.

Training, prediction and the attacks share these rules. Mixed precision (AMP) is used on CUDA only:
- bfloat16 where the GPU computes it natively (Ampere and newer). It has float32's range, so there is no loss
  scaling, and input gradients do not underflow.
- float16 with loss scaling on older GPUs, for training only. An attack's input gradient in float16 can underflow
  to 0, and its sign would then be 0, so attacks run in float32 there.
On CPU everything stays float32. CPU autocast is slower than float32 on CPUs without AMX, and it would change the
CPU reference numbers that the tests pin.

These are *how* a unit runs, not *what* it computes: they are not part of store keys (like the device), and each
trained model records them in its ``history.json``.
"""
from __future__ import annotations

import contextlib
from typing import Iterator

import torch


def resolve_device(device: str) -> str:
    """``"auto"`` → ``"cuda"`` when a GPU is visible, else ``"cpu"``; other names are returned unchanged."""
    if device != "auto":
        return device
    return "cuda" if torch.cuda.is_available() else "cpu"


def amp_dtype(device: torch.device | str, amp: bool = True, *, allow_float16: bool = True) -> torch.dtype | None:
    """The autocast dtype for ``device``, or None for float32 (AMP off, not CUDA, or float16 not allowed)."""
    if not amp or torch.device(device).type != "cuda":
        return None
    if torch.cuda.is_bf16_supported(including_emulation=False):
        return torch.bfloat16
    return torch.float16 if allow_float16 else None


def autocast(device: torch.device | str, dtype: torch.dtype | None) -> contextlib.AbstractContextManager:
    """Autocast to ``dtype`` on ``device``; a no-op for ``dtype=None``."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(torch.device(device).type, dtype=dtype)


def grad_scaler(device: torch.device | str, dtype: torch.dtype | None) -> torch.amp.GradScaler:
    """A loss scaler that is active only for float16, the one autocast dtype whose gradients can underflow."""
    return torch.amp.GradScaler(torch.device(device).type, enabled=dtype == torch.float16)


@contextlib.contextmanager
def cpu_threads(threads: int | None) -> Iterator[None]:
    """Run the block with ``threads`` torch CPU threads (None: leave torch's setting), then restore the old count.

    Why: a float sum over several threads is split by thread, so a CPU result depends on the thread count in its last
    bits, and a training at a large learning rate grows that into a different model. A unit that fixes its thread
    count computes the same numbers on a laptop and on a 32-core node, in this process or in a worker of a pool.
    """
    if threads is None:
        yield
        return
    if int(threads) != threads or threads < 1:
        raise ValueError(f"cpu_threads must be an integer >= 1 or None (got {threads!r})")
    previous = torch.get_num_threads()
    torch.set_num_threads(int(threads))
    try:
        yield
    finally:
        torch.set_num_threads(previous)
