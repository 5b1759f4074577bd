"""Content-addressed artifact store: one directory per unit of work, keyed by the hash of its full config.

Why: a study is a grid of expensive units (trainings, adversarial sets, evaluations) that many pages share. Keying
each by its configuration (plus the version of the code that computes it) lets every page ask for what it needs and
get it computed once; atomic directory renames mean an interrupted run never leaves a half-written entry, and a
lock file per key means two processes (or two Slurm jobs) asking for the same unit compute it once.

Layout: ``<root>/<kind>/<key>/`` holds ``spec.json`` and the unit's files; ``<root>/locks/`` and ``<root>/tmp/``
are scratch; ``<root>/partial/<key>/`` holds resumable state (e.g. epoch checkpoints) of an unfinished unit.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

from filelock import FileLock

DEFAULT_ROOT = os.environ.get("MEDADV_STORE", str(Path.home() / ".cache" / "medadv" / "store"))


def canonical(spec: Any) -> Any:
    """Plain JSON-able form of a spec (dataclasses, tuples, paths), so equal configs hash equally."""
    if is_dataclass(spec) and not isinstance(spec, type):
        return canonical(asdict(spec))
    if isinstance(spec, Mapping):
        return {str(k): canonical(v) for k, v in sorted(spec.items(), key=lambda kv: str(kv[0]))}
    if isinstance(spec, (list, tuple)):
        return [canonical(v) for v in spec]
    if isinstance(spec, Path):
        return str(spec)
    if isinstance(spec, float) and spec.is_integer():
        return int(spec)  # 1.0 and 1 are the same setting
    return spec


def spec_key(kind: str, spec: Any, version: str) -> str:
    """Hash of (kind, code version, canonical spec): the identity of a unit."""
    blob = json.dumps({"kind": kind, "version": version, "spec": canonical(spec)}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


class Store:
    """A directory of finished units. ``root`` is any local path (a shared filesystem path on a cluster)."""

    def __init__(self, root: str | os.PathLike[str] = DEFAULT_ROOT) -> None:
        self.root = Path(root).expanduser()
        self.root.mkdir(parents=True, exist_ok=True)

    def __repr__(self) -> str:
        return f"Store({str(self.root)!r})"

    def path(self, kind: str, key: str) -> Path:
        return self.root / kind / key

    def partial(self, key: str) -> Path:
        """A scratch directory for resumable state of an unfinished unit (removed when the unit lands)."""
        path = self.root / "partial" / key
        path.mkdir(parents=True, exist_ok=True)
        return path

    def has(self, kind: str, key: str) -> bool:
        return (self.path(kind, key) / "spec.json").exists()

    def get_or_compute(
        self, kind: str, spec: Any, version: str, compute: Callable[[Path], None], *, timeout: float = -1
    ) -> Path:
        """Return the directory of the unit, computing it first if it is missing.

        ``compute(tmpdir)`` writes the unit's files into ``tmpdir``; the directory is renamed into place only when
        it returns, so a crash or Ctrl-C leaves no entry. A lock per key makes concurrent callers wait for the first.
        """
        key = spec_key(kind, spec, version)
        final = self.path(kind, key)
        if self.has(kind, key):
            return final
        (self.root / "locks").mkdir(exist_ok=True)
        with FileLock(str(self.root / "locks" / f"{key}.lock"), timeout=timeout):
            if self.has(kind, key):  # another process finished it while we waited
                return final
            (self.root / "tmp").mkdir(exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=f"{key}.", dir=self.root / "tmp"))
            try:
                compute(tmp)
                meta = {"kind": kind, "key": key, "version": version, "spec": canonical(spec), "created": time.time()}
                (tmp / "spec.json").write_text(json.dumps(meta, indent=1))  # written last: marks the unit complete
                final.parent.mkdir(parents=True, exist_ok=True)
                if final.exists():  # a stale incomplete directory (no spec.json) from an older layout
                    shutil.rmtree(final)
                os.replace(tmp, final)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
            shutil.rmtree(self.root / "partial" / key, ignore_errors=True)
        return final

    def entries(self) -> Iterator[dict[str, Any]]:
        """Every finished unit: kind, key, size in bytes, creation time and spec."""
        for spec_file in sorted(self.root.glob("*/*/spec.json")):
            if spec_file.parts[-3] in {"tmp", "locks", "partial"}:
                continue
            meta = json.loads(spec_file.read_text())
            size = sum(f.stat().st_size for f in spec_file.parent.iterdir() if f.is_file())
            yield {**meta, "bytes": size}

    def gc(self, *, older_than_s: float = 3600.0) -> int:
        """Remove scratch left by killed processes (temp dirs and partial state untouched for ``older_than_s``).

        Returns the number of directories removed. Finished units are never removed by gc.
        """
        removed = 0
        now = time.time()
        for scratch in ("tmp", "partial"):
            for entry in (self.root / scratch).glob("*"):
                if now - entry.stat().st_mtime > older_than_s:
                    shutil.rmtree(entry, ignore_errors=True)
                    removed += 1
        return removed


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write a file so readers see the old or the new content, never a half-written one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
