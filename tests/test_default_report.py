"""scripts/default_report.py: the figures a default build is judged by, counted from its results tables."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd

spec = importlib.util.spec_from_file_location("default_report", Path(__file__).parents[1] / "scripts" / "default_report.py")
default_report = importlib.util.module_from_spec(spec)
spec.loader.exec_module(default_report)


def write(folder: Path, name: str, **columns) -> None:
    pd.DataFrame(columns).to_csv(folder / f"{name}.csv", index=False)


def test_counts_cells_gains_and_verdicts(tmp_path, capsys):
    write(tmp_path, "t2_perturbation-working-eps", domain=["pathology"], eps=[0.04])
    write(tmp_path, "targets-gains", domain=["pathology"] * 2, arch=["tf_efficientnet_lite0"] * 2, data=["d1", "d1/10"],
          gain=[0.02, 0.1], ci_low=[-0.01, 0.05], ci_high=[0.05, 0.15], auc_imagenet=[0.9, 0.8],
          auc_random=[0.88, 0.65])
    cells = dict(domain=["pathology"] * 3, perturbation=["adversarial", "adversarial", "shuffled"],
                 control_diff=[-5.0, 1.0, None], beats_control=[True, False, None], near_chance=[False, True, None])
    for page in default_report.FACTOR_PAGES:
        write(tmp_path, f"{page}-cells", **cells)
    for page in default_report.VERDICT_PAGES:
        write(tmp_path, f"{page}-verdict", claim=["a"], part=["all"], domain=["pathology"], difference=[-3.0],
              ci_low=[-5.0], ci_high=[-1.0], verdict=["holds"], note=[None])
    default_report.main(tmp_path)
    out = capsys.readouterr().out
    assert "T2 working eps: pathology 0.04" in out
    assert "pathology lite0 +0.100 [+0.050, +0.150]" in out
    assert "d1/10 targets at AUC >= 0.70: 1 of 2 (lowest 0.650)" in out
    assert "below their shuffled control: 3 of 6 (50.0%); beyond noise (paired CI): 3 (50.0%)" in out
    assert out.count("1 cells rest on a model near chance (pathology)") == 3
    assert "t4_data a all pathology: -3.0 [-5.0, -1.0] holds\n" in out
