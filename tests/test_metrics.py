"""Metrics: AUC by hand, multi-label mean, perc_clean, bootstrap CIs (coverage, narrowing, pairing, patients)."""
from __future__ import annotations

import time

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from medadv import metrics as M


def test_auc_hand_computed() -> None:
    # positives {0.8, 0.4}, negatives {0.6, 0.2}: pairs won 3 of 4
    assert M.auc([1, 1, 0, 0], [0.8, 0.4, 0.6, 0.2]) == pytest.approx(0.75)
    # a tie counts half: pos {0.5}, neg {0.5, 0.1} -> (0.5 + 1) / 2
    assert M.auc([1, 0, 0], [0.5, 0.5, 0.1]) == pytest.approx(0.75)
    assert M.auc([0, 1], [0.1, 0.9]) == 1.0
    with pytest.raises(ValueError, match="both classes"):
        M.auc([1, 1], [0.2, 0.3])
    with pytest.raises(ValueError, match="shape"):
        M.auc([1, 0], np.zeros((2, 2)))


def test_multilabel_auc_is_the_mean_over_labels_with_both_classes() -> None:
    y = np.array([[1, 0, 1], [0, 0, 1], [1, 0, 1], [0, 0, 1]])
    s = np.array([[0.9, 0.1, 0.3], [0.2, 0.2, 0.4], [0.4, 0.3, 0.5], [0.5, 0.4, 0.6]])
    # label 0: pos {0.9, 0.4}, neg {0.2, 0.5} -> 3/4; labels 1 and 2 have one class only and are left out
    assert M.auc(y, s) == pytest.approx(0.75)
    y[1, 1] = 1  # label 1 now: pos {0.2}, neg {0.1, 0.3, 0.4} -> 1/3
    assert M.auc(y, s) == pytest.approx((0.75 + 1 / 3) / 2)


def test_weighted_auc_equals_sklearn_on_resamples() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 60)
    s = np.round(rng.random(60) + 0.3 * y, 1)  # rounding makes ties
    w = M.resample_weights(y, n_boot=5, seed=1)
    fast = M.auc_weighted(w, y, s)
    for row, value in zip(w, fast):
        idx = np.repeat(np.arange(60), row)
        assert value == pytest.approx(roc_auc_score(y[idx], s[idx]))


def test_scores_from_logits() -> None:
    logits = torch.tensor([[0.0, 0.0], [1.0, 3.0], [900.0, -900.0]])
    p = M.scores_from_logits(logits, multilabel=False)
    assert p == pytest.approx([0.5, 1 / (1 + np.exp(-2)), 0.0])
    assert M.scores_from_logits(np.array([[0.0, 2.0]]), multilabel=True) == pytest.approx(np.array([[0.5, 1 / (1 + np.exp(-2))]]))
    with pytest.raises(ValueError, match="2-class"):
        M.scores_from_logits(np.zeros((2, 3)), multilabel=False)
    with np.errstate(over="raise"):  # no overflow for extreme logits
        assert M.scores_from_logits(np.array([[-1000.0]]), multilabel=True)[0, 0] == 0


def test_perc_clean_success_rate_transferability() -> None:
    assert M.perc_clean(0.45, 0.9) == pytest.approx(50.0)
    y = np.array([1, 1, 0, 0, 1])
    clean = np.array([1, 1, 0, 1, 0])  # 3 correct: images 0, 1, 2
    adv = np.array([0, 1, 1, 1, 1])  # of which 0 and 2 flip
    assert M.success_rate(y, clean, adv) == pytest.approx(2 / 3)
    assert M.transferability(0.1, 0.4) == pytest.approx(0.25)
    assert np.isnan(M.transferability(0.1, 0.0))
    assert M.transferability([0.2, 0.1], [0.4, 0.0])[0] == pytest.approx(0.5)


def test_perceptibility() -> None:
    rng = np.random.default_rng(0)
    images = rng.integers(30, 220, (3, 10, 10, 3), dtype=np.uint8)
    delta = np.full((3, 3, 10, 10), 0.01, np.float32)
    delta[:, :, :5] = -0.01
    p = M.perceptibility(images, delta)
    assert p["linf"] == pytest.approx(0.01, abs=1e-6)
    assert p["l2"] == pytest.approx(0.01 * np.sqrt(300), rel=1e-5)
    assert p["psnr"] == pytest.approx(10 * np.log10(1 / 1e-4), rel=1e-4)  # mse = eps^2 = 1e-4 -> 40 dB
    assert 0.9 < p["ssim"] < 1
    assert M.psnr(images, delta) == pytest.approx(p["psnr"])
    assert M.linf(images, delta) == pytest.approx(p["linf"])
    # clipping: a bright pixel cannot go above 1, so its effective perturbation is smaller
    white = np.full((1, 10, 10, 3), 255, np.uint8)
    assert M.linf(white, np.full((1, 3, 10, 10), 0.01, np.float32)) == 0
    assert M.ssim(images, np.zeros_like(delta)) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="image_size"):
        M.l2(images, np.zeros((3, 3, 12, 12)))


def _synthetic(n: int, seed: int, sep: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    return y, rng.normal(size=n) + sep * y


def test_bootstrap_ci_contains_value_narrows_with_n_and_is_deterministic() -> None:
    y, s = _synthetic(200, 0)
    small = M.bootstrap(M.auc, y, s, n_boot=200, seed=0)
    assert small["ci_low"] < small["value"] < small["ci_high"]
    assert small["value"] == pytest.approx(M.auc(y, s))
    y2, s2 = _synthetic(2000, 0)
    large = M.bootstrap(M.auc, y2, s2, n_boot=200, seed=0)
    assert large["ci_high"] - large["ci_low"] < 0.5 * (small["ci_high"] - small["ci_low"])
    assert M.bootstrap(M.auc, y, s, n_boot=200, seed=0) == small
    assert M.bootstrap(M.auc, y, s, n_boot=200, seed=1) != small
    # a plain callable (no weighted form) gives the same interval on the same resamples
    plain = M.bootstrap(lambda yy, ss: M.auc(yy, ss), y, s, n_boot=50, seed=3)
    fast = M.bootstrap(M.auc, y, s, n_boot=50, seed=3)
    assert plain["ci_low"] == pytest.approx(fast["ci_low"]) and plain["ci_high"] == pytest.approx(fast["ci_high"])


def test_bootstrap_is_fast() -> None:
    y, s = _synthetic(500, 1)
    t = time.perf_counter()
    M.bootstrap(M.auc, y, s, n_boot=200, seed=0)
    assert time.perf_counter() - t < 0.5
    ym = (np.random.default_rng(0).random((500, 15)) < 0.2).astype(np.float32)
    sm = np.random.default_rng(1).random((500, 15)) + 0.5 * ym
    t = time.perf_counter()
    res = M.bootstrap(M.auc, ym, sm, n_boot=200, seed=0)
    assert time.perf_counter() - t < 1.5
    assert res["ci_low"] < res["value"] < res["ci_high"]


def test_stratified_resamples_keep_class_counts() -> None:
    y = np.array([0] * 30 + [1] * 10)
    w = M.resample_weights(y, n_boot=20, seed=0)
    assert w.shape == (20, 40)
    assert (w[:, y == 1].sum(axis=1) == 10).all() and (w[:, y == 0].sum(axis=1) == 30).all()
    unstrat = M.resample_weights(y, n_boot=20, seed=0, stratify=False)
    assert (unstrat.sum(axis=1) == 40).all() and len(set(unstrat[:, y == 1].sum(axis=1))) > 1


def test_patient_resampling_keeps_patients_whole() -> None:
    rng = np.random.default_rng(0)
    groups = np.repeat([f"p{i}" for i in range(30)], rng.integers(1, 5, 30))
    n = len(groups)
    y = np.zeros(n, np.int64)
    positive_patients = {f"p{i}" for i in range(0, 30, 3)}
    y[np.isin(groups, list(positive_patients))] = 1
    w = M.resample_weights(y, groups, n_boot=50, seed=0)
    for g in np.unique(groups):
        cols = w[:, groups == g]
        assert (cols == cols[:, :1]).all()  # all of a patient's images are drawn equally often
    # stratified by patient: always 10 positive patients
    first = {g: np.flatnonzero(groups == g)[0] for g in np.unique(groups)}
    pos_draws = sum(w[:, first[g]] for g in positive_patients)
    assert (pos_draws == 10).all()
    s = rng.normal(size=n) + y
    res = M.bootstrap(M.auc, y, s, groups=groups, n_boot=100, seed=0)
    assert res["ci_low"] <= res["value"] <= res["ci_high"]


def test_paired_bootstrap() -> None:
    y, s = _synthetic(300, 2)
    same = M.paired_bootstrap(M.auc, y, s, s, n_boot=100)
    assert (same["value"], same["ci_low"], same["ci_high"]) == (0.0, 0.0, 0.0)
    assert not same["excludes_zero"]
    rng = np.random.default_rng(5)
    worse = s + 2.0 * rng.normal(size=len(s))
    diff = M.paired_bootstrap(M.auc, y, s, worse, n_boot=200)
    assert diff["value"] == pytest.approx(M.auc(y, s) - M.auc(y, worse))
    assert diff["ci_low"] < diff["value"] < diff["ci_high"] and diff["excludes_zero"]
    # tuples of scores: perc_clean under two attacks on the same images
    strong, weak = s * 0.1 + rng.normal(size=len(s)), s + 0.2 * rng.normal(size=len(s))
    pc = M.paired_bootstrap(M.perc_clean_auc, y, (s, strong), (s, weak), n_boot=200)
    assert pc["value_a"] == pytest.approx(M.perc_clean_auc(y, s, strong))
    assert pc["value"] < 0 and pc["excludes_zero"]



def test_weighted_contrast_is_a_difference_of_differences_on_the_same_resamples() -> None:
    y, s = _synthetic(300, 2)
    rng = np.random.default_rng(7)
    sets = [s + k * rng.normal(size=len(s)) for k in (0.5, 1.0, 1.5, 3.0)]
    got = M.weighted_contrast(M.auc, y, sets, [1, -1, -1, 1], n_boot=200, seed=3)
    aucs = [M.auc(y, x) for x in sets]
    assert got["values"] == pytest.approx(aucs)
    assert got["value"] == pytest.approx(aucs[0] - aucs[1] - aucs[2] + aucs[3])
    assert got["ci_low"] <= got["value"] <= got["ci_high"]
    # the interval is that of the per-resample contrast: the two differences' own intervals, re-derived
    w = M.resample_weights(y, n_boot=200, seed=3)
    per = [M.auc_weighted(w, y, x) for x in sets]
    expected = np.quantile(per[0] - per[1] - per[2] + per[3], [0.025, 0.975])
    assert (got["ci_low"], got["ci_high"]) == pytest.approx(tuple(expected))
    # a difference of one set with itself is zero on every resample; weights (1, -1) give paired_bootstrap
    zero = M.weighted_contrast(M.auc, y, [s, s, sets[1], sets[1]], [1, -1, -1, 1], n_boot=50)
    assert (zero["value"], zero["ci_low"], zero["ci_high"]) == (0.0, 0.0, 0.0)
    pair = M.paired_bootstrap(M.auc, y, sets[0], sets[3], n_boot=100, seed=1)
    two = M.weighted_contrast(M.auc, y, [sets[0], sets[3]], [1, -1], n_boot=100, seed=1)
    assert (pair["value"], pair["ci_low"], pair["ci_high"]) == (two["value"], two["ci_low"], two["ci_high"])
    with pytest.raises(ValueError, match="one weight per set"):
        M.weighted_contrast(M.auc, y, sets, [1, -1])


def test_perc_clean_ci() -> None:
    y, clean = _synthetic(400, 3, sep=1.5)
    adv = clean + np.random.default_rng(0).normal(size=len(y))
    res = M.perc_clean_ci(y, clean, adv, n_boot=200, seed=0)
    assert res["value"] == pytest.approx(M.auc(y, adv) / M.auc(y, clean) * 100)
    assert res["ci_low"] < res["value"] < res["ci_high"] < 100
    # same resamples for numerator and denominator: perc_clean of clean vs clean is exactly 100 everywhere
    flat = M.perc_clean_ci(y, clean, clean, n_boot=50)
    assert flat["ci_low"] == pytest.approx(100) and flat["ci_high"] == pytest.approx(100)
