"""Generated, labelled medical-like images: the embedded default data set, offline and deterministic.

Why: the book must run anywhere without downloads, yet its questions (does pre-training help? does a surrogate on other
data transfer?) only make sense on tasks that look and behave like the paper's: fine local cues that a CNN must learn,
images of one patient that share anatomy (so splits must be patient-level), and several *sources* (camera, X-ray
machine, stain and scanner, prevalence) so that "other-source development data" has its practical meaning.

Each domain draws a latent cue vector per image, ``z = noise + sep * (2 * label - 1)``, and renders it as overlapping,
noisy evidence (lesion counts and sizes, finding extents, nuclear density/size/shape/darkness), next to label-free
look-alikes (drusen, granulomas, skin folds, lymphocytes). ``sep`` is the difficulty knob; the defaults are tuned at
48 px with 1,000 training images so that tf_efficientnet_lite0 after 5 epochs of AdamW reaches a validation AUC of
about 0.7-0.8 from random init and 0.87-0.97 from ImageNet weights: learnable, not trivial, and pre-training helps
(most in ophthalmology, whose lesions are a few pixels wide at this size).

Labels, patients and cue noise do not depend on ``size``; an image's draws do not depend on ``n`` (a set is a prefix of
a larger one with the same seed).
"""
from __future__ import annotations

import hashlib
import io
import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Mapping

import numpy as np
from scipy import ndimage, special, stats
from tqdm.auto import tqdm

from medadv.data.base import DomainData, ImageSet
from medadv.data.registry import data_root
from medadv.store import atomic_write_bytes

DOMAINS: tuple[str, ...] = ("ophthalmology", "radiology", "pathology")
SOURCES: tuple[str, ...] = ("a", "b", "c")
VERSION = 1  # bump when the images change, so caches are not reused
DEFAULT_SEP: dict[str, float] = {"ophthalmology": 1.0, "radiology": 1.6, "pathology": 0.7}
RADIOLOGY_LABELS: tuple[str, ...] = ("No Finding", "Opacity", "Pneumothorax", "Effusion", "Cardiomegaly")
_CHUNK = 128  # images rendered together; draws are made for a full chunk so images do not depend on n
_PATIENT_KEEP = 0.8  # probability that an image carries its patient's label (else a fresh draw at prevalence)
_PROGRESS_FROM = 5000  # show a progress bar from this many images


@dataclass(frozen=True)
class _Source:
    """What differs between acquisition sites: label prevalence and the look of the images."""

    prevalence: tuple[float, ...]
    tint: tuple[float, float, float] = (1.0, 1.0, 1.0)
    gamma: float = 1.0
    contrast: float = 1.0
    brightness: float = 0.0
    vignetting: float = 0.35
    fov: float = 0.93
    blur: float = 0.0  # Gaussian sigma in normalised units (the image spans 2)
    noise: float = 0.012
    dust: float = 0.0
    stain_h: tuple[float, float, float] = (0.65, 0.70, 0.29)
    stain_e: tuple[float, float, float] = (0.07, 0.99, 0.11)
    stain_scale: tuple[float, float] = (1.0, 1.0)


_SOURCES: dict[str, dict[str, _Source]] = {
    "ophthalmology": {
        "a": _Source((0.4,)),
        "b": _Source((0.3,), tint=(1.12, 0.88, 0.75), gamma=0.85, vignetting=0.55, fov=0.97, blur=0.006,
                     noise=0.02, dust=1.0),
        "c": _Source((0.5,), tint=(0.85, 1.05, 1.2), gamma=1.2, vignetting=0.2, fov=1.06, noise=0.008),
    },
    "radiology": {
        "a": _Source((0.3, 0.2, 0.25, 0.2), noise=0.02, blur=0.004),
        "b": _Source((0.35, 0.15, 0.3, 0.25), gamma=1.3, contrast=0.8, brightness=0.05, noise=0.035, blur=0.008),
        "c": _Source((0.25, 0.25, 0.2, 0.15), gamma=0.8, contrast=1.2, brightness=-0.05, noise=0.015),
    },
    "pathology": {
        "a": _Source((0.5,), tint=(0.96, 0.95, 0.97), noise=0.01),
        "b": _Source((0.4,), tint=(0.93, 0.93, 0.96), noise=0.012, blur=0.005, stain_h=(0.55, 0.75, 0.36),
                     stain_scale=(1.3, 0.9)),
        "c": _Source((0.6,), tint=(0.97, 0.94, 0.88), noise=0.02, stain_h=(0.70, 0.68, 0.22),
                     stain_scale=(0.8, 1.25)),
    },
}


# ---------------------------------------------------------------------------------------------------------------------
# drawing and rendering helpers


class _Draw:
    """Random draws for one chunk: always made for a full chunk and then cut to the m images rendered."""

    def __init__(self, rng: np.random.Generator, m: int) -> None:
        self.rng, self.m = rng, m

    def normal(self, *shape: int) -> np.ndarray:
        return self.rng.standard_normal((_CHUNK, *shape))[: self.m]

    def uniform(self, *shape: int, lo: float = 0.0, hi: float = 1.0) -> np.ndarray:
        return lo + (hi - lo) * self.rng.random((_CHUNK, *shape))[: self.m]

    def sign(self, *shape: int) -> np.ndarray:
        return np.where(self.uniform(*shape) < 0.5, -1.0, 1.0)

    def mask(self, lam: np.ndarray, kmax: int) -> np.ndarray:
        """(m, kmax) mask of the first k items, k ~ Poisson(lam) per image, capped at kmax."""
        k = stats.poisson.ppf(self.uniform(), np.broadcast_to(lam, (self.m,)))
        return np.arange(kmax) < k[:, None]

    def noise(self, size: int, grid: int) -> np.ndarray:
        """Smooth noise (m, size, size) of unit standard deviation, made on a grid×grid lattice (size-independent)."""
        g = self.normal(grid, grid)
        c = np.linspace(-1.0, 1.0, grid)
        u = np.exp(-0.5 * ((_coords(size)[:, None] - c[None, :]) / (2.0 / (grid - 1))) ** 2)
        f = np.einsum("ij,mjk,lk->mil", u, g, u, optimize=True)
        f -= f.mean(axis=(1, 2), keepdims=True)
        return (f / (f.std(axis=(1, 2), keepdims=True) + 1e-6)).astype(np.float32)


def _coords(size: int) -> np.ndarray:
    """Pixel-centre coordinates in [-1, 1]."""
    return ((np.arange(size) + 0.5) / size * 2.0 - 1.0).astype(np.float32)


def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """X (1, 1, S) and Y (1, S, 1), broadcastable against (m, 1, 1) per-image parameters."""
    c = _coords(size)
    return c[None, None, :], c[None, :, None]


def _rgb(*v: float) -> np.ndarray:
    return np.array(v, np.float32)


def _col(a: np.ndarray | float) -> np.ndarray:
    """Per-image values as (m, 1, 1) float32, so that whole-image arithmetic stays float32."""
    return np.asarray(a, dtype=np.float32)[:, None, None]


_WINDOWS = np.array([1, 2, 3, 4, 6, 8, 11, 16, 23, 32, 45, 64, 90, 128, 181, 256, 362, 512, 724, 1024, 1448, 2048])


def _splat(
    m: int,
    size: int,
    mask: np.ndarray,
    cx: np.ndarray,
    cy: np.ndarray,
    amp: np.ndarray,
    rx: np.ndarray,
    ry: np.ndarray | None = None,
    theta: np.ndarray | None = None,
    *,
    disc: bool = False,
    harmonics: tuple[np.ndarray, np.ndarray] | None = None,
    min_px: float = 0.45,
) -> np.ndarray:
    """Sum of blobs into (m, size, size): Gaussians (rx, ry = sigmas) or soft-edged discs (rx, ry = semi-axes).

    Arrays are (m, k) in normalised units, ``mask`` says which exist. Each blob is evaluated on a small window around
    it (windows bucketed by size) and scattered with ``bincount`` into a padded canvas, so the cost is per blob, not
    per blob × image. Blobs smaller than ``min_px`` are widened with their integral kept, so thin structures fade (as
    they do) rather than vanish or alias at 32 px. ``harmonics`` (amplitudes, phases), each (m, k, h), make irregular
    outlines: radius × (1 + Σ_j a_j cos((j + 2) φ + p_j)).
    """
    img = np.nonzero(mask)[0]
    if img.size == 0:
        return np.zeros((m, size, size), np.float32)
    half = size / 2.0
    px, py = (cx[mask] + 1.0) * half - 0.5, (cy[mask] + 1.0) * half - 0.5
    sx = rx[mask] * half
    sy = (ry[mask] if ry is not None else rx[mask]) * half
    a = np.asarray(amp[mask], dtype=np.float64)
    a = np.where(sx < min_px, a * sx / min_px, a)
    a = np.where(sy < min_px, a * sy / min_px, a)
    sx, sy = np.maximum(sx, min_px), np.maximum(sy, min_px)
    if harmonics is not None:
        h_amp, h_phase = harmonics[0][mask], harmonics[1][mask]
    reach = np.maximum(sx, sy) * ((1.0 + np.abs(h_amp).sum(1) if harmonics is not None else 1.0) if disc else 3.0)
    need = np.ceil(reach + (2.0 if disc else 0.0)).astype(int)
    win = _WINDOWS[np.minimum(np.searchsorted(_WINDOWS, need), len(_WINDOWS) - 1)]
    win = np.minimum(win, size)
    pad = 2 * int(win.max())  # a window reaches 2h beyond the image when its centre is clipped
    side = size + 2 * pad
    out = np.zeros(m * side * side)
    for h in np.unique(win):
        b = np.nonzero(win == h)[0]
        off = np.arange(-h, h + 1)
        ix = np.clip(np.rint(px[b]), -h, size - 1 + h).astype(np.int64)[:, None] + off  # (B, P), inside the pad
        iy = np.clip(np.rint(py[b]), -h, size - 1 + h).astype(np.int64)[:, None] + off
        dx = (ix - px[b, None]).astype(np.float32)  # pixel offsets
        dy = (iy - py[b, None]).astype(np.float32)
        fx, fy = (1.0 / sx[b]).astype(np.float32), (1.0 / sy[b]).astype(np.float32)
        if not disc and theta is None:  # axis-aligned Gaussian: separable
            gx = np.exp(-0.5 * (dx * fx[:, None]) ** 2) * a[b, None].astype(np.float32)
            val = np.exp(-0.5 * (dy * fy[:, None]) ** 2)[:, :, None] * gx[:, None, :]
        else:
            u, v = dx[:, None, :], dy[:, :, None]
            if theta is not None:
                c = np.cos(theta[mask][b]).astype(np.float32)[:, None, None]
                s = np.sin(theta[mask][b]).astype(np.float32)[:, None, None]
                u, v = c * u + s * v, c * v - s * u
            u, v = u * fx[:, None, None], v * fy[:, None, None]
            r = np.sqrt(u * u + v * v)
            if harmonics is not None:
                w = (u + np.complex64(1j) * v) / np.maximum(r, 1e-6)  # e^{iφ}
                wk, scale = w * w, np.ones_like(r)
                for j in range(h_amp.shape[1]):
                    rot = (h_amp[b, j] * np.exp(1j * h_phase[b, j])).astype(np.complex64)[:, None, None]
                    scale += (wk * rot).real
                    wk = wk * w
                r = r / np.maximum(scale, 0.3)
            if disc:
                edge = (0.7 / np.sqrt(sx[b] * sy[b])).astype(np.float32)[:, None, None]  # ~0.7 px soft edge
                val = special.expit((1.0 - r) / edge)
            else:
                val = np.exp(-0.5 * r * r)
            val *= a[b].astype(np.float32)[:, None, None]
        flat = ((img[b, None, None] * side + iy[:, :, None] + pad) * side) + ix[:, None, :] + pad
        out += np.bincount(flat.ravel(), weights=val.ravel(), minlength=m * side * side)
    return out.reshape(m, side, side)[:, pad:pad + size, pad:pad + size].astype(np.float32)


def _finish(img: np.ndarray, src: _Source, d: _Draw, size: int) -> np.ndarray:
    """Sensor noise and optics blur of a source, then uint8."""
    img = img + (src.noise * d.normal(size, size)[..., None]).astype(np.float32)
    if src.blur > 0:
        img = ndimage.gaussian_filter(img, sigma=(0, src.blur * size / 2, src.blur * size / 2, 0), mode="nearest")
    return np.clip(img * 255.0 + 0.5, 0, 255).astype(np.uint8)


# ---------------------------------------------------------------------------------------------------------------------
# ophthalmology: fundus photographs, referable diabetic retinopathy


# main vessels for a disc on the right (image x > 0), the macula to its left: heading, total turn, length, width
_VESSELS = np.array(
    [
        [-2.05, -0.95, 1.35, 0.032], [2.05, 0.95, 1.35, 0.032],  # temporal arcades (veins)
        [-1.85, -1.05, 1.25, 0.024], [1.85, 1.05, 1.25, 0.024],  # temporal arcades (arteries)
        [-1.0, 0.3, 0.75, 0.024], [1.0, -0.3, 0.75, 0.024],  # nasal
        [-0.55, 0.2, 0.6, 0.018], [0.55, -0.2, 0.6, 0.018],
    ]
)


def _vessel_paths(d: _Draw, m: int, steps: int, start: tuple[np.ndarray, np.ndarray], heading: np.ndarray,
                  turn: np.ndarray, length: np.ndarray, side: np.ndarray) -> tuple[np.ndarray, ...]:
    """Points (m, V, steps) along random-walk curves; x mirrored by ``side``."""
    t = (np.arange(steps) + 0.5) / steps
    wiggle = np.cumsum(d.normal(heading.shape[1], steps), axis=-1) * (0.35 / np.sqrt(steps))
    phi = heading[..., None] + turn[..., None] * t + wiggle
    ds = (length / steps)[..., None]
    x = start[0][..., None] + side[:, None, None] * np.cumsum(ds * np.cos(phi), axis=-1)
    y = start[1][..., None] + np.cumsum(ds * np.sin(phi), axis=-1)
    return x, y, phi, ds


def _ophthalmology(d: _Draw, m: int, size: int, traits: np.ndarray, z: np.ndarray, src: _Source) -> np.ndarray:
    X, Y = _grid(size)
    side = d.sign()  # left or right eye: the disc is nasal
    dcx = side * (0.45 + 0.04 * traits[:, 0] + 0.02 * d.normal())
    dcy = 0.05 * traits[:, 1] + 0.02 * d.normal()
    mcx, mcy = dcx - side * (0.55 + 0.03 * d.normal()), dcy + 0.05 + 0.02 * d.normal()
    rdisc = 0.11 * np.exp(0.08 * traits[:, 2] + 0.03 * d.normal())

    # background: pigmented retina with choroidal texture, uneven illumination
    pigment = np.exp(0.12 * traits[:, 3:4] + 0.05 * d.normal(3)).astype(np.float32)
    colour = _rgb(0.8, 0.36, 0.15) * _rgb(*src.tint) * pigment
    texture = 1.0 + 0.05 * d.noise(size, 8) + 0.02 * d.noise(size, 24)
    ox, oy = 0.15 * d.normal(), 0.15 * d.normal()
    illum = (1.0 - src.vignetting * ((X - _col(ox)) ** 2 + (Y - _col(oy)) ** 2) / src.fov**2) * texture
    img = colour[:, None, None, :] * illum[..., None]

    # optic disc (pale, with a brighter cup) and macula (darker)
    rd2 = (X - _col(dcx)) ** 2 + (Y - _col(dcy)) ** 2
    disc = special.expit((_col(rdisc) - np.sqrt(rd2)) / 0.02)
    cup = np.exp(-0.5 * rd2 / _col(0.4 * rdisc) ** 2)
    disc_colour = _rgb(0.98, 0.78, 0.5) * _rgb(*src.tint)
    img = img * (1 - disc[..., None]) + disc[..., None] * disc_colour * (0.8 + 0.25 * cup[..., None])
    mac = np.exp(-0.5 * ((X - _col(mcx)) ** 2 + (Y - _col(mcy)) ** 2) / 0.1**2)
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
    red = _splat(m, size, np.ones_like(vx, bool), vx, vy, line_amp, sig)

    # lesions, driven by the latent cues z (m, 5); positions favour the posterior pole
    def near(cx: np.ndarray, cy: np.ndarray, k: int, spread: float) -> tuple[np.ndarray, np.ndarray]:
        return cx[:, None] + spread * d.normal(k), cy[:, None] + 0.85 * spread * d.normal(k)

    def inside(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return x**2 + y**2 < (0.85 * min(src.fov, 1.0)) ** 2

    k = 30  # microaneurysms: tiny dark red dots
    ax, ay = near(mcx, mcy, k, 0.4)
    ma = d.mask(2.5 * np.exp(1.2 * z[:, 0]), k) & inside(ax, ay)
    red += _splat(m, size, ma, ax, ay, np.full((m, k), 1.1), 0.025 * np.exp(0.2 * d.normal(k)))
    k = 12  # dot-blot haemorrhages: larger, irregular
    hx, hy = near(mcx, mcy, k, 0.45)
    hm = d.mask(1.2 * np.exp(1.2 * z[:, 1]), k) & inside(hx, hy)
    hr = 0.045 * np.exp(0.25 * z[:, 2:3] + 0.25 * d.normal(k))
    el = np.exp(0.3 * d.normal(k))
    red += _splat(m, size, hm, hx, hy, np.full((m, k), 0.8), hr * el, hr / el, d.uniform(k, hi=np.pi), disc=True,
                  harmonics=(0.12 * d.uniform(k, 3), d.uniform(k, 3, hi=2 * np.pi)))
    img *= np.exp(-red[..., None] * _rgb(0.3, 1.0, 0.85))

    k = 30  # hard exudates: bright yellow spots in a cluster near the macula; drusen are label-free look-alikes
    ccx, ccy = near(mcx, mcy, 1, 0.25)
    ex, ey = near(ccx[:, 0], ccy[:, 0], k, 0.09)
    em = d.mask(2.0 * np.exp(1.2 * z[:, 3]), k) & inside(ex, ey)
    yellow = _splat(m, size, em, ex, ey, np.full((m, k), 0.9), 0.018 * np.exp(0.3 * d.normal(k)))
    k = 10
    drx, dry = near(mcx, mcy, k, 0.25)
    dm = d.mask(1.5 * np.exp(0.5 * traits[:, 4]), k)
    yellow += _splat(m, size, dm, drx, dry, np.full((m, k), 0.35), 0.022 * np.exp(0.2 * d.normal(k)))
    yellow = np.clip(yellow, 0, 1)[..., None]
    img = img * (1 - yellow) + yellow * _rgb(1.0, 0.88, 0.4) * illum[..., None]
    k = 4  # cotton-wool spots: fluffy white, along the arcades
    wx, wy = near(dcx - side * 0.3, dcy, k, 0.35)
    wm = d.mask(0.4 * np.exp(1.0 * z[:, 4]), k) & inside(wx, wy)
    white = np.clip(_splat(m, size, wm, wx, wy, np.full((m, k), 0.4), np.full((m, k), 0.045)), 0, 1)[..., None]
    img = img * (1 - white) + white * _rgb(0.95, 0.9, 0.8) * illum[..., None]
    k = 3  # dust on the lens: soft grey shadows, label-free, camera-specific
    dx_, dy_ = near(np.zeros(m), np.zeros(m), k, 0.5)
    grey = _splat(m, size, d.mask(np.full(m, src.dust), k), dx_, dy_, np.full((m, k), 0.2), np.full((m, k), 0.06))
    img *= np.exp(-grey)[..., None]

    fov = special.expit((src.fov - np.sqrt(X**2 + Y**2)) / (1.5 / size))
    img = (np.clip(img, 0, None) ** src.gamma if src.gamma != 1 else img) * fov[..., None]
    return _finish(img, src, d, size)


# ---------------------------------------------------------------------------------------------------------------------
# radiology: chest X-rays, multi-label findings


def _radiology(d: _Draw, m: int, size: int, traits: np.ndarray, z: np.ndarray, src: _Source) -> np.ndarray:
    X, Y = _grid(size)
    mag = special.expit(3.0 * (z[:, :4] - 0.3))  # visibility of Opacity, Pneumothorax, Effusion, Cardiomegaly
    X = X - _col(0.03 * d.normal())
    Y = Y - _col(0.03 * d.normal())
    bw = _col(0.86 + 0.04 * traits[:, 0] + 0.01 * d.normal())
    body = special.expit((bw - np.abs(X)) / 0.03) * special.expit((Y + 1.1) / 0.1)

    # lungs: two superellipses cut below by the diaphragm domes (costophrenic angles laterally)
    lungs = np.zeros((m, size, size), np.float32)
    lung_side, level, u_side, dome_side = [], [], [], []
    scale = 1.0 + 0.05 * traits[:, 1]
    for s in (-1.0, 1.0):
        cx, cy = _col(s * 0.42 * scale), _col(-0.05 + 0.02 * d.normal())
        ax, ay = _col(0.31 * scale), _col(0.68 * scale)
        u = (X - cx) / ax
        f = np.abs(u) ** 2.5 + np.abs((Y - cy) / ay) ** 2.5
        dome = cy + 0.62 * ay / 0.68 - 0.2 * (1 - np.clip(u, -1, 1) ** 2) - (0.04 if s < 0 else 0.0)
        lung = special.expit((1 - f) / 0.08) * special.expit((dome - Y) / 0.02)
        lungs += lung
        lung_side.append(lung), level.append(f), u_side.append(u * s), dome_side.append(dome)

    # heart (cardiomegaly widens it), mediastinum, spine, ribs, clavicles
    hw = _col(0.25 * np.exp(0.05 * traits[:, 2]) * (1.0 + 0.55 * mag[:, 3]))
    heart = special.expit((1 - ((X - 0.09) / hw) ** 2 - ((Y - 0.24) / 0.26) ** 2) / 0.1)
    med = special.expit((0.11 - np.abs(X - 0.01)) / 0.02)
    spine = special.expit((0.06 - np.abs(X)) / 0.01) * (0.8 + 0.2 * np.cos(2 * np.pi * Y / 0.12))
    thorax = special.expit((0.95 * bw - np.abs(X)) / 0.03) * special.expit((0.55 - Y) / 0.05)
    q = (Y - 0.45 * X**2 + 0.02 * d.noise(size, 4)) / 0.16 + _col(d.uniform())
    ribs = np.clip((np.cos(2 * np.pi * q) - 0.3) / 0.7, 0, 1) * thorax
    q2 = (Y + 0.35 * X**2 - 0.2 * np.abs(X)) / 0.2 + _col(d.uniform())
    ribs2 = np.clip((np.cos(2 * np.pi * q2) - 0.5) / 0.5, 0, 1) * thorax
    cl = -0.62 + 0.25 * (np.abs(X) - 0.1) + _col(0.03 * d.normal())
    clav = np.exp(-(((Y - cl) / 0.03) ** 2)) * special.expit((np.abs(X) - 0.08) / 0.02) * \
        special.expit((0.65 - np.abs(X)) / 0.05)
    markings = 0.6 * d.noise(size, 10) + 0.4 * d.noise(size, 24)

    # pneumothorax: a rim of lung without markings behind a thin pleural line (skin folds mimic the line)
    pside = d.uniform() < 0.5
    lp = np.where(_col(pside), lung_side[1], lung_side[0])
    fp = np.where(_col(pside), level[1], level[0])
    up = np.where(_col(pside), u_side[1], u_side[0])
    depth = _col(0.03 + 0.4 * mag[:, 1])
    f_in = (1 - depth) ** 2.5
    region = special.expit((up + 0.1) / 0.08) * special.expit((0.3 - Y) / 0.1)
    ptx = lp * region * special.expit((fp - f_in) / 0.02)
    line_w = 2.5 * 1.3 / size / 0.31
    pleura = lp * region * np.exp(-(((fp - f_in) / line_w) ** 2)) * _col(0.25 * mag[:, 1])
    fold_level = (1 - _col(d.uniform(lo=0.05, hi=0.2))) ** 2.5
    fold = lp * region * np.exp(-(((fp - fold_level) / line_w) ** 2)) * _col(0.06 * (d.uniform() < 0.25))

    # effusion: fluid fills the costophrenic angle with a meniscus, one or both sides
    both, eside = d.uniform() < 0.3, d.uniform() < 0.5
    fluid = np.zeros((m, size, size), np.float32)
    for i, lung in enumerate(lung_side):
        on = _col(both | (eside == (i == 1)))
        h = _col(0.04 + 0.5 * mag[:, 2])
        menisc = dome_side[i] - h * (0.3 + 0.7 * np.clip(u_side[i], 0, 1) ** 2)
        fluid += on * lung * special.expit((Y - menisc) / 0.02)

    # opacities: soft irregular blobs in the lungs; calcified granulomas are label-free look-alikes
    k = 3
    osd = d.sign(k)
    ox, oy = osd * d.uniform(k, lo=0.15, hi=0.65), d.uniform(k, lo=-0.45, hi=0.35)
    om = d.mask(0.1 + 3.0 * mag[:, 0], k)
    orad = (0.07 + 0.12 * mag[:, :1] * d.uniform(k)) * np.exp(0.2 * d.normal(k))
    opac = _splat(m, size, om, ox, oy, np.broadcast_to(0.08 + 0.32 * mag[:, :1], (m, k)), orad, disc=True,
                  harmonics=(0.15 * d.uniform(k, 3), d.uniform(k, 3, hi=2 * np.pi)))
    opac = ndimage.gaussian_filter(opac, sigma=(0, 0.02 * size, 0.02 * size))
    k = 3
    gx, gy = d.sign(k) * d.uniform(k, lo=0.15, hi=0.6), d.uniform(k, lo=-0.45, hi=0.35)
    gran = _splat(m, size, d.mask(np.full(m, 0.8), k), gx, gy, np.full((m, k), 0.3), np.full((m, k), 0.012))

    air = np.clip(lungs, 0, 1) * (1 - heart) * (1 - med)
    ribs = ribs * (0.35 + 0.65 * air)
    clear = air * (1 - ptx) * (1 - np.clip(fluid, 0, 1))
    img = (0.05 + 0.6 * body - 0.38 * air + 0.08 * ribs * body + 0.04 * ribs2 * body + 0.1 * spine + 0.12 * clav
           + 0.045 * markings * clear - 0.2 * ptx * _col(mag[:, 1]) + pleura + fold
           + 0.4 * np.clip(fluid, 0, 1) * air + (opac + gran) * air)
    img = (np.clip(img, 0, 1) ** src.gamma - 0.45) * src.contrast + 0.45 + src.brightness
    return _finish(img[..., None], src, d, size)


# ---------------------------------------------------------------------------------------------------------------------
# pathology: H&E lymph-node patches, metastasis or not


def _pathology(d: _Draw, m: int, size: int, traits: np.ndarray, z: np.ndarray, src: _Source) -> np.ndarray:
    X, Y = _grid(size)
    stain_h = np.array(src.stain_h) + 0.04 * d.normal(3)
    stain_e = np.array(src.stain_e) + 0.04 * d.normal(3)
    stain_h = (stain_h / np.linalg.norm(stain_h, axis=1, keepdims=True)).astype(np.float32)
    stain_e = (stain_e / np.linalg.norm(stain_e, axis=1, keepdims=True)).astype(np.float32)

    # eosin: fibrous stroma with low-frequency density, white lumen where a smooth field is high
    a = _col(d.uniform(hi=np.pi))
    fibres = 0.5 + 0.5 * np.cos(2 * np.pi * 4.0 * (X * np.cos(a) + Y * np.sin(a)) + 4.0 * d.noise(size, 5))
    stroma = _col(0.35 * np.exp(0.2 * traits[:, 0])) * (1 + 0.3 * d.noise(size, 5)) * (0.8 + 0.4 * fibres)
    lumen = special.expit((d.noise(size, 3) - _col(1.2 + 0.5 * d.normal())) / 0.1)
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
    nuclei = _splat(m, size, nm, nx, ny, dark, r * el, r / el, d.uniform(k, hi=np.pi), disc=True, harmonics=harm)
    nuclei *= 1 + 0.25 * d.noise(size, 32)  # chromatin
    k = 30  # lymphocytes: small, round, very dark, label-free
    lm = d.mask(10 * np.exp(0.6 * traits[:, 1]), k)
    lr = 0.045 * np.exp(0.1 * d.normal(k))
    lx, ly = d.uniform(k, lo=-1.05, hi=1.05), d.uniform(k, lo=-1.05, hi=1.05)
    lymph = _splat(m, size, lm, lx, ly, np.full((m, k), 1.4), lr, disc=True,
                   harmonics=(0.03 * d.uniform(k, 1), d.uniform(k, 1, hi=2 * np.pi)))
    dens_h = 0.06 * (1 + 0.3 * d.noise(size, 6)) + nuclei + lymph

    # per-slide staining strength varies, so the amount of purple alone is a weak cue
    amount = np.array(src.stain_scale) * np.exp(0.2 * d.normal(2))
    od = (dens_h[..., None] * (_col(amount[:, 0]) * stain_h[:, None, :])[:, :, None, :]
          + dens_e[..., None] * (_col(amount[:, 1]) * stain_e[:, None, :])[:, :, None, :])
    img = _rgb(*src.tint) * np.exp(-od)
    return _finish(img, src, d, size)


_RENDER: dict[str, Callable[..., np.ndarray]] = {
    "ophthalmology": _ophthalmology, "radiology": _radiology, "pathology": _pathology,
}
_CHANNELS = {"ophthalmology": 3, "radiology": 1, "pathology": 3}


# ---------------------------------------------------------------------------------------------------------------------
# public API


def _check(domain: str, n: int, size: int, seed: int, source: str) -> None:
    if domain not in DOMAINS:
        raise ValueError(f"unknown domain {domain!r}; choose one of {', '.join(DOMAINS)}")
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}; choose one of {', '.join(SOURCES)}")
    if int(n) != n or n < 1:
        raise ValueError(f"n must be an integer >= 1 (got {n!r})")
    if int(size) != size or size < 16:
        raise ValueError(f"size must be an integer >= 16 pixels (got {size!r})")
    if int(seed) != seed or seed < 0:
        raise ValueError(f"seed must be an integer >= 0 (got {seed!r})")


def generate(domain: str, n: int, size: int, *, seed: int, source: str = "a", sep: float | None = None) -> ImageSet:
    """``n`` labelled images of ``domain`` (uint8 n×size×size×C) from acquisition ``source``, 2-4 per patient.

    ``sep`` is the label's shift of every latent cue (larger is easier); None takes the domain's tuned default.
    Ophthalmology and pathology are binary (int64 labels); radiology is multi-label (float32 (n, 5), "No Finding"
    first and 1 exactly when no finding is present).
    """
    _check(domain, n, size, seed, source)
    n, size, seed = int(n), int(size), int(seed)
    sep = DEFAULT_SEP[domain] if sep is None else float(sep)
    src = _SOURCES[domain][source]
    key = (seed, DOMAINS.index(domain), SOURCES.index(source))

    def rng(*purpose: int) -> np.random.Generator:
        return np.random.default_rng([*key, *purpose])

    # patients: 2-4 images each, sharing anatomy traits and (mostly) their labels; findings co-occur (copula)
    pid = np.repeat(np.arange(n), rng(0).integers(2, 5, size=n))[:n]
    prev = np.array(src.prevalence)
    shared = rng(1).standard_normal((n, 1))
    latent = 0.4 * shared + np.sqrt(1 - 0.4**2) * rng(2).standard_normal((n, len(prev)))
    y_patient = latent > stats.norm.ppf(1 - prev)
    keep = rng(3).random((n, len(prev))) < _PATIENT_KEEP
    y = np.where(keep, y_patient[pid], rng(4).random((n, len(prev))) < prev)
    traits = rng(5).standard_normal((n, 8))[pid]
    cues = rng(6).standard_normal((n, 5))
    if domain == "radiology":
        z = cues + sep * (2.0 * np.pad(y, ((0, 0), (0, 1))) - 1.0)
        labels = np.concatenate([~y.any(1, keepdims=True), y], 1).astype(np.float32)
        label_names = RADIOLOGY_LABELS
    else:
        z = cues + sep * (2.0 * y[:, :1] - 1.0)
        labels = y[:, 0].astype(np.int64)
        label_names = ("normal", "metastasis") if domain == "pathology" else ("non-referable", "referable")

    images = np.empty((n, size, size, _CHANNELS[domain]), np.uint8)
    chunks = range(0, n, _CHUNK)
    for lo in tqdm(chunks, desc=f"synthetic {domain}", unit="chunk", disable=n < _PROGRESS_FROM):
        hi = min(lo + _CHUNK, n)
        d = _Draw(rng(7, lo // _CHUNK), hi - lo)
        images[lo:hi] = _RENDER[domain](d, hi - lo, size, traits[lo:hi], z[lo:hi], src)

    patients = np.array([f"{domain[:4]}-{source}-{seed}-{k:06d}" for k in pid])
    meta = {"generator": "medadv.data.synthetic", "version": VERSION, "domain": domain, "source": source,
            "seed": seed, "size": size, "sep": sep}
    return ImageSet(images, labels, patients, label_names, meta)


def _digest(images: np.ndarray, labels: np.ndarray) -> str:
    return hashlib.sha256(images.tobytes() + labels.tobytes()).hexdigest()


def _read(path: Path, expect: dict) -> ImageSet:
    """Load a cached set and check it against what was asked for and against its own checksum."""
    with np.load(path, allow_pickle=False) as f:
        meta = json.loads(str(f["meta"]))
        images, labels, patients = f["images"], f["labels"], f["patients"]
        names = tuple(str(s) for s in f["label_names"])
        digest = str(f["digest"])
    if meta != expect:
        raise ValueError(f"metadata {meta} differs from the request {expect}")
    if images.dtype != np.uint8 or images.shape[:3] != (expect["n"], expect["size"], expect["size"]):
        raise ValueError(f"images are {images.dtype} {images.shape}")
    if _digest(images, labels) != digest:
        raise ValueError("checksum mismatch")
    meta.pop("n")
    return ImageSet(images, labels, patients.astype(str), names, meta)


def cached(
    domain: str,
    n: int,
    size: int,
    *,
    seed: int,
    source: str = "a",
    sep: float | None = None,
    cache_dir: str | Path | None = None,
) -> ImageSet:
    """``generate`` with an .npz cache (default ``$MEDADV_DATA/synthetic`` or ``~/.cache/medadv/data/synthetic``).

    The file is written atomically and checked on every read (request, shapes, checksum); a file that fails the
    check is regenerated with a warning rather than trusted.
    """
    _check(domain, n, size, seed, source)
    sep = DEFAULT_SEP[domain] if sep is None else float(sep)
    root = Path(cache_dir).expanduser() if cache_dir is not None else data_root("synthetic")
    path = root / f"{domain}-{source}-n{int(n)}-px{int(size)}-seed{int(seed)}-sep{sep:g}-v{VERSION}.npz"
    expect = {"generator": "medadv.data.synthetic", "version": VERSION, "domain": domain, "source": source,
              "seed": int(seed), "size": int(size), "sep": sep, "n": int(n)}
    if path.exists():
        try:
            return _read(path, expect)
        except Exception as err:  # any unreadable or inconsistent file: never trust it
            warnings.warn(f"regenerating the corrupt synthetic cache file {path} ({type(err).__name__}: {err})",
                          stacklevel=2)
    data = generate(domain, n, size, seed=seed, source=source, sep=sep)
    buf = io.BytesIO()
    np.savez(buf, images=data.images, labels=data.labels, patients=data.patients.astype(str),
             label_names=np.array(data.label_names), meta=np.array(json.dumps({**data.meta, "n": int(n)})),
             digest=np.array(_digest(data.images, data.labels)))
    atomic_write_bytes(path, buf.getvalue())
    return data


# The test set and the other-source pools are drawn under other seeds than the development pool, so they hold other
# patients; the offsets are primes, far apart, so that no study seed's test set is another seed's pool.
TEST_SEED_OFFSET = 7919
SOURCE_SEED_OFFSET = 104729


class _SourcePools(Mapping[str, ImageSet]):
    """A pool of every source, drawn when first asked for (most studies use none)."""

    def __init__(self, draw: Callable[[str], ImageSet]) -> None:
        self._draw, self._pools = draw, {}

    def __getitem__(self, source: str) -> ImageSet:
        if source not in SOURCES:
            raise KeyError(source)
        if source not in self._pools:
            self._pools[source] = self._draw(source)
        return self._pools[source]

    def __iter__(self) -> Iterator[str]:
        return iter(SOURCES)

    def __len__(self) -> int:
        return len(SOURCES)


def load(root: Path, *, image_size: int, domain: str, n_dev: int, n_test: int, seed: int, sep: float | None = None,
         cache_dir: str | Path | None = None) -> DomainData:
    """The generated data set as a domain: a pool of ``2 * n_dev`` images (the paper's d1 and d2) and ``n_test`` test
    images of source "a", and a pool of ``n_dev`` images of every source (``source:<name>``), cached in ``root``."""
    cache = root if cache_dir is None else cache_dir
    pool = cached(domain, 2 * n_dev, image_size, seed=seed, sep=sep, cache_dir=cache)
    test = cached(domain, n_test, image_size, seed=seed + TEST_SEED_OFFSET, sep=sep, cache_dir=cache)
    sources = _SourcePools(lambda source: cached(domain, n_dev, image_size, seed=seed + SOURCE_SEED_OFFSET,
                                                 source=source, sep=sep, cache_dir=cache))
    return DomainData(pool, test, sources)
