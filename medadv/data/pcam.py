"""PatchCamelyon (PCam): 96×96 px H&E lymph-node patches, label = metastasis in the centre 32×32 px.

Layout (as distributed at https://zenodo.org/records/2546921, after gunzip; ``medadv data prepare pcam`` does both):
``camelyonpatch_level_2_split_{train,valid,test}_{x,y}.h5`` (x: N×96×96×3 uint8 under key ``x``; y: N×1×1×1 under
key ``y``) and optional ``camelyonpatch_level_2_split_{split}_meta.csv`` (columns ``coord_y, coord_x, tumor_patch,
center_tumor_patch, wsi``).

Images are read lazily from the HDF5 files (the training file is 7 GB); the development pool is train + valid, the
test set is the official test split. Patients: the x/y files carry no patient IDs. When the meta CSVs are present,
the whole-slide image (``wsi`` column) is the patient unit (the official splits share no slide, which load checks), so
patches of one slide never straddle two development sets; without them (or with ``patients="patch"``) every patch is
its own patient, the best the files allow, and patches of one slide may fall into two development sets. Images stay
at the native 96 px (the paper's input): the batching code resizes on the device, so ``image_size`` is only recorded.
Each patch is named ``<split>_<row>`` (``train_000123``: the official split and its 0-based row in the HDF5 file,
6 digits): the names split files list (see medadv.data.splits).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import h5py
import numpy as np

from medadv.data.base import DataError, DomainData, ImageSet, read_csv

SPLITS = ("train", "valid", "test")
LABEL_NAMES = ("normal", "metastasis")
ZENODO = "https://zenodo.org/records/2546921/files/{name}?download=1"
PREPARE_HINT = ("run `medadv data prepare pcam`, or download the files from https://zenodo.org/records/2546921 "
                "and gunzip them into that folder")


def file_name(split: str, part: str) -> str:
    """``part`` is "x", "y" or "meta"."""
    return f"camelyonpatch_level_2_split_{split}_{part}.{'csv' if part == 'meta' else 'h5'}"


# md5 of the decompressed files and meta CSVs (as used by eva's and other checked PCam loaders), and of the .gz files
# on Zenodo (as in torchvision's PCAM dataset and the PCam README).
MD5 = {
    "camelyonpatch_level_2_split_train_x.h5": "01844da899645b4d6f84946d417ba453",
    "camelyonpatch_level_2_split_train_y.h5": "0781386bf6c2fb62d58ff18891466aca",
    "camelyonpatch_level_2_split_valid_x.h5": "81cf9680f1724c40673f10dc88e909b1",
    "camelyonpatch_level_2_split_valid_y.h5": "94d8aacc249253159ce2a2e78a86e658",
    "camelyonpatch_level_2_split_test_x.h5": "2614b2e6717d6356be141d9d6dbfcb7e",
    "camelyonpatch_level_2_split_test_y.h5": "11ed647efe9fe457a4eb45df1dba19ba",
    "camelyonpatch_level_2_split_train_meta.csv": "5a3dd671e465cfd74b5b822125e65b0a",
    "camelyonpatch_level_2_split_valid_meta.csv": "67589e00a4a37ec317f2d1932c7502ca",
    "camelyonpatch_level_2_split_test_meta.csv": "3455fd69135b66734e1008f3af684566",
}
GZ_MD5 = {
    "camelyonpatch_level_2_split_train_x.h5.gz": "1571f514728f59376b705fc836ff4b63",
    "camelyonpatch_level_2_split_train_y.h5.gz": "35c2d7259d906cfc8143347bb8e05be7",
    "camelyonpatch_level_2_split_valid_x.h5.gz": "d5b63470df7cfa627aeec8b9dc0c066e",
    "camelyonpatch_level_2_split_valid_y.h5.gz": "2b85f58b927af9964a4c15b8f7e8f179",
    "camelyonpatch_level_2_split_test_x.h5.gz": "d8c2d60d490dbd479f8199bdfa0cf6ec",
    "camelyonpatch_level_2_split_test_y.h5.gz": "60a7035772fbdb7f34eb86d4420cf66a",
}


def open_h5(path: Path) -> h5py.File:
    """Open an HDF5 file read-only, turning a truncated or foreign file into a DataError with the fix."""
    if not path.is_file():
        raise DataError(f"{path} is missing; {PREPARE_HINT}")
    try:
        return h5py.File(path, "r")
    except OSError as err:
        raise DataError(f"cannot read {path} as HDF5 ({err}): the file is truncated or not HDF5. Delete it and "
                        f"{PREPARE_HINT}; `medadv data verify pcam --checksums` checks the md5s") from err


class H5Images:
    """Lazy N×H×W×C uint8 images from one or more HDF5 datasets, concatenated in order.

    Usable as ``ImageSet.images``: ``len``, ``shape``, ``dtype`` and ``[index]`` with an int, a slice, or an int
    index array (any order, repeats allowed) returning a numpy uint8 array. Nothing is read until indexed; each
    process opens its own file handles (the object pickles without them), so it also works in worker processes.
    """

    def __init__(self, files: Sequence[Path], key: str = "x") -> None:
        self.files = [Path(f) for f in files]
        self.key = key
        lengths, inner = [], None
        for path in self.files:
            with open_h5(path) as f:
                if key not in f:
                    raise DataError(f"{path} has no dataset {key!r} (it has {sorted(f.keys())}); {PREPARE_HINT}")
                ds = f[key]
                if ds.ndim != 4 or ds.dtype != np.uint8 or ds.shape[3] not in (1, 3):
                    raise DataError(f"{path}[{key!r}] is {ds.shape} {ds.dtype}; expected N×H×W×3 uint8 patches")
                if inner is not None and ds.shape[1:] != inner:
                    raise DataError(f"{path}[{key!r}] has patches of {ds.shape[1:]}, the other files {inner}")
                inner = ds.shape[1:]
                lengths.append(ds.shape[0])
        if inner is None:
            raise ValueError("H5Images needs at least one file")
        self.starts = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        self.shape: tuple[int, ...] = (int(self.starts[-1]), *inner)
        self.dtype = np.dtype(np.uint8)
        self._open: tuple[int, list[h5py.File]] | None = None

    def __len__(self) -> int:
        return self.shape[0]

    def __repr__(self) -> str:
        return f"H5Images({[f.name for f in self.files]}, shape={self.shape})"

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_open": None}

    def _datasets(self) -> list[h5py.Dataset]:
        if self._open is None or self._open[0] != os.getpid():  # a forked worker must not share HDF5 handles
            self._open = (os.getpid(), [open_h5(p) for p in self.files])
        return [f[self.key] for f in self._open[1]]

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        out = self[:]
        return out if dtype is None else out.astype(dtype)

    def __getitem__(self, index: Any) -> np.ndarray:
        n = len(self)
        if isinstance(index, (int, np.integer)):
            i = int(index) + (n if index < 0 else 0)
            if not 0 <= i < n:
                raise IndexError(f"index {index} out of range for {n} images")
            return self[np.array([i])][0]
        if isinstance(index, slice):
            index = np.arange(n)[index]
        idx = np.asarray(index)
        if idx.dtype == bool:
            idx = np.flatnonzero(idx)
        idx = idx.astype(np.int64).ravel()
        idx = np.where(idx < 0, idx + n, idx)
        if len(idx) and (idx.min() < 0 or idx.max() >= n):
            raise IndexError(f"index out of range for {n} images")
        unique, inverse = np.unique(idx, return_inverse=True)
        out = np.empty((len(unique), *self.shape[1:]), np.uint8)
        for ds, start, stop in zip(self._datasets(), self.starts[:-1], self.starts[1:]):
            where = (unique >= start) & (unique < stop)
            if where.any():
                out[where] = _read_sorted(ds, unique[where] - start)
        return out[inverse]


def _read_sorted(ds: h5py.Dataset, local: np.ndarray, window: int = 4096) -> np.ndarray:
    """Rows ``local`` (sorted, unique) of an HDF5 dataset, ``window`` rows at a time (memory stays bounded): a
    window with many wanted rows is one contiguous read, a sparse one a point selection."""
    out = np.empty((len(local), *ds.shape[1:]), ds.dtype)
    buffer = None
    pos = 0
    while pos < len(local):
        first = int(local[pos])
        end = int(np.searchsorted(local, first + window, side="left"))
        rows = local[pos:end]
        last = int(rows[-1])
        if last - first + 1 <= 4 * len(rows):
            if buffer is None:  # one buffer for all windows: memory is allocated (and page-faulted) once
                buffer = np.empty((min(window, len(ds)), *ds.shape[1:]), ds.dtype)
            ds.read_direct(buffer, np.s_[first:last + 1], np.s_[0:last + 1 - first])
            np.take(buffer, rows - first, axis=0, out=out[pos:end])
        else:
            out[pos:end] = ds[rows]
        pos = end
    return out


def _labels(path: Path, n: int) -> np.ndarray:
    with open_h5(path) as f:
        if "y" not in f:
            raise DataError(f"{path} has no dataset 'y' (it has {sorted(f.keys())}); {PREPARE_HINT}")
        y = f["y"][()]
    if y.shape[0] != n or int(np.prod(y.shape[1:])) != 1 or y.dtype.kind not in "iub":
        raise DataError(f"{path}['y'] is {y.shape} {y.dtype}; expected {n}×1×1×1 integer labels (one per patch)")
    y = y.reshape(n).astype(np.int64)
    bad = sorted(set(np.unique(y).tolist()) - {0, 1})
    if bad:
        raise DataError(f"{path}['y'] holds label values {bad}; PCam labels are 0 and 1")
    return y


def _patients(root: Path, split: str, n: int, unit: str) -> np.ndarray:
    meta = root / file_name(split, "meta")
    if unit == "patch" or not meta.is_file():
        return patch_names(split, n)
    table = read_csv(meta)
    if "wsi" not in table.columns:
        raise DataError(f"{meta} has no 'wsi' column (columns: {list(table.columns)}); download the official meta "
                        "CSV again, or remove it (each patch is then its own patient)")
    if len(table) != n:
        raise DataError(f"{meta} has {len(table)} rows but the images file has {n}; the files are from different "
                        "versions: download both again")
    return table["wsi"].astype(str).to_numpy()


def patch_names(split: str, n: int) -> np.ndarray:
    """The names of a split's patches: ``<split>_<row>``, the row 0-based and 6 digits."""
    return np.array([f"{split}_{i:06d}" for i in range(n)])


def read_split(root: Path, split: str, patients: str = "wsi") -> ImageSet:
    """One official split as an ImageSet with lazy images."""
    images = H5Images([root / file_name(split, "x")])
    labels = _labels(root / file_name(split, "y"), len(images))
    return ImageSet(images, labels, _patients(root, split, len(images), patients), LABEL_NAMES, {"split": split},
                    patch_names(split, len(images)))


def _check_root(root: Path) -> None:
    if not root.is_dir():
        raise DataError(f"PCam folder {root} does not exist; {PREPARE_HINT}")
    missing = [file_name(s, p) for s in SPLITS for p in "xy" if not (root / file_name(s, p)).is_file()]
    if missing:
        raise DataError(f"{root} lacks {missing}; {PREPARE_HINT}")


def load(root: Path, *, image_size: int, patients: str = "wsi", **options: Any) -> DomainData:
    """PCam as a domain: pool = train + valid (lazy), test = the official test split.

    ``patients``: "wsi" (slide from the meta CSVs when present) or "patch" (every patch its own patient).
    """
    if options:
        raise DataError(f"unknown pcam option(s) {sorted(options)}; pcam takes: patients")
    if patients not in ("wsi", "patch"):
        raise DataError(f"patients must be 'wsi' or 'patch', not {patients!r}")
    root = Path(root)
    _check_root(root)
    train, valid, test = (read_split(root, s, patients) for s in SPLITS)
    unit = "wsi" if patients == "wsi" and all((root / file_name(s, "meta")).is_file() for s in SPLITS) else "patch"
    if unit == "patch" and patients == "wsi":  # some meta CSVs missing: do not mix slide and patch IDs
        train, valid, test = (read_split(root, s, "patch") for s in SPLITS)
    shared = set(np.concatenate([train.patients, valid.patients]).tolist()) & set(test.patients.tolist())
    if shared:
        raise DataError(f"{len(shared)} slides of the PCam test split are also in train/valid "
                        f"(e.g. {sorted(shared)[:3]}); check the meta CSVs, or pass patients='patch'")
    meta = {"dataset": "pcam", "domain": "pathology", "image_size": image_size, "native_size": train.image_size,
            "patient_unit": unit, "official_val": (len(train), len(train) + len(valid))}
    pool = ImageSet(H5Images([root / file_name("train", "x"), root / file_name("valid", "x")]),
                    np.concatenate([train.labels, valid.labels]), np.concatenate([train.patients, valid.patients]),
                    LABEL_NAMES, meta, np.concatenate([train.names, valid.names]))
    return DomainData(pool=pool, test=ImageSet(test.images, test.labels, test.patients, LABEL_NAMES,
                                               {**meta, "official_val": None}, test.names))


def verify(root: Path, *, checksums: bool = False, **options: Any) -> list[dict[str, Any]]:
    """Check structure, shapes, dtypes and labels (images are not read); returns one report per official split."""
    if options:
        raise DataError(f"unknown pcam option(s) {sorted(options)}")
    root = Path(root)
    _check_root(root)
    if checksums:
        from medadv.data.download import check_file

        for name, md5 in MD5.items():
            if name.endswith(".h5") or (root / name).is_file():
                check_file(root / name, md5=md5)
    reports = []
    for split in SPLITS:
        data = read_split(root, split)
        reports.append({"split": split, "n_images": len(data), "shape": data.images.shape, "dtype": "uint8",
                        "counts": {LABEL_NAMES[1]: int(data.labels.sum())},
                        "patients": len(set(data.patients.tolist()))})
    return reports
