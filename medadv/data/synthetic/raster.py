"""Raster helpers of the generator: seeded draws per chunk of images, pixel grids, and blobs splatted onto a canvas.

Why: every domain paints with the same few strokes (smooth noise, Gaussians, soft-edged discs with irregular outlines)
in normalised coordinates (the image spans [-1, 1]), so that what an image shows does not depend on its size in
pixels, and its random draws not on how many images are asked for.
"""
from __future__ import annotations

import numpy as np
from scipy import special, stats

CHUNK = 128  # images rendered together; draws are made for a full chunk so images do not depend on n


class Draw:
    """Random draws for one chunk: always made for a full chunk and then cut to the m images rendered."""

    def __init__(self, rng: np.random.Generator, m: int) -> None:
        self.rng, self.m = rng, m

    def normal(self, *shape: int) -> np.ndarray:
        return self.rng.standard_normal((CHUNK, *shape))[: self.m]

    def uniform(self, *shape: int, lo: float = 0.0, hi: float = 1.0) -> np.ndarray:
        return lo + (hi - lo) * self.rng.random((CHUNK, *shape))[: self.m]

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
        u = np.exp(-0.5 * ((coords(size)[:, None] - c[None, :]) / (2.0 / (grid - 1))) ** 2)
        f = np.einsum("ij,mjk,lk->mil", u, g, u, optimize=True)
        f -= f.mean(axis=(1, 2), keepdims=True)
        return (f / (f.std(axis=(1, 2), keepdims=True) + 1e-6)).astype(np.float32)


def coords(size: int) -> np.ndarray:
    """Pixel-centre coordinates in [-1, 1]."""
    return ((np.arange(size) + 0.5) / size * 2.0 - 1.0).astype(np.float32)


def grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """X (1, 1, S) and Y (1, S, 1), broadcastable against (m, 1, 1) per-image parameters."""
    c = coords(size)
    return c[None, None, :], c[None, :, None]


def rgb(*v: float) -> np.ndarray:
    return np.array(v, np.float32)


def col(a: np.ndarray | float) -> np.ndarray:
    """Per-image values as (m, 1, 1) float32, so that whole-image arithmetic stays float32."""
    return np.asarray(a, dtype=np.float32)[:, None, None]


# half-widths (px) of the windows blobs are evaluated on, about sqrt(2) apart: each blob gets the smallest that covers
# it, and the blobs of one window size are evaluated together
WINDOWS = np.array([1, 2, 3, 4, 6, 8, 11, 16, 23, 32, 45, 64, 90, 128, 181, 256, 362, 512, 724, 1024, 1448, 2048])


def splat(
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
    win = WINDOWS[np.minimum(np.searchsorted(WINDOWS, need), len(WINDOWS) - 1)]
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
