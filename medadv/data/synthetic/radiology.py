"""Chest X-rays, multi-label: lungs, heart, ribs and clavicles; the latent cues drive opacity, pneumothorax,
effusion and cardiomegaly, and granulomas and skin folds are label-free look-alikes.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage, special

from medadv.data.synthetic.acquisition import Source, finish
from medadv.data.synthetic.raster import Draw, col, grid, splat

LABELS: tuple[str, ...] = ("No Finding", "Opacity", "Pneumothorax", "Effusion", "Cardiomegaly")
CHANNELS = 1
SEP = 1.6  # the label's shift of every latent cue, tuned (see medadv.data.synthetic)
SOURCES: dict[str, Source] = {
    "a": Source((0.3, 0.2, 0.25, 0.2), noise=0.02, blur=0.004),
    "b": Source((0.35, 0.15, 0.3, 0.25), gamma=1.3, contrast=0.8, brightness=0.05, noise=0.035, blur=0.008),
    "c": Source((0.25, 0.25, 0.2, 0.15), gamma=0.8, contrast=1.2, brightness=-0.05, noise=0.015),
}


def render(d: Draw, m: int, size: int, traits: np.ndarray, z: np.ndarray, src: Source) -> np.ndarray:
    X, Y = grid(size)
    mag = special.expit(3.0 * (z[:, :4] - 0.3))  # visibility of Opacity, Pneumothorax, Effusion, Cardiomegaly
    X = X - col(0.03 * d.normal())
    Y = Y - col(0.03 * d.normal())
    bw = col(0.86 + 0.04 * traits[:, 0] + 0.01 * d.normal())
    body = special.expit((bw - np.abs(X)) / 0.03) * special.expit((Y + 1.1) / 0.1)

    # lungs: two superellipses cut below by the diaphragm domes (costophrenic angles laterally)
    lungs = np.zeros((m, size, size), np.float32)
    lung_side, level, u_side, dome_side = [], [], [], []
    scale = 1.0 + 0.05 * traits[:, 1]
    for s in (-1.0, 1.0):
        cx, cy = col(s * 0.42 * scale), col(-0.05 + 0.02 * d.normal())
        ax, ay = col(0.31 * scale), col(0.68 * scale)
        u = (X - cx) / ax
        f = np.abs(u) ** 2.5 + np.abs((Y - cy) / ay) ** 2.5
        dome = cy + 0.62 * ay / 0.68 - 0.2 * (1 - np.clip(u, -1, 1) ** 2) - (0.04 if s < 0 else 0.0)
        lung = special.expit((1 - f) / 0.08) * special.expit((dome - Y) / 0.02)
        lungs += lung
        lung_side.append(lung), level.append(f), u_side.append(u * s), dome_side.append(dome)

    # heart (cardiomegaly widens it), mediastinum, spine, ribs, clavicles
    hw = col(0.25 * np.exp(0.05 * traits[:, 2]) * (1.0 + 0.55 * mag[:, 3]))
    heart = special.expit((1 - ((X - 0.09) / hw) ** 2 - ((Y - 0.24) / 0.26) ** 2) / 0.1)
    med = special.expit((0.11 - np.abs(X - 0.01)) / 0.02)
    spine = special.expit((0.06 - np.abs(X)) / 0.01) * (0.8 + 0.2 * np.cos(2 * np.pi * Y / 0.12))
    thorax = special.expit((0.95 * bw - np.abs(X)) / 0.03) * special.expit((0.55 - Y) / 0.05)
    q = (Y - 0.45 * X**2 + 0.02 * d.noise(size, 4)) / 0.16 + col(d.uniform())
    ribs = np.clip((np.cos(2 * np.pi * q) - 0.3) / 0.7, 0, 1) * thorax
    q2 = (Y + 0.35 * X**2 - 0.2 * np.abs(X)) / 0.2 + col(d.uniform())
    ribs2 = np.clip((np.cos(2 * np.pi * q2) - 0.5) / 0.5, 0, 1) * thorax
    cl = -0.62 + 0.25 * (np.abs(X) - 0.1) + col(0.03 * d.normal())
    clav = np.exp(-(((Y - cl) / 0.03) ** 2)) * special.expit((np.abs(X) - 0.08) / 0.02) * \
        special.expit((0.65 - np.abs(X)) / 0.05)
    markings = 0.6 * d.noise(size, 10) + 0.4 * d.noise(size, 24)

    # pneumothorax: a rim of lung without markings behind a thin pleural line (skin folds mimic the line)
    pside = d.uniform() < 0.5
    lp = np.where(col(pside), lung_side[1], lung_side[0])
    fp = np.where(col(pside), level[1], level[0])
    up = np.where(col(pside), u_side[1], u_side[0])
    depth = col(0.03 + 0.4 * mag[:, 1])
    f_in = (1 - depth) ** 2.5
    region = special.expit((up + 0.1) / 0.08) * special.expit((0.3 - Y) / 0.1)
    ptx = lp * region * special.expit((fp - f_in) / 0.02)
    line_w = 2.5 * 1.3 / size / 0.31
    pleura = lp * region * np.exp(-(((fp - f_in) / line_w) ** 2)) * col(0.25 * mag[:, 1])
    fold_level = (1 - col(d.uniform(lo=0.05, hi=0.2))) ** 2.5
    fold = lp * region * np.exp(-(((fp - fold_level) / line_w) ** 2)) * col(0.06 * (d.uniform() < 0.25))

    # effusion: fluid fills the costophrenic angle with a meniscus, one or both sides
    both, eside = d.uniform() < 0.3, d.uniform() < 0.5
    fluid = np.zeros((m, size, size), np.float32)
    for i, lung in enumerate(lung_side):
        on = col(both | (eside == (i == 1)))
        h = col(0.04 + 0.5 * mag[:, 2])
        menisc = dome_side[i] - h * (0.3 + 0.7 * np.clip(u_side[i], 0, 1) ** 2)
        fluid += on * lung * special.expit((Y - menisc) / 0.02)

    # opacities: soft irregular blobs in the lungs; calcified granulomas are label-free look-alikes
    k = 3
    osd = d.sign(k)
    ox, oy = osd * d.uniform(k, lo=0.15, hi=0.65), d.uniform(k, lo=-0.45, hi=0.35)
    om = d.mask(0.1 + 3.0 * mag[:, 0], k)
    orad = (0.07 + 0.12 * mag[:, :1] * d.uniform(k)) * np.exp(0.2 * d.normal(k))
    opac = splat(m, size, om, ox, oy, np.broadcast_to(0.08 + 0.32 * mag[:, :1], (m, k)), orad, disc=True,
                 harmonics=(0.15 * d.uniform(k, 3), d.uniform(k, 3, hi=2 * np.pi)))
    opac = ndimage.gaussian_filter(opac, sigma=(0, 0.02 * size, 0.02 * size))
    k = 3
    gx, gy = d.sign(k) * d.uniform(k, lo=0.15, hi=0.6), d.uniform(k, lo=-0.45, hi=0.35)
    gran = splat(m, size, d.mask(np.full(m, 0.8), k), gx, gy, np.full((m, k), 0.3), np.full((m, k), 0.012))

    air = np.clip(lungs, 0, 1) * (1 - heart) * (1 - med)
    ribs = ribs * (0.35 + 0.65 * air)
    clear = air * (1 - ptx) * (1 - np.clip(fluid, 0, 1))
    img = (0.05 + 0.6 * body - 0.38 * air + 0.08 * ribs * body + 0.04 * ribs2 * body + 0.1 * spine + 0.12 * clav
           + 0.045 * markings * clear - 0.2 * ptx * col(mag[:, 1]) + pleura + fold
           + 0.4 * np.clip(fluid, 0, 1) * air + (opac + gran) * air)
    img = (np.clip(img, 0, 1) ** src.gamma - 0.45) * src.contrast + 0.45 + src.brightness
    return finish(img[..., None], src, d, size)
