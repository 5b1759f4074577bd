"""Natural images for the attacker who has no medical data (the public-parts chapter, beyond the paper).

Why these: the photographs that ship with scikit-image are on every machine that installs medadv (no download), are
natural scenes of the kind ImageNet holds, and are not medical. The medical and synthetic images in ``skimage.data``
(a retina, microaneurysms, IHC and cell micrographs, a phantom, charts, text) are left out on purpose: the attacker of
this chapter has none. A user with a folder of natural images (``natural_images: PATH`` in a profile) uses it instead.

A few photographs become a few thousand training patches by random square crops (a tenth to all of the shorter side),
flips, and colour jitter (brightness, contrast, saturation), resized to the profile's image size: what a universal
perturbation is fitted on, so it does not fit one photograph's content.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

#: scikit-image's bundled photographs of natural scenes and objects (``skimage.data.<name>()``), offline.
PHOTOGRAPHS: tuple[str, ...] = ("astronaut", "brick", "camera", "chelsea", "coffee", "coins", "grass", "gravel",
                                "hubble_deep_field", "moon", "rocket", "stereo_motorcycle")
#: Bundled in ``skimage.data`` but not natural photographs of the public's kind, so never used: medical images.
EXCLUDED_MEDICAL: tuple[str, ...] = ("retina", "microaneurysms", "immunohistochemistry", "cell", "kidney",
                                     "cells3d", "brain")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


class NaturalImagesError(ValueError):
    """A natural-image folder that cannot be used (missing, empty, unreadable)."""


def _rgb(image: np.ndarray) -> np.ndarray:
    """Any 2-D gray, RGB or RGBA uint8/float array → H×W×3 uint8."""
    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        arr = np.clip(arr * (255.0 if arr.max() <= 1.0 else 1.0), 0, 255).astype(np.uint8)
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=2)
    return np.array(arr[..., :3])  # a writable copy (PIL and skimage may hand out read-only arrays)


def _luminance(x: torch.Tensor) -> torch.Tensor:
    """The grey level (ITU-R 601 weights) of a 3×H×W image, 1×H×W."""
    return (0.299 * x[0] + 0.587 * x[1] + 0.114 * x[2])[None]


def photographs(folder: str | Path | None = None) -> dict[str, np.ndarray]:
    """The source photographs by name, H×W×3 uint8: scikit-image's (``PHOTOGRAPHS``), or every image in ``folder``."""
    if folder is None:
        from skimage import data

        def load(name: str) -> np.ndarray:
            image = getattr(data, name)()
            return _rgb(image[0] if isinstance(image, tuple) else image)  # stereo_motorcycle: (left, right, disparity)

        return {name: load(name) for name in PHOTOGRAPHS}
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise NaturalImagesError(f"natural_images: {root} is not a folder; point it at a folder of .png/.jpg "
                                 f"photographs, or leave it unset for scikit-image's bundled ones")
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise NaturalImagesError(f"natural_images: {root} holds no image files ({', '.join(IMAGE_SUFFIXES)})")
    from PIL import Image, UnidentifiedImageError

    out = {}
    for path in files:
        try:
            with Image.open(path) as im:
                out[str(path.relative_to(root))] = _rgb(np.asarray(im.convert("RGB")))
        except (UnidentifiedImageError, OSError) as err:
            raise NaturalImagesError(f"natural_images: cannot read {path} ({err}); remove or replace it") from err
    return out


def patches(n: int, size: int, *, channels: int = 3, seed: int = 0,
            folder: str | Path | None = None) -> np.ndarray:
    """``n`` augmented square patches of the photographs, uint8 n×size×size×channels (1: luminance), seeded."""
    if n < 1 or size < 1 or channels not in (1, 3):
        raise ValueError(f"need n >= 1, size >= 1 and 1 or 3 channels; got n={n}, size={size}, channels={channels}")
    sources = list(photographs(folder).values())
    rng = np.random.default_rng(seed)
    out = np.empty((n, size, size, channels), np.uint8)
    for i in range(n):
        img = sources[rng.integers(len(sources))]
        h, w = img.shape[:2]
        side = max(8, int(min(h, w) * rng.uniform(0.1, 1.0)))
        top, left = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
        crop = torch.from_numpy(img[top:top + side, left:left + side]).permute(2, 0, 1)[None].float() / 255
        x = F.interpolate(crop, size=(size, size), mode="bilinear", antialias=True, align_corners=False)[0]
        if rng.random() < 0.5:
            x = x.flip(-1)
        gray = _luminance(x)
        x = gray + rng.uniform(0.6, 1.4) * (x - gray)  # saturation
        x = x.mean() + rng.uniform(0.7, 1.3) * (x - x.mean())  # contrast
        x = x * rng.uniform(0.7, 1.3)  # brightness
        if channels == 1:
            x = _luminance(x)
        out[i] = (x.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()
    return out
