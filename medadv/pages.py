"""What the book's reference pages compute (methods, targets, gain vs transfer, architecture, course, reproduce).

Why a module: the pages only choose and show; the sizes, gains, fits, matrices and plans they show are computed here,
once, so two pages never disagree and a test can call the same code.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

from medadv import metrics
from medadv.config import PARAMS_DIR, StudyConfig, read_yaml
from medadv.data import DataError, development_set
from medadv.paper import (BASELINE_ATTACK, PAGE_CONDITIONS, clean_summary, contrast, method, summary, t3_conditions,
                          white_box_conditions)
from medadv.study import Condition, EnsembleSpec, ModelSpec, Study

# ------------------------------------------------------------------------------------------------------ the paper

#: The paper's setting (../shared/PAPER.md), per domain where it differs. eps and steps on the paper's [-1, 1] scale.
PAPER_SETTING: dict[str, Any] = {
    "dataset": {"ophthalmology": "EyePACS (Kaggle DR)", "radiology": "NIH ChestX-ray14", "pathology": "PatchCamelyon"},
    "image_size": {"ophthalmology": 512, "radiology": 224, "pathology": 96},
    "archs": ("inception_v3", "densenet121"),
    "inits": ("imagenet", "random"),
    "attacks": ("fgsm", "pgd"),
    "eps_paper_scale": 0.02,
    "pgd_steps": 20,
    "pgd_alpha_paper_scale": 0.01,
    "copies": 1,  # one trained model per configuration (plus the second copy as the same-everything surrogate)
}
REAL_DATASETS = {"ophthalmology": "fundus", "radiology": "chestxray", "pathology": "pcam"}


def paper_setting_differences(cfg: StudyConfig) -> pd.DataFrame:
    """Where ``cfg`` departs from the paper's setting: one row per setting (and domain where it is per domain), with
    both values and whether they differ. eps and step sizes are compared on the paper's [-1, 1] scale (2 × ours)."""
    rows: list[dict[str, Any]] = []

    def add(setting: str, ours: Any, paper: Any, same: bool | None = None) -> None:
        rows.append({"setting": setting, "this build": str(ours), "paper": str(paper),
                     "differs": (ours != paper) if same is None else not same})

    for domain in cfg.domains:
        dataset, image_size = cfg.for_domain(domain).dataset, cfg.for_domain(domain).image_size
        ours = dataset if dataset != "synthetic" else "synthetic (generated)"
        add(f"data set ({domain})", ours, PAPER_SETTING["dataset"][domain], same=dataset == REAL_DATASETS[domain])
        add(f"image size, px ({domain})", image_size, PAPER_SETTING["image_size"][domain])
    add("architectures", ", ".join(cfg.archs), ", ".join(PAPER_SETTING["archs"]),
        same=tuple(cfg.archs) == PAPER_SETTING["archs"])
    add("initialisations", ", ".join(cfg.inits), ", ".join(PAPER_SETTING["inits"]),
        same=set(cfg.inits) == set(PAPER_SETTING["inits"]))
    add("attacks", ", ".join(cfg.attacks), ", ".join(PAPER_SETTING["attacks"]),
        same=set(cfg.attacks) == set(PAPER_SETTING["attacks"]))
    add("eps on [-1, 1] (ours × 2)", round(2 * cfg.eps, 6), PAPER_SETTING["eps_paper_scale"])
    add("PGD steps", cfg.pgd_steps, PAPER_SETTING["pgd_steps"])
    add("PGD step on [-1, 1] (ours × 2)", round(2 * cfg.pgd_alpha, 6), PAPER_SETTING["pgd_alpha_paper_scale"])
    add("development images (d1, train + val)", cfg.n_dev, "43,622 (radiology)", same=False)
    add("uncertainty", f"bootstrap CIs ({cfg.n_boot} resamples)", "none reported", same=False)
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------------------------------ data and models


def development_set_sizes(study: Study, names: Sequence[str] = ("d1", "d2", "d2/2", "d1/10")) -> pd.DataFrame:
    """Images and patients of each development set (train and validation) and of the test set, per domain."""
    rows = []
    for domain in study.cfg.domains:
        spec = study.data_spec(domain)
        for name in names:
            train, val = development_set(spec, name, study.data_root(domain))
            rows.append({"domain": domain, "set": name, "train": len(train), "validation": len(val),
                         "patients": len(np.unique(np.concatenate([train.patients, val.patients])))})
        test = study.test(domain)
        rows.append({"domain": domain, "set": "test", "train": 0, "validation": 0, "test": len(test),
                     "patients": len(np.unique(test.patients))})
    return pd.DataFrame(rows).fillna({"test": 0}).astype({"test": int})


#: The factor pages whose models the reference pages describe (T2 trains a subset of T3's random d1 models).
FACTOR_PAGES = ("t3_pretraining", "t4_data", "t5_data_pretraining")


def trained_configurations(study: Study, domain: str, pages: Sequence[str] = FACTOR_PAGES) -> list[ModelSpec]:
    """Every model configuration (copy 1) the factor pages train in ``domain``, as target or surrogate, in order."""
    seen: dict[ModelSpec, None] = {}
    for page in pages:
        for cond in PAGE_CONDITIONS[page](study, domain):
            for spec in (cond.target, cond.surrogate):
                seen.setdefault(ModelSpec(spec.domain, spec.arch, spec.init, spec.data), None)
    order = {"d1": 0, "d2": 1, "d2/2": 2, "d1/10": 3}
    return sorted(seen, key=lambda s: (order.get(s.data, 9), study.cfg.archs.index(s.arch), s.init))


def clean_table(study: Study, specs: Iterable[ModelSpec]) -> pd.DataFrame:
    """Clean test AUC with its CI, training size and where the initial weights came from, per model."""
    rows = []
    for spec in specs:
        ci = study.clean_auc(spec)
        history = study.history(spec)
        rows.append({"domain": spec.domain, "arch": spec.arch, "init": spec.init, "data": spec.data,
                     "n_train": history.get("n_train"), "auc": ci["value"], "ci_low": ci["ci_low"],
                     "ci_high": ci["ci_high"], "weights_source": history.get("weights_source")})
    return pd.DataFrame(rows)


def pretraining_gain(study: Study, domain: str, arch: str, data: str) -> dict[str, Any]:
    """Clean AUC of the ImageNet-initialised minus the randomly initialised model (same arch and data), paired
    bootstrap over the same test patients."""
    test = study.test(domain)
    a = study.clean_scores(ModelSpec(domain, arch, "imagenet", data))
    b = study.clean_scores(ModelSpec(domain, arch, "random", data))
    return metrics.paired_bootstrap(metrics.auc, test.labels, a, b, groups=test.patients, n_boot=study.cfg.n_boot,
                                    seed=study.cfg.seed)


def pretraining_gains(study: Study, specs: Iterable[ModelSpec]) -> pd.DataFrame:
    """The pre-training gain for every (domain, arch, data) among ``specs`` that has both initialisations."""
    specs = list(specs)
    have = {(s.domain, s.arch, s.data, s.init) for s in specs}
    rows = []
    for domain, arch, data in dict.fromkeys((s.domain, s.arch, s.data) for s in specs):
        if {(domain, arch, data, "imagenet"), (domain, arch, data, "random")} <= have:
            g = pretraining_gain(study, domain, arch, data)
            rows.append({"domain": domain, "arch": arch, "data": data, "gain": g["value"], "ci_low": g["ci_low"],
                         "ci_high": g["ci_high"], "auc_imagenet": g["value_a"], "auc_random": g["value_b"]})
    return pd.DataFrame(rows, columns=["domain", "arch", "data", "gain", "ci_low", "ci_high", "auc_imagenet",
                                       "auc_random"])


def gain_by_size(gains: pd.DataFrame, sizes: pd.DataFrame) -> pd.DataFrame:
    """Mean pre-training gain per domain and development set, with its training size (smallest set first)."""
    train = sizes.set_index(["domain", "set"])["train"]
    out = gains.groupby(["domain", "data"], as_index=False, sort=False)["gain"].mean()
    out["n_train"] = [int(train.get((d, s), 0)) for d, s in zip(out.domain, out.data)]
    return out.sort_values(["domain", "n_train"]).reset_index(drop=True)


def gain_largest_where_smallest(by_size: pd.DataFrame) -> str:
    """One sentence per domain: is the mean pre-training gain largest on the smallest development set?"""
    parts = []
    for domain, part in by_size.groupby("domain", sort=False):
        smallest = part.loc[part.n_train.idxmin()]
        largest_gain = part.loc[part.gain.idxmax()]
        answer = "yes" if smallest.data == largest_gain.data else "no"
        parts.append(f"{domain}: {answer} (largest gain {largest_gain.gain:+.3f} on {largest_gain.data}; "
                     f"{smallest.gain:+.3f} on the smallest set, {smallest.data}, {int(smallest.n_train)} images)")
    return "; ".join(parts) or "not computed"


# ------------------------------------------------------------------------------------------------------ gain vs transfer


def transfer_gain(study: Study, domain: str, arch: str, attack: str = "pgd") -> dict[str, Any]:
    """How much pre-training raises transfer to targets of ``arch``: perc_clean(random → random) −
    perc_clean(imagenet → imagenet) over T3's surrogates of every architecture (paired bootstrap); positive means
    pre-trained pairs lose more AUC."""
    chosen = [c for c in t3_conditions(study, domain) if c.perturbation == "adversarial" and c.attack == attack
              and c.target.arch == arch]
    random = [c for c in chosen if c.target.init == c.surrogate.init == "random"]
    imagenet = [c for c in chosen if c.target.init == c.surrogate.init == "imagenet"]
    return study.perc_clean_difference(random, imagenet)


def gain_vs_transfer_points(study: Study, attack: str = "pgd") -> pd.DataFrame:
    """One point per domain × architecture: x the pre-training gain in clean AUC (d1), y the transfer gain."""
    rows = []
    for domain in study.cfg.domains:
        for arch in study.cfg.archs:
            g = pretraining_gain(study, domain, arch, "d1")
            t = transfer_gain(study, domain, arch, attack)
            rows.append({"domain": domain, "arch": arch, "attack": attack, "auc_gain": g["value"],
                         "auc_gain_low": g["ci_low"], "auc_gain_high": g["ci_high"], "transfer_gain": t["value"],
                         "transfer_gain_low": t["ci_low"], "transfer_gain_high": t["ci_high"]})
    return pd.DataFrame(rows)


def linear_trend(x: Sequence[float], y: Sequence[float], *, n_boot: int = 1000, seed: int = 0, level: float = 0.95,
                 grid: int = 50) -> tuple[dict[str, Any], pd.DataFrame]:
    """Least-squares line y = a + b·x with a bootstrap over points: the slope with its CI, and the fitted line with a
    pointwise CI band on a grid over x. Needs 3 points with distinct x for a CI (fewer: the CI is NaN); resamples
    whose x are all equal are left out."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    n = len(x)
    xs = np.linspace(x.min(), x.max(), grid) if n else np.array([])
    if n < 2 or np.ptp(x) == 0:
        nan = float("nan")
        return ({"slope": nan, "ci_low": nan, "ci_high": nan, "intercept": nan, "n_points": n},
                pd.DataFrame({"x": xs, "fit": nan, "low": nan, "high": nan}))
    slope, intercept = np.polyfit(x, y, 1)
    low = high = float("nan")
    band_low = band_high = np.full(len(xs), np.nan)
    if n >= 3:
        rng = np.random.default_rng(seed)
        idx = rng.integers(0, n, (n_boot, n))
        fits = [np.polyfit(x[i], y[i], 1) for i in idx if np.ptp(x[i]) > 0]
        if fits:
            coef = np.array(fits)
            q = [(1 - level) / 2, (1 + level) / 2]
            low, high = (float(v) for v in np.quantile(coef[:, 0], q))
            lines = coef[:, :1] * xs[None, :] + coef[:, 1:]
            band_low, band_high = np.quantile(lines, q, axis=0)
    band = pd.DataFrame({"x": xs, "fit": intercept + slope * xs, "low": band_low, "high": band_high})
    return {"slope": float(slope), "ci_low": low, "ci_high": high, "intercept": float(intercept), "n_points": n}, band


# ------------------------------------------------------------------------------------------------------ architecture


def transfer_matrix(study: Study, attacks: Sequence[str] | None = None) -> pd.DataFrame:
    """T3's conditions one by one (surrogate arch/init × target arch/init, d1) plus the white-box diagonal (each
    target through itself): perc_clean with CIs, adversarial perturbations, per domain and attack."""
    attacks = list(attacks or study.cfg.attacks)
    parts = []
    for domain in study.cfg.domains:
        black = [c for c in t3_conditions(study, domain) if c.perturbation == "adversarial" and c.attack in attacks]
        white: list[Condition] = []
        for init in study.cfg.inits:
            white += [c for c in white_box_conditions(study, domain, init=init, data="d1", attacks=attacks,
                                                      eps=[study.cfg.eps]) if c.perturbation == "adversarial"]
        by = ["domain", "attack", "threat", "surrogate_arch", "surrogate_init", "target_arch", "target_init"]
        parts.append(summary(study, black + white, by))
    out = pd.concat(parts, ignore_index=True).drop(columns="n_pairs")
    out["surrogate"] = out.surrogate_arch + " / " + out.surrogate_init
    out["target"] = out.target_arch + " / " + out.target_init
    return out


# ------------------------------------------------------------------------------------------------------ beyond: copies

_Z95 = 1.959963984540054  # a 95% normal interval spans ±1.96 standard errors
ALL_PAIRS = "all pairs (mean)"


def copy_pair_cells(study: Study, conditions: Sequence[Condition]) -> pd.DataFrame:
    """perc_clean of each (surrogate copy → target copy) pair with its bootstrap CI, per domain, attack and
    initialisation (adversarial perturbations); ``paper_pair`` marks the paper's single comparison, 2 → 1."""
    chosen = [c for c in conditions if c.perturbation == "adversarial"]
    cells = summary(study, chosen, ["domain", "attack", "target_init", "surrogate_copy", "target_copy"])
    cells = cells.drop(columns="n_pairs")
    cells["pair"] = [f"{s} → {t}" for s, t in zip(cells.surrogate_copy, cells.target_copy)]
    cells["paper_pair"] = (cells.target_copy == 1) & (cells.surrogate_copy == 2)
    return cells


def copy_clean_auc(study: Study, conditions: Sequence[Condition]) -> pd.DataFrame:
    """Clean test AUC with its CI of every target copy among ``conditions`` (``clean_summary`` plus the copy)."""
    targets = list(dict.fromkeys(c.target for c in conditions))
    frame = clean_summary(study, targets)
    frame.insert(3, "copy", [t.copy for t in targets])
    return frame


def seed_vs_sampling(cells: pd.DataFrame, *, value: str, by: Sequence[str], level: float = 0.95) -> pd.DataFrame:
    """Seed noise against sampling noise, per group of ``by``.

    Seed noise: the SD of ``value`` over the group's rows (independently trained copies, or pairs of them, all measured
    on the same test images, so only the training seed differs), with a chi-square interval as if the rows were
    independent normal draws (pairs that share a copy are not, so read it as a lower bound on the uncertainty).
    Sampling noise: the bootstrap standard error of one row, its CI width / (2 × 1.96), averaged over the rows.
    ``larger`` is "seed" where the SD's interval lies above that standard error, "sampling" where below, else
    "comparable"; ``ratio`` is SD / standard error."""
    from scipy.stats import chi2

    rows = []
    for keys, group in cells.groupby(list(by), sort=False):
        values = group[value].astype(float)
        n = len(values)
        sd = float(values.std(ddof=1)) if n > 1 else float("nan")
        low = high = float("nan")
        if n > 1:
            low = sd * float(np.sqrt((n - 1) / chi2.ppf((1 + level) / 2, n - 1)))
            high = sd * float(np.sqrt((n - 1) / chi2.ppf((1 - level) / 2, n - 1)))
        se = float(((group["ci_high"] - group["ci_low"]) / (2 * _Z95)).mean())
        ratio = sd / se if se > 0 and np.isfinite(sd) else float("nan")
        larger = "n/a" if not np.isfinite(ratio) else "seed" if low > se else "sampling" if high < se else "comparable"
        rows.append({**dict(zip(by, keys if isinstance(keys, tuple) else (keys,))), "n": n,
                     "mean": float(values.mean()), "min": float(values.min()), "max": float(values.max()),
                     "seed_sd": sd, "seed_sd_low": low, "seed_sd_high": high, "sampling_se": se, "ratio": ratio,
                     "larger": larger})
    return pd.DataFrame(rows, columns=[*by, "n", "mean", "min", "max", "seed_sd", "seed_sd_low", "seed_sd_high",
                                       "sampling_se", "ratio", "larger"])


def copy_pair_verdicts(study: Study, conditions: Sequence[Condition], *, pretrained: str = "imagenet",
                       scratch: str = "random") -> pd.DataFrame:
    """T3's verdict once per copy pair: perc_clean(``pretrained`` pair) − perc_clean(``scratch`` pair) for the same
    (surrogate copy → target copy), on the same test images (paired bootstrap); the paper's direction is negative.
    Last per domain, ``ALL_PAIRS``: the same difference of means over every pair (seed noise averaged out)."""
    columns = ["domain", "pair", "paper_pair", "difference", "ci_low", "ci_high", "verdict"]
    rows = []
    chosen = [c for c in conditions if c.perturbation == "adversarial"]
    for domain in dict.fromkeys(c.target.domain for c in chosen):
        here = [c for c in chosen if c.target.domain == domain]
        pairs = list(dict.fromkeys((c.surrogate.copy, c.target.copy) for c in here))
        for pair in [*pairs, None]:
            def pick(init: str) -> list[Condition]:
                return [c for c in here if c.target.init == c.surrogate.init == init
                        and (pair is None or (c.surrogate.copy, c.target.copy) == pair)]

            a, b = pick(pretrained), pick(scratch)
            if not a or not b:
                continue
            rows.append({"domain": domain, "pair": ALL_PAIRS if pair is None else f"{pair[0]} → {pair[1]}",
                         "paper_pair": pair == (2, 1), **contrast(study, a, b, expected_sign=-1)})
    return pd.DataFrame(rows, columns=columns)


def copies_finding(verdicts: pd.DataFrame) -> pd.DataFrame:
    """Per domain: over how many copy pairs T3's direction holds (CI below zero) and points the paper's way (the
    difference negative), the verdict of the paper's single pair (2 → 1) and over all pairs at once."""
    rows = []
    for domain, group in verdicts.groupby("domain", sort=False):
        pairs, pooled = group[group.pair != ALL_PAIRS], group[group.pair == ALL_PAIRS]
        paper_pair = pairs[pairs.paper_pair]
        rows.append({"domain": domain, "pairs": len(pairs), "holds": int((pairs.verdict == "holds").sum()),
                     "fraction_holds": float((pairs.verdict == "holds").mean()),
                     "fraction_negative": float((pairs.difference < 0).mean()),
                     "paper_pair_verdict": paper_pair.verdict.iloc[0] if len(paper_pair) else "not measured",
                     "all_pairs_verdict": pooled.verdict.iloc[0] if len(pooled) else "not measured"})
    return pd.DataFrame(rows, columns=["domain", "pairs", "holds", "fraction_holds", "fraction_negative",
                                       "paper_pair_verdict", "all_pairs_verdict"])


def copies_sentence(finding: pd.DataFrame, noise: pd.DataFrame) -> str:
    """One sentence per domain for the page's prose: the share of copy pairs where T3 holds, the paper's pair and
    the pooled verdict, and whether seed or sampling noise is larger (``noise``: perc_clean per domain and init)."""
    parts = []
    for row in finding.itertuples():
        n = noise[noise.domain == row.domain]
        ratios = ", ".join(f"{r.target_init} {r.ratio:.1f}× ({r.larger})" for r in n.itertuples()
                           if np.isfinite(r.ratio))
        parts.append(f"{row.domain}: holds in {row.holds} of {row.pairs} copy pairs (difference negative in "
                     f"{row.fraction_negative:.0%}); the paper's pair 2 → 1: {row.paper_pair_verdict}; all pairs "
                     f"at once: {row.all_pairs_verdict}; seed SD / sampling SE of perc_clean: {ratios or 'n/a'}")
    return "; ".join(parts) or "not computed"


# ------------------------------------------------------------------------------------------------------ beyond: attacks

#: Short names of the attacks for figures.
METHOD_LABELS = {"fgsm": "FGSM", "pgd": "PGD", "mi_fgsm": "MI", "di_pgd": "DI", "ti_pgd": "TI",
                 "mi_di_ti_pgd": "MI-DI-TI", f"ensemble {BASELINE_ATTACK}": f"ensemble\n{BASELINE_ATTACK.upper()}"}

#: The paired contrasts of the transfer-attack page and what each difference means (every expected sign is −1).
ATTACK_CONTRASTS: dict[str, str] = {
    "gain over PGD": "the method − PGD on the same targets and surrogates (an ensemble: PGD on each member alone); "
                     "negative: the method transfers better",
    "pre-training": "ImageNet pair − random pair (T3's finding: negative)",
    "architecture": "same − different architecture (the paper's finding: negative); not for an ensemble",
}


def attack_settings(study: Study, conditions: Sequence[Condition]) -> pd.DataFrame:
    """What each method of the transfer-attack page runs: its attack's settings as crafted (the registry's defaults
    under the study's step size and steps) and its surrogate, in the order of ``conditions``."""
    from medadv.attacks import ATTACK_DEFAULTS

    rows: dict[str, dict[str, Any]] = {}
    for c in conditions:
        if method(c) in rows:
            continue
        settings = {**ATTACK_DEFAULTS[c.attack], **dict(study.attack_params(c.attack))}
        ensemble = isinstance(c.surrogate, EnsembleSpec)
        rows[method(c)] = {
            "method": method(c), "attack": c.attack, "eps": c.eps,
            "settings": ", ".join(f"{k}={v}" for k, v in settings.items()) or "one step of eps",
            "surrogate": f"ensemble of {len(c.surrogate.members)} (mean logits): one per architecture"
                         if ensemble else "one model",
        }
    return pd.DataFrame(rows.values())


def attack_effects(study: Study, conditions: Sequence[Condition]) -> pd.DataFrame:
    """Per domain and method (an attack, or "ensemble <attack>"): the paired effects of ``ATTACK_CONTRASTS`` on
    perc_clean (same test images, paired bootstrap over patients), each with its verdict (expected sign −1)."""
    columns = ["domain", "method", "contrast", "difference", "ci_low", "ci_high", "verdict"]
    rows = []
    chosen = [c for c in conditions if c.perturbation == "adversarial"]
    for domain in dict.fromkeys(c.target.domain for c in chosen):
        here = [c for c in chosen if c.target.domain == domain]
        baseline = [c for c in here if method(c) == BASELINE_ATTACK]
        for name in dict.fromkeys(method(c) for c in here):
            mine = [c for c in here if method(c) == name]
            contrasts = []
            if name != BASELINE_ATTACK:
                targets = {c.target for c in mine}
                contrasts.append(("gain over PGD", mine, [c for c in baseline if c.target in targets]))
            contrasts.append(("pre-training", [c for c in mine if c.target.init == c.surrogate.init == "imagenet"],
                              [c for c in mine if c.target.init == c.surrogate.init == "random"]))
            if not any(isinstance(c.surrogate, EnsembleSpec) for c in mine):
                contrasts.append(("architecture", [c for c in mine if c.surrogate.arch == c.target.arch],
                                  [c for c in mine if c.surrogate.arch != c.target.arch]))
            for label, a, b in contrasts:
                if not a or not b:
                    continue
                rows.append({"domain": domain, "method": name, "contrast": label,
                             **contrast(study, a, b, expected_sign=-1)})
    return pd.DataFrame(rows, columns=columns)


def factor_ranking(effects: pd.DataFrame) -> pd.DataFrame:
    """Per domain and method: the verdicts of the pre-training and architecture contrasts, which of the two factors
    moves perc_clean more (by |difference|), and whether all three agree with PGD's (``as_pgd``)."""
    columns = ["domain", "method", "pre-training", "architecture", "larger factor", "as_pgd"]
    wide = effects[effects.contrast.isin(["pre-training", "architecture"])]
    rows = []
    for domain, group in wide.groupby("domain", sort=False):
        by_method = {}
        for name, part in group.groupby("method", sort=False):
            got = part.set_index("contrast")
            pre = got.verdict.get("pre-training", "n/a")
            arch = got.verdict.get("architecture", "n/a")
            larger = "n/a"
            if {"pre-training", "architecture"} <= set(got.index):
                larger = ("pre-training" if abs(got.difference["pre-training"]) >= abs(got.difference["architecture"])
                          else "architecture")
            by_method[name] = (pre, arch, larger)
        reference = by_method.get(BASELINE_ATTACK)
        for name, (pre, arch, larger) in by_method.items():
            same = reference is not None and (pre, arch if arch != "n/a" else reference[1],
                                              larger if larger != "n/a" else reference[2]) == reference
            rows.append({"domain": domain, "method": name, "pre-training": pre, "architecture": arch,
                         "larger factor": larger, "as_pgd": "baseline" if name == BASELINE_ATTACK else
                         "yes" if same else "no"})
    return pd.DataFrame(rows, columns=columns)


def attacks_sentence(effects: pd.DataFrame, ranking: pd.DataFrame) -> str:
    """One sentence per domain: the method with the largest gain over PGD, and under how many methods the factor
    verdicts and ranking are PGD's."""
    parts = []
    for domain, group in effects.groupby("domain", sort=False):
        gains = group[group.contrast == "gain over PGD"]
        rank = ranking[(ranking.domain == domain) & (ranking.as_pgd != "baseline")]
        text = f"{domain}: "
        if len(gains):
            best = gains.loc[gains.difference.idxmin()]
            text += (f"strongest {best.method} ({best.difference:+.1f} [{best.ci_low:+.1f}, {best.ci_high:+.1f}] "
                     f"points vs PGD, {best.verdict}); ")
        text += f"the factors' verdicts and ranking as under PGD for {int((rank.as_pgd == 'yes').sum())} of " \
                f"{len(rank)} other methods"
        parts.append(text)
    return "; ".join(parts) or "not computed"


# ------------------------------------------------------------------------------------------------------ course


#: The course page's exercises: which page each re-runs and with what (``-p`` overrides), or which development set.
EXERCISES: tuple[dict[str, Any], ...] = (
    {"label": "ex-eps", "page": "t3_pretraining", "overrides": {"eps": 0.05}, "data": None,
     "question": "a larger eps"},
    {"label": "ex-arch", "page": "t3_pretraining",
     "overrides": {"archs": ["tf_efficientnet_lite0", "tf_efficientnet_lite2"]}, "data": None,
     "question": "another architecture pair"},
    {"label": "ex-overlap", "page": "t4_data", "overrides": {}, "data": "overlap:0.5",
     "question": "a surrogate sharing half of the target's patients"},
    {"label": "ex-source", "page": "t4_data", "overrides": {}, "data": "source:b",
     "question": "a surrogate trained on another source"},
    {"label": "ex-attack", "page": "t3_pretraining", "overrides": {"attacks": ["pgd", "mi_di_ti_pgd"]}, "data": None,
     "question": "a transfer-enhancing attack"},
)


def _train_images(study: Study, domain: str, name: str) -> str:
    """The training images of a development set, or why the data set has none (a real data set has no source b)."""
    try:
        return str(len(development_set(study.data_spec(domain), name, study.data_root(domain))[0]))
    except DataError as error:
        return f"none ({str(error).split(';')[0]})"


def exercise_table(study: Study, profile: str = "quick") -> pd.DataFrame:
    """Each exercise's page, command, and what it changes, checked: the overrides validate against the page (as the
    runner would), and a development set it names is cut here (its size per domain)."""
    from medadv.book import ROOT, page_config

    rows = []
    for ex in EXERCISES:
        source = ROOT / "book" / f"{ex['page']}.md"
        flags = " ".join(f"-p '{k}={_yaml_value(v)}'" for k, v in ex["overrides"].items())
        cfg = page_config(source, profile, ex["overrides"])  # raises if the override is not valid for the page
        sizes = ""
        if ex["data"]:
            sizes = ", ".join(f"{d}: {_train_images(study, d, ex['data'])}" for d in study.cfg.domains)
        rows.append({"exercise": ex["label"], "question": ex["question"], "page": ex["page"],
                     "command": f"medadv run book/{ex['page']}.md --profile {profile} {flags}".strip()
                     if ex["overrides"] else "", "development set": ex["data"] or "",
                     "train images (this build)": sizes, f"eps ([0, 1], {profile})": cfg.eps,
                     f"archs ({profile})": ", ".join(cfg.archs), f"attacks ({profile})": ", ".join(cfg.attacks)})
    return pd.DataFrame(rows)


def _yaml_value(value: Any) -> str:
    return f"[{', '.join(map(str, value))}]" if isinstance(value, (list, tuple)) else str(value)


# ------------------------------------------------------------------------------------------------------ reproduce


def profiles(params_dir: Path = PARAMS_DIR) -> dict[str, dict[str, Any]]:
    """Every profile's parameters (``params/<name>.yaml``)."""
    return {p.stem: read_yaml(p) for p in sorted(params_dir.glob("*.yaml"))}


def profile_table(params_dir: Path = PARAMS_DIR) -> pd.DataFrame:
    """Profiles side by side: one row per parameter, one column per profile (values as written)."""
    found = profiles(params_dir)
    keys = list(dict.fromkeys(k for values in found.values() for k in values))
    return pd.DataFrame([{"parameter": k, **{name: _yaml_value(v.get(k, "")) for name, v in found.items()}}
                         for k in keys])


def timings_table(path: Path) -> pd.DataFrame:
    """Measured wall times (a YAML list of {profile, scope, hardware, minutes, date, note}); empty if none yet."""
    import yaml

    columns = ["profile", "scope", "hardware", "minutes", "date", "note"]
    entries = (yaml.safe_load(path.read_text()) or {}).get("timings") or [] if path.is_file() else []
    return pd.DataFrame([{c: e.get(c) for c in columns} for e in entries], columns=columns)


def unit_counts(profile: str, pages: Sequence[str] = tuple(PAGE_CONDITIONS)) -> pd.DataFrame:
    """Units per stage (train, craft, evaluate) the ``profile`` needs, per page and for the whole book (shared units
    counted once). Planning builds unit specs only: no data, no models; the store is pointed at a scratch folder."""
    from medadv.book import plan_profile

    rows = [{"page": page, **_count(plan_profile(profile, [page]))} for page in pages]
    rows.append({"page": "book (shared units once)", **_count(plan_profile(profile, pages))})
    return pd.DataFrame(rows)


def _count(units: list[Any]) -> dict[str, int]:
    counts = {stage: sum(u.stage == stage for u in units) for stage in ("train", "craft", "evaluate")}
    return {**counts, "total": sum(counts.values())}


# ------------------------------------------------------------------------------------------------------ shared


def glue_facts(facts: dict[str, Any]) -> None:
    """Glue each value under its key for ``{glue:text}`` in the page's prose (numbers are never typed)."""
    from myst_nb import glue

    for key, value in facts.items():
        glue(key, value, display=False)


def source_examples(study: Study) -> tuple[list[list[np.ndarray | None]], list[str], list[str]]:
    """A negative and a positive test-size image of each domain (rows) from each acquisition source (columns: the
    pool's own source, then the data set's other sources; a source the data set lacks is left empty)."""
    from medadv.data import domain_data, source_pool

    generated = set(study.cfg.per_domain("dataset").values()) == {"synthetic"}
    sources = ["a", "b", "c"] if generated else ["pool"]
    grid: list[list[np.ndarray | None]] = []
    for domain in study.cfg.domains:
        spec = study.data_spec(domain)
        row: list[np.ndarray | None] = []
        for source in sources:
            try:
                images = domain_data(spec, study.data_root(domain)).pool if source in ("a", "pool") else \
                    source_pool(spec, source, study.data_root(domain))
            except DataError:
                row += [None, None]
                continue
            positive = images.labels[:, 0] == 0 if images.multilabel else images.labels == 1
            for want in (False, True):
                pick = np.flatnonzero(positive == want)
                row.append(images.images[pick[0]] / 255.0 if len(pick) else None)
        grid.append(row)
    cols = [f"source {s}\n{'positive' if k else 'negative'}" for s in sources for k in (0, 1)]
    return grid, list(study.cfg.domains), cols


def paper_setting_text() -> str:
    """The paper's setting in one line, from ``PAPER_SETTING`` (for prose)."""
    p = PAPER_SETTING
    data = "; ".join(f"{p['dataset'][d]} at {p['image_size'][d]} px" for d in p["dataset"])
    return (f"{' and '.join(p['archs'])}; {data}; eps {p['eps_paper_scale']:g} and PGD {p['pgd_steps']} steps of "
            f"{p['pgd_alpha_paper_scale']:g}, both on [-1, 1]")


def profile_overview(params_dir: Path = PARAMS_DIR) -> pd.DataFrame:
    """Per profile: the command that builds the book with it, its data, where it runs and where its store is."""
    rows = []
    for name, values in profiles(params_dir).items():
        device = values.get("device", "auto")
        cfg = StudyConfig.from_mapping(values)  # per-domain data sets and sizes resolved
        by_dataset: dict[str, list[str]] = {}
        for domain, dataset in cfg.per_domain("dataset").items():
            by_dataset.setdefault(dataset, []).append(domain)
        sizes = list(dict.fromkeys(cfg.per_domain("image_size").values()))
        rows.append({"profile": name, "command": f"medadv book --profile {name}",
                     "data": "; ".join(f"{dataset} ({', '.join(domains)})" for dataset, domains in by_dataset.items()),
                     "image_size": sizes[0] if len(sizes) == 1 else " / ".join(map(str, sizes)),
                     "archs": _yaml_value(values.get("archs", [])),
                     "hardware": "a CUDA GPU" if str(device).startswith("cuda") else "CPU (a GPU if present)",
                     "store": values.get("store", "")})
    return pd.DataFrame(rows)
