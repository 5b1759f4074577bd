"""The paper's experiments as lists of conditions, and its table layout (cells averaged over architecture pairs).

Each ``*_conditions`` function states one table's design of ../shared/PAPER.md in code; ``summary`` turns conditions
into cells with bootstrap CIs. Notebooks only choose which table and how to show it.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from itertools import permutations, product
from typing import Any, Callable, Iterable, Sequence

import pandas as pd

from medadv.config import ConfigError, StudyConfig
from medadv.study import PERTURBATIONS, Condition, EnsembleSpec, ModelSpec, Study, same_config_surrogate


def surrogate_for(target: ModelSpec, arch: str, init: str, data: str, *, shared_init: bool = False) -> ModelSpec:
    """The surrogate of the given configuration; if it equals the target's, the independent second copy.
    ``shared_init``: a random-init surrogate of a random-init target's architecture starts from the target's initial
    weights (the shared-initialisation control)."""
    candidate = ModelSpec(target.domain, arch, init, data, copy=target.copy)
    surrogate = same_config_surrogate(target) if candidate == target else ModelSpec(target.domain, arch, init, data)
    if shared_init and arch == target.arch and init == target.init == "random":
        return replace(surrogate, init_of=target)
    return surrogate


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
        surrogate = surrogate_for(target, s_arch, s_init, s_data, shared_init=study.cfg.shared_init)
        out.append(Condition(target, surrogate, attack, e, pert))
    return out


def white_box_conditions(study: Study, domain: str, *, init: str, data: str, attacks: Sequence[str],
                         eps: Iterable[float]) -> list[Condition]:
    """Each target attacked through itself: the white-box reference (the most an attack can do), with its control."""
    return [Condition(t, t, a, e, p) for t, a, e, p in product(
        [ModelSpec(domain, arch, init, data) for arch in study.cfg.archs], attacks, list(eps), PERTURBATIONS)]


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
    trained copies 1 … ``copies`` as (target, surrogate), with the verdict attack at eps and the shuffled control.
    Target copy 1 attacked through copy 2 is the paper's single comparison (T3's condition, the same units)."""
    c = study.cfg
    if c.copies < 2:
        raise ConfigError(f"copies must be at least 2 (two independently trained copies make one pair), got {c.copies}")
    arch, attack = c.archs[0], verdict_attack(c)
    return [Condition(ModelSpec(domain, arch, init, "d1", t), ModelSpec(domain, arch, init, "d1", s), attack, c.eps, p)
            for init in c.inits for t, s in permutations(range(1, c.copies + 1), 2) for p in PERTURBATIONS]


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
        singles = tuple(surrogate_for(target, arch, init, "d1", shared_init=c.shared_init) for arch in c.archs)
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
        "surrogate_copy": s.copy, "shared_init": isinstance(s, ModelSpec) and s.init_of is not None,
        "architecture": "ensemble" if ensemble else "same" if t.arch == s.arch else "different",
        "pair": f"{s.arch} → {t.arch}", "attack": cond.attack, "method": method(cond), "eps": cond.eps,
        "perturbation": cond.perturbation, "threat": cond.threat,
    }


#: A target whose clean AUC's 95% CI reaches below this is near chance: its perc_clean divides by little more than
#: noise (a target that loses all its signal under attack falls only to 0.5 / 0.6 = 83%), so cells that rest on it
#: are marked and verdicts that rest on them are unresolved.
NEAR_CHANCE_AUC = 0.6
#: The marks a table cell can carry, and what they mean (shown under every table that uses them).
MARKS = {
    "∘": "the adversarial perturbation does not beat its shuffled control (paired 95% CI of the difference includes 0 "
         "or lies above it): no transfer beyond noise of the same size",
    "†": f"a target of the cell is near chance (clean AUC CI reaches below {NEAR_CHANCE_AUC})",
}


def shuffled_twins(conditions: Sequence[Condition]) -> list[Condition]:
    """The shuffled control of each condition: the same perturbation at random pixel positions."""
    return [replace(c, perturbation="shuffled") for c in conditions]


def near_chance(study: Study, targets: Iterable[ModelSpec]) -> bool:
    """Whether any of ``targets`` is near chance (``NEAR_CHANCE_AUC``)."""
    return any(study.clean_auc(t)["ci_low"] < NEAR_CHANCE_AUC for t in dict.fromkeys(targets))


def versus_control(study: Study, conditions: Sequence[Condition]) -> dict[str, Any]:
    """Mean perc_clean of adversarial ``conditions`` minus that of their shuffled controls (paired bootstrap on the
    same test images): negative beyond its CI means the attack transfers beyond noise of the same size and norm."""
    effect = study.perc_clean_difference(conditions, shuffled_twins(conditions))
    return {"control_diff": effect["value"], "control_low": effect["ci_low"], "control_high": effect["ci_high"],
            "beats_control": bool(effect["ci_high"] < 0)}


def summary(study: Study, conditions: Sequence[Condition], by: Sequence[str]) -> pd.DataFrame:
    """perc_clean per group of conditions (mean over the group, e.g. over architecture pairs), with bootstrap CIs.

    Adversarial groups also get their paired difference to the shuffled control (``versus_control``) and whether a
    target is near chance (``near_chance``), from which ``mark`` (see ``MARKS``) says whether the cell can be read."""
    frame = pd.DataFrame([{**features(c), "_i": i} for i, c in enumerate(conditions)])
    rows = []
    for keys, group in frame.groupby(list(by), sort=False):
        chosen = [conditions[i] for i in group["_i"]]
        ci = study.perc_clean(chosen)
        row = {**dict(zip(by, keys if isinstance(keys, tuple) else (keys,))), "perc_clean": ci["value"],
               "ci_low": ci["ci_low"], "ci_high": ci["ci_high"], "n_pairs": len(group)}
        if all(c.perturbation == "adversarial" for c in chosen):
            row.update(versus_control(study, chosen))
            row["near_chance"] = near_chance(study, (c.target for c in chosen))
            row["mark"] = ("" if row["beats_control"] else "∘") + ("†" if row["near_chance"] else "")
        rows.append(row)
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
    """Pivot summary cells into the paper's layout, each cell 'value [low, high]' and its mark (``MARKS``)."""
    marks = cells["mark"].fillna("") if "mark" in cells else [""] * len(cells)
    shown = cells.assign(cell=[format_ci(v, lo, hi, digits) + (f" {m}" if m else "") for v, lo, hi, m in
                               zip(cells["perc_clean"], cells["ci_low"], cells["ci_high"], marks)])
    return shown.pivot_table(index=list(index), columns=list(columns), values="cell", aggfunc="first", sort=False)


#: The paper's two attacks: its T2 sets them side by side, its T3–T5 average them.
PAPER_ATTACKS = ("fgsm", "pgd")
#: The rows of each of the paper's tables, as the authors' ``generate_final_tables.py`` groups and sorts them (same
#: architecture before different, pre-trained before random, d1, d2, d2/2); T2 adds the domain above its rows.
PAPER_ROWS: dict[str, tuple[str, ...]] = {
    "t2": ("domain", "perturbation"), "t3": ("architecture", "target_init", "surrogate_init"),
    "t4": ("architecture", "surrogate_data"), "t5": ("architecture", "target_init", "surrogate_init"),
}
PAPER_METRICS = {"auc": "AUC", "perc_clean": "% of clean"}
_ORDER = {"architecture": ["same", "different"], "target_init": ["imagenet", "random"],
          "surrogate_init": ["imagenet", "random"], "surrogate_data": ["d1", "d2", "d2/2"],
          "perturbation": ["adversarial", "shuffled"], "attack": list(PAPER_ATTACKS), "metric": list(PAPER_METRICS)}
_SHOWN = {"imagenet": "ImageNet", "shuffled": "shuffled control", "fgsm": "FGSM", "pgd": "PGD"}
_NAMES = {"target_init": "target init", "surrogate_init": "surrogate init", "surrogate_data": "surrogate data"}
EPS_LEVEL = "eps on [0, 1] (the paper's: ×2)"


def _in_paper_order(frame: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    """``keys`` as ordered categories: the paper's order where it has one, else the order of appearance."""
    out = frame.copy()
    for key in keys:
        order = [v for v in _ORDER.get(key, []) if v in set(out[key])] or list(pd.unique(out[key]))
        out[key] = pd.Categorical(out[key], categories=order + [v for v in pd.unique(out[key]) if v not in order])
    return out


def _shown(index: pd.Index) -> pd.Index:
    """Our values and level names as the paper's table prints them (ImageNet, FGSM, "target init", ...)."""
    names = [_NAMES.get(n, n) for n in index.names]
    if isinstance(index, pd.MultiIndex):
        return pd.MultiIndex.from_tuples([tuple(_SHOWN.get(v, v) for v in k) for k in index], names=names)
    return pd.Index([_SHOWN.get(v, v) for v in index], name=names[0])


def paper_table(results: pd.DataFrame, table: str) -> pd.DataFrame:
    """The paper's table ``table`` ("t2" … "t5") exactly as its authors print it, from a page's tidy results.

    T2: the mean AUC under attack over the black-box architecture pairs, rows adversarial vs shuffled control (per
    domain), columns attack × eps, to 2 decimals. T3–T5: the mean AUC under attack and the mean % of clean over the
    architecture pairs of each kind and over FGSM and PGD together (the authors group by architecture relation and
    initialisation or data only), AUC to 2 decimals, % to whole numbers, domains as column groups. Only the paper's
    attacks and black-box pairs count; the CIs, marks and per-attack cells are the page's richer tables."""
    if table not in PAPER_ROWS:
        raise ValueError(f"unknown table {table!r}; the paper's tables here: {', '.join(PAPER_ROWS)}")
    rows = list(PAPER_ROWS[table])
    chosen = results[(results.threat == "black-box") & results.attack.isin(PAPER_ATTACKS)]
    chosen = chosen.assign(architecture=["same" if t == s else "different"
                                         for t, s in zip(chosen.target_arch, chosen.surrogate_arch)])
    if table == "t2":
        auc = _in_paper_order(chosen[chosen.metric == "auc"], [*rows, "attack"])
        wide = auc.groupby([*rows, "attack", "eps"], observed=True)["value"].mean().unstack(["attack", "eps"])
        wide = wide.round(2)
        wide.columns = _shown(wide.columns).set_names(["attack", EPS_LEVEL])
        wide.index = _shown(wide.index)
        return wide
    adv = _in_paper_order(chosen[(chosen.perturbation == "adversarial") & chosen.metric.isin(PAPER_METRICS)],
                          ["domain", *rows, "metric"])
    wide = adv.groupby([*rows, "domain", "metric"], observed=True)["value"].mean().unstack(["domain", "metric"])
    out = pd.concat({(domain, PAPER_METRICS[metric]): wide[(domain, metric)].round(2) if metric == "auc"
                     else wide[(domain, metric)].round(0).astype("Int64") for domain, metric in wide.columns}, axis=1)
    out.columns = out.columns.set_names(["domain", ""])
    out.index = _shown(wide.index)
    return out


def paper_clean_table(results: pd.DataFrame) -> pd.DataFrame:
    """The targets' clean AUC as the paper prints it beside T3 and T5: the mean over architectures per target
    initialisation (pre-trained first), one column per domain, to 2 decimals."""
    clean = _in_paper_order(results[(results.metric == "auc") & (results.attack == "none")], ["domain", "target_init"])
    wide = clean.groupby(["target_init", "domain"], observed=True)["value"].mean().unstack("domain").round(2)
    wide.index = _shown(wide.index)
    wide.columns.name = "clean AUC"
    return wide


def control_tally(cells: pd.DataFrame) -> dict[str, Any]:
    """How many black-box adversarial cells lie below their shuffled control (point estimate) and how many beat it
    beyond noise (paired CI below zero): the share of a table that shows transfer at all."""
    adv = cells[(cells.perturbation == "adversarial") & (cells.get("threat", "black-box") == "black-box")]
    n = len(adv)
    below, beats = int((adv.control_diff < 0).sum()), int(adv.beats_control.sum())
    return {"cells": n, "below": below, "beats": beats, "near_chance": int(adv.near_chance.sum()),
            "text": f"{below} of {n} black-box cells below their shuffled control, {beats} beyond noise"
                    f"{'; ' + str(int(adv.near_chance.sum())) + ' rest on a target near chance' if adv.near_chance.any() else ''}"}


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


def unreadable(study: Study, pairs: Sequence[tuple[Sequence[Condition], Sequence[Condition]]],
               labels: Sequence[str] = ()) -> str:
    """Why a comparison of the groups in ``pairs`` cannot be read, or "": a target near chance, or a pair (a, b) where
    neither side's adversarial perturbations beat their shuffled control (nothing transfers: nothing to compare).
    ``labels`` name the pairs in the reason."""
    if near_chance(study, (c.target for a, b in pairs for c in (*a, *b))):
        return f"a target is near chance (clean AUC CI below {NEAR_CHANCE_AUC})"
    for i, (a, b) in enumerate(pairs):
        if not (versus_control(study, a)["beats_control"] or versus_control(study, b)["beats_control"]):
            where = f" ({labels[i]})" if i < len(labels) else ""
            return f"neither side transfers beyond its shuffled control{where}"
    return ""


def _reading(effect: dict[str, Any], note: str, expected_sign: int) -> dict[str, Any]:
    return {"difference": effect["value"], "ci_low": effect["ci_low"], "ci_high": effect["ci_high"],
            "verdict": "unresolved" if note else verdict(effect, expected_sign=expected_sign), "note": note}


def contrast(study: Study, a: Sequence[Condition], b: Sequence[Condition], *, expected_sign: int) -> dict[str, Any]:
    """Mean perc_clean over ``a`` minus over ``b`` (same test images, paired bootstrap CI) and its verdict: the
    columns (difference, ci_low, ci_high, verdict, note) every factor table of the book shares.

    A contrast rests on transfer: where neither side's adversarial perturbations beat their shuffled control, or a
    target is near chance, there is nothing to compare and the verdict is "unresolved", with the reason in ``note``."""
    return _reading(study.perc_clean_difference(a, b), unreadable(study, [(a, b)]), expected_sign)


def interaction(study: Study, first: tuple[Sequence[Condition], Sequence[Condition]],
                second: tuple[Sequence[Condition], Sequence[Condition]], *, expected_sign: int,
                labels: Sequence[str] = ("first", "second")) -> dict[str, Any]:
    """A difference of differences, (mean a₁ − mean b₁) − (mean a₂ − mean b₂) of perc_clean, all four groups on the
    same test resamples (paired bootstrap), with ``contrast``'s columns. Unresolved where either difference has no
    side that transfers beyond its control, or a target is near chance: an effect that cannot show on one side
    cannot be amplified there."""
    (a1, b1), (a2, b2) = first, second
    effect = study.perc_clean_contrast([a1, b1, a2, b2], [1.0, -1.0, -1.0, 1.0])
    return _reading(effect, unreadable(study, [first, second], labels), expected_sign)


def glue_tally(prefix: str, cells: pd.DataFrame) -> pd.DataFrame:
    """Glue ``<prefix>_tally``: per domain, how many black-box cells lie below their shuffled control and beat it
    beyond noise (``control_tally``); returns the tally per domain."""
    from myst_nb import glue

    rows = [{"domain": d, **control_tally(part)} for d, part in cells.groupby("domain", sort=False)]
    glue(f"{prefix}_tally", "; ".join(f"{r['domain']}: {r['text']}" for r in rows) or "no cells", display=False)
    return pd.DataFrame(rows)


def show_tables(cells: pd.DataFrame, index: Sequence[str], columns: Sequence[str], *, perturbation: str,
                caption: str = "") -> None:
    """Display one paper-layout table per domain (in a notebook)."""
    from IPython.display import Markdown, display

    for domain in cells["domain"].unique():
        part = cells[(cells.domain == domain) & (cells.perturbation == perturbation)]
        display(Markdown(f"**{domain}**, {perturbation} perturbations{caption}"))
        display(paper_layout(part, index, columns))
        used = [m for m in MARKS if "mark" in part and part["mark"].fillna("").str.contains(m).any()]
        if used:
            display(Markdown("; ".join(f"{m}: {MARKS[m]}" for m in used) + "."))


def perceptibility_rows(study: Study, conditions: Sequence[Condition]) -> pd.DataFrame:
    """PSNR, SSIM and norms of each surrogate's adversarial set (one row per surrogate, attack and eps), over its
    stored perturbations (``Study.perceptibility``: ``n_images`` of them)."""
    rows = []
    seen = set()
    for c in conditions:
        key = (c.surrogate, c.attack, c.eps)
        if c.perturbation != "adversarial" or key in seen:
            continue
        seen.add(key)
        values = study.perceptibility(c.surrogate, c.attack, c.eps)
        rows.append({"domain": c.surrogate.domain, "surrogate": c.surrogate.label(), "attack": c.attack,
                     "method": method(c), "eps": c.eps, **values})
    return pd.DataFrame(rows)


def working_eps(cells: pd.DataFrame, *, attack: str = "pgd", share: float = 0.75) -> float | None:
    """The paper's criterion, made computable: the smallest eps whose black-box attack reaches ``share`` of the
    largest black-box effect beyond the shuffled control (control − adversarial perc_clean) over the grid, and beats
    its control (paired CI of the difference below zero). None when no eps of the grid transfers beyond the control."""
    adv = cells[(cells.threat == "black-box") & (cells.attack == attack) & (cells.perturbation == "adversarial")]
    adv = adv.set_index("eps").sort_index()
    effect = (-adv["control_diff"]).where(adv["beats_control"].astype(bool))
    if effect.isna().all() or effect.max() <= 0:
        return None
    return float(effect[effect >= share * effect.max()].index.min())
