"""Units computed several at once in worker processes (``run_units(..., workers=N)``), and the fixed CPU thread count
(``cpu_threads``) that makes a unit's numbers the same whichever runner computes it."""
from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from grid_toys import Toy, chain, contents

from medadv import grid, study
from medadv.config import ConfigError, StudyConfig
from medadv.device import cpu_threads
from medadv.grid import default_workers, run_units
from medadv.study import Condition, ModelSpec, Study, fuse, same_config_surrogate
from medadv.store import Store

TARGET = ModelSpec("pathology", "resnet10t", "random")
SURROGATE = same_config_surrogate(TARGET)


def pids(store: Store) -> set[int]:
    """The processes that computed the toys (each start leaves ``name.pid.time``)."""
    return {int(path.name.split(".")[-2]) for path in (store.root / "starts").iterdir()}


def test_workers_compute_what_one_process_computes_in_other_processes(tmp_path):
    units = chain("a") + chain("b") + [Toy("c"), Toy("d")]
    here, pool = Store(tmp_path / "here"), Store(tmp_path / "pool")
    assert run_units(units, here, progress=False).ok
    report = run_units(units, pool, progress=False, workers=2)
    assert report.ok and sorted(report.done) == sorted(u.key() for u in units)
    assert contents(pool) == contents(here) and len(contents(pool)) == 8  # stages in order: craft read train's output
    assert os.getpid() not in pids(pool) and len(pids(pool)) == 2  # the workers, not this process
    assert pids(here) == {os.getpid()}
    again = run_units(units, pool, progress=False, workers=2)
    assert again.done == [] and len(again.skipped) == 8


def test_a_failing_unit_in_a_worker_is_reported_with_its_traceback_and_the_others_go_on(tmp_path):
    bad = Toy("bad", fail=True)
    units = [Toy("x"), bad, Toy("y"), Toy("z", "craft", needs=Toy("y"))]
    report = run_units(units, Store(tmp_path), progress=False, workers=2)
    assert [key for key, _, _ in report.failed] == [bad.key()]
    _, what, trace = report.failed[0]
    assert what == "toy train bad"
    assert "Traceback" in trace and trace.strip().endswith("RuntimeError: toy failure in bad")
    assert sorted(report.done) == sorted(u.key() for u in units if u is not bad)
    assert "failed: toy train bad: RuntimeError: toy failure in bad" in report.summary()


@pytest.mark.parametrize("workers", [0, -1, 1.5, True])
def test_workers_must_be_a_positive_integer(tmp_path, workers):
    with pytest.raises(ValueError, match="workers must be an integer >= 1"):
        run_units([Toy("a")], Store(tmp_path), progress=False, workers=workers)


def test_default_workers_one_unit_per_cpu_threads_cores_on_a_cpu(monkeypatch):
    monkeypatch.setattr(grid.os, "cpu_count", lambda: 8)
    assert default_workers(1, "cpu") == 8
    assert default_workers(3, "cpu") == 2
    assert default_workers(16, "cpu") == 1
    assert default_workers(None, "cpu") == 1  # units take every core: one at a time
    assert default_workers(1, "cuda") == 1  # units would share the GPU


def test_cpu_threads_sets_and_restores_torch_threads():
    before = torch.get_num_threads()
    with cpu_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with cpu_threads(None):
        assert torch.get_num_threads() == before
    for bad in (0, 2.5):
        with pytest.raises(ValueError, match="cpu_threads must be an integer >= 1"), cpu_threads(bad):
            pass


@pytest.mark.parametrize("bad", [0, -2, 1.5, "one", True])
def test_cpu_threads_setting_is_validated(bad):
    with pytest.raises(ConfigError, match="cpu_threads must be a positive integer or null"):
        StudyConfig(cpu_threads=bad)


def tiny(root, threads: int | None) -> Study:
    return Study(StudyConfig(store=str(root), archs=("resnet10t",), inits=("random",), image_size=16, n_dev=80,
                             n_test=64, epochs_random=1, batch_size=32, eps=0.02, pgd_steps=2, pgd_alpha=0.01,
                             n_boot=20, device="cpu", progress=False, keep_perturbations=False, cpu_threads=threads))


def test_units_compute_with_their_cpu_threads_whatever_the_caller_set(tmp_path, monkeypatch):
    seen: list[int] = []
    real_train = study.train

    def spy(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return real_train(*args, **kwargs)

    monkeypatch.setattr(study, "train", spy)
    s = tiny(tmp_path, threads=1)
    with cpu_threads(2):
        s.train_unit(TARGET).run(s.store)
        assert seen == [1] and torch.get_num_threads() == 2  # the caller's count is back afterwards
    unset = tiny(tmp_path / "unset", threads=None)
    with cpu_threads(2):
        unset.train_unit(TARGET).run(unset.store)
    assert seen == [1, 2]  # None leaves torch's setting


def test_a_study_computed_by_workers_equals_one_computed_in_this_process(tmp_path):
    """The real units (trainings, fused crafts with their evaluations, clean evaluations): the same weights and
    scores, bit for bit, from two worker processes as from this one with two threads set by the caller."""
    conditions = [Condition(TARGET, SURROGATE, attack, 0.02, p) for attack in ("fgsm", "pgd")
                  for p in ("adversarial", "shuffled")]
    here, pool = tiny(tmp_path / "here", threads=1), tiny(tmp_path / "pool", threads=1)
    with cpu_threads(2):
        assert run_units(fuse(here.units(conditions)), here.store, progress=False).ok
    assert run_units(fuse(pool.units(conditions)), pool.store, progress=False, workers=2).ok
    for model in (TARGET, SURROGATE):
        a, b = here.model(model).state_dict(), pool.model(model).state_dict()
        assert all(torch.equal(a[k], b[k]) for k in a)
    for cond in conditions:
        assert np.array_equal(here.scores(cond), pool.scores(cond))
    assert np.array_equal(here.clean_scores(TARGET), pool.clean_scores(TARGET))
