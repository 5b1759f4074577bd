"""The paper's experiments as lists of conditions, and its table layout (cells averaged over architecture pairs).

Each ``*_conditions`` function states one table's design of ../shared/PAPER.md in code; ``summary`` turns conditions
into cells with bootstrap CIs. Notebooks only choose which table and how to show it.
"""
from __future__ import annotations

from dataclasses import dataclass
from itertools import permutations, product
from typing import Any, Callable, Iterable, Sequence

import pandas as pd

from medadv.config import ConfigError, StudyConfig
from medadv.study import PERTURBATIONS, Condition, EnsembleSpec, ModelSpec, Study, same_config_surrogate


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
    """T2, perturbation degree: random init, both on d1, FGSM and PGD over the eps grid, with the shuffled control;
    plus the white-box reference (each target attacked through itself)."""
    c = study.cfg
    return grid_conditions(study, domain, target_data="d1", surrogate_data=["d1"], target_inits=["random"],
                           surrogate_inits=["random"], attacks=c.attacks, eps=c.eps_grid) + white_box_conditions(
        study, domain, init="random", data="d1", attacks=c.attacks, eps=c.eps_grid)


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


# ------------------------------------------------------------------------------------------------------ beyond the paper

#: The paper's iterative attack: the baseline the transfer-enhancing attacks are compared with.
BASELINE_ATTACK = "pgd"


def verdict_attack(cfg: StudyConfig) -> str:
    """The attack a page's verdict uses: PGD where the study runs it, else the study's first attack."""
    return BASELINE_ATTACK if BASELINE_ATTACK in cfg.attacks else cfg.attacks[0]


def copies_conditions(study: Study, domain: str) -> list[Condition]:
    """Beyond the paper, variance between copies: T3's same-architecture pairs of equal initialisation (ImageNet →
    ImageNet, random → random; the profile's first architecture; d1) for every ordered pair of distinct, independently
    trained copies 1 … ``copies`` as (target, surrogate), with the verdict attack at eps. Target copy 1 attacked
    through copy 2 is the paper's single comparison (T3's condition, the same units)."""
    c = study.cfg
    if c.copies < 2:
        raise ConfigError(f"copies must be at least 2 (two independently trained copies make one pair), got {c.copies}")
    arch, attack = c.archs[0], verdict_attack(c)
    return [Condition(ModelSpec(domain, arch, init, "d1", t), ModelSpec(domain, arch, init, "d1", s), attack, c.eps)
            for init in c.inits for t, s in permutations(range(1, c.copies + 1), 2)]


def attack_list(cfg: StudyConfig) -> list[str]:
    """The attacks the transfer-attack page compares: PGD (the baseline) first, then the study's other attacks."""
    return list(dict.fromkeys([BASELINE_ATTACK, *cfg.attacks]))


def attack_conditions(study: Study, domain: str) -> list[Condition]:
    """Beyond the paper, transfer-enhancing attacks: T3's pairs of equal initialisation with targets of the profile's
    first architecture (each init, d1) and surrogates of every architecture of that init (the target's own
    configuration: its second copy), under PGD and each other attack of the study; plus PGD on the ensemble of those
    surrogates (mean logits; never the target itself). Each with the shuffled control."""
    c = study.cfg
    out = []
    for init in c.inits:
        target = ModelSpec(domain, c.archs[0], init, "d1")
        singles = tuple(surrogate_for(target, arch, init, "d1") for arch in c.archs)
        for attack, surrogate, perturbation in product(attack_list(c), singles, PERTURBATIONS):
            out.append(Condition(target, surrogate, attack, c.eps, perturbation))
        if len(singles) > 1:
            out += [Condition(target, EnsembleSpec(singles), BASELINE_ATTACK, c.eps, p) for p in PERTURBATIONS]
    return out


# ------------------------------------------------------------------------------------------------------ tables


def method(cond: Condition) -> str:
    """The attack as the transfer-attack page names it: the attack, or "ensemble <attack>" on an ensemble."""
    return f"ensemble {cond.attack}" if isinstance(cond.surrogate, EnsembleSpec) else cond.attack


def features(cond: Condition) -> dict[str, Any]:
    """What a condition varies, as plain columns (the factors of the paper's tables). An ensemble surrogate's
    architecture is "ensemble" (neither the same nor a different one) and its copy 0."""
    t, s = cond.target, cond.surrogate
    ensemble = isinstance(s, EnsembleSpec)
    return {
        "domain": t.domain, "target_arch": t.arch, "target_init": t.init, "target_data": t.data,
        "target_copy": t.copy, "surrogate_arch": s.arch, "surrogate_init": s.init, "surrogate_data": s.data,
        "surrogate_copy": s.copy,
        "architecture": "ensemble" if ensemble else "same" if t.arch == s.arch else "different",
        "pair": f"{s.arch} → {t.arch}", "attack": cond.attack, "method": method(cond), "eps": cond.eps,
        "perturbation": cond.perturbation, "threat": cond.threat,
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


# page stem -> the conditions it measures (``medadv grid`` plans every unit of the book from this)
PAGE_CONDITIONS: dict[str, Callable[[Study, str], list[Condition]]] = {
    "t2_perturbation": t2_conditions,
    "t3_pretraining": t3_conditions,
    "t4_data": t4_conditions,
    "t5_data_pretraining": t5_conditions,
    "beyond_copies": copies_conditions,
    "beyond_attacks": attack_conditions,
}


@dataclass
class TableResult:
    """Everything a table page shows: tidy rows, cells in the paper's layout, per-pair cells, targets' clean AUC."""

    conditions: dict[str, list[Condition]]
    results: pd.DataFrame
    cells: pd.DataFrame
    pairs: pd.DataFrame
    clean: pd.DataFrame


def run_table(study: Study, conditions_of: Callable[[Study, str], list[Condition]], cell_by: Sequence[str],
              pair_by: Sequence[str]) -> TableResult:
    """Compute a table of the paper for every domain of the study: averaged over architecture pairs (``cell_by``)
    and per pair (``pair_by``), for the adversarial perturbations and their shuffled control."""
    conditions = {d: conditions_of(study, d) for d in study.cfg.domains}
    everything = [c for d in study.cfg.domains for c in conditions[d]]
    targets = [c.target for c in everything]
    results = pd.concat([study.clean_rows(targets), study.transfer_rows(everything)], ignore_index=True)

    def cells_by(by: Sequence[str]) -> pd.DataFrame:
        parts = []
        for d in study.cfg.domains:
            for perturbation in ("adversarial", "shuffled"):
                chosen = [c for c in conditions[d] if c.perturbation == perturbation]
                if chosen:
                    parts.append(summary(study, chosen, ["domain", *by]).assign(perturbation=perturbation))
        return pd.concat(parts, ignore_index=True)

    return TableResult(conditions, results, cells_by(cell_by), cells_by(pair_by), clean_summary(study, targets))


def paired_verdicts(study: Study, table: TableResult, *, a: Callable[[Condition], bool],
                    b: Callable[[Condition], bool], expected_sign: int, attack: str) -> pd.DataFrame:
    """Per domain: mean perc_clean over conditions ``a`` minus over ``b`` (same test images, paired bootstrap CI),
    and whether the paper's direction (``expected_sign``) holds, fails or is unresolved on this build."""
    rows = []
    for domain, conditions in table.conditions.items():
        chosen = [c for c in conditions if c.perturbation == "adversarial" and c.attack == attack]
        group_a, group_b = [c for c in chosen if a(c)], [c for c in chosen if b(c)]
        if not group_a or not group_b:
            continue
        rows.append({"domain": domain, "attack": attack,
                     **contrast(study, group_a, group_b, expected_sign=expected_sign)})
    return pd.DataFrame(rows, columns=["domain", "attack", "difference", "ci_low", "ci_high", "verdict"])


def contrast(study: Study, a: Sequence[Condition], b: Sequence[Condition], *, expected_sign: int) -> dict[str, Any]:
    """Mean perc_clean over ``a`` minus over ``b`` (same test images, paired bootstrap CI) and its verdict: the
    columns (difference, ci_low, ci_high, verdict) every factor table of the book shares."""
    effect = study.perc_clean_difference(a, b)
    return {"difference": effect["value"], "ci_low": effect["ci_low"], "ci_high": effect["ci_high"],
            "verdict": verdict(effect, expected_sign=expected_sign)}


def glue_verdicts(prefix: str, verdicts: pd.DataFrame) -> None:
    """Glue each domain's verdict and effect (``<prefix>_verdict_<domain>``, ``<prefix>_effect_<domain>``) and a
    one-line summary over domains (``<prefix>_summary``) for the page's prose."""
    from myst_nb import glue

    parts = []
    for row in verdicts.itertuples():
        effect = format_ci(row.difference, row.ci_low, row.ci_high)
        glue(f"{prefix}_verdict_{row.domain}", row.verdict, display=False)
        glue(f"{prefix}_effect_{row.domain}", effect, display=False)
        parts.append(f"{row.domain}: {row.verdict} ({effect} points)")
    glue(f"{prefix}_summary", "; ".join(parts) or "not tested with these parameters", display=False)


def show_tables(cells: pd.DataFrame, index: Sequence[str], columns: Sequence[str], *, perturbation: str,
                caption: str = "") -> None:
    """Display one paper-layout table per domain (in a notebook)."""
    from IPython.display import Markdown, display

    for domain in cells["domain"].unique():
        part = cells[(cells.domain == domain) & (cells.perturbation == perturbation)]
        display(Markdown(f"**{domain}**, {perturbation} perturbations{caption}"))
        display(paper_layout(part, index, columns))


def perceptibility_rows(study: Study, conditions: Sequence[Condition]) -> pd.DataFrame:
    """PSNR, SSIM and norms of each surrogate's adversarial set (one row per surrogate, attack and eps)."""
    from medadv.metrics import perceptibility

    rows = []
    seen = set()
    for c in conditions:
        key = (c.surrogate, c.attack, c.eps)
        if c.perturbation != "adversarial" or key in seen:
            continue
        seen.add(key)
        test = study.test(c.surrogate.domain)
        delta = study.delta(c.surrogate, c.attack, c.eps)
        values = perceptibility(test.images, delta, image_size=study.cfg.image_size)
        rows.append({"domain": c.surrogate.domain, "surrogate": c.surrogate.label(), "attack": c.attack,
                     "method": method(c), "eps": c.eps, **values})
    return pd.DataFrame(rows)


def working_eps(cells: pd.DataFrame, *, attack: str = "pgd", share: float = 0.75) -> float | None:
    """The paper's criterion, made computable: the smallest eps whose black-box attack reaches ``share`` of the
    largest black-box effect (100 − perc_clean) over the grid, with its CI clear of the shuffled control's.
    None when no eps of the grid transfers beyond the control."""
    bb = cells[(cells.threat == "black-box") & (cells.attack == attack)]
    adv = bb[bb.perturbation == "adversarial"].set_index("eps").sort_index()
    ctrl = bb[bb.perturbation == "shuffled"].set_index("eps").sort_index()
    beats = adv["ci_high"] < ctrl.reindex(adv.index)["ci_low"]
    effect = (100 - adv["perc_clean"]).where(beats)
    if effect.isna().all() or effect.max() <= 0:
        return None
    return float(effect[effect >= share * effect.max()].index.min())
