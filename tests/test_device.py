"""Device and precision rules (``medadv.device``): which autocast dtype where, and when the loss is scaled.

The CUDA branches are checked by faking what the GPU reports; ``tests/test_gpu.py`` runs them on a real GPU.
"""
from __future__ import annotations

import pytest
import torch

from medadv.config import StudyConfig
from medadv.device import amp_dtype, grad_scaler, resolve_device
from medadv.study import ModelSpec, Study


def test_auto_picks_cuda_only_when_visible(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == "cuda"
    assert resolve_device("cuda:1") == "cuda:1" and resolve_device("cpu") == "cpu"


@pytest.mark.parametrize("bf16", [True, False])
def test_amp_dtype(monkeypatch, bf16):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: bf16 and not including_emulation)
    assert amp_dtype("cpu") is None and amp_dtype(torch.device("cpu"), True) is None  # CPU stays float32
    assert amp_dtype("cuda", amp=False) is None
    assert amp_dtype("cuda:0") is (torch.bfloat16 if bf16 else torch.float16)
    # attacks: bfloat16 or nothing (a float16 input gradient can underflow to a zero sign)
    assert amp_dtype("cuda", allow_float16=False) is (torch.bfloat16 if bf16 else None)


def test_loss_scaling_only_for_float16():
    assert not grad_scaler("cpu", None).is_enabled()
    assert not grad_scaler("cpu", torch.bfloat16).is_enabled()
    assert grad_scaler("cpu", torch.float16).is_enabled()


def test_execution_options_are_not_part_of_keys(tmp_path):
    """amp and compile change how a model trains, not what it is: like the device, they stay out of store keys."""
    base = StudyConfig(store=str(tmp_path / "s"), archs=("resnet10t",), device="cpu")
    fast = base.replace(amp=False, compile=True, device="cuda")
    model = ModelSpec("pathology", "resnet10t", "random")
    plain_unit, fast_unit = Study(base).train_unit(model), Study(fast).train_unit(model)
    assert plain_unit.key() == fast_unit.key()
    assert (fast_unit.execution.amp, fast_unit.execution.compile) == (False, True)
    assert Study(base).craft_unit(model, "pgd", 0.01).key() == Study(fast).craft_unit(model, "pgd", 0.01).key()
