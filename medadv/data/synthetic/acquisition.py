"""What differs between acquisition sites (camera, X-ray machine, stain and scanner): prevalence and the look of images.

Why: "other-source development data" (the paper's other camera or hospital) only has its practical meaning when
sources differ in ways a model notices: colour, contrast, optics, noise, and how often the label is positive.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from medadv.data.synthetic.raster import Draw


@dataclass(frozen=True)
class Source:
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
    # how much one image differs from the next of the same site (sd of log gains): a photo's exposure and colour
    # balance (flash, pupil, media opacity), a slide's stain vectors and stain amounts (staining time, thickness)
    exposure: float = 0.0
    white_balance: float = 0.0
    stain_jitter: tuple[float, float] = (0.04, 0.2)


def finish(img: np.ndarray, src: Source, d: Draw, size: int) -> np.ndarray:
    """The image's own exposure and colour balance, sensor noise and optics blur of a source, then uint8."""
    if src.exposure or src.white_balance:  # drawn only where the site has them, so other images stay as they were
        gain = np.exp(src.exposure * d.normal()[:, None] + src.white_balance * d.normal(img.shape[-1]))
        img = img * gain[:, None, None, :].astype(np.float32)
    img = img + (src.noise * d.normal(size, size)[..., None]).astype(np.float32)
    if src.blur > 0:
        img = ndimage.gaussian_filter(img, sigma=(0, src.blur * size / 2, src.blur * size / 2, 0), mode="nearest")
    return np.clip(img * 255.0 + 0.5, 0, 255).astype(np.uint8)
