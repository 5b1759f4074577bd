"""How a craft unit stores its perturbations: one byte per value for L∞ attacks, read back lazily, batch by batch.

Why: an L∞ perturbation lives in [−eps, eps], so it fits one byte: int8 codes −120 … 120 on that interval (step
eps/120) lose at most half a step per value (eps/240: 4.2e-5 at the paper's eps 0.01, a hundredth of what an 8-bit
image can show, 1/255), half of float16's two bytes per value. 120 rather than 127 levels because the attacks' values lie on
that grid: FGSM's ±eps, and PGD's sums of steps alpha = eps/k for every k dividing 120 (the profiles' alpha/eps are
1, 1/2 … 1/6, 1/10); random starts are drawn on it and the image range is enforced at its last point inside [0, 1]
(``attacks.GRID_LEVELS``). So a stored L∞ perturbation is the crafted one, to float32's rounding, and int8 is more
exact than float16, whose rounding (2^-11 relative) touches every value. (Clipped at 0 or 1 themselves, pixels would
take the off-grid values −x or 1 − x: rounded to the nearest code, they made target scores differ from float32's by
up to 4e-3, and the shuffled control's, which moves such values to unclipped pixels, by up to 1.4e-2.) The
paper profile's test sets are large (PCam 32,768 images, EyePACS 53,576 at 512 × 512 × 3), so stored perturbations
decide the size of the store. A perturbation that need not lie in an interval (an L2 attack) is stored as before, in
float16 (two bytes per value, not quantised).

Stored form: ``delta.npy`` (the codes, N×C×H×W, int8 or float16) and ``delta.json`` (the :class:`Encoding` and how
many of the test set's images the file holds). Readers get float32 values: ``codes × scale`` (int8) or the float16
values widened, the same function wherever they are read, so a score computed while crafting equals one computed
from the stored file. The shuffled control moves the codes (same values at random positions) and then decodes,
which equals shuffling the decoded values.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from medadv import attacks

LEVELS = attacks.GRID_LEVELS  # codes in [-120, 120]: symmetric (0, ±eps exact), divisible by 1-6, 8, 10, 12 (alphas)
CODES = "delta.npy"
META = "delta.json"


@dataclass(frozen=True)
class Encoding:
    """How perturbations of one craft are coded: ``int8`` on [−eps, eps] (``scale`` = eps/120) or ``float16``."""

    format: str  # "int8-linf" or "float16"
    dtype: str  # numpy dtype of the codes
    eps: float
    scale: float  # value of one code step (int8); 1.0 for float16

    @classmethod
    def for_attack(cls, eps: float, norm: str = "linf") -> Encoding:
        """int8 for an L∞ attack (its perturbation lies in [−eps, eps]); float16 for any other norm."""
        if norm != "linf":
            return cls("float16", "float16", float(eps), 1.0)
        return cls("int8-linf", "int8", float(eps), float(eps) / LEVELS if eps > 0 else 1.0)

    @property
    def bytes_per_value(self) -> int:
        return np.dtype(self.dtype).itemsize

    @property
    def max_error(self) -> float:
        """The largest difference between a perturbation value in [−eps, eps] and its decoded value (int8: half a
        step; float16: its rounding, 2^-11 relative, at most eps·2^-11)."""
        return self.scale / 2 if self.format == "int8-linf" else self.eps * 2.0**-11

    def encode(self, delta: torch.Tensor) -> np.ndarray:
        """Codes of a float N×C×H×W batch (on any device), as a CPU numpy array: the nearest code (exact for a
        perturbation of ``medadv.attacks``' L∞ attacks, which lie on the grid)."""
        if self.format == "float16":
            return delta.to(torch.float16).cpu().numpy()
        codes = torch.round(delta.float() / self.scale).clamp_(-LEVELS, LEVELS)
        return codes.to(torch.int8).cpu().numpy()

    def decode(self, codes: np.ndarray) -> np.ndarray:
        """float32 perturbations of stored codes."""
        values = np.asarray(codes).astype(np.float32)
        return values if self.format == "float16" else values * np.float32(self.scale)


def write_meta(folder: Path, encoding: Encoding, n_images: int, shape: tuple[int, ...]) -> None:
    """Record the encoding, the test set's size and the stored array's shape (its first axis: the images kept)."""
    meta = {**asdict(encoding), "n_images": int(n_images), "shape": [int(s) for s in shape]}
    (folder / META).write_text(json.dumps(meta, indent=1))


@dataclass(frozen=True)
class Stored:
    """The perturbations of a finished craft unit: codes read from disk (memory-mapped) and decoded on request."""

    codes: np.ndarray  # int8 or float16, N_kept×C×H×W (memory-mapped)
    encoding: Encoding
    n_images: int  # images in the test set; ``len(codes)`` may be fewer (a craft that kept only some)

    @classmethod
    def read(cls, folder: Path) -> Stored:
        meta = json.loads((folder / META).read_text())
        encoding = Encoding(**{k: meta[k] for k in Encoding.__dataclass_fields__})
        return cls(np.load(folder / CODES, mmap_mode="r"), encoding, int(meta["n_images"]))

    @property
    def complete(self) -> bool:
        """Whether every test image's perturbation is stored."""
        return len(self.codes) == self.n_images

    def view(self, shuffle_seed: int | None = None) -> Perturbations:
        """The stored perturbations, decoded batch by batch; ``shuffle_seed``: their shuffled control."""
        return Perturbations(self.codes, self.encoding, shuffle_seed)


@dataclass(frozen=True)
class Perturbations:
    """float32 perturbations decoded from codes on indexing (``view[rows]``), the way ``train.predict`` reads a
    perturbation: only the batch asked for is decoded, so a large set never sits in memory as float32.

    With ``shuffle_seed``, image i's values are moved by the permutation of (seed, i)
    (:func:`medadv.attacks.shuffle_perturbation`): the shuffled control, identical however it is batched. ``start``:
    the test-set index of the first code (a chunk of a set being crafted)."""

    codes: np.ndarray
    encoding: Encoding
    shuffle_seed: int | None = None
    start: int = 0

    def __len__(self) -> int:
        return len(self.codes)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.codes.shape)

    def __getitem__(self, rows: Any) -> np.ndarray:
        index = np.arange(len(self))[rows]
        if np.ndim(index) == 0:
            return self[np.array([index])][0]
        if len(index) and not np.array_equal(index, np.arange(index[0], index[0] + len(index))):
            raise IndexError("perturbations are read in runs of consecutive images (a batch)")
        codes = np.asarray(self.codes[index])
        if self.shuffle_seed is not None and len(index):
            codes = attacks.shuffle_perturbation(codes, seed=self.shuffle_seed, start=self.start + int(index[0]))
        return self.encoding.decode(codes)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        values = self[:]
        return values if dtype is None else values.astype(dtype)
