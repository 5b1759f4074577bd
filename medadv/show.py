"""What the book's pages display and glue: cells formatted with their intervals, the paper's tables as its authors
print them, one table per domain, claims with their verdicts, and the sentences a page's prose glues.

Why a module: the library computes (``medadv.analysis``) and never displays; a page makes one call here to show
what it computed, so the book's tables and sentences read alike on every page.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd

from medadv.analysis import ATTACK_CONTRASTS, MARKS, NOT_MEASURED, TableResult, control_tally
from medadv.config import StudyConfig
from medadv.paper import BASELINE_ATTACK, KNOWLEDGE, PAPER_ATTACKS, PAPER_SETTING, to_paper_scale
from medadv.plots import EPS_AXIS
from medadv.study import ModelSpec, Study
from medadv.vocab import (ADVERSARIAL, BLACK_BOX, D1, D2, D2_HALF, DIFFERENT, IMAGENET, RANDOM, SAME, SHUFFLED, TRAIN,
                          WHITE_BOX)


# ------------------------------------------------------------------------------------------------------ cells


def format_ci(value: float, low: float, high: float, digits: int = 1) -> str:
    return f"{value:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


def effect_text(value: float, low: float, high: float) -> str:
    """'value [low, high]', 'value (no interval)' or 'n/a'."""
    if not np.isfinite(value):
        return "n/a"
    return format_ci(value, low, high) if np.isfinite(low) and np.isfinite(high) else f"{value:.1f} (no interval)"


def paper_layout(cells: pd.DataFrame, index: Sequence[str], columns: Sequence[str], digits: int = 1) -> pd.DataFrame:
    """Pivot summary cells into the paper's layout, each cell 'value [low, high]' and its mark (``MARKS``)."""
    marks = cells["mark"].fillna("") if "mark" in cells else [""] * len(cells)
    shown = cells.assign(cell=[format_ci(v, lo, hi, digits) + (f" {m}" if m else "") for v, lo, hi, m in
                               zip(cells["perc_clean"], cells["ci_low"], cells["ci_high"], marks)])
    return shown.pivot_table(index=list(index), columns=list(columns), values="cell", aggfunc="first", sort=False)


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


def glue_tally(prefix: str, cells: pd.DataFrame) -> pd.DataFrame:
    """Glue ``<prefix>_tally``: per domain, how many black-box cells lie below their shuffled control and beat it
    beyond noise (``control_tally``); returns the tally per domain."""
    from myst_nb import glue

    rows = [{"domain": d, **control_tally(part)} for d, part in cells.groupby("domain", sort=False)]
    glue(f"{prefix}_tally", "; ".join(f"{r['domain']}: {r['text']}" for r in rows) or "no cells", display=False)
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------------------------ the paper's tables


#: The rows of each of the paper's tables, as the authors' ``generate_final_tables.py`` groups and sorts them (same
#: architecture before different, pre-trained before random, d1, d2, d2/2); T2 adds the domain above its rows.
PAPER_ROWS: dict[str, tuple[str, ...]] = {
    "t2": ("domain", "perturbation"), "t3": ("architecture", "target_init", "surrogate_init"),
    "t4": ("architecture", "surrogate_data"), "t5": ("architecture", "target_init", "surrogate_init"),
}


PAPER_METRICS = {"auc": "AUC", "perc_clean": "% of clean"}


_ORDER = {"architecture": [SAME, DIFFERENT], "target_init": [IMAGENET, RANDOM],
          "surrogate_init": [IMAGENET, RANDOM], "surrogate_data": [D1, D2, D2_HALF],
          "perturbation": [ADVERSARIAL, SHUFFLED], "attack": list(PAPER_ATTACKS), "metric": list(PAPER_METRICS)}


#: Short names of the attacks for figures.
METHOD_LABELS = {"fgsm": "FGSM", "pgd": "PGD", "mi_fgsm": "MI", "di_pgd": "DI", "ti_pgd": "TI",
                 "mi_di_ti_pgd": "MI-DI-TI", f"ensemble {BASELINE_ATTACK}": f"ensemble\n{BASELINE_ATTACK.upper()}"}
_SHOWN = {IMAGENET: "ImageNet", SHUFFLED: "shuffled control", **{a: METHOD_LABELS[a] for a in PAPER_ATTACKS}}


_NAMES = {"target_init": "target init", "surrogate_init": "surrogate init", "surrogate_data": "surrogate data"}


EPS_LEVEL = EPS_AXIS  # the eps level of a table, named as the figures' axis


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
    chosen = results[(results.threat == BLACK_BOX) & results.attack.isin(PAPER_ATTACKS)]
    chosen = chosen.assign(architecture=[SAME if t == s else DIFFERENT
                                         for t, s in zip(chosen.target_arch, chosen.surrogate_arch)])
    if table == "t2":
        auc = _in_paper_order(chosen[chosen.metric == "auc"], [*rows, "attack"])
        wide = auc.groupby([*rows, "attack", "eps"], observed=True)["value"].mean().unstack(["attack", "eps"])
        wide = wide.round(2)
        wide.columns = _shown(wide.columns).set_names(["attack", EPS_LEVEL])
        wide.index = _shown(wide.index)
        return wide
    adv = _in_paper_order(chosen[(chosen.perturbation == ADVERSARIAL) & chosen.metric.isin(PAPER_METRICS)],
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


# ------------------------------------------------------------------------------------------------------ claims


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


# ------------------------------------------------------------------------------------------------------ sentences


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


def paper_setting_text() -> str:
    """The paper's setting in one line, from ``PAPER_SETTING`` (for prose)."""
    p = PAPER_SETTING
    data = "; ".join(f"{p['dataset'][d]} at {p['image_size'][d]} px" for d in p["dataset"])
    return (f"{' and '.join(p['archs'])}; {data}; eps {to_paper_scale(p['eps']):g} and PGD {p['pgd_steps']} steps "
            f"of {to_paper_scale(p['pgd_alpha']):g}, both on [-1, 1]")


# ------------------------------------------------------------------------------------------------------ shared


def glue_facts(facts: dict[str, Any]) -> None:
    """Glue each value under its key for ``{glue:text}`` in the page's prose (numbers are never typed)."""
    from myst_nb import glue

    for key, value in facts.items():
        glue(key, value, display=False)


def source_examples(study: Study) -> tuple[list[list[np.ndarray | None]], list[str], list[str]]:
    """A negative and a positive test-size image of each domain (rows) from each acquisition source (columns: the
    pool's own source, then the data set's other sources; a source the data set lacks is left empty)."""
    from medadv.data import DataError, domain_data, source_pool

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


# ------------------------------------------------------------------------------------------------------ pages


def _display(*objects: Any) -> None:
    from IPython.display import display

    display(*objects)


def _title(text: str) -> None:
    from IPython.display import Markdown

    _display(Markdown(text))


def save_table(table: TableResult) -> None:
    """Save a factor table's tidy results, its cells and its per-pair cells (the page's downloads)."""
    from medadv.book import save_results

    save_results(table.results)
    save_results(table.cells, key="cells")
    save_results(table.pairs, key="pairs")


def eps_caption(eps: float) -> str:
    """A factor table's caption: its eps on both scales."""
    return f" (eps = {eps:g} on [0, 1]; the paper's {to_paper_scale(eps):g})"


def working_eps_sentence(choice: pd.DataFrame) -> str:
    """The working eps per domain, for the perturbation page's prose."""
    return "; ".join(f"{r['domain']}: {r['working eps ([0, 1])']}" for r in choice.to_dict("records"))


def perturbation_strip(study: Study, surrogate: ModelSpec, attack: str, eps: float) -> Any:
    """A test image of ``surrogate``'s domain, its adversarial version, and the perturbation and its shuffled control
    amplified to the full grey range (a figure)."""
    from medadv import plots
    from medadv.attacks import images_to_tensor

    delta, shuffled = (study.delta(surrogate, attack, eps, p)[0].astype(np.float32).transpose(1, 2, 0)
                       for p in (ADVERSARIAL, SHUFFLED))
    # the image as the attack saw it: a real data set's files may be stored larger than the profile's image size
    clean = images_to_tensor(study.test(surrogate.domain).images[:1], "cpu", delta.shape[0])[0].permute(1, 2, 0).numpy()

    def amplify(d: np.ndarray) -> np.ndarray:
        return 0.5 + d / (2 * eps)

    return plots.image_strip([clean, np.clip(clean + delta, 0, 1), amplify(delta), amplify(shuffled)],
                             ["clean", f"{attack.upper()} eps={eps:g}", "perturbation (amplified)",
                              "shuffled (amplified)"])


def matrix_tables(matrix: pd.DataFrame) -> None:
    """The architecture page's black-box matrix, surrogate × target, one table per domain and attack, each cell
    'value [low, high]'."""
    black = matrix[matrix.threat == BLACK_BOX]
    shown = black.assign(cell=[format_ci(v, lo, hi) for v, lo, hi in zip(black.perc_clean, black.ci_low,
                                                                         black.ci_high)])
    for (domain, attack), part in shown.groupby(["domain", "attack"], sort=False):
        _title(f"**{domain}**, {attack.upper()}")
        _display(part.pivot_table(index="surrogate", columns="target", values="cell", aggfunc="first", sort=False))


def white_box_table(matrix: pd.DataFrame) -> pd.DataFrame:
    """The white-box reference: perc_clean of each target attacked through itself, per attack."""
    white = matrix[matrix.threat == WHITE_BOX]
    return white.pivot_table(index=["domain", "target"], columns="attack", values="perc_clean", sort=False).round(1)


def architecture_sentence(means: pd.DataFrame) -> str:
    """``analysis.architecture_means`` in words, one part per domain."""
    return "; ".join(f"{r['domain']}: same architecture {r['same']:.1f}, different {r['different']:.1f}, white-box "
                     f"{r['white-box']:.1f}" for r in means.to_dict("records"))


def gain_vs_transfer_facts(points: pd.DataFrame, fit: dict[str, Any], attack: str) -> dict[str, Any]:
    """The gain-vs-transfer page's glued numbers: the slope with its CI, the points, the attack, the correlation."""
    return {"gvt_slope": effect_text(fit["slope"], fit["ci_low"], fit["ci_high"]), "gvt_n": len(points),
            "gvt_attack": attack.upper(), "gvt_r": f"{fit['r']:.2f}" if len(points) > 2 else "n/a"}


def claims_tally(claims: pd.DataFrame) -> str:
    """How many of the claims' verdicts hold, fail and are unresolved."""
    counts = claims.verdict.value_counts()
    return (f"{counts.get('holds', 0)} of {len(claims)} verdicts hold, {counts.get('fails', 0)} fail and "
            f"{counts.get('unresolved', 0)} are unresolved")


def example_images(study: Study) -> tuple[list[np.ndarray], list[str]]:
    """The first negative and the first positive test image of each domain, with their titles."""
    examples, titles = [], []
    for domain in study.cfg.domains:
        test = study.test(domain)
        positive = (test.labels[:, 0] == 0) if test.multilabel else (test.labels == 1)
        for want in (False, True):
            examples.append(test.images[np.flatnonzero(positive == want)[0]] / 255.0)
            titles.append(f"{domain}\n{'positive' if want else 'negative'}")
    return examples, titles


def reproduce_facts(overview: pd.DataFrame, timings: pd.DataFrame, counts: pd.DataFrame, hours: pd.DataFrame,
                    added: Sequence[str], keep_all_tb: float, paper_cfg: StudyConfig) -> dict[str, Any]:
    """The reproduce page's glued numbers (``r_*``): the profiles, the paper profile's units, GPU hours and store,
    and where the rates behind them come from."""
    from medadv import estimate
    from medadv.slurm import SlurmOptions
    from medadv.study import KEPT_IMAGES

    whole, total = counts.iloc[-1], hours.iloc[-1]
    per_domain = hours[(hours.stage == "total") & (hours.domain != "all")]
    return {
        "r_profiles": ", ".join(overview.profile), "r_n_timings": len(timings),
        "r_train": int(whole.train), "r_craft": int(whole.craft), "r_evaluate": int(whole.evaluate),
        "r_total": int(whole.total),
        "r_paper_domain": ", ".join(paper_cfg.domains),
        "r_paper_dataset": ", ".join(paper_cfg.per_domain("dataset").values()),
        "r_parallelism": SlurmOptions().array_parallelism, "r_time_min": SlurmOptions().time_min,
        "r_gpu_hours": f"{total.gpu_hours:.0f}", "r_store_gb": f"{total.store_gb:.0f}",
        "r_train_hours": f"{hours[hours.stage == TRAIN].gpu_hours.sum():.0f}",
        "r_longest_min": f"{total.longest_unit_min:.0f}",
        "r_domain_hours": "; ".join(f"{r.domain} {r.gpu_hours:.0f} h, {r.store_gb:.0f} GB"
                                    for r in per_domain.itertuples()),
        "r_added": ", ".join(added) if added else "none: the profile plans all three",
        "r_kept": KEPT_IMAGES, "r_keep_all_tb": f"{keep_all_tb:.1f}",
        "r_reference_gpu": estimate.REFERENCE_GPU, "r_reference_source": estimate.REFERENCE_SOURCE,
        "r_measured_gpu": estimate.MEASURED_GPU,
    }


def methods_facts(cfg: StudyConfig, differences: pd.DataFrame, choices: pd.DataFrame,
                  weights: pd.DataFrame) -> dict[str, Any]:
    """The methods page's glued settings (``m_*``): every number its prose states, from the page's configuration and
    tables, eps and steps on both scales."""
    from medadv.train import AUGMENT_BY_DOMAIN

    def scale(values: Any) -> str:
        return ", ".join(f"{v:g}" for v in values)

    return {
        "m_dataset": cfg.stated("dataset"), "m_domains": ", ".join(cfg.domains),
        "m_image_size": cfg.stated("image_size"), "m_pool": cfg.stated("n_dev", lambda n: str(2 * n)),
        "m_n_dev": cfg.stated("n_dev"), "m_n_test": cfg.stated("n_test"),
        "m_val": cfg.stated("val_fraction", lambda v: f"{v:.0%}"),
        "m_archs": ", ".join(cfg.archs), "m_inits": ", ".join(cfg.inits),
        "m_weights": "; ".join(f"{r.arch}: {r.weights_source}" for r in weights.itertuples())
                     or "no ImageNet-initialised models",
        "m_epochs_imagenet": cfg.epochs_imagenet, "m_epochs_random": cfg.epochs_random,
        "m_lr_imagenet": f"{cfg.lr_imagenet:g}", "m_lr_random": f"{cfg.lr_random:g}", "m_wd": f"{cfg.weight_decay:g}",
        "m_schedule": cfg.stated_schedule() + (f", gradients clipped to {cfg.stated_grad_clip()}" if cfg.grad_clip
                                               else ""),
        "m_batch": cfg.stated_batch_size(), "m_patience": cfg.patience,
        "m_augment": "; ".join(f"{d}: {AUGMENT_BY_DOMAIN.get(d, 'flips')}" for d in cfg.domains),
        "m_attacks": ", ".join(a.upper() for a in cfg.attacks), "m_eps": f"{cfg.eps:g}",
        "m_eps_paper": f"{to_paper_scale(cfg.eps):g}", "m_eps_255": f"{cfg.eps * 255:.1f}/255",
        "m_grid": scale(cfg.eps_grid), "m_grid_paper": scale(to_paper_scale(e) for e in cfg.eps_grid),
        "m_steps": cfg.pgd_steps, "m_alpha": f"{cfg.pgd_alpha:g}",
        "m_alpha_paper": f"{to_paper_scale(cfg.pgd_alpha):g}",
        "m_reach": f"{cfg.pgd_steps * cfg.pgd_alpha / cfg.eps:.1f}", "m_n_boot": cfg.n_boot,
        "m_n_differ": int(differences["differs"].sum()), "m_n_settings": len(differences), "m_n_choices": len(choices),
        "m_paper": paper_setting_text(),
    }


def copy_pair_table(cells: pd.DataFrame) -> pd.DataFrame:
    """Each copy pair's perc_clean with its CI, pairs as rows and initialisations as columns."""
    shown = cells.assign(cell=[format_ci(v, lo, hi) for v, lo, hi in zip(cells.perc_clean, cells.ci_low,
                                                                         cells.ci_high)])
    return shown.pivot_table(index=["domain", "pair"], columns="target_init", values="cell", aggfunc="first",
                             sort=False)


def method_tables(cells: pd.DataFrame) -> None:
    """The transfer-attack page's cells in the paper's layout: methods as rows, per domain and perturbation."""
    for (domain, perturbation), group in cells.groupby(["domain", "perturbation"], sort=False):
        _title(f"**{domain}**, {perturbation} perturbations")
        _display(paper_layout(group, ["method"], ["target_init", "architecture"]).fillna(""))


def effect_tables(effects: pd.DataFrame) -> None:
    """What each contrast of the transfer-attack page means, then its effects per domain: method × contrast, each
    'difference [low, high] verdict'."""
    _display(pd.DataFrame([{"contrast": k, "difference": v} for k, v in ATTACK_CONTRASTS.items()]))
    shown = effects.assign(cell=[f"{format_ci(v, lo, hi)} {verdict}" for v, lo, hi, verdict in
                                 zip(effects.difference, effects.ci_low, effects.ci_high, effects.verdict)])
    for domain, group in shown.groupby("domain", sort=False):
        _title(f"**{domain}**")
        table = group.pivot_table(index="method", columns="contrast", values="cell", aggfunc="first", sort=False)
        _display(table.reindex(columns=[c for c in ATTACK_CONTRASTS if c in table.columns]).fillna(""))


def attacks_figure(cells: pd.DataFrame) -> Any:
    """The transfer-attack page's bars: perc_clean per method (short names), same vs different architecture, one
    panel per domain and initialisation pair."""
    from medadv import plots

    part = cells[cells.perturbation == ADVERSARIAL].copy()
    part["panel"] = part.domain + " · " + part.target_init + " pair"
    part["attack"] = part.method.map(lambda m: METHOD_LABELS.get(m, m))
    return plots.ci_bars(part, x="attack", hue="architecture", col="panel",
                         panel_width=max(3.6, 0.95 * part.attack.nunique()), legend_outside=True)


# ------------------------------------------------------------------------------------------------ public parts


#: The attacker knowledge levels as a figure's axis names them (``paper.KNOWLEDGE``, in order).
KNOWLEDGE_SHORT = dict(zip(KNOWLEDGE, ("checkpoint + photos", "checkpoint + test images", "shared start (d2)",
                                       "surrogate on d2/2", "surrogate on d2", "surrogate, d1 copy", "white box")))


def public_tables(cells: pd.DataFrame) -> None:
    """Per domain, the public-parts table: rows the attacker's knowledge, columns target initialisation ×
    architecture, each with the perturbation's perc_clean and its shuffled control's beside it (a notebook)."""
    from IPython.display import Markdown, display

    for domain in cells["domain"].unique():
        part = cells[cells.domain == domain].assign(perturbation=lambda f: f.perturbation.map(
            {ADVERSARIAL: "attack", SHUFFLED: "control"}))
        display(Markdown(f"**{domain}**: perc_clean [95% CI] of the attack, and of its shuffled control"))
        table = paper_layout(part, ["knowledge"], ["target_init", "target_arch", "perturbation"])
        display(table.reindex([k for k in KNOWLEDGE if k in table.index]))
        used = [m for m in MARKS if part["mark"].fillna("").str.contains(m).any()]
        if used:
            display(Markdown("; ".join(f"{m}: {MARKS[m]}" for m in used) + "."))


def public_figure(cells: pd.DataFrame) -> Any:
    """perc_clean by attacker knowledge, ImageNet-initialised vs random-init targets (architectures pooled as points),
    one panel per domain; diamonds: the cell does not beat its control."""
    from medadv import plots

    adv = cells[cells.perturbation == ADVERSARIAL].assign(
        knowledge=lambda f: f.knowledge.map(KNOWLEDGE_SHORT), weak=lambda f: ~f.beats_control.astype(bool))
    fig = plots.ci_points(adv, x="knowledge", hue="target_init", col="domain", mark="weak",
                          mark_label="not beyond its control", xlabel="what the attacker had",
                          legend_title="target init", height=4.6, panel_width=4.2, means=False, rotation=40)
    import seaborn as sns

    sns.move_legend(fig.axes[-1], "upper left", bbox_to_anchor=(1.0, 1.0))  # keeps the diamond's entry
    fig.tight_layout()
    return fig


def public_sentence(verdicts: pd.DataFrame, contrast: int = 0) -> str:
    """Per domain, one of the chapter's contrasts (``analysis.PUBLIC_CONTRASTS[contrast]``; 0: the natural-image
    universal perturbation, 1: label-free feature PGD, each ImageNet-initialised minus random-init targets) as
    difference [CI] and verdict."""
    from medadv.analysis import PUBLIC_CONTRASTS

    chosen = verdicts[verdicts.contrast == PUBLIC_CONTRASTS[contrast][0]] if len(verdicts) else verdicts
    return "; ".join(f"{r.domain} {effect_text(r.difference, r.ci_low, r.ci_high)} ({r.verdict})"
                     for r in chosen.itertuples()) or "not computed"
