from __future__ import annotations

import os

import pytest
import torch

torch.set_num_threads(min(2, torch.get_num_threads()))
os.environ.setdefault("PYTHONHASHSEED", "0")


@pytest.fixture
def tmp_store(tmp_path):
    from medadv.store import Store

    return Store(tmp_path / "store")


# The real single-node Slurm: one session fixture for every module that asks for ``slurm_cluster``.
from conftest_slurm import slurm_cluster  # noqa: E402,F401
