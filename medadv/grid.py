"""Plan a grid of study units and run it stage after stage, in this process or on Slurm, all sharing one store.

Why: the study is a few hundred independent units (trainings, adversarial sets, evaluations) in three stages, each
stage reading what the one before wrote. The store makes every unit idempotent and safe to compute twice at once,
so this module only has to schedule: run stage after stage, keep going when a unit fails, say which failed and
where its log is, and on a re-run do only what is missing. The local runner is here (in this process, or
``workers`` processes at once); a stage as a Slurm job array is ``medadv.slurm``'s.

Why several local workers: the study's units are small models on small images, which one torch process spreads
over several cores badly (the default profile's trainings at 48 px: two one-thread processes on 2 cores do 1.35x
(lite0) to 1.6x (lite1) the steps of one two-thread process). Each unit fixes its own thread count
(``cpu_threads``), so a unit's numbers are the same whichever runner computes it.

Example::

    options = SlurmOptions(time_min=120, gpus_per_task=1)
    report = run_units(units, Store("/shared/store"), executor="slurm", slurm=options)
    print(report.summary())
"""
from __future__ import annotations

import multiprocessing
import os
import sys
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Protocol, Sequence, runtime_checkable

from tqdm import tqdm  # plain text bars: also readable in papermill outputs and batch logs

from medadv import slurm as slurm_runner
from medadv.slurm import SlurmOptions
from medadv.store import Store
from medadv.vocab import STAGES

EXECUTORS = ("local", "slurm")


@runtime_checkable
class Unit(Protocol):
    """One unit of study work. Implementations are frozen dataclasses, so they pickle into Slurm jobs."""

    stage: str  # "train", "craft" or "evaluate": stages run in this order

    def key(self) -> str:
        """The store key: stable across processes, unique per unit."""
        ...

    def describe(self) -> str:
        """One short human line, e.g. 'train lite0/imagenet/d1 copy 2'."""
        ...

    def done(self, store: Store) -> bool:
        """Whether the unit's result is already in the store."""
        ...

    def run(self, store: Store) -> None:
        """Compute the unit into the store (idempotent: through ``store.get_or_compute``)."""
        ...


@dataclass
class GridReport:
    """What a grid run did: keys computed now, keys already in the store, and failures."""

    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[tuple[str, str, str]] = field(default_factory=list)  # (key, describe, log path or traceback)

    @property
    def ok(self) -> bool:
        return not self.failed

    def summary(self) -> str:
        lines = [f"{len(self.done)} done, {len(self.skipped)} already in the store, {len(self.failed)} failed"]
        for _, what, where in self.failed:  # a traceback (local run): its last line; else a log path
            detail = where.strip().splitlines()[-1] if "\n" in where.strip() else f"log: {where}"
            lines.append(f"  failed: {what}: {detail}")
        return "\n".join(lines)


def plan(units: Iterable[Unit], store: Store) -> dict[str, list[Unit]]:
    """Units still to run, by stage: every stage a key, in run order; de-duplicated by key; done ones left out."""
    todo, _ = _split(units, store)
    return todo


def run_units(
    units: Iterable[Unit],
    store: Store,
    *,
    executor: str = "local",
    slurm: SlurmOptions | None = None,
    log_dir: Path | None = None,
    progress: bool = True,
    workers: int = 1,
) -> GridReport:
    """Run every unit not yet in ``store``, stage after stage; a failing unit is reported and the others go on.

    ``executor="local"`` runs units one by one in this process, or with ``workers > 1`` that many at once, each in
    its own process (spawned once for all stages; a unit's threads are its ``cpu_threads``). ``executor="slurm"``
    submits one job array per stage with ``slurm`` options (logs under ``log_dir``, default
    ``<store.root>/slurm-logs``), each task running a chunk of units, and waits for it; the units of a task killed
    by Slurm (time limit, scancel) that had not finished are reported like failures. Calling again with the same
    units computes only what is missing.
    """
    if executor not in EXECUTORS:
        raise ValueError(f"unknown executor {executor!r}; allowed: {', '.join(EXECUTORS)}")
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be an integer >= 1 (got {workers!r})")
    todo, skipped = _split(units, store)
    report = GridReport(skipped=skipped)
    largest = max((len(u) for u in todo.values()), default=0)
    pool = _pool(min(workers, largest)) if executor == "local" and min(workers, largest) > 1 else None
    try:
        _run_stages(todo, store, report, executor, slurm, log_dir, progress, pool)
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    return report


def _run_stages(todo: dict[str, list[Unit]], store: Store, report: GridReport, executor: str,
                slurm: SlurmOptions | None, log_dir: Path | None, progress: bool,
                pool: ProcessPoolExecutor | None) -> None:
    for stage, stage_units in todo.items():
        if not stage_units:
            continue
        bar = tqdm(total=len(stage_units), desc=stage, unit="unit", disable=not progress, mininterval=2.0,
                   dynamic_ncols=True)

        def say(message: str) -> None:  # a disabled bar still prints what it is asked to write
            if progress:
                bar.write(message, file=sys.stderr)

        try:
            if pool is not None:
                _run_pool(pool, stage_units, store, report, bar, say)
            elif executor == "local":
                _run_local(stage_units, store, report, bar, say)
            else:
                log_root = (Path(log_dir) if log_dir is not None else store.root / "slurm-logs").resolve()
                slurm_runner.run_stage(stage, stage_units, store, slurm or SlurmOptions(), log_root, report, bar, say)
        finally:
            bar.close()


def _run_checked(unit: Unit, store: Store) -> None:
    unit.run(store)
    if not unit.done(store):
        raise RuntimeError(f"{type(unit).__name__}.run() returned but done() is still False")


def _split(units: Iterable[Unit], store: Store) -> tuple[dict[str, list[Unit]], list[str]]:
    todo: dict[str, list[Unit]] = {stage: [] for stage in STAGES}
    skipped: list[str] = []
    seen: set[str] = set()
    for unit in units:
        if unit.stage not in todo:
            raise ValueError(f"unit {unit.describe()!r} has stage {unit.stage!r}; stages are {', '.join(STAGES)}")
        key = unit.key()
        if key in seen:
            continue
        seen.add(key)
        if unit.done(store):
            skipped.append(key)
        else:
            todo[unit.stage].append(unit)
    return todo, skipped


def _attempt(unit: Unit, store: Store) -> str:
    """Run one unit: "" when it finished, else its traceback. A failing unit must not stop the grid (the caller
    reports it and goes on); KeyboardInterrupt still does."""
    try:
        _run_checked(unit, store)
    except Exception:
        return traceback.format_exc()
    return ""


def _record(unit: Unit, error: str, report: GridReport, say: Callable[[str], None]) -> None:
    """A unit's outcome in ``report``; a failure is also said, by the last line of its error."""
    if error:
        report.failed.append((unit.key(), unit.describe(), error))
        say(f"FAILED {unit.describe()}: {error.strip().splitlines()[-1]}")
    else:
        report.done.append(unit.key())


def _run_local(units: Sequence[Unit], store: Store, report: GridReport, bar: tqdm,
               say: Callable[[str], None]) -> None:
    failed = 0
    for unit in units:
        bar.set_postfix_str(f"failed {failed}, running: {unit.describe()}", refresh=False)
        error = _attempt(unit, store)
        failed += bool(error)
        _record(unit, error, report, say)
        bar.update(1)


def default_workers(cpu_threads: int | None, device: str) -> int:
    """Units to run at once on this machine: one per ``cpu_threads`` cores on a CPU; one where units use a GPU (they
    would share it) or take every core (``cpu_threads`` None)."""
    from medadv.device import resolve_device

    if cpu_threads is None or resolve_device(device) != "cpu":
        return 1
    return max(1, (os.cpu_count() or 1) // cpu_threads)


def _pool(workers: int) -> ProcessPoolExecutor:
    # spawn, not fork: a forked torch process that has already started its thread pools can hang
    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))


def _run_in_worker(unit: Unit, root: str) -> str:
    """A worker's body for one unit (:func:`_attempt` on the store at ``root``); the parent records the outcome."""
    return _attempt(unit, Store(root))


def _run_pool(pool: ProcessPoolExecutor, units: Sequence[Unit], store: Store, report: GridReport, bar: tqdm,
              say: Callable[[str], None]) -> None:
    """One stage's units, as many at once as the pool has workers; results land in ``report`` as units finish. A
    worker that dies (killed, out of memory) fails the units it had not finished, with that reason."""
    futures = {pool.submit(_run_in_worker, unit, store.location): unit for unit in units}
    failed = 0
    try:
        for future in as_completed(futures):
            unit = futures[future]
            try:
                error = future.result()
            except BrokenProcessPool:
                error = ("a worker process died before this unit finished (killed, or out of memory: try fewer "
                         "--workers)\n")
            failed += bool(error)
            _record(unit, error, report, say)
            bar.set_postfix_str(f"failed {failed}", refresh=False)
            bar.update(1)
    finally:
        for future in futures:  # Ctrl-C: the units not started stay undone (a re-run computes them)
            future.cancel()
