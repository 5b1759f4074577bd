"""MedMNIST+ (v3): small, standardised medical images as npz files, one per data set and size.

Layout (as distributed at https://zenodo.org/records/10519652; ``medadv data prepare medmnist`` downloads them):
``{subset}.npz`` (28 px) and ``{subset}_{64,128,224}.npz``, keys ``train_images, train_labels, val_images,
val_labels, test_images, test_labels``. Used here: pathmnist (pathology, 9 tissue classes), chestmnist (radiology,
14 findings, multi-label), pneumoniamnist (radiology, pneumonia vs normal), retinamnist (ophthalmology; its five DR
grades become referable DR, grade ≥ ``referable_grade``, as in the paper's ophthalmology task).

Pool = train + val, test = the official test split. MedMNIST publishes no patient IDs, so every image is its own
patient: splits of the pool are image-level, and images of one patient may fall into two development sets (for
chestmnist, NIH's official split keeps the test patients apart). Images keep their stored size (the batching code
resizes on the device); greyscale sets get a channel axis.
"""
from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from medadv.data.base import DataError, DomainData, ImageSet

SIZES = (28, 64, 128, 224)
KEYS = ("train_images", "train_labels", "val_images", "val_labels", "test_images", "test_labels")
ZENODO = "https://zenodo.org/records/10519652/files/{file}?download=1"
DOMAIN = {"pathmnist": "pathology", "chestmnist": "radiology", "pneumoniamnist": "radiology",
          "retinamnist": "ophthalmology"}
LABELS = {
    "pathmnist": ("adipose", "background", "debris", "lymphocytes", "mucus", "smooth muscle", "normal colon mucosa",
                  "cancer-associated stroma", "colorectal adenocarcinoma epithelium"),
    "chestmnist": ("atelectasis", "cardiomegaly", "effusion", "infiltration", "mass", "nodule", "pneumonia",
                   "pneumothorax", "consolidation", "edema", "emphysema", "fibrosis", "pleural", "hernia"),
    "pneumoniamnist": ("normal", "pneumonia"),
    "retinamnist": ("non-referable", "referable"),  # from the five grades 0-4
}
# The subset that stands for each of the paper's domains (chestmnist is NIH ChestX-ray14, the paper's radiology data).
SUBSET_FOR_DOMAIN = {"pathology": "pathmnist", "radiology": "chestmnist", "ophthalmology": "retinamnist"}
CHANNELS = {"pathmnist": 3, "chestmnist": 1, "pneumoniamnist": 1, "retinamnist": 3}
# Official md5s, from medmnist/info.py of the MedMNIST package (v3.0.2): INFO[subset]["MD5"] / ["MD5_<size>"].
MD5 = {
    ("pathmnist", 28): "a8b06965200029087d5bd730944a56c1", ("pathmnist", 64): "55aa9c1e0525abe5a6b9d8343a507616",
    ("pathmnist", 128): "ac42d08fb904d92c244187169d1fd1d9", ("pathmnist", 224): "2c51a510bcdc9cf8ddb2af93af1eadec",
    ("chestmnist", 28): "02c8a6516a18b556561a56cbdd36c4a8", ("chestmnist", 64): "9de6cd0b934ebb5b7426cfba5efbae16",
    ("chestmnist", 128): "db107e5590b27930b62dbaf558aebee3", ("chestmnist", 224): "45bd33e6f06c3e8cdb481c74a89152aa",
    ("pneumoniamnist", 28): "28209eda62fecd6e6a2d98b1501bb15f",
    ("pneumoniamnist", 64): "8f4eceb4ccffa70c672198ea285246c6",
    ("pneumoniamnist", 128): "05b46931834c231683c68f40c47b2971",
    ("pneumoniamnist", 224): "d6a3c71de1b945ea11211b03746c1fe1",
    ("retinamnist", 28): "bd4c0672f1bba3e3a89f0e4e876791e4", ("retinamnist", 64): "afda852cc34dcda56f86ad2b2457dbcc",
    ("retinamnist", 128): "e48e916a24454daf90583d4e6efb1a18",
    ("retinamnist", 224): "eae7e3b6f3fcbda4ae613ebdcbe35348",
}


def file_name(subset: str, size: int) -> str:
    return f"{subset}.npz" if size == 28 else f"{subset}_{size}.npz"


def url(subset: str, size: int) -> str:
    return ZENODO.format(file=file_name(subset, size))


def _check_subset(subset: str) -> None:
    if subset not in DOMAIN:
        raise DataError(f"subset must be one of {sorted(DOMAIN)}, not {subset!r}")


def pick_file(root: Path, subset: str, image_size: int, size: int | None) -> tuple[Path, int]:
    """The npz to read: ``size`` when given, else the smallest present size ≥ image_size (else the largest present)."""
    _check_subset(subset)
    if size is not None:
        if size not in SIZES:
            raise DataError(f"size must be one of {SIZES}, not {size}")
        path = Path(root) / file_name(subset, size)
        if not path.is_file():
            raise DataError(f"{path} is missing; run `medadv data prepare medmnist --subset {subset} --size {size}` "
                            f"or download {url(subset, size)} into {root}")
        return path, size
    present = [s for s in SIZES if (Path(root) / file_name(subset, s)).is_file()]
    if not present:
        wanted = next((s for s in SIZES if s >= image_size), SIZES[-1])
        raise DataError(f"no {subset} npz in {root}; run `medadv data prepare medmnist --subset {subset} --size "
                        f"{wanted}` or download {url(subset, wanted)} into {root}")
    chosen = next((s for s in present if s >= image_size), present[-1])
    return Path(root) / file_name(subset, chosen), chosen


def _array_headers(path: Path) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """Shape and dtype of every array in an npz, read from the headers only (no data loaded)."""
    headers = {}
    try:
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                with archive.open(info) as f:
                    version = np.lib.format.read_magic(f)
                    read = np.lib.format.read_array_header_1_0 if version == (1, 0) else \
                        np.lib.format.read_array_header_2_0
                    shape, _, dtype = read(f)
                headers[info.filename.removesuffix(".npy")] = (shape, dtype)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as err:
        raise DataError(f"cannot read {path} as npz ({err}): truncated or corrupted; delete it and download it "
                        "again (`medadv data prepare medmnist`)") from err
    return headers


def _check_structure(path: Path, subset: str) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    headers = _array_headers(path)
    missing = [k for k in KEYS if k not in headers]
    if missing:
        raise DataError(f"{path} lacks arrays {missing} (it has {sorted(headers)}); it is not a MedMNIST file")
    n_labels = len(LABELS[subset]) if subset == "chestmnist" else 1
    for split in ("train", "val", "test"):
        (shape, dtype), (lshape, _) = headers[f"{split}_images"], headers[f"{split}_labels"]
        grey = len(shape) == 3 and CHANNELS[subset] == 1
        rgb = len(shape) == 4 and shape[3] == CHANNELS[subset]
        if dtype != np.uint8 or not (grey or rgb) or shape[1] != shape[2]:
            raise DataError(f"{path}: {split}_images is {shape} {dtype}; expected N×H×W"
                            f"{'' if CHANNELS[subset] == 1 else '×3'} uint8 for {subset}")
        if lshape != (shape[0], n_labels):
            raise DataError(f"{path}: {split}_labels is {lshape}; expected ({shape[0]}, {n_labels})")
    return headers


def _labels(raw: np.ndarray, subset: str, referable_grade: int, path: Path) -> np.ndarray:
    values = set(np.unique(raw).tolist())
    if subset == "chestmnist":
        if not values <= {0, 1}:
            raise DataError(f"{path}: chestmnist labels must be 0/1, found {sorted(values)}")
        return raw.astype(np.float32)
    allowed = set(range(5 if subset == "retinamnist" else len(LABELS[subset])))
    if not values <= allowed:
        raise DataError(f"{path}: {subset} labels must be in {sorted(allowed)}, found {sorted(values)}")
    labels = raw.reshape(-1).astype(np.int64)
    return (labels >= referable_grade).astype(np.int64) if subset == "retinamnist" else labels


def _images(array: np.ndarray) -> np.ndarray:
    return array[..., None] if array.ndim == 3 else array


def load(root: Path, *, image_size: int, subset: str = "pneumoniamnist", size: int | None = None,
         referable_grade: int = 2, **options: Any) -> DomainData:
    """One MedMNIST+ set as a domain. ``size``: 28/64/128/224 (default: the smallest present ≥ image_size)."""
    if options:
        raise DataError(f"unknown medmnist option(s) {sorted(options)}; medmnist takes: subset, size, "
                         "referable_grade")
    path, chosen = pick_file(Path(root), subset, image_size, size)
    _check_structure(path, subset)
    with np.load(path) as z:
        arrays = {k: z[k] for k in KEYS}
    sets = {}
    for split in ("train", "val", "test"):
        images = _images(arrays[f"{split}_images"])
        labels = _labels(arrays[f"{split}_labels"], subset, referable_grade, path)
        sets[split] = (images, labels, np.array([f"{split}_{i:06d}" for i in range(len(labels))]))
    n_train, n_val = len(sets["train"][1]), len(sets["val"][1])
    meta = {"dataset": f"medmnist/{subset}", "domain": DOMAIN[subset], "image_size": image_size, "stored_size": chosen,
            "file": str(path), "patient_unit": "image", "official_val": (n_train, n_train + n_val)}
    if subset == "retinamnist":
        meta["referable_grade"] = referable_grade
    pool = ImageSet(*(np.concatenate([a, b]) for a, b in zip(sets["train"], sets["val"])), LABELS[subset], meta)
    test = ImageSet(*sets["test"], LABELS[subset], {**meta, "official_val": None})
    return DomainData(pool=pool, test=test)


def present(root: Path) -> list[tuple[str, int]]:
    """(subset, size) of every MedMNIST+ file in ``root``."""
    return [(s, n) for s in DOMAIN for n in SIZES if (Path(root) / file_name(s, n)).is_file()]


def verify(root: Path, *, checksums: bool = False, subset: str | None = None, size: int | None = None,
           referable_grade: int = 2, **options: Any) -> list[dict[str, Any]]:
    """Check every present file (or the one chosen by ``subset``/``size``): arrays, shapes, dtypes, label values,
    and with ``checksums`` the official md5s. One report per file and split."""
    if options:
        raise DataError(f"unknown medmnist option(s) {sorted(options)}")
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"MedMNIST folder {root} does not exist; run `medadv data prepare medmnist`")
    if subset is not None:
        _check_subset(subset)
        sizes = [size] if size else [n for s, n in present(root) if s == subset]
        if not sizes:
            pick_file(root, subset, 28, None)  # raises: names the file and the download
        files = [(subset, n) for n in sizes]
    else:
        files = [(s, n) for s, n in present(root) if size in (None, n)]
    if not files:
        raise DataError(f"no MedMNIST+ npz files in {root}; run `medadv data prepare medmnist`")
    reports = []
    for name, n in files:
        path, _ = pick_file(root, name, n, n)
        if checksums:
            from medadv.data.download import check_file

            check_file(path, md5=MD5[(name, n)])
        headers = _check_structure(path, name)
        with np.load(path) as z:
            for split in ("train", "val", "test"):
                labels = _labels(z[f"{split}_labels"], name, referable_grade, path)
                if labels.ndim == 2:
                    counts = {k: int(v) for k, v in zip(LABELS[name], labels.sum(axis=0))}
                elif len(LABELS[name]) == 2:
                    counts = {LABELS[name][1]: int(labels.sum())}
                else:
                    counts = {k: int(v) for k, v in zip(LABELS[name], np.bincount(labels, minlength=len(LABELS[name])))}
                reports.append({"split": f"{path.name} {split}", "n_images": len(labels), "counts": counts,
                                "shape": headers[f"{split}_images"][0], "dtype": "uint8"})
    return reports
