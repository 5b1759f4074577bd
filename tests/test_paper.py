"""The paper's designs as conditions, the table layout, verdicts and the computed working eps."""
from __future__ import annotations

import pandas as pd

from medadv import paper
from medadv.config import StudyConfig
from medadv.study import Condition, ModelSpec, Study


def study(tmp_path) -> Study:
    return Study(StudyConfig(store=str(tmp_path / "s"), archs=("a1", "a2"), device="cpu"))


def test_same_configuration_surrogate_is_the_second_copy():
    target = ModelSpec("pathology", "a1", "imagenet", "d1")
    assert paper.surrogate_for(target, "a1", "imagenet", "d1") == ModelSpec("pathology", "a1", "imagenet", "d1", copy=2)
    assert paper.surrogate_for(target, "a2", "imagenet", "d1").copy == 1
    assert paper.surrogate_for(target, "a1", "random", "d1").copy == 1


def test_t3_design(tmp_path):
    s = study(tmp_path)
    conditions = paper.t3_conditions(s, "pathology")
    # 2 archs x 2 inits targets x 2 x 2 surrogates x 2 attacks x 2 perturbations
    assert len(conditions) == 4 * 4 * 2 * 2
    assert all(c.threat == "black-box" for c in conditions)
    assert {c.surrogate.copy for c in conditions if c.surrogate.arch == c.target.arch
            and c.surrogate.init == c.target.init} == {2}
    assert {c.eps for c in conditions} == {s.cfg.eps}


def test_t2_t4_t5_designs(tmp_path):
    s = study(tmp_path)
    t2 = paper.t2_conditions(s, "pathology")
    assert {c.threat for c in t2} == {"white-box", "black-box"} and {c.eps for c in t2} == set(s.cfg.eps_grid)
    assert {c.target.init for c in t2} == {"random"}
    t4 = paper.t4_conditions(s, "pathology")
    assert {c.surrogate.data for c in t4} == {"d1", "d2", "d2/2"} and {c.target.data for c in t4} == {"d1"}
    t5 = paper.t5_conditions(s, "pathology")
    assert {c.surrogate.data for c in t5} == {"d2"} and {c.target.data for c in t5} == {"d1/10"}
    units = s.units(t5[:4])
    assert [u.stage for u in units] == sorted((u.stage for u in units), key=["train", "craft", "evaluate"].index)


def test_verdicts():
    assert paper.verdict({"ci_low": -5, "ci_high": -1}, expected_sign=-1) == "holds"
    assert paper.verdict({"ci_low": 1, "ci_high": 5}, expected_sign=-1) == "fails"
    assert paper.verdict({"ci_low": -1, "ci_high": 5}, expected_sign=-1) == "unresolved"
    assert paper.verdict({"ci_low": 1, "ci_high": 5}, expected_sign=+1) == "holds"


def test_working_eps_follows_the_criterion():
    rows = []
    for eps, adv, ctrl in [(0.01, 98, 100), (0.02, 70, 100), (0.03, 45, 99), (0.04, 40, 99)]:
        rows.append({"threat": "black-box", "attack": "pgd", "eps": eps, "perturbation": "adversarial",
                     "perc_clean": adv, "ci_low": adv - 3, "ci_high": adv + 3})
        rows.append({"threat": "black-box", "attack": "pgd", "eps": eps, "perturbation": "shuffled",
                     "perc_clean": ctrl, "ci_low": ctrl - 3, "ci_high": ctrl + 3})
    cells = pd.DataFrame(rows)
    assert paper.working_eps(cells) == 0.03  # 55 >= 0.75 * 60; 30 is not
    flat = cells.assign(perc_clean=100.0, ci_low=97.0, ci_high=103.0)
    assert paper.working_eps(flat) is None


def test_paper_layout_formats_cells():
    cells = pd.DataFrame([{"a": "x", "b": "fgsm", "perc_clean": 50.0, "ci_low": 40.0, "ci_high": 60.0}])
    table = paper.paper_layout(cells, ["a"], ["b"])
    assert table.loc["x", "fgsm"] == "50.0 [40.0, 60.0]"
