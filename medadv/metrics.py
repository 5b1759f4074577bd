"""What the study measures: AUC (mean over labels for multi-label), perc_clean, flip rate, transferability,
perceptibility, and patient-level bootstrap confidence intervals for all of them; across measurements, a line's
slope with a bootstrap over points (``linear_trend``) and seed noise against sampling noise (``seed_vs_sampling``).

The bootstrap is vectorised: a resample is a row of per-image counts (weights), and statistics that know weights
(:func:`auc`, :func:`perc_clean_auc`, via their ``weighted`` attribute) evaluate all resamples at once. Any other
``stat_fn(y, *scores) -> float`` works too, one resample at a time.
"""
from __future__ import annotations

import warnings
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd
from scipy.special import expit

ArrayLike = Any

# ---------------------------------------------------------------------------------------------------------- scores


def scores_from_logits(logits: ArrayLike, multilabel: bool) -> np.ndarray:
    """Model logits → the scores AUC is computed on: softmax P(class 1) for 2 classes, sigmoids for multi-label."""
    z = logits.detach().float().cpu().numpy() if hasattr(logits, "detach") else np.asarray(logits, np.float64)
    z = z.astype(np.float64)
    if z.ndim != 2:
        raise ValueError(f"logits must be N×K, got shape {z.shape}")
    if multilabel:
        return expit(z)
    if z.shape[1] != 2:
        raise ValueError(f"single-label AUC needs 2-class logits (N×2), got N×{z.shape[1]}")
    return expit(z[:, 1] - z[:, 0])  # = softmax[:, 1], stable for large logits


# ---------------------------------------------------------------------------------------------------------- AUC


def _check_scores(y: np.ndarray, scores: np.ndarray) -> None:
    if y.shape != scores.shape:
        raise ValueError(
            f"labels {y.shape} and scores {scores.shape} differ in shape: binary tasks take P(positive) (N,), "
            "multi-label tasks one score per label (N, L)"
        )
    if not np.isfinite(scores).all():
        raise ValueError("scores contain NaN or inf: check the model's outputs")


def _labels_with_both_classes(y: np.ndarray) -> np.ndarray:
    pos = (y > 0).sum(axis=0)
    return np.flatnonzero((pos > 0) & (pos < len(y)))


def auc(y: ArrayLike, scores: ArrayLike) -> float:
    """ROC AUC (sklearn): binary (y 0/1 (N,), scores P(positive) (N,)) or multi-label (y, scores (N, L)): the mean over
    labels that have both classes, as the paper's mean AUC over the 15 chest X-ray outputs."""
    y, scores = np.asarray(y), np.asarray(scores, np.float64)
    _check_scores(y, scores)
    if y.ndim == 1 and len(np.unique(y)) != 2:
        raise ValueError(f"AUC needs both classes among the labels, got {np.unique(y).tolist()}")
    if y.ndim == 2 and not len(_labels_with_both_classes(y)):
        raise ValueError("no label has both positive and negative images: AUC is undefined")
    # sklearn's roc_auc_score gives the same number, at 10 ms of input checks per label: 15 labels × every score of a
    # page made the radiology pages several times slower
    return float(auc_weighted(np.ones((1, len(y))), y, scores)[0])


def _binary_auc_weighted(positive: np.ndarray, s: np.ndarray, w: np.ndarray) -> np.ndarray:
    """AUC of every weight row w (B, N) at once: the Mann–Whitney statistic with ties counted half (= sklearn)."""
    order = np.argsort(s, kind="stable")
    s_sorted = s[order]
    starts = np.flatnonzero(np.r_[True, s_sorted[1:] != s_sorted[:-1]])  # groups of tied scores
    ws = w[:, order]
    pos_sorted = positive[order]
    p = np.add.reduceat(ws * pos_sorted, starts, axis=1)
    q = np.add.reduceat(ws * ~pos_sorted, starts, axis=1)
    below = np.cumsum(q, axis=1) - q
    num = (p * (below + 0.5 * q)).sum(axis=1)
    den = p.sum(axis=1) * q.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / den, np.nan)


def auc_weighted(w: np.ndarray, y: ArrayLike, scores: ArrayLike) -> np.ndarray:
    """:func:`auc` under per-image weights (B, N) (bootstrap counts), one value per row; multi-label rows average the
    labels that have both classes in that row."""
    y, scores = np.asarray(y), np.asarray(scores, np.float64)
    _check_scores(y, scores)
    w = np.asarray(w, np.float64)
    if y.ndim == 1:
        return _binary_auc_weighted(y > 0, scores, w)
    per_label = np.stack([_binary_auc_weighted(y[:, j] > 0, scores[:, j], w) for j in _labels_with_both_classes(y)])
    with warnings.catch_warnings():  # an all-NaN row (no label with both classes) stays NaN, quietly
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(per_label, axis=0)


auc.weighted = auc_weighted  # type: ignore[attr-defined]


def perc_clean(auc_adv: float, auc_clean: float) -> float:
    """The paper's headline metric: AUC on adversarial images as a percentage of the clean AUC."""
    return auc_adv / auc_clean * 100


def perc_clean_auc(y: ArrayLike, scores_clean: ArrayLike, scores_adv: ArrayLike) -> float:
    """perc_clean from labels and the target's scores on clean and on attacked images."""
    return perc_clean(auc(y, scores_adv), auc(y, scores_clean))


def _perc_clean_auc_weighted(w: np.ndarray, y: ArrayLike, scores_clean: ArrayLike,
                             scores_adv: ArrayLike) -> np.ndarray:
    return perc_clean(auc_weighted(w, y, scores_adv), auc_weighted(w, y, scores_clean))


perc_clean_auc.weighted = _perc_clean_auc_weighted  # type: ignore[attr-defined]


def mean_perc_clean(y: ArrayLike, *scores: ArrayLike) -> float:
    """Mean of :func:`perc_clean_auc` over (clean, attacked) score pairs, given flat as clean₁, adv₁, clean₂, adv₂, …:
    a table cell averages its architecture pairs, each pair's AUCs from the same resample."""
    return float(np.mean([perc_clean_auc(y, clean, adv) for clean, adv in zip(scores[::2], scores[1::2])]))


def _mean_perc_clean_weighted(w: np.ndarray, y: ArrayLike, *scores: ArrayLike) -> np.ndarray:
    return np.mean([_perc_clean_auc_weighted(w, y, clean, adv) for clean, adv in zip(scores[::2], scores[1::2])],
                   axis=0)


mean_perc_clean.weighted = _mean_perc_clean_weighted  # type: ignore[attr-defined]


def success_rate(y: ArrayLike, pred_clean: ArrayLike, pred_adv: ArrayLike) -> float:
    """Share of correctly classified clean images whose predicted class flips under attack (NaN if none correct)."""
    y, pred_clean, pred_adv = np.asarray(y), np.asarray(pred_clean), np.asarray(pred_adv)
    if not y.shape == pred_clean.shape == pred_adv.shape or y.ndim != 1:
        raise ValueError("success_rate takes class predictions (N,) for single-label tasks, all of one shape")
    correct = pred_clean == y
    return float(np.mean(pred_adv[correct] != pred_clean[correct])) if correct.any() else float("nan")


def transferability(bb_drop: ArrayLike, wb_drop: ArrayLike) -> Any:
    """Black-box AUC decrease ÷ white-box decrease (same target, images, attack, eps): 1 = transfers fully.
    NaN where the white-box attack decreased nothing."""
    bb, wb = np.asarray(bb_drop, np.float64), np.asarray(wb_drop, np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(wb != 0, bb / np.where(wb != 0, wb, 1), np.nan)
    return float(out) if out.ndim == 0 else out


# ---------------------------------------------------------------------------------------------------------- perceptibility


def _clean_and_delta(images_uint8_nhwc: ArrayLike, delta: ArrayLike,
                     image_size: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Clean images and the effective perturbation clip(x + delta, 0, 1) − x, both N×H×W×C float64 in [0, 1]."""
    from medadv.attacks import images_to_tensor  # torch only where needed

    x = images_to_tensor(images_uint8_nhwc, "cpu", image_size).numpy().astype(np.float64)
    d = np.asarray(delta, np.float64)
    if d.shape != x.shape:
        raise ValueError(f"delta {d.shape} does not match the images {x.shape}: pass the image_size used by craft")
    d = np.clip(x + d, 0, 1) - x
    return x.transpose(0, 2, 3, 1), d.transpose(0, 2, 3, 1)


def perceptibility(images_uint8_nhwc: ArrayLike, delta: ArrayLike, image_size: int | None = None,
                   per_image: bool = False) -> dict[str, Any]:
    """PSNR (dB), SSIM (skimage), L∞ and L2 norms of the perturbation, per image or as means over images.

    images: the clean uint8 N×H×W×C images; delta: N×C×H×W perturbations as :func:`medadv.attacks.craft` returns.
    PSNR is inf for an image left unchanged.
    """
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    x, d = _clean_and_delta(images_uint8_nhwc, delta, image_size)
    side = min(x.shape[1:3])
    win = min(7, side if side % 2 else side - 1)
    with np.errstate(divide="ignore"):
        psnr_ = np.array([peak_signal_noise_ratio(a, a + e, data_range=1.0) for a, e in zip(x, d)])
    ssim_ = np.array([structural_similarity(a, a + e, data_range=1.0, channel_axis=-1, win_size=win)
                      for a, e in zip(x, d)])
    flat = d.reshape(len(d), -1)
    out = {"psnr": psnr_, "ssim": ssim_, "linf": np.abs(flat).max(axis=1), "l2": np.linalg.norm(flat, axis=1)}
    return out if per_image else {k: float(np.mean(v)) for k, v in out.items()}


def psnr(images_uint8_nhwc: ArrayLike, delta: ArrayLike, image_size: int | None = None) -> float:
    """Mean PSNR (dB, data range 1) of clip(x + delta) against x."""
    return perceptibility(images_uint8_nhwc, delta, image_size)["psnr"]


def ssim(images_uint8_nhwc: ArrayLike, delta: ArrayLike, image_size: int | None = None) -> float:
    """Mean SSIM (skimage, 7×7 window or the image side if smaller) of clip(x + delta) against x."""
    return perceptibility(images_uint8_nhwc, delta, image_size)["ssim"]


def linf(images_uint8_nhwc: ArrayLike, delta: ArrayLike, image_size: int | None = None) -> float:
    """Mean over images of the effective perturbation's L∞ norm ([0, 1] scale)."""
    _, d = _clean_and_delta(images_uint8_nhwc, delta, image_size)
    return float(np.abs(d.reshape(len(d), -1)).max(axis=1).mean())


def l2(images_uint8_nhwc: ArrayLike, delta: ArrayLike, image_size: int | None = None) -> float:
    """Mean over images of the effective perturbation's L2 norm ([0, 1] scale)."""
    _, d = _clean_and_delta(images_uint8_nhwc, delta, image_size)
    return float(np.linalg.norm(d.reshape(len(d), -1), axis=1).mean())


# ---------------------------------------------------------------------------------------------------------- bootstrap


def resample_weights(y: ArrayLike, groups: ArrayLike | None = None, *, n_boot: int = 200, seed: int = 0,
                     stratify: bool = True) -> np.ndarray:
    """Bootstrap resamples as per-image counts (n_boot, N).

    Units are patients when ``groups`` is given (a drawn patient brings all its images), images otherwise. With
    ``stratify``, units are drawn with replacement within each stratum, keeping its size: the label (single-label) or
    any-positive (multi-label); a patient belongs to the stratum of its highest label / any positive image. So every
    resample keeps the class balance and both classes for AUC.
    """
    y = np.asarray(y)
    n = len(y)
    if n == 0:
        raise ValueError("no images to resample")
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    key = (y > 0).any(axis=1).astype(np.int64) if y.ndim == 2 else y.astype(np.int64)
    if groups is None:
        unit_of = np.arange(n)
        unit_key = key
    else:
        groups = np.asarray(groups)
        if len(groups) != n:
            raise ValueError(f"{len(groups)} group ids for {n} images")
        _, unit_of = np.unique(groups, return_inverse=True)
        unit_key = np.full(unit_of.max() + 1, np.iinfo(np.int64).min)
        np.maximum.at(unit_key, unit_of, key)
    n_units = len(unit_key)
    rng = np.random.default_rng(seed)
    counts = np.zeros(n_boot * n_units, np.int64)
    strata = [np.flatnonzero(unit_key == k) for k in np.unique(unit_key)] if stratify else [np.arange(n_units)]
    rows = (np.arange(n_boot) * n_units)[:, None]
    for members in strata:
        drawn = members[rng.integers(0, len(members), (n_boot, len(members)))]
        counts += np.bincount((rows + drawn).ravel(), minlength=n_boot * n_units)
    return counts.reshape(n_boot, n_units)[:, unit_of]


def _stat_over(stat_fn: Callable[..., float], w: np.ndarray, y: np.ndarray, scores: tuple) -> np.ndarray:
    weighted = getattr(stat_fn, "weighted", None)
    if weighted is not None:
        return np.asarray(weighted(w, y, *scores), np.float64)
    out = np.empty(len(w))
    for b, row in enumerate(w):
        idx = np.repeat(np.arange(len(row)), row)
        try:
            out[b] = stat_fn(y[idx], *(s[idx] for s in scores))
        except ValueError:  # a degenerate resample (e.g. one class, unstratified)
            out[b] = np.nan
    return out


def _interval(values: np.ndarray, level: float) -> tuple[float, float]:
    if not 0 < level < 1:
        raise ValueError(f"level is a coverage in (0, 1), got {level}")
    finite = values[np.isfinite(values)]
    if not len(finite):
        return float("nan"), float("nan")
    lo, hi = np.quantile(finite, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def _as_tuple(scores: Any) -> tuple[np.ndarray, ...]:
    return tuple(np.asarray(s) for s in scores) if isinstance(scores, (tuple, list)) else (np.asarray(scores),)


def bootstrap(stat_fn: Callable[..., float], y: ArrayLike, *scores: ArrayLike, groups: ArrayLike | None = None,
              n_boot: int = 200, seed: int = 0, stratify: bool = True, level: float = 0.95) -> dict[str, float]:
    """A statistic with a percentile bootstrap CI: {value, ci_low, ci_high, n_boot}.

    value is stat_fn(y, *scores) on all images; the interval resamples patients (``groups``) or images, stratified
    (:func:`resample_weights`), seeded. Resamples where the statistic is undefined are left out.
    """
    y = np.asarray(y)
    scores_ = tuple(np.asarray(s) for s in scores)
    w = resample_weights(y, groups, n_boot=n_boot, seed=seed, stratify=stratify)
    lo, hi = _interval(_stat_over(stat_fn, w, y, scores_), level)
    return {"value": float(stat_fn(y, *scores_)), "ci_low": lo, "ci_high": hi, "n_boot": n_boot}


def paired_bootstrap(stat_fn: Callable[..., float], y: ArrayLike, scores_a: Any, scores_b: Any, *,
                     groups: ArrayLike | None = None, n_boot: int = 200, seed: int = 0, stratify: bool = True,
                     level: float = 0.95) -> dict[str, Any]:
    """The difference stat(a) − stat(b) on the same images, with a CI from the same resamples for both.

    scores_a, scores_b: one score array, or a tuple of arrays passed as stat_fn(y, *scores), e.g.
    ``paired_bootstrap(perc_clean_auc, y, (clean, adv_pretrained), (clean, adv_random))``.
    Returns {value, ci_low, ci_high, excludes_zero, value_a, value_b, n_boot}.
    """
    out = weighted_contrast(stat_fn, y, [scores_a, scores_b], [1.0, -1.0], groups=groups, n_boot=n_boot, seed=seed,
                            stratify=stratify, level=level)
    va, vb = out.pop("values")
    return {**out, "value_a": va, "value_b": vb}


def weighted_contrast(stat_fn: Callable[..., float], y: ArrayLike, score_sets: Sequence[Any],
                      weights: Sequence[float], *, groups: ArrayLike | None = None, n_boot: int = 200, seed: int = 0,
                      stratify: bool = True, level: float = 0.95) -> dict[str, Any]:
    """sum_i weights[i] * stat(score_sets[i]) on the same images, with a CI from the same resamples for every set.

    Why: a difference is weights (1, -1); an interaction, a difference of differences such as (d2 - d1 with different
    architectures) - (d2 - d1 with the same), is (1, -1, -1, 1); pairing all sets on one resample keeps the test
    images' shared noise out of the interval. Each of ``score_sets`` is one array or a tuple passed as
    stat_fn(y, *scores). Returns {value, ci_low, ci_high, excludes_zero, values (one per set), n_boot}."""
    if len(score_sets) != len(weights) or not len(weights):
        raise ValueError(f"{len(score_sets)} score sets for {len(weights)} weights: give one weight per set")
    y = np.asarray(y)
    sets = [_as_tuple(s) for s in score_sets]
    w = resample_weights(y, groups, n_boot=n_boot, seed=seed, stratify=stratify)
    lo, hi = _interval(sum(k * _stat_over(stat_fn, w, y, s) for k, s in zip(weights, sets)), level)
    values = [float(stat_fn(y, *s)) for s in sets]
    return {"value": float(sum(k * v for k, v in zip(weights, values))), "ci_low": lo, "ci_high": hi,
            "excludes_zero": bool(lo > 0 or hi < 0), "values": values, "n_boot": n_boot}


def perc_clean_ci(y: ArrayLike, scores_clean: ArrayLike, scores_adv: ArrayLike, groups: ArrayLike | None = None,
                  n_boot: int = 200, seed: int = 0, stratify: bool = True, level: float = 0.95) -> dict[str, float]:
    """perc_clean with a bootstrap CI; numerator and denominator AUCs come from the same resample."""
    return bootstrap(perc_clean_auc, y, scores_clean, scores_adv, groups=groups, n_boot=n_boot, seed=seed,
                     stratify=stratify, level=level)


# ---------------------------------------------------------------------------------------------------------- across measurements


def linear_trend(x: Sequence[float], y: Sequence[float], *, n_boot: int = 1000, seed: int = 0, level: float = 0.95,
                 grid: int = 50) -> tuple[dict[str, Any], pd.DataFrame]:
    """Least-squares line y = a + b·x with a bootstrap over points: the slope with its CI (and Pearson's r, from 3
    points), and the fitted line with a pointwise CI band on a grid over x. Needs 3 points with distinct x for a CI (fewer: the CI is NaN); resamples
    whose x are all equal are left out."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    n = len(x)
    xs = np.linspace(x.min(), x.max(), grid) if n else np.array([])
    nan = float("nan")
    with np.errstate(invalid="ignore", divide="ignore"):
        r = float(np.corrcoef(x, y)[0, 1]) if n > 2 else nan
    if n < 2 or np.ptp(x) == 0:
        return ({"slope": nan, "ci_low": nan, "ci_high": nan, "intercept": nan, "n_points": n, "r": r},
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
    return {"slope": float(slope), "ci_low": low, "ci_high": high, "intercept": float(intercept), "n_points": n,
            "r": r}, band


_Z95 = 1.959963984540054  # a 95% normal interval spans ±1.96 standard errors


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
