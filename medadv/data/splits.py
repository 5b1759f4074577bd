"""The authors' development sets, read from their split files and used exactly as listed (never re-cut).

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
