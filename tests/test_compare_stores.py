"""scripts/compare_stores.py: per-evaluation score differences between two stores, grouped by attack and control."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np

spec = importlib.util.spec_from_file_location("compare_stores", Path(__file__).parents[1] / "scripts" / "compare_stores.py")
compare_stores = importlib.util.module_from_spec(spec)
spec.loader.exec_module(compare_stores)


def unit(store: Path, stage: str, key: str, spec: dict, scores: np.ndarray | None = None) -> None:
    folder = store / stage / key
    folder.mkdir(parents=True)
    (folder / "spec.json").write_text(json.dumps({"kind": stage, "key": key, "spec": spec}))
    if scores is not None:
        np.save(folder / "scores.npy", scores.astype(np.float32))


def test_scores_are_compared_per_attack_and_perturbation(tmp_path, capsys):
    a, b = tmp_path / "a", tmp_path / "b"
    for store, shift in ((a, 0.0), (b, 2e-3)):
        unit(store, "craft", "c1", {"attack": "pgd"})
        unit(store, "evaluate", "clean", {"craft": None, "perturbation": "adversarial", "target": "t"},
             np.full(4, 0.5 + shift))  # clean scores: not compared
        unit(store, "evaluate", "e1", {"craft": "c1", "perturbation": "adversarial", "target": "t"}, np.full(4, 0.3))
        unit(store, "evaluate", "e2", {"craft": "c1", "perturbation": "shuffled", "target": "t"},
             np.array([0.1, 0.2, 0.3, 0.4]) + shift)
    groups = compare_stores.differences(a, b)
    assert groups[("pgd", "adversarial")] == [0.0]
    assert np.isclose(groups[("pgd", "shuffled")][0], 2e-3, atol=1e-6) and len(groups) == 2
    assert compare_stores.main([str(a), str(b)]) == 1  # 2e-3 > the default tolerance 1e-3
    assert compare_stores.main([str(a), str(b), "--tolerance", "3e-3"]) == 0
    assert "pgd            shuffled" in capsys.readouterr().out
