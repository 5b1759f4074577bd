"""Run a grid of study units, in this process or as Slurm job arrays (through submitit), all sharing one store.

Why: the study is a few hundred independent units (trainings, adversarial sets, evaluations) in three stages, each
stage reading what the one before wrote. The store makes every unit idempotent and safe to compute twice at once,
so this module only has to schedule: run stage after stage, keep going when a unit fails, say which failed and
where its log is, and on a re-run do only what is missing. On a cluster a stage is one Slurm job array; Slurm (with
accounting, so ``sacct`` knows about killed jobs) does the queueing and submitit the pickling. An array task runs a
chunk of units one after the other (by default as many chunks as ``array_parallelism``), so small units do not each
pay a job's start-up (Python, torch, the data) and share the loaded models and data of their process.

Example::

    options = SlurmOptions(time_min=120, gpus_per_task=1)
    report = run_units(units, Store("/shared/store"), executor="slurm", slurm=options)
    print(report.summary())
"""
from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import sys
import time
import traceback
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Protocol, Sequence, runtime_checkable

from tqdm import tqdm  # plain text bars: also readable in papermill outputs and batch logs

from medadv.store import Store

if TYPE_CHECKING:
    import submitit

STAGES = ("train", "craft", "evaluate")
EXECUTORS = ("local", "slurm")
POLL_S = 2.0  # how often the driver looks for finished jobs (a file check per job)
MAX_ARRAY = 1000  # units per job array
SACCT_EVERY_S = 10.0  # how often it asks Slurm for job states (running counts, jobs Slurm killed)


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
class SlurmOptions:
    """Resources of every job of a grid run (one job array per stage, one array task per chunk of units)."""

    partition: str | None = None  # None: the cluster's default partition
    time_min: int = 60  # per unit; a task's limit is this times its units (the unit running at the limit is
    # reported, and resumes from its stored state on a re-run)
    cpus_per_task: int = 1
    mem_gb: float = 4
    gpus_per_task: int = 0
    array_parallelism: int = 16  # at most this many tasks of a stage run at once; set it to how many the cluster can
    # run at once for these resources, as by default a stage is spread over this many tasks
    units_per_task: int | None = None  # None: spread a stage over array_parallelism tasks; 1: one unit per task
    # (long GPU trainings on a cluster with a short time cap); more: fewer, longer tasks
    extra_sbatch: dict[str, str] = field(default_factory=dict)  # more sbatch options, e.g. {"qos": "high"}

    def __post_init__(self) -> None:
        if self.time_min < 1:
            raise ValueError(f"time_min must be at least 1 minute (got {self.time_min})")
        if min(self.cpus_per_task, self.array_parallelism, 1 if self.units_per_task is None else self.units_per_task) < 1:
            raise ValueError(
                f"cpus_per_task, array_parallelism and units_per_task must be at least 1 "
                f"(got {self.cpus_per_task}, {self.array_parallelism} and {self.units_per_task})"
            )
        if self.mem_gb <= 0 or self.gpus_per_task < 0:
            raise ValueError(f"need mem_gb > 0 and gpus_per_task >= 0 (got {self.mem_gb} and {self.gpus_per_task})")
        if not all(isinstance(k, str) for k in self.extra_sbatch):
            raise ValueError(f"extra_sbatch keys must be sbatch option names (strings), got {self.extra_sbatch!r}")

    @classmethod
    def from_params(cls, d: Mapping[str, Any] | None) -> SlurmOptions:
        """Options from a params dict (a profile's ``slurm:`` section); unknown keys are an error, not ignored."""
        d = dict(d or {})
        allowed = [f.name for f in fields(cls)]
        unknown = sorted(set(d) - set(allowed))
        if unknown:
            raise ValueError(f"unknown Slurm option(s) {unknown}; allowed keys are {allowed}")
        if "extra_sbatch" in d:
            d["extra_sbatch"] = {str(k): str(v) for k, v in dict(d["extra_sbatch"] or {}).items()}
        return cls(**d)

    def chunk_size(self, n_units: int) -> int:
        """Units per array task for a stage of ``n_units``."""
        return self.units_per_task or max(1, -(-n_units // self.array_parallelism))

    def submitit_parameters(self, stage: str, units_per_task: int = 1) -> dict[str, Any]:
        """``SlurmExecutor.update_parameters`` arguments for one stage's job array."""
        time_min = self.time_min * units_per_task
        params: dict[str, Any] = {
            "job_name": f"medadv-{stage}",
            "time": time_min,
            "cpus_per_task": self.cpus_per_task,
            "mem": f"{max(1, round(self.mem_gb * 1024))}M",
            "array_parallelism": self.array_parallelism,
            # Slurm warns a job this long before its time limit (see _run_unit); a fifth of the limit at most,
            # since Slurm may send it up to a minute early and submitit's 90 s default misfires on short limits.
            "signal_delay_s": min(90, max(10, time_min * 12)),
        }
        if self.partition:
            params["partition"] = self.partition
        if self.gpus_per_task:
            params["gpus_per_task"] = self.gpus_per_task
        if self.extra_sbatch:
            params["additional_parameters"] = dict(self.extra_sbatch)
        return params


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
    if executor == "local":
        for stage, stage_units in todo.items():
            if stage_units:
                _run_local(stage, stage_units, store, report, progress)
    else:
        log_root = (Path(log_dir) if log_dir is not None else store.root / "slurm-logs").resolve()
        options = slurm or SlurmOptions()
        for stage, stage_units in todo.items():
            if stage_units:
                _run_slurm(stage, stage_units, store, options, log_root, report, progress)
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


def _bar(stage: str, total: int, progress: bool) -> tqdm:
    return tqdm(total=total, desc=stage, unit="unit", disable=not progress, mininterval=2.0, dynamic_ncols=True)


def _say(bar: tqdm, progress: bool, message: str) -> None:
    if progress:
        bar.write(message, file=sys.stderr)


def _run_local(stage: str, units: Sequence[Unit], store: Store, report: GridReport, progress: bool) -> None:
    bar = _bar(stage, len(units), progress)
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
            _say(bar, progress, f"FAILED {unit.describe()}: {traceback.format_exc().strip().splitlines()[-1]}")
        else:
            report.done.append(unit.key())
        bar.update(1)
    bar.close()


class _TimeLimit(Exception):
    """Raised inside a Slurm job shortly before its time limit."""


def _time_limit(signum: int, frame: Any) -> None:
    raise _TimeLimit(
        "Slurm signalled that this job is about to reach its time limit; the unit stopped (its resumable state, "
        "if any, is kept in the store). Raise SlurmOptions.time_min or re-run the grid to continue."
    )


TIME_LIMIT = "stopped at the task's time limit (raise time_min, or re-run to resume)"
NOT_REACHED = "not started: the task stopped at its time limit before this unit"


def _use_allocated_cpus() -> None:
    """Size torch's thread pool to the task's CPUs: by default torch takes every core of the node, and tasks
    sharing a node then oversubscribe it (several times slower, measured on the 2-core test node)."""
    cpus = os.environ.get("SLURM_CPUS_PER_TASK")
    if cpus and importlib.util.find_spec("torch") is not None:
        import torch

        torch.set_num_threads(int(cpus))


def _run_chunk(units: Sequence[Unit], root: str) -> list[str]:
    """Body of one Slurm array task: compute its units into the shared store, one after the other.

    Returns one entry per unit: "" if it finished, else a one-line error (its traceback goes to the task's log).
    A failing unit does not stop the others; the time-limit warning stops the chunk (the units left are reported).
    """
    from submitit.slurm.slurm import SlurmJobEnvironment

    # submitit's own handler would requeue a job it judges "preempted" (the signal arrives early on short
    # limits) and restart it forever; our units resume from the store, so stop with a clear error instead.
    signal.signal(getattr(signal, "SIG" + SlurmJobEnvironment.USR_SIG), _time_limit)
    _use_allocated_cpus()
    store = Store(root)
    errors: list[str] = []
    for unit in units:
        if errors and errors[-1] in (NOT_REACHED, TIME_LIMIT):
            errors.append(NOT_REACHED)
            continue
        print(f"{time.strftime('%H:%M:%S')} medadv: {unit.describe()} ({unit.key()})", file=sys.stderr, flush=True)
        try:
            unit.run(store)
            errors.append("")
        except _TimeLimit:
            traceback.print_exc()
            errors.append(TIME_LIMIT)
        except Exception as error:  # one failing unit must not stop its chunk (a time limit does: see above)
            traceback.print_exc()
            errors.append(f"{type(error).__name__}: {error}".splitlines()[0])
    return errors


def _slurm_executor(folder: Path, options: SlurmOptions, stage: str, units_per_task: int) -> submitit.SlurmExecutor:
    try:
        import submitit
    except ImportError as error:
        raise RuntimeError("executor='slurm' needs submitit: pip install 'medadv[cluster]'") from error
    if shutil.which("sbatch") is None or shutil.which("srun") is None:
        raise RuntimeError(
            "executor='slurm' but sbatch/srun are not on PATH: run on a Slurm login node, start the test cluster "
            "(eval \"$(scripts/slurm/start.sh)\"), or use executor='local'"
        )
    executor = submitit.SlurmExecutor(folder=folder)  # jobs run this Python (sys.executable), so the same medadv
    executor.update_parameters(**options.submitit_parameters(stage, units_per_task))
    return executor


def _job_outcome(job: Any) -> tuple[bool, list[str] | None, str]:
    """(finished, per-unit errors, job error) of one array task.

    Per-unit errors are the task's result (see ``_run_chunk``), None when the task ended without one: killed by
    Slurm, or died; the job error then says why in one line.
    """
    if not job.paths.result_pickle.exists():
        if not job.watcher.is_done(job.job_id, mode="cache"):
            return False, None, ""
        state = job.watcher.get_state(job.job_id, mode="cache")
        if not state.startswith(("COMPLETED", "FAILED")):  # killed by Slurm: no result will come
            return True, None, f"ended by Slurm ({state})"
        # COMPLETED/FAILED: the result file may just not be visible yet; result() waits a little for it
    try:
        return True, job.result(), ""
    except Exception as error:  # the task died without a result (the trace is in the log)
        lines = [line for line in str(error).splitlines() if line.strip() and not line.startswith("-" * 10)]
        trace_end = [line for line in lines if not line.startswith((" ", "You can check", "or at paths"))]
        return True, None, (trace_end[-1] if trace_end else type(error).__name__)


def _run_slurm(
    stage: str,
    units: Sequence[Unit],
    store: Store,
    options: SlurmOptions,
    log_root: Path,
    report: GridReport,
    progress: bool,
) -> None:
    # A fresh folder per stage and run: job ids restart when a test cluster is rebuilt, and a stale result
    # file under a reused id would pass for a finished job.
    folder = log_root / f"{time.strftime('%Y%m%d-%H%M%S')}-{stage}" / "%j"
    size = options.chunk_size(len(units))
    chunks = [list(units[i : i + size]) for i in range(0, len(units), size)]  # neighbours share models and data
    executor = _slurm_executor(folder, options, stage, size)
    root = store.location
    jobs = []
    for start in range(0, len(chunks), MAX_ARRAY):  # Slurm refuses larger arrays (MaxArraySize, default 1001)
        part = chunks[start : start + MAX_ARRAY]
        try:
            jobs += executor.map_array(_run_chunk, part, [root] * len(part))
        except Exception as error:  # sbatch refused: the options ask for what the cluster cannot give
            raise RuntimeError(f"Slurm refused the {stage} job array ({options}): {str(error).strip()}") from error
    bar = _bar(stage, len(units), progress)
    array_ids = " ".join(dict.fromkeys(job.job_id.split("_")[0] for job in jobs))
    _say(bar, progress, f"{stage}: {len(units)} unit(s) in {len(jobs)} task(s) of Slurm job(s) {array_ids}, "
                        f"logs in {folder.parent}")
    pending = dict(enumerate(jobs))
    landed = dict.fromkeys(pending, 0)  # per running task: how many of its units (run in order) are on the bar
    watcher = jobs[0].watcher
    last_sacct = float("-inf")
    failed = 0
    try:
        while pending:
            if time.monotonic() - last_sacct >= SACCT_EVERY_S:
                watcher.update()  # one sacct call for all jobs: states, and jobs that Slurm killed
                last_sacct = time.monotonic()
            for c, job in list(pending.items()):
                finished, errors, job_error = _job_outcome(job)
                if not finished:  # a task runs its units in order: look only at the next one (one store query)
                    while landed[c] < len(chunks[c]) and chunks[c][landed[c]].done(store):
                        landed[c] += 1
                        bar.update(1)
                    continue
                del pending[c]
                for i, unit in enumerate(chunks[c]):
                    error = job_error if errors is None else errors[i]
                    if errors is None and unit.done(store):  # finished before Slurm stopped its task
                        error = ""
                    elif not error and not unit.done(store):
                        error = f"{type(unit).__name__}.run() returned but done() is still False"
                    if error:
                        failed += 1
                        report.failed.append((unit.key(), unit.describe(), str(job.paths.stderr)))
                        _say(bar, progress, f"FAILED {unit.describe()}: {error}\n  log: {job.paths.stderr}")
                    else:
                        report.done.append(unit.key())
                bar.update(len(chunks[c]) - landed.pop(c))
            running = sum(watcher.get_state(job.job_id, mode="cache") == "RUNNING" for job in pending.values())
            bar.set_postfix_str(f"tasks running {running}, failed {failed}", refresh=False)
            if pending:
                time.sleep(POLL_S)
    except KeyboardInterrupt:
        left = sorted({job.job_id.split("_")[0] for job in pending.values()})
        _say(bar, True, f"interrupted: {len(pending)} task(s) still queued or running in Slurm job(s) "
                        f"{' '.join(left)}; they keep writing to the store (stop them with: scancel {' '.join(left)})")
        raise
    finally:
        bar.close()
