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
  instant may both compute it (check that yours honours ``"xb"``). The job computing a unit renews
  its claim every few minutes (a heartbeat), so a claim not renewed for the lease (``MEDADV_STORE_LEASE_S``, default
  6 h) is taken as left by a dead job and taken over, however long units run; a unit computed twice is uploaded twice, file by file, with the same result. Callers read local files:
  finished units are downloaded, atomically, into a local cache (``$MEDADV_STORE_CACHE/<hash of the URL>/``, default
  ``~/.cache/medadv/store-cache``), which also holds the scratch (``tmp/``, ``partial/``).

Trust: ``spec.json`` records the size and sha256 of every file of its unit (``files``). A unit is checked whenever it is
returned: sizes every time, hashes once per process per unit; one that fails (a truncated or overwritten file, a
garbage ``spec.json``) is reported with its key and path, moved aside to ``<root>/corrupt/`` and computed again. Units
written before manifests existed have none and are accepted unchecked. ``gc`` never touches the scratch of a unit
whose claim is held: a local lock is held by the running process itself, a URL store's claim is renewed by a
heartbeat while its unit computes.

Layout: ``<root>/<kind>/<key>/`` holds ``spec.json`` and the unit's files; ``<root>/locks/`` and ``<root>/tmp/``
are scratch (a unit's lock file is removed once the unit has landed); ``<root>/partial/<key>/`` holds resumable state
(e.g. epoch checkpoints) of an unfinished unit; ``<root>/corrupt/`` holds units set aside. A URL store holds
``<url>/<kind>/<key>/``, the claims ``<url>/locks/<key>`` and ``<url>/corrupt/``; its cache is laid out like a local
store. Files and folders are written with the user's umask, so a shared store is as readable as anything else
they write.
"""
from __future__ import annotations

import hashlib
import json
import os
import posixpath
import shutil
import socket
import tempfile
import threading
import time
import uuid
import warnings
from contextlib import contextmanager
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Callable, Iterator, Mapping

from filelock import FileLock, Timeout

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

DEFAULT_ROOT = os.environ.get("MEDADV_STORE", str(Path.home() / ".cache" / "medadv" / "store"))
DEFAULT_CACHE = str(Path.home() / ".cache" / "medadv" / "store-cache")
DEFAULT_LEASE_S = 6 * 3600.0
SCRATCH = ("tmp", "partial")  # per-unit scratch folders, named <key> or <key>.<suffix>
NOT_UNITS = {*SCRATCH, "locks", "corrupt", "slurm-logs"}  # top-level folders that hold no finished units

_HASHED: set[tuple[str, Any]] = set()  # (unit folder, its creation time): units whose hashes this process checked


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
    """A store location this machine cannot open: an unknown protocol, its fsspec driver is not installed, a path
    that cannot be created, or (when opening an existing store) nothing there."""


class StoreWarning(UserWarning):
    """Something in the store was wrong and has been repaired (a corrupt unit set aside and recomputed)."""


def is_url(location: str | os.PathLike[str]) -> bool:
    """Whether a store location is an fsspec URL (``s3://...``, ``file://...``) rather than a local path."""
    return "://" in str(location)


# ------------------------------------------------------------------------------------------ manifests

def _sha256(f: BinaryIO) -> str:
    digest = hashlib.sha256()
    for block in iter(lambda: f.read(1 << 20), b""):
        digest.update(block)
    return digest.hexdigest()


def manifest(folder: Path) -> dict[str, dict[str, Any]]:
    """Size and sha256 of every file of a unit folder but its ``spec.json``: what ``spec.json`` records."""
    files = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path != folder / "spec.json":
            with path.open("rb") as f:
                files[path.relative_to(folder).as_posix()] = {"size": path.stat().st_size, "sha256": _sha256(f)}
    return files


def read_meta(blob: bytes | str) -> dict[str, Any] | None:
    """A unit's ``spec.json`` record, or None when it is not one (garbage, truncated, not an object)."""
    try:
        meta = json.loads(blob)
    except ValueError:
        return None
    ok = isinstance(meta, dict) and isinstance(meta.get("files", {}), dict) and "kind" in meta and "key" in meta
    return meta if ok else None


def check_files(meta: dict[str, Any] | None, size_of: Callable[[str], int | None],
                open_file: Callable[[str], BinaryIO], *, hashes: bool) -> list[str]:
    """What is wrong with a unit's files against its ``spec.json`` record ([] when they match, or when the record
    predates manifests). ``size_of`` gives a file's size (None if missing); hashes are compared only with ``hashes``."""
    if meta is None:
        return ["spec.json is not a unit record (garbage or truncated)"]
    files = meta.get("files")
    if files is None:
        return []
    problems = []
    try:
        for name, want in files.items():
            size = size_of(name)
            if size is None:
                problems.append(f"{name} is missing")
            elif size != want["size"]:
                problems.append(f"{name} has {size} bytes, {want['size']} were written")
        if hashes and not problems:
            for name, want in files.items():
                with open_file(name) as f:
                    if _sha256(f) != want["sha256"]:
                        problems.append(f"{name} differs from what was written (sha256)")
    except (TypeError, KeyError, AttributeError):
        problems.append("spec.json's file list is malformed")
    return problems


def _local_size(folder: Path) -> Callable[[str], int | None]:
    def size_of(name: str) -> int | None:
        try:
            return (folder / name).stat().st_size
        except OSError:
            return None

    return size_of


# ------------------------------------------------------------------------------------------ stores

class Store:
    """Finished units at a location: a local path, or an fsspec URL (then a :class:`RemoteStore`).

    ``location`` names the store: ``Store(store.location)`` opens the same one, in any process on any node.
    ``root`` is the local directory of its files on this machine: the store itself, or a remote store's cache.
    ``create=False`` opens only a store that exists (the ``medadv store`` commands: a mistyped path is an error,
    not a new empty store).
    """

    def __new__(cls, root: str | os.PathLike[str] = DEFAULT_ROOT, **kwargs: Any) -> Store:
        return super().__new__(RemoteStore if cls is Store and is_url(root) else cls)

    def __init__(self, root: str | os.PathLike[str] = DEFAULT_ROOT, *, create: bool = True) -> None:
        self.root = Path(root).expanduser()
        if not create and not self.root.is_dir():
            raise StoreLocationError(f"no store at {self.root}: check the path (a store is made by the first page or "
                                     "grid that uses it)")
        _make_dirs(self.root, f"store {self.root}")
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
        """Whether the unit is finished (its ``spec.json`` is there); ``get_or_compute`` also checks its files."""
        return (self.path(kind, key) / "spec.json").exists()

    def get_or_compute(
        self, kind: str, spec: Any, version: str, compute: Callable[[Path], None], *, timeout: float = -1
    ) -> Path:
        """Return the directory of the unit, computing it first if it is missing or fails its check.

        ``compute(tmpdir)`` writes the unit's files into ``tmpdir``; the directory is renamed into place only when
        it returns, so a crash or Ctrl-C leaves no entry. A lock per key makes concurrent callers wait for the first.
        """
        key = spec_key(kind, spec, version)
        final = self.path(kind, key)
        if self.has(kind, key) and not self._problems(kind, key):
            return final
        (self.root / "locks").mkdir(exist_ok=True)
        lock = self._lock_file(key)
        with FileLock(str(lock), timeout=timeout):
            problems = self._problems(kind, key) if self.has(kind, key) else None  # another process may have landed it
            if problems:
                self._set_aside(kind, key, problems)
            if problems is None or problems:
                self._build(kind, key, spec, version, compute, lambda tmp: _move_into_place(tmp, final))
            lock.unlink(missing_ok=True)  # landed: whoever comes next finds the unit; locks/ does not grow
        return final

    def _lock_file(self, key: str) -> Path:
        return self.root / "locks" / f"{key}.lock"

    def _problems(self, kind: str, key: str, *, hashes: bool | None = None) -> list[str]:
        """What is wrong with the finished unit's files here ([] if nothing); hashes once per process per unit
        (``hashes`` forces them on or off)."""
        folder = self.root / kind / key
        try:
            meta = read_meta((folder / "spec.json").read_bytes())
        except OSError as error:
            return [f"spec.json cannot be read ({error.strerror})"]
        seen = (str(folder), meta.get("created") if meta else None)
        check_hashes = seen not in _HASHED if hashes is None else hashes
        problems = check_files(meta, _local_size(folder), lambda name: (folder / name).open("rb"), hashes=check_hashes)
        if check_hashes and not problems:
            _HASHED.add(seen)
        return problems

    def _set_aside(self, kind: str, key: str, problems: list[str]) -> None:
        """Move a corrupt unit to ``corrupt/`` (kept for inspection) and say so; its caller computes it again."""
        aside = _aside_name(self.root / "corrupt", kind, key)
        aside.parent.mkdir(parents=True, exist_ok=True)
        os.replace(self.path(kind, key), aside)
        _warn_corrupt(kind, key, self.path(kind, key), problems, aside)

    def _build(
        self, kind: str, key: str, spec: Any, version: str, compute: Callable[[Path], None],
        land: Callable[[Path], None],
    ) -> None:
        """Compute the unit into a fresh temp dir, record its files in ``spec.json``, ``land`` it, then drop its
        resumable state."""
        tmp = _temp_dir(self.root / "tmp", key)
        try:
            compute(tmp)
            meta = {"kind": kind, "key": key, "version": version, "spec": canonical(spec), "created": time.time(),
                    "files": manifest(tmp)}
            (tmp / "spec.json").write_text(json.dumps(meta, indent=1))  # written last: marks the unit complete
            land(tmp)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        _HASHED.add((str(self.root / kind / key), meta["created"]))  # we just hashed what we wrote
        shutil.rmtree(self.root / "partial" / key, ignore_errors=True)

    def _unit_folders(self) -> Iterator[tuple[str, str, Path]]:
        """(kind, key, folder) of every folder that may hold a finished unit here."""
        for spec_file in sorted(self.root.glob("*/*/spec.json")):
            folder = spec_file.parent
            if folder.parent.name not in NOT_UNITS:
                yield folder.parent.name, folder.name, folder

    def entries(self) -> Iterator[dict[str, Any]]:
        """Every finished unit: kind, key, size in bytes, creation time and spec; a unit whose ``spec.json`` is
        unreadable has ``error`` instead of a spec."""
        for kind, key, folder in self._unit_folders():
            size = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
            meta = read_meta((folder / "spec.json").read_bytes())
            yield _entry(kind, key, meta, size)

    def verify(self) -> Iterator[dict[str, Any]]:
        """Check every finished unit's files (sizes and hashes); one entry per unit with its ``problems`` ([] when
        intact) and ``checked`` (False for a unit written before manifests). Changes nothing."""
        for kind, key, folder in self._unit_folders():
            meta = read_meta((folder / "spec.json").read_bytes())
            problems = self._problems(kind, key, hashes=True)
            yield {**_entry(kind, key, meta, 0), "path": str(folder), "problems": problems,
                   "checked": bool(meta and "files" in meta)}

    def gc(self, *, older_than_s: float = 3600.0) -> int:
        """Remove scratch left by killed processes: temp dirs and resumable state untouched for ``older_than_s``
        whose unit's claim nobody holds (a running unit's scratch is never touched, however long it runs), and lock
        files of finished units. Returns the number of scratch directories removed. Finished units are never removed.
        """
        removed = 0
        now = time.time()
        for scratch in SCRATCH:
            for entry in sorted((self.root / scratch).glob("*")):
                if now - entry.stat().st_mtime <= older_than_s:
                    continue
                with self._idle(entry.name.split(".")[0]) as idle:
                    if idle:  # the claim is ours while we remove: no unit can start on this scratch meanwhile
                        shutil.rmtree(entry, ignore_errors=True)
                        removed += 1
        finished = {key for _, key, _ in self._unit_folders()}
        for lock in (self.root / "locks").glob("*.lock"):
            key = lock.name.removesuffix(".lock")
            if key in finished:
                with self._idle(key) as idle:
                    if idle:
                        lock.unlink(missing_ok=True)
        return removed

    @contextmanager
    def _idle(self, key: str) -> Iterator[bool]:
        """Hold the key's claim for the block and yield True, or yield False when a running unit holds it."""
        (self.root / "locks").mkdir(exist_ok=True)
        lock = FileLock(str(self._lock_file(key)), timeout=0)
        try:
            lock.acquire()
        except Timeout:
            yield False
            return
        try:
            yield True
        finally:
            lock.release()


class RemoteStore(Store):
    """A store at an fsspec URL (see the module docstring for what it guarantees); ``Store(url)`` makes one.

    ``root`` is this machine's cache of the store: ``path()`` and ``get_or_compute()`` return the unit's local copy
    there (downloaded on first use), and ``partial()`` state stays there too (not uploaded: a training resumes only on
    a machine that sees this cache, so point ``MEDADV_STORE_CACHE`` at a shared filesystem to resume across nodes).
    While a unit computes, its claim is renewed every ``heartbeat_s`` seconds, so a claim not renewed for the lease
    (or for gc's age) is known to be left by a dead job.
    """

    def __init__(
        self, root: str, *, cache: str | os.PathLike[str] | None = None, lease_s: float | None = None,
        poll_s: float = 5.0, heartbeat_s: float | None = None, create: bool = True,
    ) -> None:
        head, sep, tail = str(root).rpartition("://")
        self.location = head + sep + tail.rstrip("/")
        self.fs, self._base = _filesystem(self.location)
        if not create and not self.fs.exists(self._base):
            raise StoreLocationError(f"no store at {self.location}: check the URL (a store is made by the first page "
                                     "or grid that uses it)")
        cache_root = Path(cache or os.environ.get("MEDADV_STORE_CACHE", DEFAULT_CACHE)).expanduser()
        self.root = cache_root / hashlib.sha256(self.location.encode()).hexdigest()[:16]
        _make_dirs(self.root, f"the cache of store {self.location}")
        self.lease_s = float(os.environ.get("MEDADV_STORE_LEASE_S", DEFAULT_LEASE_S)) if lease_s is None else lease_s
        self.poll_s = poll_s  # longest wait between two looks at a unit another process computes
        self.heartbeat_s = min(300.0, self.lease_s / 6) if heartbeat_s is None else heartbeat_s

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
        """Return the unit's local copy, computing and uploading it first if the store lacks it or it fails its check.

        Under the key's claim, ``compute(tmpdir)`` writes the files, which are uploaded with ``spec.json`` last;
        a crash leaves no finished unit and, through ``finally``, no claim (a killed process leaves its claim
        until the lease runs out or ``gc`` drops it). Waiters poll for ``spec.json``; ``timeout`` (s) bounds the wait.
        """
        key = spec_key(kind, spec, version)
        if self._check(kind, key) == []:
            return self.root / kind / key
        token = self._claim(kind, key, timeout)
        try:
            problems = self._check(kind, key) if token is not None else []
            if problems != []:  # missing (None) or corrupt
                with self._heartbeat(key, token):
                    if problems:
                        self._set_aside(kind, key, problems)
                    self._build(kind, key, spec, version, compute, lambda tmp: self._land(tmp, kind, key))
        finally:
            if token is not None:
                self._drop_claim(key, token)
        return self.root / kind / key

    def _check(self, kind: str, key: str) -> list[str] | None:
        """None when the store lacks the unit; else what is wrong with it ([] if nothing), checked on the local copy,
        which is downloaded (again, if the cache's copy is damaged) as needed and kept only when intact."""
        if not self.has(kind, key):
            return None
        local = self.root / kind / key
        if (local / "spec.json").exists():
            problems = self._problems(kind, key)
            if not problems:
                return []
            _warn_corrupt(kind, key, local, problems, None)
            shutil.rmtree(local, ignore_errors=True)
        self._download(kind, key, local)
        problems = self._problems(kind, key)
        if problems:
            shutil.rmtree(local, ignore_errors=True)
        return problems

    def _set_aside(self, kind: str, key: str, problems: list[str]) -> None:
        """Move the store's corrupt unit to ``<url>/corrupt/``; its caller computes it again."""
        aside = self._remote(_aside_name(Path("corrupt"), kind, key).as_posix())
        self.fs.mv(self._remote(kind, key), aside, recursive=True)
        _warn_corrupt(kind, key, self._remote(kind, key), problems, aside)

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
        tmp = _temp_dir(self.root / "tmp", key)
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

        A claim not renewed for the lease is taken over (its job died: a running job renews it, see ``_heartbeat``).
        """
        started, waiting_since, delay = time.monotonic(), time.time(), 0.05
        while True:
            token = self._try_claim(key)
            if token is not None:
                return token
            if self._check(kind, key) == []:
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

    def _owner(self, token: str) -> bytes:
        return json.dumps({"host": socket.gethostname(), "pid": os.getpid(), "time": time.time(),
                           "token": token}).encode()

    def _try_claim(self, key: str) -> str | None:
        """Create the claim if there is none: its token, else None."""
        token = uuid.uuid4().hex
        path = self._remote("locks", key)
        self.fs.makedirs(self._remote("locks"), exist_ok=True)
        try:
            with self.fs.open(path, "xb") as f:
                f.write(self._owner(token))
        except FileExistsError:
            return None
        except (NotImplementedError, ValueError):  # the driver has no exclusive create: check, then write
            if self.fs.exists(path):
                return None
            self.fs.pipe_file(path, self._owner(token))
        return token

    @contextmanager
    def _heartbeat(self, key: str, token: str | None) -> Iterator[None]:
        """Renew the claim every ``heartbeat_s`` while the block runs, so that neither another job (after the lease)
        nor ``gc`` (after its age) takes a unit that is still computing, however long it runs."""
        stop = threading.Event()

        def beat() -> None:
            while not stop.wait(self.heartbeat_s):
                owner = self._read_claim(key)
                if owner is not None and owner.get("token") == token:
                    self.fs.pipe_file(self._remote("locks", key), self._owner(token))

        thread = threading.Thread(target=beat, name=f"medadv-claim-{key}", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()

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

    def _listing(self) -> dict[tuple[str, str], tuple[dict[str, int], str | None]]:
        """One listing of the store: per unit (kind, key), its files' sizes and its ``spec.json`` path (or None)."""
        units: dict[tuple[str, str], tuple[dict[str, int], str | None]] = {}
        for name, info in self.fs.find(self._base, detail=True).items():
            parts = posixpath.relpath(name, self._base).split("/")
            if len(parts) < 3 or parts[0] in NOT_UNITS:
                continue
            sizes, marker = units.get((parts[0], parts[1]), ({}, None))
            sizes["/".join(parts[2:])] = int(info.get("size") or 0)
            units[parts[0], parts[1]] = sizes, name if parts[2:] == ["spec.json"] else marker
        return {unit: value for unit, value in sorted(units.items()) if value[1] is not None}

    def _finished(self) -> Iterator[tuple[str, str, dict[str, int], dict[str, Any] | None]]:
        """(kind, key, file sizes, record) of every finished unit: one listing, one bulk read of the records."""
        units = self._listing()
        blobs = self.fs.cat([marker for _, marker in units.values()]) if units else {}
        for (kind, key), (sizes, marker) in units.items():
            yield kind, key, sizes, read_meta(blobs[marker])

    def entries(self) -> Iterator[dict[str, Any]]:
        """Every finished unit in the store."""
        for kind, key, sizes, meta in self._finished():
            yield _entry(kind, key, meta, sum(sizes.values()))

    def verify(self) -> Iterator[dict[str, Any]]:
        """Check every finished unit in the store itself: sizes from the listing, hashes by reading every file."""
        for kind, key, sizes, meta in self._finished():
            problems = check_files(meta, sizes.get, lambda name: self.fs.open(self._remote(kind, key, name), "rb"),
                                   hashes=True)
            yield {**_entry(kind, key, meta, sum(sizes.values())), "path": self._remote(kind, key),
                   "problems": problems, "checked": bool(meta and "files" in meta)}

    def gc(self, *, older_than_s: float = 3600.0) -> int:
        """Drop the store's claims not renewed for ``older_than_s`` (left by killed jobs), then remove the cache's
        scratch as a local store's ``gc`` does, but for units whose claim is alive.

        Returns the number of claims and scratch directories removed. Files of a killed upload stay until the unit is
        computed again (they are not listed by ``entries``).
        """
        removed = 0
        now = time.time()
        for path in self.fs.find(self._remote("locks")):
            key = posixpath.basename(path)
            owner = self._read_claim(key)
            if owner and now - owner.get("time", now) > older_than_s:  # {}: being written, so alive
                removed += self._drop_claim(key, owner.get("token"))
        return removed + super().gc(older_than_s=older_than_s)

    @contextmanager
    def _idle(self, key: str) -> Iterator[bool]:
        token = self._try_claim(key)
        try:
            yield token is not None
        finally:
            if token is not None:
                self._drop_claim(key, token)


def _entry(kind: str, key: str, meta: dict[str, Any] | None, size: int) -> dict[str, Any]:
    """A listing entry of one unit: its record and size, or an ``error`` for a ``spec.json`` that is not one."""
    if meta is None:
        return {"kind": kind, "key": key, "bytes": size, "error": "spec.json is not a unit record"}
    return {**meta, "bytes": size}


def _aside_name(folder: Path, kind: str, key: str) -> Path:
    return folder / f"{kind}-{key}-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}"


def _warn_corrupt(kind: str, key: str, where: Any, problems: list[str], aside: Any) -> None:
    fate = f"moved to {aside}, computing it again" if aside else "downloading it again"
    warnings.warn(StoreWarning(f"{kind} unit {key} at {where} is corrupt ({'; '.join(problems)}): {fate}"),
                  stacklevel=3)


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


def _make_dirs(path: Path, what: str) -> None:
    """``mkdir -p`` with an error that names the path and the fix instead of a traceback."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except (PermissionError, FileExistsError, NotADirectoryError) as error:
        raise StoreLocationError(f"cannot create {what} ({error.strerror}): choose a folder you can write, e.g. "
                                 "-p store=PATH") from None


def umask() -> int:
    """This process's umask, read without changing it where Linux shows it (``/proc``), else set and restored."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _temp_dir(parent: Path, key: str) -> Path:
    """A fresh scratch folder for ``key``, with the mode an ordinary ``mkdir`` gives (``mkdtemp`` makes it 0700, and
    it becomes the unit's folder: a shared store must stay readable by the group if the umask says so)."""
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f"{key}.", dir=parent))
    tmp.chmod(0o777 & ~umask())
    return tmp


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
    """Write a file so readers see the old or the new content, never a half-written one (with the mode an ordinary
    ``open`` gives: ``mkstemp`` makes it 0600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o666 & ~umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
