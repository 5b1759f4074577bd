"""Plan a grid of study units and run it stage after stage, in this process or on Slurm, all sharing one store.

Why: the study is a few hundred independent units (trainings, adversarial sets, evaluations) in three stages, each
stage reading what the one before wrote. The store makes every unit idempotent and safe to compute twice at once,
so this module only has to schedule: run stage after stage, keep going when a unit fails, say which failed and
where its log is, and on a re-run do only what is missing. The in-process runner is here; a stage as a Slurm job
array is ``medadv.slurm``'s.

Example::

    options = SlurmOptions(time_min=120, gpus_per_task=1)
    report = run_units(units, Store("/shared/store"), executor="slurm", slurm=options)
    print(report.summary())
"""
from __future__ import annotations

import sys
import traceback
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
) -> GridReport:
    """Run every unit not yet in ``store``, stage after stage; a failing unit is reported and the others go on.

    ``executor="local"`` runs units one by one in this process. ``executor="slurm"`` submits one job array per
    stage with ``slurm`` options (logs under ``log_dir``, default ``<store.root>/slurm-logs``), each task running a
    chunk of units, and waits for it; the units of a task killed by Slurm (time limit, scancel) that had not
    finished are reported like failures. Calling again with the same units computes only what is missing.
    """
    if executor not in EXECUTORS:
        raise ValueError(f"unknown executor {executor!r}; allowed: {', '.join(EXECUTORS)}")
    todo, skipped = _split(units, store)
    report = GridReport(skipped=skipped)
    for stage, stage_units in todo.items():
        if not stage_units:
            continue
        bar = tqdm(total=len(stage_units), desc=stage, unit="unit", disable=not progress, mininterval=2.0,
                   dynamic_ncols=True)

        def say(message: str) -> None:  # a disabled bar still prints what it is asked to write
            if progress:
                bar.write(message, file=sys.stderr)

        try:
            if executor == "local":
                _run_local(stage_units, store, report, bar, say)
            else:
                log_root = (Path(log_dir) if log_dir is not None else store.root / "slurm-logs").resolve()
                slurm_runner.run_stage(stage, stage_units, store, slurm or SlurmOptions(), log_root, report, bar, say)
        finally:
            bar.close()
    return report


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


def _run_local(units: Sequence[Unit], store: Store, report: GridReport, bar: tqdm,
               say: Callable[[str], None]) -> None:
    failed = 0
    for unit in units:
        bar.set_postfix_str(f"failed {failed}, running: {unit.describe()}", refresh=False)
        try:
            unit.run(store)
            if not unit.done(store):
                raise RuntimeError(f"{type(unit).__name__}.run() returned but done() is still False")
        except Exception:  # a failing unit must not stop the grid; KeyboardInterrupt still does
            failed += 1
            report.failed.append((unit.key(), unit.describe(), traceback.format_exc()))
            say(f"FAILED {unit.describe()}: {traceback.format_exc().strip().splitlines()[-1]}")
        else:
            report.done.append(unit.key())
        bar.update(1)
