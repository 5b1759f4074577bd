"""GPU-hour and store-size estimates of a planned grid (the reproduce page's cluster section)."""
from __future__ import annotations

import pytest

from medadv.data import DataSpec
from medadv.estimate import FORWARD_SHARE, Rate, gpu_hours, profile_gpu_hours, rate, unit_seconds
from medadv.study import CraftUnit, ModelSpec, PredictUnit, TrainUnit
from medadv.train import TrainSettings

DATA = DataSpec("synthetic", "pathology", 112, n_dev=1000, n_test=200, val_fraction=0.2, seed=0)
MEASURED = {"densenet121": Rate(448.0, 224)}  # 448 img/s at 224 px: 1792 img/s at 112 px


def train_unit(data: str = "d1", epochs: int = 10) -> TrainUnit:
    return TrainUnit(ModelSpec("pathology", "densenet121", "random", data), DATA, TrainSettings(epochs=epochs))


def test_unit_seconds_follow_the_work_model():
    per_s = 448.0 * 4
    assert rate("densenet121", MEASURED).at(112) == per_s
    passes = 10 * 1000 * (0.8 + 0.2 * FORWARD_SHARE)
    assert unit_seconds(train_unit(), MEASURED) == pytest.approx(passes / per_s)
    assert unit_seconds(train_unit("d1/10"), MEASURED) == pytest.approx(passes / per_s / 10)
    pgd = CraftUnit(train_unit(), "pgd", 0.01, params=(("alpha", 0.002), ("steps", 20)))
    assert unit_seconds(pgd, MEASURED) == pytest.approx(200 * 20 / per_s)
    assert unit_seconds(CraftUnit(train_unit(), "fgsm", 0.01), MEASURED) == pytest.approx(200 / per_s)
    assert unit_seconds(PredictUnit(train_unit(), pgd), MEASURED) == pytest.approx(200 * FORWARD_SHARE / per_s)


def test_totals_and_unknown_architectures():
    pgd = CraftUnit(train_unit(), "pgd", 0.01, params=(("steps", 20),))
    table = gpu_hours([train_unit(), train_unit(), pgd, PredictUnit(train_unit(), pgd)], MEASURED)
    assert list(table.stage) == ["train", "craft", "evaluate", "total"]
    assert list(table.units) == [1, 1, 1, 3]  # the duplicate training is one unit
    assert table.gpu_hours.iloc[-1] == pytest.approx(table.gpu_hours.iloc[:3].sum())
    assert table.store_gb.iloc[1] == pytest.approx(2 * 3 * 112**2 * 200 / 1e9)
    with pytest.raises(KeyError, match="no reference GPU throughput for 'vit_tiny'.*medadv bench train"):
        rate("vit_tiny")


def test_paper_profile_estimate_scales_with_attack_steps():
    base = profile_gpu_hours("paper", ["t3_pretraining"]).set_index("stage")
    double = profile_gpu_hours("paper", ["t3_pretraining"], {"pgd_steps": 40}).set_index("stage")
    assert base.loc["train", "units"] > 0 and base.loc["total", "gpu_hours"] > 1
    assert double.loc["train", "gpu_hours"] == pytest.approx(base.loc["train", "gpu_hours"])
    # craft: FGSM (1 step) and PGD units alternate in equal numbers, so hours go from (1 + 20) to (1 + 40) steps
    assert double.loc["craft", "gpu_hours"] / base.loc["craft", "gpu_hours"] == pytest.approx(41 / 21)
