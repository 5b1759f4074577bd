"""GPU-hour and store-size estimates of a planned grid (the reproduce page's cluster section)."""
from __future__ import annotations

import pytest

from medadv.data import DataSpec
from medadv.estimate import (FORWARD_SHARE, PAPER_DOMAINS, Rate, gpu_hours, profile_gpu_hours, rate, task_seconds,
                              unit_seconds)
from medadv.study import KEPT_IMAGES, CraftUnit, ModelSpec, EvaluateUnit, TrainUnit, fuse
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
    assert unit_seconds(EvaluateUnit(train_unit(), pgd), MEASURED) == pytest.approx(200 * FORWARD_SHARE / per_s)


def test_totals_and_unknown_architectures():
    pgd = CraftUnit(train_unit(), "pgd", 0.01, params=(("steps", 20),))
    table = gpu_hours([train_unit(), train_unit(), pgd, EvaluateUnit(train_unit(), pgd)], MEASURED)
    assert list(table.stage) == ["train", "craft", "evaluate", "total"]
    assert list(table.units) == [1, 1, 1, 3]  # the duplicate training is one unit
    assert table.gpu_hours.iloc[-1] == pytest.approx(table.gpu_hours.iloc[:3].sum())
    assert table.store_gb.iloc[1] == pytest.approx(3 * 112**2 * 200 / 1e9)  # one byte per value (int8)
    l2 = CraftUnit(train_unit(), "pgd", 0.5, params=(("steps", 20), ("norm", "l2")))
    assert gpu_hours([l2], MEASURED).store_gb.iloc[1] == pytest.approx(2 * 3 * 112**2 * 200 / 1e9)  # float16
    with pytest.raises(KeyError, match="no reference GPU throughput for 'vit_tiny'.*medadv bench train"):
        rate("vit_tiny")


def test_paper_profile_estimate_scales_with_attack_steps():
    base = profile_gpu_hours("paper", ["t3_pretraining"]).set_index("stage")
    double = profile_gpu_hours("paper", ["t3_pretraining"], {"pgd_steps": 40}).set_index("stage")
    assert base.loc["train", "units"] > 0 and base.loc["total", "gpu_hours"] > 1
    assert double.loc["train", "gpu_hours"] == pytest.approx(base.loc["train", "gpu_hours"])
    # craft: FGSM (1 step) and PGD units alternate in equal numbers, so hours go from (1 + 20) to (1 + 40) steps
    assert double.loc["craft", "gpu_hours"] / base.loc["craft", "gpu_hours"] == pytest.approx(41 / 21)


def test_fused_crafts_store_what_the_book_shows_and_run_their_evaluations():
    big = DataSpec("synthetic", "pathology", 112, n_dev=1000, n_test=2000, val_fraction=0.2, seed=0)
    target = TrainUnit(ModelSpec("pathology", "densenet121", "random"), big, TrainSettings(epochs=1))
    crafts = [CraftUnit(target, "pgd", 0.01, params=(("steps", 20),), keep=keep) for keep in (True, False)]
    units = [u for c in crafts for u in (c, EvaluateUnit(target, c), EvaluateUnit(target, c, "shuffled"))]
    kept, fused = (gpu_hours(units[i:i + 3], MEASURED).set_index("stage") for i in (0, 3))
    assert kept.loc["craft", "store_gb"] == pytest.approx(3 * 112**2 * 2000 / 1e9)
    assert fused.loc["craft", "store_gb"] == pytest.approx(3 * 112**2 * KEPT_IMAGES / 1e9)
    assert kept.loc["evaluate", "units"] == fused.loc["evaluate", "units"] == 2  # the same evaluations, logically
    assert fused.loc["evaluate", "gpu_hours"] == pytest.approx(kept.loc["evaluate", "gpu_hours"])
    [task] = [u for u in fuse(units[3:]) if u.stage == "craft"]  # but they run inside the craft
    assert task_seconds(task, MEASURED) == pytest.approx(unit_seconds(crafts[1], MEASURED) * (1 + 2 * FORWARD_SHARE / 20))
    assert fused.loc["craft", "longest_unit_min"] == pytest.approx(task_seconds(task, MEASURED) / 60)
    assert kept.loc["craft", "longest_unit_min"] == pytest.approx(unit_seconds(crafts[0], MEASURED) / 60)


def test_three_domains_are_estimated_with_their_own_sizes():
    """A synthetic three-domain configuration: each domain planned with its own resolution and test set."""
    settings = {"ophthalmology": {"image_size": 64, "n_test": 300}, "radiology": {"image_size": 48, "n_test": 200},
                "pathology": {"image_size": 32, "n_test": 100}}
    table = profile_gpu_hours("quick", ["t3_pretraining"], settings=settings, by_domain=True,
                              measured={"tf_efficientnet_lite0": Rate(1000.0, 32), "tf_efficientnet_lite1": Rate(500.0, 32)})
    rows = table.set_index(["domain", "stage"])
    assert list(table.domain.unique()) == ["ophthalmology", "radiology", "pathology", "all"]
    crafts = rows.loc[("pathology", "craft"), "units"]
    assert crafts == 16 and rows.loc[("radiology", "craft"), "units"] == crafts
    for domain, channels in (("ophthalmology", 3), ("radiology", 1), ("pathology", 3)):
        s = settings[domain]  # the quick profile keeps every perturbation, one byte per value
        assert rows.loc[(domain, "craft"), "store_gb"] == pytest.approx(crafts * channels * s["image_size"] ** 2 * s["n_test"] / 1e9)
    assert rows.loc[("all", "total"), "gpu_hours"] == pytest.approx(table[table.stage != "total"].gpu_hours.sum())
    assert rows.loc[("ophthalmology", "craft"), "gpu_hours"] > rows.loc[("pathology", "craft"), "gpu_hours"]


def test_paper_profile_at_the_authors_sizes_fits_below_a_terabyte():
    table = profile_gpu_hours("paper", settings=PAPER_DOMAINS, by_domain=True).set_index(["domain", "stage"])
    assert {"ophthalmology", "radiology", "pathology"} <= set(table.index.get_level_values(0))
    assert table.loc[("all", "total"), "store_gb"] < 1000  # with keep_perturbations: false (params/paper.yaml)
    kept = profile_gpu_hours("paper", settings=PAPER_DOMAINS, by_domain=True,
                             overrides={"keep_perturbations": True}).set_index(["domain", "stage"])
    assert kept.loc[("ophthalmology", "craft"), "store_gb"] > 1000  # every fundus perturbation: terabytes


def test_grid_dry_run_prints_the_three_domain_estimate(capsys):
    from medadv.cli import main

    assert main(["grid", "--profile", "paper", "--dry-run"]) == 0
    out = capsys.readouterr().out
    for domain in ("ophthalmology", "radiology", "pathology"):
        assert any(line.split()[:2] == [domain, "train"] for line in out.splitlines()), domain
    total = [line.split() for line in out.splitlines() if line.split()[:2] == ["all", "total"]]
    assert len(total) == 1 and float(total[0][-1].replace(",", "")) < 1000  # store GB
    assert "measured, H200" in out and "attack_step_ms" in out and "keep_perturbations: false" in out


def test_measured_h200_rates_replace_the_scaled_reference_at_their_sizes():
    from medadv.estimate import MEASURED_H200, attack_steps_per_s, source_of

    assert rate("inception_v3", image_size=96).at(96) == MEASURED_H200["inception_v3", 96][0]  # not 602 * (299/96)^2
    assert rate("inception_v3", image_size=128).at(128) == pytest.approx(602.3 * (299 / 128) ** 2)  # no measurement
    assert attack_steps_per_s("densenet121", 512) == pytest.approx(320 / 0.824)
    assert attack_steps_per_s("densenet121", 512, MEASURED) == pytest.approx(448.0 * (224 / 512) ** 2)  # yours first
    assert source_of("densenet121", 224) == "measured, H200" and source_of("densenet121", 224, MEASURED) == "measured (yours)"
    pgd = CraftUnit(TrainUnit(ModelSpec("pathology", "densenet121", "random"), DataSpec("synthetic", "pathology", 224,
                    n_dev=100, n_test=320, val_fraction=0.1, seed=0), TrainSettings(epochs=1)), "pgd", 0.01, params=(("steps", 10),))
    assert unit_seconds(pgd) == pytest.approx(0.334 * 10)  # 320 images x 10 steps at the measured batch time
