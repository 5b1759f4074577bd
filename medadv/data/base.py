"""The one in-memory shape every data set is turned into: uint8 images, labels, patient IDs."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd


class DataError(ValueError):
    """A data set is missing, malformed or inconsistent; the message names the file and the fix."""


def read_csv(path: Path, **options: Any) -> pd.DataFrame:
    """A data set's CSV, or a DataError naming it: unreadable, not CSV, empty, or without a row."""
    try:
        table = pd.read_csv(path, **options)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise DataError(f"cannot read {path} ({err}); download it again") from err
    if table.empty:
        raise DataError(f"{path} lists no images; download it again")
    return table


class LazySubset:
    """Rows ``index`` of a lazy image reader, read only when a batch asks for them."""

    def __init__(self, parent: Any, index: np.ndarray) -> None:
        self.parent, self.index = parent, index
        self.shape = (len(index), *parent.shape[1:])
        self.dtype = np.uint8

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, key: Any) -> np.ndarray:
        rows = self.index[key]
        if np.ndim(rows) == 0:
            return np.asarray(self.parent[np.array([rows])])[0]
        return np.asarray(self.parent[rows])

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return np.asarray(self[np.arange(len(self))], dtype=dtype)


class ConcatImages:
    """Lazy N×H×W×C images of several image arrays (numpy or lazy readers) one after the other; rows are read from
    their part only when a batch asks for them (a data set's pool and test set joined, without copying either)."""

    def __init__(self, parts: list[Any]) -> None:
        self.parts = parts
        self.starts = np.concatenate([[0], np.cumsum([len(p) for p in parts])]).astype(np.int64)
        self.shape = (int(self.starts[-1]), *parts[0].shape[1:])
        self.dtype = np.uint8

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key: Any) -> np.ndarray:
        rows = np.arange(len(self))[key]
        if np.ndim(rows) == 0:
            return self[np.array([rows])][0]
        out = np.empty((len(rows), *self.shape[1:]), np.uint8)
        part_of = np.searchsorted(self.starts, rows, side="right") - 1
        for k, part in enumerate(self.parts):
            where = np.flatnonzero(part_of == k)
            if len(where):
                out[where] = np.asarray(part[rows[where] - self.starts[k]])
        return out

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return np.asarray(self[np.arange(len(self))], dtype=dtype)


def concat_sets(sets: list["ImageSet"]) -> "ImageSet":
    """Image sets of one data set one after the other (images stay lazy); they must share labels and have names."""
    first = sets[0]
    if any(s.label_names != first.label_names or s.names is None for s in sets):
        raise DataError("only named image sets of one data set can be joined")
    return ImageSet(ConcatImages([s.images for s in sets]), np.concatenate([s.labels for s in sets]),
                    np.concatenate([s.patients for s in sets]), first.label_names, dict(first.meta),
                    np.concatenate([s.names for s in sets]))


@dataclass(frozen=True)
class ImageSet:
    """Labelled images of one domain.

    images: uint8 array-like N×H×W×C (a numpy array, or a lazy reader with ``__getitem__`` on sorted index
      arrays, ``__len__`` and ``shape``, such as an h5py dataset wrapper); kept uint8 until the batch is on the device.
    labels: int64 (N,) class indices for single-label tasks, float32 (N, L) multi-hot for multi-label tasks.
    patients: (N,) patient identifiers (str), so every split is patient-level.
    label_names: the class names (single-label) or output names (multi-label).
    names: (N,) each image's name in its data set (the file name, or ``<split>_<row>`` for PCam), which split files
      list; None for generated images, which have none.
    """

    images: Any
    labels: np.ndarray
    patients: np.ndarray
    label_names: tuple[str, ...]
    meta: dict[str, Any] = field(default_factory=dict)
    names: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = len(self.images)
        if len(self.labels) != n or len(self.patients) != n or (self.names is not None and len(self.names) != n):
            raise DataError(
                f"images ({n}), labels ({len(self.labels)}), patients ({len(self.patients)}) and names "
                f"({'none' if self.names is None else len(self.names)}) differ in length"
            )

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def multilabel(self) -> bool:
        return self.labels.ndim == 2

    @property
    def num_outputs(self) -> int:
        """Model outputs: one logit per class (softmax) or per label (sigmoid)."""
        return self.labels.shape[1] if self.multilabel else len(self.label_names)

    @property
    def channels(self) -> int:
        return int(self.images.shape[-1])

    @property
    def image_size(self) -> int:
        return int(self.images.shape[1])

    def subset(self, index: np.ndarray) -> "ImageSet":
        """The images at ``index`` (sorted); a lazy reader stays lazy (PCam's train file is 6 GB+)."""
        index = np.sort(np.asarray(index, dtype=np.int64))
        if isinstance(self.images, np.ndarray):
            images: Any = self.images[index]
        else:
            images = LazySubset(self.images, index)
        names = None if self.names is None else self.names[index]
        return ImageSet(images, self.labels[index], self.patients[index], self.label_names, dict(self.meta), names)

    def positives(self) -> np.ndarray:
        """Number of positive images per label (multi-label) or per class (single-label)."""
        if self.multilabel:
            return self.labels.sum(axis=0).astype(np.int64)
        return np.bincount(self.labels, minlength=len(self.label_names))


@dataclass(frozen=True)
class DomainData:
    """What a data set offers one domain: a development pool (split later into the paper's d1, d2, ... patient-wise),
    a fixed test set that is in no development set, and optional other-source pools (other camera, scanner, stain)."""

    pool: ImageSet
    test: ImageSet
    sources: Mapping[str, ImageSet] = field(default_factory=dict)

    def __post_init__(self) -> None:
        shared = set(self.pool.patients.tolist()) & set(self.test.patients.tolist())
        if shared:
            example = sorted(shared)[:3]
            raise DataError(
                f"{len(shared)} patients are in both the development pool and the test set (e.g. {example}); "
                "fix the split file so that every patient is in one of them"
            )


def pick_variant(root: Path, variant: str, found: dict[str, Path], variants: tuple[str, ...], *, what: str,
                 expected: str, instructions: str) -> str:
    """The variant of a data set folder to use ("auto": the first of ``variants`` found), or a DataError that says
    what is missing and how to get it. ``found`` maps each variant present in ``root`` to its folder."""
    if not Path(root).is_dir():
        raise DataError(f"{what} folder {root} does not exist. Get the data:\n" + instructions)
    if not found:
        raise DataError(f"no {what} data set in {root} ({expected}). Get the data:\n" + instructions)
    if variant == "auto":
        variant = next(v for v in variants if v in found)
    if variant not in variants:
        raise DataError(f"variant must be one of {variants} or 'auto', not {variant!r}")
    if variant not in found:
        raise DataError(f"variant {variant!r} requested but not found in {root} (found {sorted(found)})")
    return variant
