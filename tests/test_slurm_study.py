"""The study's own grid through a real single-node Slurm: the same numbers as in-process, and a re-run is free."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from medadv.book import ROOT

CORES = min(2, os.cpu_count() or 1)  # the test node's CPUs (Slurm refuses a task asking for more)
TINY = ["-p", "n_dev=120", "-p", "n_test=32", "-p", "pgd_steps=2", "-p", "epochs_imagenet=1", "-p", "epochs_random=1"]


def grid(store: Path, executor: str, *extra: str) -> tuple[subprocess.CompletedProcess, float]:
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "medadv", "grid", "--profile", "quick", "--only", "t3_pretraining", "--executor", executor,
         "-p", f"store={store}", *TINY, *extra],
        cwd=ROOT, env={**os.environ}, capture_output=True, text=True, timeout=1200,
    )
    return done, time.perf_counter() - start


def scores(store: Path) -> dict[str, np.ndarray]:
    return {p.parent.name: np.load(p) for p in sorted((store / "evaluate").glob("*/scores.npy"))}


@pytest.mark.slow
def test_quick_grid_on_slurm_equals_in_process(tmp_path, slurm_cluster):  # noqa: F811
    local, local_s = grid(tmp_path / "local", "local")
    assert local.returncode == 0, local.stderr[-3000:]
    # Each task gets the node's cores, as the in-process run has (torch's CPU sums depend on the thread count), so
    # one task runs at a time: array_parallelism=1 packs each stage into one task (one start-up per stage).
    slurm, slurm_s = grid(tmp_path / "slurm", "slurm", "--slurm", "time_min=10", "--slurm", f"cpus_per_task={CORES}",
                          "--slurm", "array_parallelism=1")
    assert slurm.returncode == 0, slurm.stdout[-3000:] + slurm.stderr[-3000:]
    a, b = scores(tmp_path / "local"), scores(tmp_path / "slurm")
    assert a.keys() == b.keys() and len(a) > 0
    for key in a:  # same seeds, same CPU arithmetic: the same numbers
        np.testing.assert_allclose(a[key], b[key], atol=1e-5)
    print(f"quick T3 grid: in-process {local_s:.1f} s, Slurm {slurm_s:.1f} s, ratio {slurm_s / local_s:.2f}")
    again, again_s = grid(tmp_path / "slurm", "slurm", "--slurm", "time_min=10")
    assert again.returncode == 0 and "0 done" in again.stdout and again_s < slurm_s / 2
