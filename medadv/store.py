"""Content-addressed artifact store: one directory per unit of work, keyed by the hash of its full config.

Why: a study is a grid of expensive units (trainings, adversarial sets, evaluations) that many pages share. Keying
each by its configuration (plus the version of the code that computes it) lets every page ask for what it needs and
get it computed once, by whichever process (or Slurm job) asks first.

Where the store lives decides how those promises are kept:

* A local path (the default; on a cluster, a shared filesystem every node sees): a unit is computed into
  ``<root>/tmp/`` and renamed into place, so it is there whole or not at all; a lock file per key (``FileLock``)
  makes concurrent callers wait for the first, across nodes too where the filesystem's locks work (NFS, Lustre).
* A URL with a protocol (``s3://bucket/prefix``, ``gs://``, ``file://``, ``memory://``: any fsspec filesystem whose
  driver is installed): object stores cannot rename a directory, so ``spec.json`` is uploaded after every other file
  and a unit is done once its ``spec.json`` exists (a killed upload is not, and is computed again). One computation
  per key rests on a claim, ``<url>/locks/<key>``, created with exclusive create (mode ``"xb"``): atomic on
  ``file://``, ``memory://`` and S3 (conditional writes, s3fs 2025.7 or later: older ones silently overwrite small
  files); a driver that refuses ``"xb"`` gets a check then a write, so two jobs starting the same unit at the same
  instant may both compute it (check that yours honours ``"xb"``). A claim older than the lease
  (``MEDADV_STORE_LEASE_S``, default 6 h) is taken as left by a dead job and taken over, so keep the lease above the
  longest unit; a unit computed twice is uploaded twice, file by file, with the same result. Callers read local files:
  finished units are downloaded, atomically, into a local cache (``$MEDADV_STORE_CACHE/<hash of the URL>/``, default
  ``~/.cache/medadv/store-cache``), which also holds the scratch (``tmp/``, ``partial/``).

Layout: ``<root>/<kind>/<key>/`` holds ``spec.json`` and the unit's files; ``<root>/locks/`` and ``<root>/tmp/``
are scratch; ``<root>/partial/<key>/`` holds resumable state (e.g. epoch checkpoints) of an unfinished unit. A URL
store holds ``<url>/<kind>/<key>/`` and the claims ``<url>/locks/<key>``; its cache is laid out like a local store.
"""
from __future__ import annotations

import hashlib
import json
import os
import posixpath
import shutil
import socket
import tempfile
import time
import uuid
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping

from filelock import FileLock

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

DEFAULT_ROOT = os.environ.get("MEDADV_STORE", str(Path.home() / ".cache" / "medadv" / "store"))
DEFAULT_CACHE = str(Path.home() / ".cache" / "medadv" / "store-cache")
DEFAULT_LEASE_S = 6 * 3600.0


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


class StoreLocationError(ValueError):
    """A store location this machine cannot open: an unknown protocol, or its fsspec driver is not installed."""


def is_url(location: str | os.PathLike[str]) -> bool:
    """Whether a store location is an fsspec URL (``s3://...``, ``file://...``) rather than a local path."""
    return "://" in str(location)


class Store:
    """Finished units at a location: a local path, or an fsspec URL (then a :class:`RemoteStore`).

    ``location`` names the store: ``Store(store.location)`` opens the same one, in any process on any node.
    ``root`` is the local directory of its files on this machine: the store itself, or a remote store's cache.
    """

    def __new__(cls, root: str | os.PathLike[str] = DEFAULT_ROOT, **kwargs: Any) -> Store:
        return super().__new__(RemoteStore if cls is Store and is_url(root) else cls)

    def __init__(self, root: str | os.PathLike[str] = DEFAULT_ROOT) -> None:
        self.root = Path(root).expanduser()
        self.root.mkdir(parents=True, exist_ok=True)
        self.location = str(self.root.resolve())

    def __repr__(self) -> str:
        return f"Store({self.location!r})"

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
            if not self.has(kind, key):  # else another process finished it while we waited
                self._build(kind, key, spec, version, compute, lambda tmp: _move_into_place(tmp, final))
        return final

    def _build(
        self, kind: str, key: str, spec: Any, version: str, compute: Callable[[Path], None],
        land: Callable[[Path], None],
    ) -> None:
        """Compute the unit into a fresh temp dir, ``land`` it, then drop its resumable state."""
        (self.root / "tmp").mkdir(exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f"{key}.", dir=self.root / "tmp"))
        try:
            compute(tmp)
            meta = {"kind": kind, "key": key, "version": version, "spec": canonical(spec), "created": time.time()}
            (tmp / "spec.json").write_text(json.dumps(meta, indent=1))  # written last: marks the unit complete
            land(tmp)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(self.root / "partial" / key, ignore_errors=True)

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


class RemoteStore(Store):
    """A store at an fsspec URL (see the module docstring for what it guarantees); ``Store(url)`` makes one.

    ``root`` is this machine's cache of the store: ``path()`` and ``get_or_compute()`` return the unit's local copy
    there (downloaded on first use), and ``partial()`` state stays there too (not uploaded: a training resumes only on
    a machine that sees this cache, so point ``MEDADV_STORE_CACHE`` at a shared filesystem to resume across nodes).
    """

    def __init__(
        self, root: str, *, cache: str | os.PathLike[str] | None = None, lease_s: float | None = None,
        poll_s: float = 5.0,
    ) -> None:
        head, sep, tail = str(root).rpartition("://")
        self.location = head + sep + tail.rstrip("/")
        self.fs, self._base = _filesystem(self.location)
        cache_root = Path(cache or os.environ.get("MEDADV_STORE_CACHE", DEFAULT_CACHE)).expanduser()
        self.root = cache_root / hashlib.sha256(self.location.encode()).hexdigest()[:16]
        self.root.mkdir(parents=True, exist_ok=True)
        self.lease_s = float(os.environ.get("MEDADV_STORE_LEASE_S", DEFAULT_LEASE_S)) if lease_s is None else lease_s
        self.poll_s = poll_s  # longest wait between two looks at a unit another process computes

    def _remote(self, *parts: str) -> str:
        return "/".join([self._base, *parts])

    def path(self, kind: str, key: str) -> Path:
        """The unit's local copy, downloaded if the store has it and the cache not yet (absent if neither has it)."""
        local = self.root / kind / key
        if not (local / "spec.json").exists() and self.has(kind, key):
            self._download(kind, key, local)
        return local

    def has(self, kind: str, key: str) -> bool:
        """Whether the store (not the cache: the store is the truth) holds the finished unit."""
        self.fs.invalidate_cache(self._remote(kind, key))  # a listing cached by the driver would hide a new unit
        return bool(self.fs.exists(self._remote(kind, key, "spec.json")))

    def get_or_compute(
        self, kind: str, spec: Any, version: str, compute: Callable[[Path], None], *, timeout: float = -1
    ) -> Path:
        """Return the unit's local copy, computing and uploading it first if the store lacks it.

        Under the key's claim, ``compute(tmpdir)`` writes the files, which are uploaded with ``spec.json`` last;
        a crash leaves no finished unit and, through ``finally``, no claim (a killed process leaves its claim
        until the lease runs out or ``gc`` drops it). Waiters poll for ``spec.json``; ``timeout`` (s) bounds the wait.
        """
        key = spec_key(kind, spec, version)
        if not self.has(kind, key):
            token = self._claim(kind, key, timeout)
            try:
                if token is not None and not self.has(kind, key):
                    self._build(kind, key, spec, version, compute, lambda tmp: self._land(tmp, kind, key))
            finally:
                if token is not None:
                    self._drop_claim(key, token)
        return self.path(kind, key)

    def _land(self, tmp: Path, kind: str, key: str) -> None:
        """Upload the unit, ``spec.json`` last, over any files of a killed upload; keep ``tmp`` as the local copy."""
        marker = tmp / "spec.json"
        files = [f for f in sorted(tmp.rglob("*")) if f.is_file() and f != marker] + [marker]
        targets = [self._remote(kind, key, f.relative_to(tmp).as_posix()) for f in files]
        for folder in sorted({posixpath.dirname(t) for t in targets}):
            self.fs.makedirs(folder, exist_ok=True)
        for source, target in zip(files, targets):
            self.fs.put_file(str(source), target)
        _move_into_place(tmp, self.root / kind / key)

    def _download(self, kind: str, key: str, final: Path) -> None:
        """Copy a finished unit into the cache through a temp dir, so the cache only ever holds whole units."""
        remote = self._remote(kind, key)
        (self.root / "tmp").mkdir(exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f"{key}.", dir=self.root / "tmp"))
        try:
            for source in self.fs.find(remote):
                target = tmp / posixpath.relpath(source, remote)
                target.parent.mkdir(parents=True, exist_ok=True)
                self.fs.get_file(source, str(target))
            _move_into_place(tmp, final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def _claim(self, kind: str, key: str, timeout: float) -> str | None:
        """Take the key's claim and return its token, or None once another process has landed the unit.

        Claims are not renewed: one older than the lease is taken over (its job died, or overran the lease).
        """
        started, waiting_since, delay = time.monotonic(), time.time(), 0.05
        while True:
            token = self._try_claim(key)
            if token is not None:
                return token
            if self.has(kind, key):
                return None
            owner = self._read_claim(key)
            if owner is None:  # released between our two looks: try again at once
                continue
            if time.time() - owner.get("time", waiting_since) > self.lease_s:
                self._drop_claim(key, owner.get("token"))
                continue
            if 0 <= timeout < time.monotonic() - started:
                raise TimeoutError(f"{self.location}: {kind} {key} is being computed by {owner}; waited {timeout} s")
            time.sleep(delay)
            delay = min(2 * delay, self.poll_s)

    def _try_claim(self, key: str) -> str | None:
        """Create the claim if there is none: its token, else None."""
        token = uuid.uuid4().hex
        owner = json.dumps({"host": socket.gethostname(), "pid": os.getpid(), "time": time.time(), "token": token})
        path = self._remote("locks", key)
        self.fs.makedirs(self._remote("locks"), exist_ok=True)
        try:
            with self.fs.open(path, "xb") as f:
                f.write(owner.encode())
        except FileExistsError:
            return None
        except (NotImplementedError, ValueError):  # the driver has no exclusive create: check, then write
            if self.fs.exists(path):
                return None
            self.fs.pipe_file(path, owner.encode())
        return token

    def _read_claim(self, key: str) -> dict[str, Any] | None:
        """The claim's owner; None when there is no claim, {} while its owner is still writing it."""
        try:
            owner = json.loads(self.fs.cat_file(self._remote("locks", key)))
        except FileNotFoundError:
            return None
        except ValueError:
            return {}
        return owner if isinstance(owner, dict) else {}

    def _drop_claim(self, key: str, token: str | None) -> bool:
        """Remove the claim if it is still the one with ``token``, so a late owner never drops its successor's."""
        owner = self._read_claim(key)
        if owner is None or owner.get("token") != token:
            return False
        try:
            self.fs.rm_file(self._remote("locks", key))
        except FileNotFoundError:
            return False
        return True

    def entries(self) -> Iterator[dict[str, Any]]:
        """Every finished unit in the store (one listing, one bulk read of the ``spec.json`` files)."""
        sizes: dict[str, int] = {}
        markers: dict[str, str] = {}  # spec.json path -> its unit's kind/key
        for name, info in self.fs.find(self._base, detail=True).items():
            parts = posixpath.relpath(name, self._base).split("/")
            if len(parts) < 3 or parts[0] == "locks":
                continue
            unit = "/".join(parts[:2])
            sizes[unit] = sizes.get(unit, 0) + int(info.get("size") or 0)
            if parts[2:] == ["spec.json"]:
                markers[name] = unit
        blobs = self.fs.cat(sorted(markers)) if markers else {}
        for name, unit in sorted(markers.items()):
            yield {**json.loads(blobs[name]), "bytes": sizes[unit]}

    def gc(self, *, older_than_s: float = 3600.0) -> int:
        """Remove the cache's scratch and the store's claims older than ``older_than_s`` (left by killed jobs).

        Returns the number removed. A claim dropped while its job still runs lets another job compute the unit too.
        Files of a killed upload stay until the unit is computed again (they are not listed by ``entries``).
        """
        removed = super().gc(older_than_s=older_than_s)
        now = time.time()
        for path in self.fs.find(self._remote("locks")):
            owner = self._read_claim(posixpath.basename(path))
            if owner is not None and now - owner.get("time", 0) > older_than_s:
                removed += self._drop_claim(posixpath.basename(path), owner.get("token"))
        return removed


def _filesystem(location: str) -> tuple[AbstractFileSystem, str]:
    """The fsspec filesystem and path of a store URL, with an error that says how to fix a URL fsspec cannot open."""
    from fsspec.core import url_to_fs
    from fsspec.registry import known_implementations

    protocol = location.split("://", 1)[0].split("::")[-1]
    try:
        return url_to_fs(location)
    except ImportError as error:
        package = known_implementations.get(protocol, {}).get("class", "").split(".")[0]
        fix = f"pip install {package}" if package and package != "fsspec" else "install the package it names"
        raise StoreLocationError(f"store {location!r}: no fsspec driver for {protocol}:// ({error}); {fix}") from error
    except ValueError as error:
        raise StoreLocationError(
            f"store {location!r}: {error}; use a local path or a URL fsspec knows (s3://, gs://, file://, ...)"
        ) from error


def _move_into_place(tmp: Path, final: Path) -> None:
    """Rename a complete unit directory into place; if another process put the same unit there first, keep it."""
    final.parent.mkdir(parents=True, exist_ok=True)
    if final.exists() and not (final / "spec.json").exists():  # a stale incomplete directory from an older layout
        shutil.rmtree(final)
    try:
        os.replace(tmp, final)
    except OSError:
        if not (final / "spec.json").exists():
            raise


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
