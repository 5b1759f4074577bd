"""The grid runner on a real single-node Slurm (started by the ``slurm_cluster`` fixture), on toy units.

Skipped when Slurm is not installed (scripts/slurm/install.sh), failing instead when MEDADV_REQUIRE_SLURM=1.
"""
from __future__ import annotations

import os
import subprocess
import threading
import time
from pathlib import Path
from typing import Callable

import pytest
from conftest_slurm import SCRIPTS, TEST_PORT
from grid_toys import Toy, chain, contents, starts

from medadv import slurm as slurm_runner
from medadv.grid import run_units
from medadv.slurm import SlurmOptions
from medadv.store import Store

TESTS = Path(__file__).resolve().parent
SMALL = SlurmOptions(time_min=5, mem_gb=0.5, array_parallelism=4)


@pytest.fixture(autouse=True)
def jobs_import_the_toys(slurm_cluster, monkeypatch):  # noqa: F811
    """Jobs unpickle toy units, so they need this directory on their path (sbatch passes the environment on)."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in (str(TESTS), os.environ.get("PYTHONPATH")) if p))
    monkeypatch.setattr(slurm_runner, "SACCT_EVERY_S", 2.0)  # notice killed jobs quickly
    monkeypatch.setattr(slurm_runner, "POLL_S", 0.5)


def grid_watcher_calls() -> int:
    from submitit.slurm.slurm import SlurmJob

    return SlurmJob.watcher.num_calls


def cancel_when(condition: Callable[[], bool], name: str, timeout_s: float = 90) -> threading.Thread:
    """scancel the jobs called ``name`` once ``condition()`` holds (or after ``timeout_s``, so nothing hangs)."""

    def watch() -> None:
        deadline = time.monotonic() + timeout_s
        while not condition() and time.monotonic() < deadline:
            time.sleep(0.3)
        subprocess.run(["scancel", "--name", name], check=True)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def test_slurm_gives_the_same_store_as_local(tmp_path, capsys):
    units = chain("a") + chain("b") + [Toy("c")]
    local, slurm = Store(tmp_path / "local"), Store(tmp_path / "slurm")
    t0 = time.perf_counter()
    local_report = run_units(units, local, progress=False)
    t1 = time.perf_counter()
    calls = grid_watcher_calls()
    slurm_report = run_units(units, slurm, executor="slurm", slurm=SMALL, progress=True)
    t2 = time.perf_counter()
    assert grid_watcher_calls() - calls <= (t2 - t1) / slurm_runner.SACCT_EVERY_S + 3  # sacct is not hammered
    assert slurm_report.ok and local_report.ok
    assert sorted(slurm_report.done) == sorted(local_report.done) == sorted(u.key() for u in units)
    assert contents(slurm) == contents(local) and len(contents(local)) == 7
    assert all(starts(slurm, u.name) == 1 for u in units)
    err = capsys.readouterr().err
    assert "of Slurm job(s)" in err and "evaluate" in err
    logs = list((tmp_path / "slurm" / "slurm-logs").glob("*-train/*/*_log.err"))
    assert len(logs) == 3  # one job per train unit, logs under the store by default
    with capsys.disabled():
        print(f"\n7 toy units, 3 stages: local {t1 - t0:.2f} s, slurm {t2 - t1:.1f} s")


def test_slurm_reports_a_failing_unit_with_its_log(tmp_path):
    store = Store(tmp_path / "store")
    bad = Toy("bad", fail=True)
    units = [Toy("ok1"), bad, Toy("ok2"), Toy("after", "craft", needs=Toy("ok1"))]
    report = run_units(units, store, executor="slurm", slurm=SMALL, log_dir=tmp_path / "logs", progress=False)
    assert sorted(report.done) == sorted(u.key() for u in units if u is not bad)
    [(key, what, log)] = report.failed
    assert (key, what) == (bad.key(), "toy train bad")
    assert Path(log).is_relative_to(tmp_path / "logs") and "toy failure in bad" in Path(log).read_text()


def test_slurm_killed_run_is_reported_and_a_rerun_finishes_it(tmp_path):
    store = Store(tmp_path / "store")
    quick = [Toy("q1"), Toy("q2")]
    slow = [Toy("s1", sleep_s=300), Toy("s2", sleep_s=300)]
    craft = Toy("c", "craft", needs=Toy("s1"))
    options = SlurmOptions(time_min=10, mem_gb=0.5, array_parallelism=2, units_per_task=1)  # quick ones first

    def slow_started() -> bool:
        return all(starts(store, u.name) for u in slow) and all(u.done(store) for u in quick)

    watcher = cancel_when(slow_started, "medadv-train")
    t0 = time.perf_counter()
    report = run_units(quick + slow + [craft], store, executor="slurm", slurm=options, progress=False)
    waited = time.perf_counter() - t0
    watcher.join()
    assert waited < 120, "the driver must notice cancelled jobs, not wait for them"
    assert sorted(report.done) == sorted(u.key() for u in quick)
    failed = {key: log for key, _, log in report.failed}
    assert set(failed) == {slow[0].key(), slow[1].key(), craft.key()}  # craft ran, but s1 was missing
    assert "CANCELLED" in Path(failed[slow[0].key()]).read_text()
    quick_mtimes = [(store.path("toy", u.key()) / "out.txt").stat().st_mtime_ns for u in quick]

    again = [Toy("q1"), Toy("q2"), Toy("s1"), Toy("s2"), craft]  # same keys, no sleeping this time
    rerun = run_units(again, store, executor="slurm", slurm=options, progress=False)
    assert rerun.ok and sorted(rerun.skipped) == sorted(u.key() for u in quick)
    assert sorted(rerun.done) == sorted(u.key() for u in slow + [craft])
    assert [(store.path("toy", u.key()) / "out.txt").stat().st_mtime_ns for u in quick] == quick_mtimes
    assert [starts(store, name) for name in ("q1", "q2", "s1", "s2", "c")] == [1, 1, 2, 2, 2]
    assert contents(store)[craft.key()] == "c<s1"


def test_slurm_chunk_killed_midway_keeps_its_finished_units(tmp_path, capsys):
    store = Store(tmp_path / "store")
    first, sleeper, never = Toy("first"), Toy("sleeper", sleep_s=300), Toy("never")
    bad, after = Toy("bad", fail=True), Toy("after")
    options = SlurmOptions(time_min=10, mem_gb=0.5, array_parallelism=2)  # two tasks of three units each
    # cancel once the sleeper runs and the other chunk has finished (its last unit stored): on a loaded machine the
    # second array task can start late, and cancelling the job name would cancel it too
    watcher = cancel_when(lambda: starts(store, "sleeper") == 1 and after.done(store), "medadv-train")
    report = run_units([first, sleeper, never, Toy("x"), bad, after], store, executor="slurm", slurm=options)
    watcher.join()
    assert sorted(report.done) == sorted(u.key() for u in (first, Toy("x"), after))  # a failure does not stop a chunk
    failed = {key: log for key, _, log in report.failed}
    assert set(failed) == {sleeper.key(), never.key(), bad.key()}
    assert failed[sleeper.key()] == failed[never.key()] != failed[bad.key()]  # each points at its task's log
    assert "toy failure in bad" in Path(failed[bad.key()]).read_text()
    assert starts(store, "never") == 0
    err = capsys.readouterr().err
    assert "6 unit(s) in 2 task(s)" in err and "FAILED toy train never: ended by Slurm (CANCELLED" in err


@pytest.mark.slow
def test_slurm_time_limit_is_reported(tmp_path):
    store = Store(tmp_path / "store")
    sleeper = Toy("sleeper", sleep_s=600)
    t0 = time.perf_counter()
    report = run_units([sleeper, Toy("quick")], store, executor="slurm", slurm=SlurmOptions(time_min=1, mem_gb=0.5),
                       progress=False)
    assert time.perf_counter() - t0 < 150
    [(key, _, log)] = report.failed
    assert key == sleeper.key() and "time limit" in Path(log).read_text().lower()
    assert report.done == [Toy("quick").key()]


def test_slurm_start_is_idempotent(slurm_cluster):  # noqa: F811
    env = {**os.environ, "MEDADV_SLURM_PORT": TEST_PORT}
    again = subprocess.run([str(SCRIPTS / "start.sh"), str(slurm_cluster)], env=env, capture_output=True,
                           text=True, timeout=60)
    assert again.returncode == 0 and "already running" in again.stderr
    assert again.stdout.strip() == f"export SLURM_CONF={slurm_cluster / 'etc' / 'slurm.conf'}"


def test_slurm_refusing_the_options_is_a_clear_error(tmp_path):
    with pytest.raises(RuntimeError, match="Slurm refused the train job array .*mem_gb=100000"):
        run_units([Toy("big")], Store(tmp_path), executor="slurm", slurm=SlurmOptions(mem_gb=100000), progress=False)
