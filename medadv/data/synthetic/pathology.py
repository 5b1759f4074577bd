"""H&E lymph-node patches, metastasis or not: stroma and lumen in eosin; the latent cues drive the nuclei's density,
size, size spread, irregularity and darkness, and lymphocytes are label-free look-alikes.
"""
from __future__ import annotations

import numpy as np
from scipy import special

from medadv.data.synthetic.acquisition import Source, finish
from medadv.data.synthetic.raster import Draw, col, grid, rgb, splat

LABELS: tuple[str, ...] = ("normal", "metastasis")
CHANNELS = 3
SEP = 0.7  # the label's shift of every latent cue, tuned (see medadv.data.synthetic)
# Every slide has its own stain hue and amount (staining time, section thickness, reagent age), even within one lab,
# the reason stain normalisation and augmentation exist: without this variation a logistic regression on 35 global
# colour statistics read metastasis from 160 patches at AUC 0.91 (0.91 from 1,600); with it 0.86 (0.87)
# (book/sweeps.yaml, 2026-12-02). Sd of the stain vectors' components and of the log stain amounts:
VARIES = dict(stain_jitter=(0.1, 0.5))
SOURCES: dict[str, Source] = {
    "a": Source((0.5,), tint=(0.96, 0.95, 0.97), noise=0.01, **VARIES),
    "b": Source((0.4,), tint=(0.93, 0.93, 0.96), noise=0.012, blur=0.005, stain_h=(0.55, 0.75, 0.36),
                stain_scale=(1.3, 0.9), **VARIES),
    "c": Source((0.6,), tint=(0.97, 0.94, 0.88), noise=0.02, stain_h=(0.70, 0.68, 0.22),
                stain_scale=(0.8, 1.25), **VARIES),
}


def render(d: Draw, m: int, size: int, traits: np.ndarray, z: np.ndarray, src: Source) -> np.ndarray:
    X, Y = grid(size)
    stain_h = np.array(src.stain_h) + src.stain_jitter[0] * d.normal(3)
    stain_e = np.array(src.stain_e) + src.stain_jitter[0] * d.normal(3)
    stain_h = (stain_h / np.linalg.norm(stain_h, axis=1, keepdims=True)).astype(np.float32)
    stain_e = (stain_e / np.linalg.norm(stain_e, axis=1, keepdims=True)).astype(np.float32)

    # eosin: fibrous stroma with low-frequency density, white lumen where a smooth field is high
    a = col(d.uniform(hi=np.pi))
    fibres = 0.5 + 0.5 * np.cos(2 * np.pi * 4.0 * (X * np.cos(a) + Y * np.sin(a)) + 4.0 * d.noise(size, 5))
    stroma = col(0.35 * np.exp(0.2 * traits[:, 0])) * (1 + 0.3 * d.noise(size, 5)) * (0.8 + 0.4 * fibres)
    lumen = special.expit((d.noise(size, 3) - col(1.2 + 0.5 * d.normal())) / 0.1)
    dens_e = np.clip(stroma, 0, None) * (1 - lumen)

    # nuclei: the five cues (density, size, size spread, irregularity, darkness) follow z
    k = 90
    nm = d.mask(30 * np.exp(0.3 * z[:, 0]), k)
    spread = 0.15 * np.exp(0.35 * z[:, 2:3])
    r = np.clip(0.075 * np.exp(0.12 * z[:, 1:2] + spread * d.normal(k)), 0.03, 0.16)
    el = np.exp(0.15 * d.normal(k))
    harm = (0.045 * np.exp(0.4 * z[:, 3:4, None]) * d.uniform(k, 3, lo=0.5, hi=1.5), d.uniform(k, 3, hi=2 * np.pi))
    dark = 0.8 * np.exp(0.18 * z[:, 4:5] + 0.1 * d.normal(k))
    nx, ny = d.uniform(k, lo=-1.05, hi=1.05), d.uniform(k, lo=-1.05, hi=1.05)
    nuclei = splat(m, size, nm, nx, ny, dark, r * el, r / el, d.uniform(k, hi=np.pi), disc=True, harmonics=harm)
    nuclei *= 1 + 0.25 * d.noise(size, 32)  # chromatin
    k = 30  # lymphocytes: small, round, very dark, label-free
    lm = d.mask(10 * np.exp(0.6 * traits[:, 1]), k)
    lr = 0.045 * np.exp(0.1 * d.normal(k))
    lx, ly = d.uniform(k, lo=-1.05, hi=1.05), d.uniform(k, lo=-1.05, hi=1.05)
    lymph = splat(m, size, lm, lx, ly, np.full((m, k), 1.4), lr, disc=True,
                  harmonics=(0.03 * d.uniform(k, 1), d.uniform(k, 1, hi=2 * np.pi)))
    dens_h = 0.06 * (1 + 0.3 * d.noise(size, 6)) + nuclei + lymph

    # per-slide staining strength varies, so the amount of purple alone is a weak cue
    amount = np.array(src.stain_scale) * np.exp(src.stain_jitter[1] * d.normal(2))
    od = (dens_h[..., None] * (col(amount[:, 0]) * stain_h[:, None, :])[:, :, None, :]
          + dens_e[..., None] * (col(amount[:, 1]) * stain_e[:, None, :])[:, :, None, :])
    img = rgb(*src.tint) * np.exp(-od)
    return finish(img, src, d, size)
