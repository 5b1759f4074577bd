"""The study's stored files (model.safetensors, history.json, delta.npy, scores.npy) damaged on disk: each is found
by the store's check when a page asks for it, reported with its key and path, set aside and recomputed to the same
values (#20 item 2). Before, a truncated file failed with the library's own error on every run and a same-size one
silently changed the tables."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import medadv.store as store_module
import medadv.study as study_module
from medadv.config import StudyConfig
from medadv.store import StoreWarning
from medadv.study import Condition, ModelSpec, Study, same_config_surrogate

TARGET = ModelSpec("pathology", "resnet10t", "random")
CONDITION = Condition(TARGET, same_config_surrogate(TARGET), "fgsm", 0.02)


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    cfg = StudyConfig(store=str(tmp_path_factory.mktemp("units") / "store"), archs=("resnet10t",), inits=("random",),
                      image_size=16, n_dev=80, n_test=32, epochs_random=1, batch_size=32, eps=0.02, n_boot=20,
                      device="cpu", progress=False)
    return Study(cfg)


def _fresh_process() -> None:
    """What a new page's kernel starts with: no model loaded, no unit's hashes checked yet."""
    study_module._LOADED.clear()
    store_module._HASHED.clear()


def _read(study: Study, name: str):
    """The value a page gets from the stored file ``name`` (read through the study, so through the store's check)."""
    if name == "model.safetensors":
        return {k: v.clone() for k, v in study.model(TARGET).state_dict().items()}
    if name == "history.json":
        return study.history(TARGET)["history"]
    if name == "delta.npy":
        return study.delta(CONDITION.surrogate, CONDITION.attack, CONDITION.eps)
    return study.scores(CONDITION)


def _unit_folder(study: Study, name: str) -> Path:
    unit = {"model.safetensors": study.train_unit(TARGET), "history.json": study.train_unit(TARGET),
            "delta.npy": study.craft_unit(CONDITION.surrogate, CONDITION.attack, CONDITION.eps),
            "scores.npy": study.evaluate_unit(TARGET, CONDITION)}[name]
    return study.store.path(unit.stage, unit.key())


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _same_size(path: Path) -> None:
    """Overwrite bytes in the middle with others of the same length (a digit for JSON, so it still parses)."""
    data = bytearray(path.read_bytes())
    if path.suffix == ".json":
        i = max(i for i, b in enumerate(data) if chr(b).isdigit() and chr(data[i - 1]) == ".")
        data[i] = ord("1") if data[i] != ord("1") else ord("2")
    else:
        middle = len(data) // 2
        data[middle:middle + 8] = bytes(b ^ 0x5A for b in data[middle:middle + 8])
    path.write_bytes(bytes(data))


def _same(a, b) -> bool:
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    if isinstance(a, np.ndarray):
        return np.array_equal(a, b)
    return a == b


@pytest.mark.parametrize("damage", [_truncate, _same_size], ids=["truncated", "same size"])
@pytest.mark.parametrize("name", ["model.safetensors", "history.json", "delta.npy", "scores.npy"])
def test_damaged_stored_file_is_detected_and_recomputed(study, name, damage):
    expected = _read(study, name)
    folder = _unit_folder(study, name)
    damage(folder / name)
    _fresh_process()
    with pytest.warns(StoreWarning, match=f"unit {folder.name} at {folder}.* is corrupt .*{name}.*moved to"):
        again = _read(study, name)
    assert _same(again, expected)
    assert json.loads((folder / "spec.json").read_text())["files"][name]["size"] == (folder / name).stat().st_size
    assert any(p.name.startswith(f"{folder.parent.name}-{folder.name}-") for p in (study.store.root / "corrupt").iterdir())
