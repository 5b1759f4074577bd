"""Toy study units for the grid tests: tiny, picklable, and they leave a trace of every computation.

They live in their own module (not a test file) so that Slurm jobs can import them: the Slurm tests put this
directory on the jobs' PYTHONPATH.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from medadv.store import Store, spec_key

VERSION = "1"


@dataclass(frozen=True)
class Toy:
    """Writes ``out.txt`` (its name plus its input's content) through the store.

    ``needs`` names a toy of an earlier stage whose output it reads, so running stages out of order fails.
    ``fail``, ``sleep_s`` and ``check_done`` change how it behaves, not what it computes: they are not in the key.
    """

    name: str
    stage: str = "train"
    needs: Toy | None = None
    fail: bool = False
    sleep_s: float = 0.0
    check_done: bool = True  # False: done() never sees the result (a buggy unit)

    def spec(self) -> dict[str, object]:
        return {"name": self.name, "stage": self.stage, "needs": self.needs.key() if self.needs else None}

    def key(self) -> str:
        return spec_key("toy", self.spec(), VERSION)

    def describe(self) -> str:
        return f"toy {self.stage} {self.name}"

    def done(self, store: Store) -> bool:
        return self.check_done and store.has("toy", self.key())

    def run(self, store: Store) -> None:
        store.get_or_compute("toy", self.spec(), VERSION, lambda tmp: self._compute(store, tmp))

    def _compute(self, store: Store, tmp: Path) -> None:
        starts = store.root / "starts"  # one file per computation: counts recomputations across processes
        starts.mkdir(exist_ok=True)
        (starts / f"{self.name}.{os.getpid()}.{time.time_ns()}").touch()
        time.sleep(self.sleep_s)
        if self.fail:
            raise RuntimeError(f"toy failure in {self.name}")
        text = self.name
        if self.needs is not None:
            source = store.path("toy", self.needs.key()) / "out.txt"
            if not source.exists():
                raise RuntimeError(f"{self.name} ran before {self.needs.name}")
            text += "<" + source.read_text()
        (tmp / "out.txt").write_text(text)


def chain(prefix: str, **kwargs: object) -> list[Toy]:
    """A train -> craft -> evaluate chain of three toys (kwargs go to all three)."""
    train = Toy(f"{prefix}-train", "train", **kwargs)  # type: ignore[arg-type]
    craft = Toy(f"{prefix}-craft", "craft", needs=train, **kwargs)  # type: ignore[arg-type]
    evaluate = Toy(f"{prefix}-evaluate", "evaluate", needs=craft, **kwargs)  # type: ignore[arg-type]
    return [train, craft, evaluate]


def starts(store: Store, name: str) -> int:
    """How many times the toy called ``name`` started computing."""
    return len(list((store.root / "starts").glob(f"{name}.*")))


def contents(store: Store) -> dict[str, str]:
    """Key -> out.txt of every toy in the store."""
    return {path.parent.name: path.read_text() for path in sorted((store.root / "toy").glob("*/out.txt"))}
