"""The paper's experiments as lists of conditions, and its table layout (cells averaged over architecture pairs).

Each ``*_conditions`` function states one table's design of ../shared/PAPER.md in code; ``summary`` turns conditions
into cells with bootstrap CIs. Notebooks only choose which table and how to show it.
"""
from __future__ import annotations

from itertools import product
from typing import Any, Iterable, Sequence

import pandas as pd

from medadv.study import Condition, ModelSpec, Study, same_config_surrogate


def surrogate_for(target: ModelSpec, arch: str, init: str, data: str) -> ModelSpec:
    """The surrogate of the given configuration; if it equals the target's, the independent second copy."""
    candidate = ModelSpec(target.domain, arch, init, data, copy=target.copy)
    return same_config_surrogate(target) if candidate == target else ModelSpec(target.domain, arch, init, data)


def grid_conditions(
    study: Study, domain: str, *, target_data: str, surrogate_data: Sequence[str], target_inits: Sequence[str],
    surrogate_inits: Sequence[str], attacks: Sequence[str], eps: Iterable[float],
    perturbations: Sequence[str] = ("adversarial", "shuffled"),
) -> list[Condition]:
    """Every (target, surrogate) over the profile's architectures and the given inits and data, per attack and eps."""
    archs = study.cfg.archs
    out = []
    for t_arch, t_init, s_arch, s_init, s_data, attack, e, pert in product(
        archs, target_inits, archs, surrogate_inits, surrogate_data, attacks, list(eps), perturbations
    ):
        target = ModelSpec(domain, t_arch, t_init, target_data)
        out.append(Condition(target, surrogate_for(target, s_arch, s_init, s_data), attack, e, pert))
    return out


def white_box_conditions(study: Study, domain: str, *, init: str, data: str, attacks: Sequence[str],
                         eps: Iterable[float]) -> list[Condition]:
    """Each target attacked through itself: the white-box reference (the most an attack can do)."""
    return [Condition(t, t, a, e) for t, a, e in product(
        [ModelSpec(domain, arch, init, data) for arch in study.cfg.archs], attacks, list(eps))]


def t2_conditions(study: Study, domain: str) -> list[Condition]:
    """T2, perturbation degree: random init, both on d1, FGSM and PGD over the eps grid, with the shuffled control."""
    c = study.cfg
    return grid_conditions(study, domain, target_data="d1", surrogate_data=["d1"], target_inits=["random"],
                           surrogate_inits=["random"], attacks=c.attacks, eps=c.eps_grid)


def t3_conditions(study: Study, domain: str) -> list[Condition]:
    """T3, pre-training: target init × surrogate init × same/different architecture, on d1."""
    c = study.cfg
    return grid_conditions(study, domain, target_data="d1", surrogate_data=["d1"], target_inits=c.inits,
                           surrogate_inits=c.inits, attacks=c.attacks, eps=[c.eps])


def t4_conditions(study: Study, domain: str) -> list[Condition]:
    """T4, development data: random init; target on d1; surrogate on d1 (second copy), d2 and d2/2."""
    c = study.cfg
    return grid_conditions(study, domain, target_data="d1", surrogate_data=["d1", "d2", "d2/2"],
                           target_inits=["random"], surrogate_inits=["random"], attacks=c.attacks, eps=[c.eps])


def t5_conditions(study: Study, domain: str) -> list[Condition]:
    """T5, pre-training under data difference: target on d1/10, surrogate on d2, init × init."""
    c = study.cfg
    return grid_conditions(study, domain, target_data="d1/10", surrogate_data=["d2"], target_inits=c.inits,
                           surrogate_inits=c.inits, attacks=c.attacks, eps=[c.eps])


def features(cond: Condition) -> dict[str, Any]:
    """What a condition varies, as plain columns (the factors of the paper's tables)."""
    t, s = cond.target, cond.surrogate
    return {
        "domain": t.domain, "target_arch": t.arch, "target_init": t.init, "target_data": t.data,
        "surrogate_arch": s.arch, "surrogate_init": s.init, "surrogate_data": s.data,
        "architecture": "same" if t.arch == s.arch else "different", "pair": f"{s.arch} → {t.arch}",
        "attack": cond.attack, "eps": cond.eps, "perturbation": cond.perturbation, "threat": cond.threat,
    }


def summary(study: Study, conditions: Sequence[Condition], by: Sequence[str]) -> pd.DataFrame:
    """perc_clean per group of conditions (mean over the group, e.g. over architecture pairs), with bootstrap CIs."""
    frame = pd.DataFrame([{**features(c), "_i": i} for i, c in enumerate(conditions)])
    rows = []
    for keys, group in frame.groupby(list(by), sort=False):
        ci = study.perc_clean([conditions[i] for i in group["_i"]])
        rows.append({**dict(zip(by, keys if isinstance(keys, tuple) else (keys,))), "perc_clean": ci["value"],
                     "ci_low": ci["ci_low"], "ci_high": ci["ci_high"], "n_pairs": len(group)})
    return pd.DataFrame(rows)


def clean_summary(study: Study, targets: Iterable[ModelSpec]) -> pd.DataFrame:
    """Clean test AUC of each target with its CI (the paper prints it beside T3 and T5: the pre-training gain)."""
    rows = []
    for t in dict.fromkeys(targets):
        ci = study.clean_auc(t)
        rows.append({"domain": t.domain, "arch": t.arch, "init": t.init, "data": t.data, "auc": ci["value"],
                     "ci_low": ci["ci_low"], "ci_high": ci["ci_high"]})
    return pd.DataFrame(rows)


def format_ci(value: float, low: float, high: float, digits: int = 1) -> str:
    return f"{value:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


def paper_layout(cells: pd.DataFrame, index: Sequence[str], columns: Sequence[str], digits: int = 1) -> pd.DataFrame:
    """Pivot summary cells into the paper's layout, each cell 'value [low, high]'."""
    shown = cells.assign(cell=[format_ci(v, lo, hi, digits) for v, lo, hi in
                               zip(cells["perc_clean"], cells["ci_low"], cells["ci_high"])])
    return shown.pivot_table(index=list(index), columns=list(columns), values="cell", aggfunc="first", sort=False)


def verdict(effect: dict[str, Any], *, expected_sign: int) -> str:
    """'holds', 'fails' or 'unresolved' for a paired effect whose expected direction is ``expected_sign`` (±1)."""
    low, high = effect["ci_low"], effect["ci_high"]
    if low > 0 or high < 0:
        return "holds" if (low > 0) == (expected_sign > 0) else "fails"
    return "unresolved"
