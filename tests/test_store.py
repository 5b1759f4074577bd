"""The artifact store: keys, atomic entries, one computation per key across processes, gc."""
from __future__ import annotations

import json
import multiprocessing as mp
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from medadv.store import Store, atomic_write_bytes, canonical, spec_key


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


def test_get_or_compute_computes_once(tmp_store):
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


def _slow_unit(root: str, counter: str) -> str:
    store = Store(root)

    def compute(out: Path) -> None:
        with open(counter, "a") as f:
            f.write("x")
        time.sleep(1.0)
        (out / "v").write_text("done")

    return str(store.get_or_compute("unit", {"shared": True}, "1", compute))


def test_two_processes_compute_once(tmp_path):
    counter = tmp_path / "count"
    ctx = mp.get_context("spawn")
    with ctx.Pool(2) as pool:
        paths = pool.starmap(_slow_unit, [(str(tmp_path / "s"), str(counter))] * 2)
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


def test_atomic_write_bytes(tmp_path):
    path = tmp_path / "a" / "b.txt"
    atomic_write_bytes(path, b"one")
    atomic_write_bytes(path, b"two")
    assert path.read_bytes() == b"two"
    assert [p.name for p in path.parent.iterdir()] == ["b.txt"]
