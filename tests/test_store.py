"""The artifact store: keys, atomic entries, one computation per key across processes, gc; local and URL stores."""
from __future__ import annotations

import importlib.util
import json
import multiprocessing as mp
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest
from fsspec.core import url_to_fs

from medadv.store import RemoteStore, Store, StoreLocationError, atomic_write_bytes, canonical, spec_key


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
