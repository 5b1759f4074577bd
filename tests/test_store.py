"""The artifact store: keys, atomic entries, one computation per key across processes, gc; local and URL stores."""
from __future__ import annotations

import importlib.util
import json
import multiprocessing as mp
import os
import stat
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest
from fsspec.core import url_to_fs

import medadv.store as store_module
from medadv.store import (RemoteStore, Store, StoreLocationError, StoreWarning, atomic_write_bytes, canonical,
                          spec_key)


def _location(backend: str, tmp_path: Path) -> str:
    """A fresh store location: a local path, a file:// URL (through fsspec, not the local backend), or memory://."""
    return {"local": str(tmp_path / "store"), "file": (tmp_path / "store").as_uri(),
            "memory": f"memory://medadv-test/{tmp_path.name}"}[backend]


def _open_store(backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    """A fresh store; URL stores cache under tmp_path (spawned children inherit the variable)."""
    monkeypatch.setenv("MEDADV_STORE_CACHE", str(tmp_path / "cache"))
    store = Store(_location(backend, tmp_path))
    yield store
    if isinstance(store, RemoteStore) and backend == "memory":
        store.fs.rm(_remote(store), recursive=True)


@pytest.fixture(params=["local", "file", "memory"])
def tmp_store(request, tmp_path, monkeypatch):
    """Every store test runs on each backend."""
    yield from _open_store(request.param, tmp_path, monkeypatch)


@pytest.fixture(params=["file", "memory"])
def remote_store(request, tmp_path, monkeypatch):
    yield from _open_store(request.param, tmp_path, monkeypatch)


def _remote(store: RemoteStore, *parts: str) -> str:
    return "/".join([url_to_fs(store.location)[1], *parts])


def _claim(store: RemoteStore, key: str, age_s: float, token: str = "theirs") -> str:
    """Write a claim on ``key`` as another job would have, ``age_s`` seconds ago."""
    path = _remote(store, "locks", key)
    store.fs.makedirs(_remote(store, "locks"), exist_ok=True)
    owner = {"host": "elsewhere", "pid": 1, "time": time.time() - age_s, "token": token}
    store.fs.pipe_file(path, json.dumps(owner).encode())
    return path


@dataclass(frozen=True)
class Spec:
    a: int
    b: tuple[str, ...]


def test_keys_are_canonical_and_versioned():
    assert spec_key("k", Spec(1, ("x",)), "1") == spec_key("k", {"b": ["x"], "a": 1}, "1")
    assert spec_key("k", {"a": 1.0}, "1") == spec_key("k", {"a": 1}, "1")
    assert spec_key("k", {"a": 1}, "1") != spec_key("k", {"a": 1}, "2")
    assert spec_key("k", {"a": 1}, "1") != spec_key("other", {"a": 1}, "1")
    assert canonical({"p": Path("/x")}) == {"p": "/x"}


def test_get_or_compute_computes_once(tmp_store, tmp_path, monkeypatch):
    calls = []

    def compute(out: Path) -> None:
        calls.append(1)
        (out / "value.txt").write_text("42")

    first = tmp_store.get_or_compute("unit", {"a": 1}, "1", compute)
    second = tmp_store.get_or_compute("unit", {"a": 1}, "1", compute)
    assert first == second and (first / "value.txt").read_text() == "42"
    assert len(calls) == 1
    meta = json.loads((first / "spec.json").read_text())
    assert meta["spec"] == {"a": 1} and meta["kind"] == "unit"
    assert [e["key"] for e in tmp_store.entries()] == [first.name]
    assert next(tmp_store.entries())["bytes"] == 2 + len((first / "spec.json").read_bytes())
    monkeypatch.setenv("MEDADV_STORE_CACHE", str(tmp_path / "other-cache"))  # another machine: loads, not computes
    again = Store(tmp_store.location)
    assert again.location == tmp_store.location and repr(again) == f"Store({tmp_store.location!r})"
    assert (again.get_or_compute("unit", {"a": 1}, "1", compute) / "value.txt").read_text() == "42"
    assert len(calls) == 1


def test_interrupted_compute_leaves_no_entry(tmp_store):
    def broken(out: Path) -> None:
        (out / "half.bin").write_bytes(b"x" * 10)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        tmp_store.get_or_compute("unit", {"a": 2}, "1", broken)
    key = spec_key("unit", {"a": 2}, "1")
    assert not tmp_store.has("unit", key)
    assert not tmp_store.path("unit", key).exists()
    assert list((tmp_store.root / "tmp").iterdir()) == []
    if isinstance(tmp_store, RemoteStore):
        assert not tmp_store.fs.exists(_remote(tmp_store, "locks", key))


def _slow_unit(root: str, counter: str) -> str:
    store = Store(root)

    def compute(out: Path) -> None:
        with open(counter, "a") as f:
            f.write("x")
        time.sleep(1.0)
        (out / "v").write_text("done")

    return str(store.get_or_compute("unit", {"shared": True}, "1", compute))


@pytest.mark.parametrize("backend", ["local", "file"])
def test_two_processes_compute_once(backend, tmp_path, monkeypatch):
    monkeypatch.setenv("MEDADV_STORE_CACHE", str(tmp_path / "cache"))
    counter = tmp_path / "count"
    ctx = mp.get_context("spawn")
    with ctx.Pool(2) as pool:
        paths = pool.starmap(_slow_unit, [(_location(backend, tmp_path), str(counter))] * 2)
    assert paths[0] == paths[1]
    assert counter.read_text() == "x"


def test_gc_removes_old_scratch_only(tmp_store):
    tmp_store.get_or_compute("unit", {"a": 3}, "1", lambda out: (out / "f").write_text("1"))
    (tmp_store.root / "tmp").mkdir(exist_ok=True)
    stale = tmp_store.root / "tmp" / "stale"
    stale.mkdir()
    partial = tmp_store.partial("somekey")
    assert tmp_store.gc(older_than_s=3600) == 0
    assert tmp_store.gc(older_than_s=-1) == 2
    assert not stale.exists() and not partial.exists()
    assert len(list(tmp_store.entries())) == 1


def test_stale_claim_is_taken_over_and_a_live_one_waited_for(remote_store):
    key = spec_key("unit", {"a": 4}, "1")
    live = _claim(remote_store, key, age_s=0)
    with pytest.raises(TimeoutError, match="elsewhere"):
        remote_store.get_or_compute("unit", {"a": 4}, "1", lambda out: (out / "f").write_text("1"), timeout=0.2)
    assert remote_store.fs.exists(live)  # not ours to drop
    _claim(remote_store, key, age_s=remote_store.lease_s + 1)
    path = remote_store.get_or_compute("unit", {"a": 4}, "1", lambda out: (out / "f").write_text("1"))
    assert (path / "f").read_text() == "1" and not remote_store.fs.exists(live)


def test_killed_upload_is_not_done_and_is_recomputed(remote_store):
    key = spec_key("unit", {"a": 5}, "1")
    remote_store.fs.makedirs(_remote(remote_store, "unit", key), exist_ok=True)
    remote_store.fs.pipe_file(_remote(remote_store, "unit", key, "f"), b"half")  # files up, spec.json not yet
    assert not remote_store.has("unit", key) and list(remote_store.entries()) == []
    path = remote_store.get_or_compute("unit", {"a": 5}, "1", lambda out: (out / "f").write_text("whole"))
    assert (path / "f").read_text() == "whole"
    assert remote_store.fs.cat_file(_remote(remote_store, "unit", key, "f")) == b"whole"


def test_gc_drops_old_claims(remote_store):
    old, fresh = _claim(remote_store, "old", age_s=7200), _claim(remote_store, "fresh", age_s=0)
    assert remote_store.gc(older_than_s=3600) == 1
    assert not remote_store.fs.exists(old) and remote_store.fs.exists(fresh)


def test_unusable_urls_say_how_to_fix_them():
    if importlib.util.find_spec("s3fs") is None:
        with pytest.raises(StoreLocationError, match="pip install s3fs"):
            Store("s3://bucket/medadv")
    with pytest.raises(StoreLocationError, match="nosuch"):
        Store("nosuch://bucket/medadv")


def test_atomic_write_bytes(tmp_path):
    path = tmp_path / "a" / "b.txt"
    atomic_write_bytes(path, b"one")
    atomic_write_bytes(path, b"two")
    assert path.read_bytes() == b"two"
    assert [p.name for p in path.parent.iterdir()] == ["b.txt"]


# ------------------------------------------------------------------------------- gc against running units (#20)

def test_gc_spares_a_unit_running_longer_than_its_age(tmp_store):
    """gc with an age shorter than a running unit's run time keeps its temp dir and resume state (it removed them by
    modification time, and the unit then failed writing into its vanished temp dir)."""
    if isinstance(tmp_store, RemoteStore):
        tmp_store.heartbeat_s = 0.05
    key = spec_key("unit", {"long": 1}, "1")
    started, release, errors = threading.Event(), threading.Event(), []

    def compute(out: Path) -> None:
        (out / "model.bin").write_bytes(b"w" * 100)
        (tmp_store.partial(key) / "last.pt").write_bytes(b"checkpoint")
        started.set()
        assert release.wait(30)
        (out / "history.json").write_text("{}")

    def run() -> None:
        try:
            tmp_store.get_or_compute("unit", {"long": 1}, "1", compute)
        except BaseException as error:  # noqa: BLE001 - reported by the main thread
            errors.append(error)

    worker = threading.Thread(target=run)
    worker.start()
    assert started.wait(30)
    time.sleep(0.6)  # the unit has now run longer than gc's age
    scratch = [*(tmp_store.root / "tmp").iterdir(), tmp_store.root / "partial" / key]
    assert tmp_store.gc(older_than_s=0.3) == 0
    assert all(p.exists() for p in scratch)
    if isinstance(tmp_store, RemoteStore):
        assert tmp_store.fs.exists(_remote(tmp_store, "locks", key))  # its claim, renewed, was not dropped either
    release.set()
    worker.join(30)
    assert errors == []
    assert (tmp_store.path("unit", key) / "history.json").read_text() == "{}"
    assert not (tmp_store.root / "partial" / key).exists()


def test_lock_files_do_not_accumulate(tmp_path):
    store = Store(tmp_path / "store")
    for a in range(3):
        store.get_or_compute("unit", {"a": a}, "1", lambda out: (out / "f").write_text("1"))
    assert list((store.root / "locks").iterdir()) == []
    key = spec_key("unit", {"a": 0}, "1")
    (store.root / "locks" / f"{key}.lock").touch()  # left by an older version
    (store.root / "locks" / "unfinished.lock").touch()  # a failed unit's: kept (removing it could let two compute)
    store.gc()
    assert [p.name for p in (store.root / "locks").iterdir()] == ["unfinished.lock"]


# ------------------------------------------------------------------------------- manifests and corruption (#20)

def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _same_size(path: Path) -> None:
    """Change one byte, keeping the size (a digit for text, so JSON stays valid but says something else)."""
    data = bytearray(path.read_bytes())
    digits = [i for i, b in enumerate(data) if chr(b).isdigit()] if path.suffix == ".json" else []
    i = digits[len(digits) // 2] if digits else len(data) // 2
    data[i] = (ord("3") if data[i] != ord("3") else ord("7")) if digits else data[i] ^ 0xFF
    path.write_bytes(bytes(data))


def _garbage_spec(path: Path) -> None:
    (path.parent / "spec.json").write_bytes(b"\x00garbage")


CORRUPTIONS = {"truncated": _truncate, "same size": _same_size, "missing": Path.unlink, "garbage spec.json": _garbage_spec}


@pytest.mark.parametrize("corrupt", list(CORRUPTIONS))
def test_corrupt_unit_is_reported_set_aside_and_recomputed(tmp_store, tmp_path, monkeypatch, corrupt):
    calls = []

    def compute(out: Path) -> None:
        calls.append(1)
        (out / "data.bin").write_bytes(bytes(range(256)) * 4)
        (out / "history.json").write_text(json.dumps({"auc": 0.75}))

    first = tmp_store.get_or_compute("unit", {"a": 6}, "1", compute)
    key = first.name
    meta = json.loads((first / "spec.json").read_text())
    assert meta["files"]["data.bin"]["size"] == 1024 and len(meta["files"]["history.json"]["sha256"]) == 64
    if isinstance(tmp_store, RemoteStore):  # the store's copy goes bad, seen from a machine with an empty cache
        bad = tmp_path / "bad.bin"
        remote = _remote(tmp_store, "unit", key, "data.bin")
        tmp_store.fs.get_file(remote, str(bad))
        CORRUPTIONS[corrupt](bad)
        if corrupt == "missing":
            tmp_store.fs.rm_file(remote)
        elif corrupt == "garbage spec.json":
            tmp_store.fs.pipe_file(_remote(tmp_store, "unit", key, "spec.json"), b"\x00garbage")
        else:
            tmp_store.fs.put_file(str(bad), remote)
        monkeypatch.setenv("MEDADV_STORE_CACHE", str(tmp_path / "other-cache"))
        store = Store(tmp_store.location)
    else:
        CORRUPTIONS[corrupt](first / "data.bin")
        store = tmp_store
    store_module._HASHED.clear()  # a new process: hashes are checked once per process and unit
    assert [e["key"] for e in store.verify() if e["problems"]] == [key]  # verify reports it and changes nothing
    with pytest.warns(StoreWarning, match=f"unit {key} at .*{key}.* is corrupt .*moved to .*corrupt"):
        again = store.get_or_compute("unit", {"a": 6}, "1", compute)
    assert len(calls) == 2
    assert (again / "data.bin").read_bytes() == bytes(range(256)) * 4
    assert [e["problems"] for e in store.verify()] == [[]]
    if isinstance(store, RemoteStore):
        assert len(store.fs.ls(_remote(store, "corrupt"))) == 1
    else:
        assert len(list((store.root / "corrupt").iterdir())) == 1


def test_damaged_cache_copy_is_downloaded_again(remote_store):
    calls = []
    path = remote_store.get_or_compute("unit", {"a": 7}, "1", lambda out: calls.append((out / "f").write_text("x" * 50)))
    _truncate(path / "f")
    with pytest.warns(StoreWarning, match="downloading it again"):
        again = remote_store.get_or_compute("unit", {"a": 7}, "1", lambda out: calls.append(1))
    assert (again / "f").read_text() == "x" * 50 and len(calls) == 1


def test_units_written_before_manifests_are_accepted(tmp_store):
    path = tmp_store.get_or_compute("unit", {"a": 8}, "1", lambda out: (out / "f").write_text("old"))
    meta = json.loads((path / "spec.json").read_text())
    del meta["files"]
    (path / "spec.json").write_text(json.dumps(meta))
    if isinstance(tmp_store, RemoteStore):
        tmp_store.fs.pipe_file(_remote(tmp_store, "unit", path.name, "spec.json"), json.dumps(meta).encode())
    store_module._HASHED.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert tmp_store.get_or_compute("unit", {"a": 8}, "1", lambda out: pytest.fail("recomputed")) == path
    assert [(e["checked"], e["problems"]) for e in tmp_store.verify()] == [(False, [])]


def test_ls_lists_a_garbage_spec_json_as_an_error(tmp_path):
    store = Store(tmp_path / "store")
    path = store.get_or_compute("unit", {"a": 9}, "1", lambda out: (out / "f").write_text("1"))
    (path / "spec.json").write_text("{not json")
    (entry,) = store.entries()
    assert entry["key"] == path.name and "not a unit record" in entry["error"]


def test_open_existing_store_only(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDADV_STORE_CACHE", str(tmp_path / "cache"))
    with pytest.raises(StoreLocationError, match="no store at .*nosuch"):
        Store(tmp_path / "nosuch", create=False)
    assert not (tmp_path / "nosuch").exists()
    with pytest.raises(StoreLocationError, match="no store at memory://"):
        Store("memory://medadv-test/nosuch", create=False)
    assert Store(tmp_path, create=False).root == tmp_path


def test_uncreatable_store_location_is_a_store_error(tmp_path):
    (tmp_path / "a-file").write_text("")
    with pytest.raises(StoreLocationError, match="cannot create store .*a-file/store .*choose a folder"):
        Store(tmp_path / "a-file" / "store")


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_store_location_is_a_store_error(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(StoreLocationError, match="cannot create store .*locked/store .*choose a folder"):
            Store(locked / "store")
    finally:
        locked.chmod(0o700)


def test_files_and_folders_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        store = Store(tmp_path / "store")
        path = store.get_or_compute("unit", {"a": 10}, "1", lambda out: (out / "f").write_text("1"))
        atomic_write_bytes(tmp_path / "table.csv", b"a,b\n")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o755
    assert stat.S_IMODE((path / "spec.json").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "table.csv").stat().st_mode) == 0o644
