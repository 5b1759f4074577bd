"""The grid runner with the local executor, and the Slurm runner's parts that need no Slurm, on toy units
(tests/grid_toys.py)."""
from __future__ import annotations

import pytest
from grid_toys import Toy, chain, contents, starts

from medadv import slurm
from medadv.grid import STAGES, GridReport, Unit, plan, run_units
from medadv.slurm import SlurmOptions
from medadv.store import Store


def test_local_runs_stages_in_order(tmp_path):
    store = Store(tmp_path)
    units = chain("a") + chain("b")
    given = list(reversed(units))  # evaluate first: stages still run in order, units of a stage in given order
    report = run_units(given, store, progress=False)
    assert report.failed == [] and report.skipped == []
    assert report.done == [u.key() for stage in STAGES for u in given if u.stage == stage]
    got = contents(store)
    assert got[units[2].key()] == "a-evaluate<a-craft<a-train"
    assert got[units[5].key()] == "b-evaluate<b-craft<b-train"
    assert isinstance(units[0], Unit)


def test_failing_unit_is_reported_and_the_others_go_on(tmp_path):
    store = Store(tmp_path)
    bad = Toy("bad", fail=True)
    units = [Toy("x"), bad, Toy("y"), Toy("z", "craft", needs=Toy("y"))]
    report = run_units(units, store, progress=False)
    assert [key for key, _, _ in report.failed] == [bad.key()]
    key, what, trace = report.failed[0]
    assert what == "toy train bad"
    assert "Traceback" in trace and trace.strip().endswith("RuntimeError: toy failure in bad")
    assert sorted(report.done) == sorted(u.key() for u in units if u is not bad)
    assert not report.ok and "failed: toy train bad: RuntimeError: toy failure in bad" in report.summary()
    assert list((tmp_path / "tmp").iterdir()) == []  # the failed computation left no scratch behind


def test_plan_skips_done_units_and_duplicates(tmp_path):
    store = Store(tmp_path)
    units = chain("a")
    assert plan(units + units, store) == {"train": [units[0]], "craft": [units[1]], "evaluate": [units[2]]}
    run_units(units[:1], store, progress=False)
    assert plan(units, store) == {"train": [], "craft": [units[1]], "evaluate": [units[2]]}


def test_rerun_computes_only_what_is_missing(tmp_path):
    store = Store(tmp_path)
    good, flaky = Toy("good"), Toy("flaky", fail=True)
    first = run_units([good, flaky], store, progress=False)
    assert first.done == [good.key()] and len(first.failed) == 1
    second = run_units([good, Toy("flaky")], store, progress=False)  # same key, now it works
    assert second.skipped == [good.key()] and second.done == [flaky.key()] and second.ok
    assert starts(store, "good") == 1 and starts(store, "flaky") == 2
    third = run_units([good, Toy("flaky")], store, progress=False)
    assert third.done == [] and len(third.skipped) == 2
    assert starts(store, "good") == 1 and starts(store, "flaky") == 2


def test_unit_whose_done_disagrees_with_run_is_a_failure(tmp_path):
    report = run_units([Toy("liar", check_done=False)], Store(tmp_path), progress=False)
    assert "done() is still False" in report.failed[0][2]


def test_progress_output(tmp_path, capsys):
    run_units([Toy("p"), Toy("q", fail=True)], Store(tmp_path), progress=True)
    err = capsys.readouterr().err
    assert "train" in err and "FAILED toy train q: RuntimeError: toy failure in q" in err


def test_bad_arguments(tmp_path):
    store = Store(tmp_path)
    with pytest.raises(ValueError, match="allowed: local, slurm"):
        run_units([Toy("a")], store, executor="auto")
    with pytest.raises(ValueError, match="stages are train, craft, evaluate"):
        plan([Toy("a", "attack")], store)


def test_slurm_options_from_params():
    options = SlurmOptions.from_params({"time_min": 30, "mem_gb": 1.5, "gpus_per_task": 1, "extra_sbatch": {"qos": 2}})
    params = options.submitit_parameters("train")
    assert params["time"] == 30 and params["mem"] == "1536M" and params["gpus_per_task"] == 1
    assert params["additional_parameters"] == {"qos": "2"} and params["job_name"] == "medadv-train"
    assert params["signal_delay_s"] == 90 and "partition" not in params
    assert SlurmOptions.from_params(None) == SlurmOptions()
    assert SlurmOptions(time_min=2).submitit_parameters("craft")["signal_delay_s"] == 24
    with pytest.raises(ValueError, match=r"unknown Slurm option\(s\) \['gpus'\]; allowed keys are \['partition'"):
        SlurmOptions.from_params({"gpus": 1})
    with pytest.raises(ValueError, match="time_min"):
        SlurmOptions(time_min=0)
    with pytest.raises(ValueError, match="units_per_task"):
        SlurmOptions(units_per_task=0)


def test_slurm_chunks_spread_a_stage_over_the_parallel_tasks():
    auto = SlurmOptions(array_parallelism=4, time_min=10)
    assert [auto.chunk_size(n) for n in (1, 4, 5, 8, 9, 400)] == [1, 1, 2, 2, 3, 100]
    assert SlurmOptions(units_per_task=1, array_parallelism=4).chunk_size(400) == 1
    params = auto.submitit_parameters("evaluate", units_per_task=3)
    assert params["time"] == 30 and params["signal_delay_s"] == 90  # the limit is per unit, times the chunk


class _Interrupted(Toy):
    def run(self, store: Store) -> None:
        slurm._time_limit(0, None)  # what Slurm's warning signal does inside a unit


def test_a_chunk_goes_on_after_a_failure_and_stops_at_the_time_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(slurm.signal, "signal", lambda *args: None)  # no real handler in the test process
    chunk = [Toy("a"), Toy("bad", fail=True), Toy("b"), _Interrupted("late"), Toy("c"), Toy("d")]
    errors = slurm._run_chunk(chunk, str(tmp_path))
    assert errors[:3] == ["", "RuntimeError: toy failure in bad", ""]
    assert errors[3:] == [slurm.TIME_LIMIT, slurm.NOT_REACHED, slurm.NOT_REACHED]
    assert sorted(contents(Store(tmp_path)).values()) == ["a", "b"]


def test_slurm_executor_without_slurm_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(RuntimeError, match="sbatch/srun are not on PATH"):
        run_units([Toy("a")], Store(tmp_path / "store"), executor="slurm", progress=False)


def test_empty_grid(tmp_path):
    assert run_units([], Store(tmp_path), executor="slurm", progress=False) == GridReport()
