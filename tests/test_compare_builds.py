"""scripts/compare_builds.py: two builds agree when every value rounds the same at the printed digit."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd

spec = importlib.util.spec_from_file_location("compare_builds", Path(__file__).parents[1] / "scripts" / "compare_builds.py")
compare_builds = importlib.util.module_from_spec(spec)
spec.loader.exec_module(compare_builds)


def write(folder: Path, name: str, **columns) -> None:
    folder.mkdir(exist_ok=True)
    pd.DataFrame(columns).to_csv(folder / f"{name}.csv", index=False)


def test_values_that_round_alike_agree_and_a_moved_digit_or_verdict_does_not(tmp_path, capsys):
    before, after = tmp_path / "a", tmp_path / "b"
    write(before, "t3", perc_clean=[91.04, 88.0], clean_auc=[0.9012, 0.5], verdict=["holds", "unresolved"])
    write(after, "t3", perc_clean=[91.0401, 88.0], clean_auc=[0.9013, 0.5], verdict=["holds", "unresolved"])
    write(before, "reproduce-timings", minutes=[25.9])
    write(after, "reproduce-timings", minutes=[30.1])  # machine measurements are not compared
    assert compare_builds.main([str(before), str(after)]) == 0
    assert "same to the printed digit" in capsys.readouterr().out
    write(after, "t3", perc_clean=[91.06, 88.0], clean_auc=[0.9012, 0.5], verdict=["holds", "unresolved"])
    assert compare_builds.main([str(before), str(after)]) == 1
    assert "1 value(s) change at 1 decimals" in capsys.readouterr().out
    write(after, "t3", perc_clean=[91.04, 88.0], clean_auc=[0.9012, 0.5], verdict=["holds", "holds"])
    assert compare_builds.main([str(before), str(after)]) == 1
    write(after, "t4", perc_clean=[1.0])
    assert compare_builds.main([str(before), str(after)]) == 1
    assert "t4: only in after" in capsys.readouterr().out
