"""The development sets: the paper's d1, d2, d2/2, d1/10 (and overlap) cut patient-wise from a domain's pool, or
the authors' sets, read from their split files and used exactly as listed (never re-cut).

``split_files`` (a study setting, per domain in ``domain_settings``) maps each development set to its lists:

- ``d1: splits/d1_filenames.yml``: a YAML with lists ``trainIDs``, ``valIDs`` and ``testIDs`` of image names, the
  authors' radiology files (Radiology/splits/d{0,1,2,3}_filenames.yml; d0 is d1/10, d3 is d2/2). The files' testIDs
  must be one list: it is the test set.
- ``d1: {train: metadata/t1.csv, val: metadata/v1.csv}``: two CSVs of image names, the authors' ophthalmology and
  pathology lists (Zenodo 10.5281/zenodo.4792375, metadata/: fundus t1/v1, t2/v2, t3/v3 with d3 = d2/2; pathology
  t1/v1, t110/v110 = d1/10, t2/v2, t22/v22 = d2/2). One name per row, in the first column or in a column headed
  filename, file_name, image, image_name, name, id or path (the header row is optional). ``test: <csv>`` names the
  test set the same way; without it (and without a YAML) the test set is the data set's own.

Names are matched to the data set's image names (``ImageSet.names``) without folder and image extension: EyePACS
``10_left``, NIH ``00000001_000``, PCam ``train_000123`` (split and HDF5 row). A relative path is taken from the data
set's folder (``$MEDADV_DATA/<data set>/``, or ``data_root``). Each file's sha256 is part of the data's identity (the
store keys of everything trained on it), so an edited list never reuses models trained on the old one.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import Any, Mapping

import numpy as np
import yaml

from medadv.data.base import DataError, ImageSet, read_csv
from medadv.vocab import D1, D1_TENTH, D2, D2_HALF, DEVELOPMENT_SETS

PAPER_SETS = DEVELOPMENT_SETS  # the name this module exports (medadv.data.PAPER_SETS)

YAML_KEYS = ("trainIDs", "valIDs", "testIDs")
NAME_HEADERS = {"filename", "file_name", "image", "image_name", "name", "id", "path", "image index"}
IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp"}
#: (set, part, path as given, sha256): part "yaml" (train, val and test lists), "train", "val" or "test" (a CSV)
Entry = tuple[str, str, str, str]


@dataclass(frozen=True)
class Lists:
    """The image names of each listed development set (train, val) and of the test set, with the file each list came
    from (for error messages)."""

    sets: dict[str, dict[str, tuple[list[str], str]]]  # set -> {"train": (names, file), "val": (names, file)}
    test: tuple[list[str], str] | None


def name_key(name: Any) -> str:
    """An image's name as split files and data sets are matched: no folder, no image extension."""
    path = PurePosixPath(str(name).strip().replace("\\", "/"))
    return path.stem if path.suffix.lower() in IMAGE_EXTENSIONS else path.name


def resolve(path: str, folder: Path) -> Path:
    """A split file's path: as given when absolute (``~`` expanded), else inside the data set's folder."""
    given = Path(path).expanduser()
    return given if given.is_absolute() else folder / given


def entries(split_files: Mapping[str, Any], folder: Path) -> tuple[Entry, ...]:
    """The split files of a study setting as hashed entries, sorted; a missing file is a DataError naming the fix."""
    out: list[Entry] = []
    for name, value in split_files.items():
        parts = {"yaml": value} if isinstance(value, str) and name != "test" else (
            {"test": value} if name == "test" else dict(value))
        for part, path in parts.items():
            out.append((name, part, str(path), _sha256(resolve(str(path), folder))))
    return tuple(sorted(out))


def _sha256(path: Path) -> str:
    if not path.is_file():
        raise DataError(f"split file {path} does not exist: put the authors' lists there (see the README, 'The "
                        "authors' splits'), or remove split_files to cut the development sets at random")
    stat = path.stat()
    return _digest(str(path), stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=64)
def _digest(path: str, mtime_ns: int, size: int) -> str:  # every unit of a study asks: read each file once
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def read(split_entries: tuple[Entry, ...], folder: Path) -> Lists:
    """The lists the entries name; the YAML files' testIDs (and a test CSV) must agree."""
    sets: dict[str, dict[str, tuple[list[str], str]]] = {}
    tests: list[tuple[list[str], str]] = []
    for name, part, path, _ in split_entries:
        file = resolve(path, folder)
        if part == "yaml":
            lists = read_yaml(file)
            sets[name] = {"train": (lists["trainIDs"], str(file)), "val": (lists["valIDs"], str(file))}
            tests.append((lists["testIDs"], str(file)))
        elif part == "test":
            tests.append((read_names(file), str(file)))
        else:
            sets.setdefault(name, {})[part] = (read_names(file), str(file))
    for names, file in tests[1:]:
        if sorted(map(name_key, names)) != sorted(map(name_key, tests[0][0])):
            raise DataError(f"the test lists of {tests[0][1]} and {file} differ: the development sets of one study "
                            "share one test set; use the split files of one release")
    return Lists(sets, tests[0] if tests else None)


def read_yaml(path: Path) -> dict[str, list[str]]:
    """The authors' radiology split YAML: lists trainIDs, valIDs, testIDs of image names without extension."""
    try:  # BaseLoader: every scalar stays a string (an unquoted 00000001_000 would otherwise be an octal number)
        data = yaml.load(Path(path).read_text(), Loader=yaml.BaseLoader)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
        raise DataError(f"cannot read split file {path} ({err})") from err
    if not isinstance(data, dict) or any(not isinstance(data.get(k), list) for k in YAML_KEYS):
        raise DataError(f"split file {path} must hold lists trainIDs, valIDs and testIDs (image names without "
                        "extension), as the authors' Radiology/splits/d1_filenames.yml")
    return {k: [str(v) for v in data[k]] for k in YAML_KEYS}


def read_names(path: Path) -> list[str]:
    """A CSV list of image names: the first column, or the column whose header row names it (NAME_HEADERS)."""
    table = read_csv(path, header=None, dtype=str, keep_default_na=False)
    header = [str(v).strip().lower() for v in table.iloc[0]]
    column = next((i for i, h in enumerate(header) if h in NAME_HEADERS), None)
    values = table.iloc[1:, column] if column is not None else table.iloc[:, 0]
    names = [v.strip() for v in values if v.strip()]
    if not names:
        raise DataError(f"split file {path} lists no image names; one name per row in the first column, or in a "
                        "column headed filename")
    return names


class NameIndex:
    """Rows of an image set by image name (``name_key``), for looking up the names a split file lists."""

    def __init__(self, images: ImageSet, dataset: str) -> None:
        if images.names is None:
            raise DataError(f"the {dataset} images have no names, so split files cannot list them; split_files need "
                            "a real data set (fundus, chestxray, pcam)")
        keys = [name_key(n) for n in images.names]
        self.rows = {k: i for i, k in enumerate(keys)}
        if len(self.rows) != len(keys):
            doubles = sorted({k for k in keys if keys.count(k) > 1})[:5] if len(keys) < 10_000 else "several"
            raise DataError(f"the {dataset} image names are not unique without folder and extension ({doubles}); "
                            "split files cannot name these images")

    def find(self, names: list[str], file: str) -> np.ndarray:
        """The rows of ``names``; names the data set lacks are a DataError naming the file and them."""
        keys = [name_key(n) for n in names]
        missing = [n for n, k in zip(names, keys) if k not in self.rows]
        if missing:
            raise DataError(f"{len(missing)} of the {len(names)} images listed in {file} are not in the data set "
                            f"(e.g. {missing[:5]}); complete the data set (all images, and the CSV that lists them), "
                            "or use split files made for it")
        return np.array([self.rows[k] for k in keys], dtype=np.int64)


def stable_seed(*parts: Any) -> int:
    """A seed from any values, the same in every process (``hash`` is salted per process)."""
    return int.from_bytes(hashlib.sha256(repr(parts).encode()).digest()[:4], "little")


def split_patients(patients: np.ndarray, fractions: tuple[float, ...], seed: int) -> list[np.ndarray]:
    """Cut the unique patients into consecutive groups of the given fractions after a seeded shuffle."""
    unique = np.random.default_rng(seed).permutation(np.unique(patients))
    bounds = np.round(np.cumsum((0.0,) + fractions) * len(unique)).astype(int)
    return [unique[a:b] for a, b in zip(bounds[:-1], bounds[1:])]


def development_set(pool: ImageSet, name: str, seed: int, val_fraction: float,
                    listed: Mapping[str, tuple[np.ndarray, np.ndarray]] | None = None) -> tuple[ImageSet, ImageSet]:
    """The (train, validation) images of the development set ``name``, cut from a domain's ``pool``.

    Paper sets (radiology in the paper; here for every domain): ``d1`` and ``d2`` are disjoint halves of the pool's
    patients; ``d2/2`` is half of d2; ``d1/10`` a tenth of d1. Beyond: ``overlap:<f>`` is a set of d1's size sharing the
    fraction f of d1's patients (the rest from d2). Each set is split into train and validation by patient with
    ``val_fraction``. With split files (``listed``: each listed set's train and validation rows of the pool) a listed
    set is exactly its listed images; a set they do not list (the authors' fundus lists have no d1/10) is cut from
    the listed d1 and d2 patients as above, and so is ``overlap:<f>``.
    """
    if listed is not None:
        if name in listed:
            train_rows, val_rows = listed[name]
            return pool.subset(train_rows), pool.subset(val_rows)
        d1_patients, d2_patients = (np.unique(pool.patients[np.concatenate(listed[d])]) for d in (D1, D2))
        rng = np.random.default_rng(stable_seed(seed, "listed"))
        d1_patients, d2_patients = rng.permutation(d1_patients), rng.permutation(np.setdiff1d(d2_patients, d1_patients))
    else:
        d1_patients, d2_patients = split_patients(pool.patients, (0.5, 0.5), seed)
    if name == D1:
        patients = d1_patients
    elif name == D2:
        patients = d2_patients
    elif name == D2_HALF:
        patients = d2_patients[: len(d2_patients) // 2]
    elif name == D1_TENTH:
        patients = d1_patients[: max(2, len(d1_patients) // 10)]
    elif name.startswith("overlap:"):
        try:
            fraction = float(name.split(":", 1)[1])
        except ValueError:
            fraction = -1.0
        if not 0 <= fraction <= 1:
            raise DataError(f"development set {name!r}: the overlap must be a fraction in [0, 1], e.g. 'overlap:0.5'")
        k = int(round(fraction * len(d1_patients)))
        patients = np.concatenate([d1_patients[:k], d2_patients[: len(d1_patients) - k]])
    else:
        raise DataError(
            f"unknown development set {name!r}; allowed: {', '.join(PAPER_SETS)}, 'overlap:<fraction>', 'source:<name>'"
        )
    return train_val(pool, patients, seed, val_fraction, name)


def train_val(pool: ImageSet, patients: np.ndarray, seed: int, val_fraction: float,
              name: str) -> tuple[ImageSet, ImageSet]:
    """Validation: ``val_fraction`` of the patients, but at least one and never all (the paper's 0.1 of a d1/10 of
    a few patients would otherwise leave none)."""
    unique = np.random.default_rng(stable_seed(seed, name)).permutation(np.unique(patients))
    n_val = min(len(unique) - 1, max(1, int(np.round(val_fraction * len(unique)))))
    val_patients, train_patients = unique[:n_val], unique[n_val:]
    train = pool.subset(np.flatnonzero(np.isin(pool.patients, train_patients)))
    val = pool.subset(np.flatnonzero(np.isin(pool.patients, val_patients)))
    if len(train) == 0 or len(val) == 0:
        raise DataError(f"development set {name!r} is too small to split ({len(patients)} patients): raise n_dev")
    return train, val
