"""The abstract's claims (a)–(e): each computed from its page's conditions, with the numbers a stub study gives."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from medadv import analysis, paper, show
from medadv.config import StudyConfig
from medadv.study import Condition

#: the pre-training gain in clean AUC of each (domain, target architecture): claim b's x
GAINS = {("pathology", "a1"): 0.05, ("pathology", "a2"): 0.15, ("radiology", "a1"): 0.10, ("radiology", "a2"): 0.20}


def perc_clean(c: Condition) -> float:
    """A known perc_clean per condition: pre-trained pairs lose 200 × the target's gain, the same architecture 5,
    other data gains 8 back (12 with different architectures); a second target copy loses nothing to pre-training."""
    same, other = c.target.arch == c.surrogate.arch, c.surrogate.data != "d1"
    pretrained = c.target.init == c.surrogate.init == "imagenet" and c.target.copy == 1
    return 90 - 200 * GAINS[(c.target.domain, c.target.arch)] * pretrained - 5 * same + 8 * other + 4 * (other and not same)


class Stub:
    """A study whose paired differences are those of ``perc_clean`` (CI ± 1), where every perturbation transfers
    beyond its shuffled control and every target is well above chance (clean AUC CI from ``auc_low``)."""

    def __init__(self, auc_low: float = 0.8, **overrides) -> None:
        self.cfg = StudyConfig(**{"archs": ("a1", "a2"), "domains": ("pathology", "radiology"), "n_boot": 50,
                                  **overrides})
        self.auc_low = auc_low

    def perc_clean_contrast(self, groups, weights):
        value = float(sum(w * np.mean([perc_clean(c) for c in g]) for w, g in zip(weights, groups)))
        return {"value": value, "ci_low": value - 1, "ci_high": value + 1}

    def perc_clean_difference(self, a, b):
        if b[0].perturbation == "shuffled":
            return {"value": -20.0, "ci_low": -25.0, "ci_high": -15.0}
        return self.perc_clean_contrast([a, b], [1.0, -1.0])

    def clean_auc(self, target):
        return {"value": self.auc_low + 0.05, "ci_low": self.auc_low, "ci_high": self.auc_low + 0.1}


@pytest.fixture
def gains(monkeypatch):
    monkeypatch.setattr(analysis, "pretraining_gain", lambda study, domain, arch, data: {
        "value": GAINS[(domain, arch)], "ci_low": GAINS[(domain, arch)] - 0.01, "ci_high": GAINS[(domain, arch)] + 0.01})


def test_claim_a_per_architecture_relation_with_the_seed_check():
    rows = analysis.claim_rows(Stub(), "a").set_index(["domain", "part"])
    # same architecture: both pairs lose 200 × gain of their target; the mean over a1 and a2 targets
    assert rows.loc[("pathology", "same architecture"), "difference"] == pytest.approx(-200 * 0.10)
    assert rows.loc[("radiology", "different architecture"), "difference"] == pytest.approx(-200 * 0.15)
    assert set(rows.verdict) == {"holds"} and set(rows.note) == {""}
    assert "test patients" in rows.interval.iloc[0] and "not the training seed" in rows.interval.iloc[0]
    # the copies page's measurement: copy 2 as target gains nothing from pre-training, so pair 1 → 2 fails
    same = rows.loc[("pathology", "same architecture")]
    assert same.seed == "does not survive" and "1 of 2 ordered pairs" in same.seed_note
    assert rows.loc[("pathology", "different architecture"), "seed"] == analysis.NOT_MEASURED


def test_a_verdict_survives_the_seed_where_every_pair_of_copies_gives_it(monkeypatch):
    monkeypatch.setattr(analysis, "copy_pair_verdicts", lambda study, conditions: pd.DataFrame({
        "pair": ["2 → 1", "1 → 2", "3 → 1", analysis.ALL_PAIRS], "paper_pair": [True, False, False, False],
        "verdict": ["holds", "holds", "holds", "holds"]}))
    assert analysis.seed_check(Stub(copies=3), "pathology") == (
        "survives", "a1 alone: its copies 2 → 1 give holds, and 3 of 3 ordered pairs of 3 independently trained "
                    "copies give the same")
    monkeypatch.setattr(analysis, "copy_pair_verdicts", lambda study, conditions: pd.DataFrame({
        "pair": ["2 → 1", "1 → 2"], "paper_pair": [True, False], "verdict": ["unresolved", "unresolved"]}))
    assert analysis.seed_check(Stub(), "pathology")[0] == "unresolved in every pair"


def test_claims_c_d_e_and_weak_cells():
    c = analysis.claim_rows(Stub(), "c").set_index("domain")
    assert c.loc["pathology", "difference"] == pytest.approx((93 + 102) / 2 - (85 + 90) / 2) and c.verdict.eq("holds").all()
    d = analysis.claim_rows(Stub(), "d").set_index("domain")
    assert d.loc["radiology", "difference"] == pytest.approx((102 - 90) - (93 - 85))  # the interaction
    assert d.loc["radiology", "verdict"] == "holds" and d.loc["radiology", "part"] == "different − same architecture"
    e = analysis.claim_rows(Stub(), "e").set_index("domain")
    assert e.loc["pathology", "difference"] == pytest.approx(-200 * 0.10) and set(e.verdict) == {"holds"}
    weak = analysis.claim_rows(Stub(auc_low=0.5), "e")
    assert set(weak.verdict) == {"unresolved"} and weak.note.str.contains("near chance").all()
    # only a verdict attack's conditions count; a profile without ImageNet init has no pre-training claim
    assert analysis.claim_rows(Stub(inits=("random",)), "a").empty and analysis.claim_rows(Stub(inits=("random",)), "b").empty


def test_claim_b_is_the_slope_over_domains_and_architectures(gains):
    row = analysis.claim_rows(Stub(), "b").iloc[0]
    # transfer gain = 200 × pre-training gain at every point: slope 200 in every bootstrap resample
    assert row.domain == "all" and row.difference == pytest.approx(200) and row.verdict == "holds"
    assert row.ci_low == pytest.approx(200) and "each point's value fixed" in row.interval
    few = analysis.claim_rows(Stub(domains=("pathology",)), "b").iloc[0]
    assert few.verdict == "unresolved" and "needs at least 3" in few.note


def test_slope_verdict_reads_weak_points_and_signs():
    points = pd.DataFrame({"domain": ["p", "p", "r"], "arch": ["a1", "a2", "a1"], "note": ["", "", ""]})
    fit = {"slope": -50.0, "ci_low": -80.0, "ci_high": -10.0}
    assert analysis.slope_verdict(points, fit, 100)["verdict"] == "fails"
    weak = analysis.slope_verdict(points.assign(note=["", "neither side transfers", ""]), {**fit, "ci_low": 5.0,
                                                                                         "ci_high": 90.0}, 100)
    assert weak["verdict"] == "unresolved" and weak["note"].startswith("1 of 3 points") and "p a2" in weak["note"]


def test_the_summary_lists_every_claim(gains):
    table = analysis.claims_table(Stub())
    assert list(dict.fromkeys(table.claim)) == ["a", "b", "c", "d", "e"]
    assert {c.page for c in paper.CLAIMS} <= {"t3_pretraining", "gain_vs_transfer", "t4_data", "t5_data_pretraining"}
    assert set(table.verdict) <= {"holds", "fails", "unresolved"} and table.interval.str.len().gt(0).all()
    shown = show.claims_shown(table)
    assert shown.loc[shown.claim == "d", "difference [95% CI]"].iloc[0] == "4.0 [3.0, 5.0]"
    with pytest.raises(ValueError, match="unknown claim"):
        paper.claim("z")


def test_effects_without_an_interval_say_so():
    assert show.effect_text(14.04, float("nan"), float("nan")) == "14.0 (no interval)"
    assert show.effect_text(-2.0, -3.0, -1.0) == "-2.0 [-3.0, -1.0]" and show.effect_text(float("nan"), 0, 1) == "n/a"
