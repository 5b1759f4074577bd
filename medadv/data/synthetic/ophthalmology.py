"""Fundus photographs, referable diabetic retinopathy: an optic disc, a macula and a vessel tree; the latent cues
drive microaneurysms, haemorrhages and hard exudates, and drusen are label-free look-alikes.
"""
from __future__ import annotations

import numpy as np
from scipy import special

from medadv.data.synthetic.acquisition import Source, finish
from medadv.data.synthetic.raster import Draw, col, grid, rgb, splat

LABELS: tuple[str, ...] = ("non-referable", "referable")
CHANNELS = 3
SEP = 1.0  # the label's shift of every latent cue, tuned (see medadv.data.synthetic)
# Every photo has its own exposure and colour balance (flash, pupil size, media opacity, pigmentation), which move an
# image's colour histogram far more than its few small lesions do: without this variation a logistic regression on 35
# global colour statistics read referability from 160 images at AUC 0.90 (0.92 from 1,600), a cue no real screening
# photo offers; with it 0.83 (0.86), and the lesions themselves must be found (book/sweeps.yaml, 2026-12-02).
VARIES = dict(exposure=0.3, white_balance=0.1)
SOURCES: dict[str, Source] = {
    "a": Source((0.4,), **VARIES),
    "b": Source((0.3,), tint=(1.12, 0.88, 0.75), gamma=0.85, vignetting=0.55, fov=0.97, blur=0.006,
                noise=0.02, dust=1.0, **VARIES),
    "c": Source((0.5,), tint=(0.85, 1.05, 1.2), gamma=1.2, vignetting=0.2, fov=1.06, noise=0.008, **VARIES),
}


# main vessels for a disc on the right (image x > 0), the macula to its left: heading, total turn, length, width
_VESSELS = np.array(
    [
        [-2.05, -0.95, 1.35, 0.032], [2.05, 0.95, 1.35, 0.032],  # temporal arcades (veins)
        [-1.85, -1.05, 1.25, 0.024], [1.85, 1.05, 1.25, 0.024],  # temporal arcades (arteries)
        [-1.0, 0.3, 0.75, 0.024], [1.0, -0.3, 0.75, 0.024],  # nasal
        [-0.55, 0.2, 0.6, 0.018], [0.55, -0.2, 0.6, 0.018],
    ]
)


def _vessel_paths(d: Draw, m: int, steps: int, start: tuple[np.ndarray, np.ndarray], heading: np.ndarray,
                  turn: np.ndarray, length: np.ndarray, side: np.ndarray) -> tuple[np.ndarray, ...]:
    """Points (m, V, steps) along random-walk curves; x mirrored by ``side``."""
    t = (np.arange(steps) + 0.5) / steps
    wiggle = np.cumsum(d.normal(heading.shape[1], steps), axis=-1) * (0.35 / np.sqrt(steps))
    phi = heading[..., None] + turn[..., None] * t + wiggle
    ds = (length / steps)[..., None]
    x = start[0][..., None] + side[:, None, None] * np.cumsum(ds * np.cos(phi), axis=-1)
    y = start[1][..., None] + np.cumsum(ds * np.sin(phi), axis=-1)
    return x, y, phi, ds


def render(d: Draw, m: int, size: int, traits: np.ndarray, z: np.ndarray, src: Source) -> np.ndarray:
    X, Y = grid(size)
    side = d.sign()  # left or right eye: the disc is nasal
    dcx = side * (0.45 + 0.04 * traits[:, 0] + 0.02 * d.normal())
    dcy = 0.05 * traits[:, 1] + 0.02 * d.normal()
    mcx, mcy = dcx - side * (0.55 + 0.03 * d.normal()), dcy + 0.05 + 0.02 * d.normal()
    rdisc = 0.11 * np.exp(0.08 * traits[:, 2] + 0.03 * d.normal())

    # background: pigmented retina with choroidal texture, uneven illumination
    pigment = np.exp(0.12 * traits[:, 3:4] + 0.05 * d.normal(3)).astype(np.float32)
    colour = rgb(0.8, 0.36, 0.15) * rgb(*src.tint) * pigment
    texture = 1.0 + 0.05 * d.noise(size, 8) + 0.02 * d.noise(size, 24)
    ox, oy = 0.15 * d.normal(), 0.15 * d.normal()
    illum = (1.0 - src.vignetting * ((X - col(ox)) ** 2 + (Y - col(oy)) ** 2) / src.fov**2) * texture
    img = colour[:, None, None, :] * illum[..., None]

    # optic disc (pale, with a brighter cup) and macula (darker)
    rd2 = (X - col(dcx)) ** 2 + (Y - col(dcy)) ** 2
    disc = special.expit((col(rdisc) - np.sqrt(rd2)) / 0.02)
    cup = np.exp(-0.5 * rd2 / col(0.4 * rdisc) ** 2)
    disc_colour = rgb(0.98, 0.78, 0.5) * rgb(*src.tint)
    img = img * (1 - disc[..., None]) + disc[..., None] * disc_colour * (0.8 + 0.25 * cup[..., None])
    mac = np.exp(-0.5 * ((X - col(mcx)) ** 2 + (Y - col(mcy)) ** 2) / 0.1**2)
    img *= (1.0 - 0.3 * mac)[..., None]

    # vessel tree from the disc: main arcades plus two branches each
    v = _VESSELS[None].repeat(m, 0)
    nv = v.shape[1]
    steps = max(16, int(np.ceil(1.4 * size / 2 / 0.8)))
    start = (np.broadcast_to(dcx[:, None], (m, nv)), np.broadcast_to(dcy[:, None], (m, nv)))
    heading = v[..., 0] + 0.15 * d.normal(nv)
    turn = v[..., 1] * np.exp(0.2 * d.normal(nv))
    length = v[..., 2] * np.exp(0.1 * d.normal(nv))
    x, y, phi, ds = _vessel_paths(d, m, steps, start, heading, turn, length, side)
    width = v[..., 3:4] * (1.0 - 0.6 * (np.arange(steps) / steps))  # tapering
    nb = 2 * nv
    at = (d.uniform(nb, lo=0.2, hi=0.8) * steps).astype(int)
    parent = np.tile(np.arange(nv), 2)[None].repeat(m, 0)
    rows = np.arange(m)[:, None]
    bstart = (x[rows, parent, at], y[rows, parent, at])
    bphi = phi[rows, parent, at]
    bheading = bphi + d.sign(nb) * d.uniform(nb, lo=0.5, hi=1.1)  # headings live in the walk's unmirrored frame
    bx, by, _, bds = _vessel_paths(d, m, steps // 2, bstart, bheading, 0.5 * d.normal(nb),
                                   d.uniform(nb, lo=0.25, hi=0.6), side)
    bwidth = 0.65 * width[rows, parent, at][..., None] * (1.0 - 0.5 * (np.arange(steps // 2) / steps))
    sig = np.concatenate([(width / 2.35).reshape(m, -1), (bwidth / 2.35).reshape(m, -1)], 1)
    spacing = np.concatenate([np.broadcast_to(ds, width.shape).reshape(m, -1),
                              np.broadcast_to(bds, bwidth.shape).reshape(m, -1)], 1)
    vx = np.concatenate([x.reshape(m, -1), bx.reshape(m, -1)], 1)
    vy = np.concatenate([y.reshape(m, -1), by.reshape(m, -1)], 1)
    line_amp = 1.0 * spacing / (sig * np.sqrt(2 * np.pi))  # a continuous line of peak absorbance ~1
    red = splat(m, size, np.ones_like(vx, bool), vx, vy, line_amp, sig)

    # lesions, driven by the latent cues z (m, 5); positions favour the posterior pole
    def near(cx: np.ndarray, cy: np.ndarray, k: int, spread: float) -> tuple[np.ndarray, np.ndarray]:
        return cx[:, None] + spread * d.normal(k), cy[:, None] + 0.85 * spread * d.normal(k)

    def inside(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return x**2 + y**2 < (0.85 * min(src.fov, 1.0)) ** 2

    k = 30  # microaneurysms: tiny dark red dots
    ax, ay = near(mcx, mcy, k, 0.4)
    ma = d.mask(2.5 * np.exp(1.2 * z[:, 0]), k) & inside(ax, ay)
    red += splat(m, size, ma, ax, ay, np.full((m, k), 1.1), 0.025 * np.exp(0.2 * d.normal(k)))
    k = 12  # dot-blot haemorrhages: larger, irregular
    hx, hy = near(mcx, mcy, k, 0.45)
    hm = d.mask(1.2 * np.exp(1.2 * z[:, 1]), k) & inside(hx, hy)
    hr = 0.045 * np.exp(0.25 * z[:, 2:3] + 0.25 * d.normal(k))
    el = np.exp(0.3 * d.normal(k))
    red += splat(m, size, hm, hx, hy, np.full((m, k), 0.8), hr * el, hr / el, d.uniform(k, hi=np.pi), disc=True,
                 harmonics=(0.12 * d.uniform(k, 3), d.uniform(k, 3, hi=2 * np.pi)))
    img *= np.exp(-red[..., None] * rgb(0.3, 1.0, 0.85))

    k = 30  # hard exudates: bright yellow spots in a cluster near the macula; drusen are label-free look-alikes
    ccx, ccy = near(mcx, mcy, 1, 0.25)
    ex, ey = near(ccx[:, 0], ccy[:, 0], k, 0.09)
    em = d.mask(2.0 * np.exp(1.2 * z[:, 3]), k) & inside(ex, ey)
    yellow = splat(m, size, em, ex, ey, np.full((m, k), 0.9), 0.018 * np.exp(0.3 * d.normal(k)))
    k = 10
    drx, dry = near(mcx, mcy, k, 0.25)
    dm = d.mask(1.5 * np.exp(0.5 * traits[:, 4]), k)
    yellow += splat(m, size, dm, drx, dry, np.full((m, k), 0.35), 0.022 * np.exp(0.2 * d.normal(k)))
    yellow = np.clip(yellow, 0, 1)[..., None]
    img = img * (1 - yellow) + yellow * rgb(1.0, 0.88, 0.4) * illum[..., None]
    k = 4  # cotton-wool spots: fluffy white, along the arcades
    wx, wy = near(dcx - side * 0.3, dcy, k, 0.35)
    wm = d.mask(0.4 * np.exp(1.0 * z[:, 4]), k) & inside(wx, wy)
    white = np.clip(splat(m, size, wm, wx, wy, np.full((m, k), 0.4), np.full((m, k), 0.045)), 0, 1)[..., None]
    img = img * (1 - white) + white * rgb(0.95, 0.9, 0.8) * illum[..., None]
    k = 3  # dust on the lens: soft grey shadows, label-free, camera-specific
    dx_, dy_ = near(np.zeros(m), np.zeros(m), k, 0.5)
    grey = splat(m, size, d.mask(np.full(m, src.dust), k), dx_, dy_, np.full((m, k), 0.2), np.full((m, k), 0.06))
    img *= np.exp(-grey)[..., None]

    fov = special.expit((src.fov - np.sqrt(X**2 + Y**2)) / (1.5 / size))
    img = (np.clip(img, 0, None) ** src.gamma if src.gamma != 1 else img) * fov[..., None]
    return finish(img, src, d, size)
