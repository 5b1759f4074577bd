"""A grid's stage as a Slurm job array (through submitit), every task computing its units into the shared store.

Why a module of its own: the in-process runner (``medadv.grid``) needs none of this. Slurm (with accounting, so
``sacct`` knows about killed jobs) does the queueing and submitit the pickling. An array task runs a chunk of units
one after the other (by default as many chunks as ``array_parallelism``), so small units do not each pay a job's
start-up (Python, torch, the data) and share the loaded models and data of their process. A unit that Slurm stops
at its time limit resumes from its stored state on a re-run.
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
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

from medadv.store import Store

if TYPE_CHECKING:
    import submitit
    from tqdm import tqdm

    from medadv.grid import GridReport, Unit

POLL_S = 2.0  # how often the driver looks for finished jobs (a file check per job)
MAX_ARRAY = 1000  # units per job array
SACCT_EVERY_S = 10.0  # how often it asks Slurm for job states (running counts, jobs Slurm killed)


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


def run_stage(stage: str, units: Sequence[Unit], store: Store, options: SlurmOptions, log_root: Path,
              report: GridReport, bar: tqdm, say: Callable[[str], None]) -> None:
    """Run one stage's units as Slurm job arrays and wait for them; each unit lands in ``report`` as done or failed
    (with its task's log), the units of a task Slurm killed included."""
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
    array_ids = " ".join(dict.fromkeys(job.job_id.split("_")[0] for job in jobs))
    say(f"{stage}: {len(units)} unit(s) in {len(jobs)} task(s) of Slurm job(s) {array_ids}, "
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
                        say(f"FAILED {unit.describe()}: {error}\n  log: {job.paths.stderr}")
                    else:
                        report.done.append(unit.key())
                bar.update(len(chunks[c]) - landed.pop(c))
            running = sum(watcher.get_state(job.job_id, mode="cache") == "RUNNING" for job in pending.values())
            bar.set_postfix_str(f"tasks running {running}, failed {failed}", refresh=False)
            if pending:
                time.sleep(POLL_S)
    except KeyboardInterrupt:
        left = sorted({job.job_id.split("_")[0] for job in pending.values()})
        bar.write(f"interrupted: {len(pending)} task(s) still queued or running in Slurm job(s) "
                  f"{' '.join(left)}; they keep writing to the store (stop them with: scancel {' '.join(left)})",
                  file=sys.stderr)
        raise
