"""Colour fundus photographs for referable diabetic retinopathy: Kaggle/EyePACS and APTOS-2019.

Layouts (as distributed, after extracting the archives), in the data-set folder or in its ``eyepacs/`` / ``aptos/``
subfolders:
- EyePACS (Kaggle "Diabetic Retinopathy Detection"): ``trainLabels.csv`` (``image,level``), ``train/<image>.jpeg``;
  optionally the labelled test set ``retinopathy_solution.csv`` (or ``testLabels.csv``) with ``test/<image>.jpeg``.
  The patient is the image name without ``_left``/``_right`` (both eyes of a person stay together).
- APTOS-2019 (Kaggle "APTOS 2019 Blindness Detection"): ``train.csv`` (``id_code,diagnosis``),
  ``train_images/<id_code>.png``. APTOS has no patient IDs: each image is its own patient.

Label: referable DR, grade ≥ ``referable_grade`` (default 2: moderate or worse, the paper's task). Preprocessing is the
authors' field-of-view crop (Ophthalmology/cfi_preprocessing.py in the paper's code): threshold the green channel at
``fov_threshold`` (or that much above the background when the background is brighter; default 5, their class's
default; the paper's runs passed 10), take the bounding box of the largest connected component, centre it on a black
square, resize to ``image_size``. Decoded images are cached (see medadv.data.decode).
The test set is EyePACS's labelled test set when present, else a patient-level fraction (``test_fraction``, ``seed``)
of the main set. When both data sets are present, the one that is not the main set is ``sources[<its name>]``.
"""
from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image
from scipy import ndimage

from medadv.data.base import DataError, DomainData, ImageSet, pick_variant, read_csv
from medadv.data.decode import Undecodable, cache_stem, decode_images, open_image

VARIANTS = ("eyepacs", "aptos")
LABEL_NAMES = ("non-referable", "referable")
INSTRUCTIONS = """\
EyePACS: https://www.kaggle.com/c/diabetic-retinopathy-detection/data (Kaggle account, accept the rules). Extract
  trainLabels.csv and train/*.jpeg (and, for the labelled test set, retinopathy_solution.csv and test/*.jpeg) into
  {root} (or {root}/eyepacs).
APTOS-2019: https://www.kaggle.com/c/aptos2019-blindness-detection/data. Extract train.csv and train_images/*.png into
  {root} (or {root}/aptos)."""


def find_variants(root: Path) -> dict[str, Path]:
    """The fundus data sets present under ``root``: name → folder."""
    found = {}
    for name, marker in (("eyepacs", "trainLabels.csv"), ("aptos", "train.csv")):
        for folder in (root, root / name):
            if (folder / marker).is_file():
                found[name] = folder
                break
    return found


def _read_csv(path: Path, columns: tuple[str, str]) -> pd.DataFrame:
    table = read_csv(path, dtype={columns[0]: str})
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise DataError(f"{path} lacks column(s) {missing} (it has {list(table.columns)}); use the official file")
    grades = pd.to_numeric(table[columns[1]], errors="coerce")
    bad = table.loc[grades.isna() | ~grades.isin(range(5)), columns[1]]
    if len(bad):
        raise DataError(f"{path} column {columns[1]!r} has values outside the DR grades 0-4 (e.g. "
                        f"{bad.astype(str).tolist()[:3]}); use the official file")
    return pd.DataFrame({"name": table[columns[0]].astype(str), "grade": grades.astype(np.int64)})


def _find_images(table: pd.DataFrame, folder: Path, exts: tuple[str, ...], csv: Path) -> pd.DataFrame:
    if not folder.is_dir():
        raise DataError(f"image folder {folder} (for {csv.name}) does not exist; extract the images there")
    present = {p.name: p for p in folder.iterdir()}
    paths, missing = [], []
    for name in table["name"]:
        path = next((present[name + e] for e in exts if name + e in present), None)
        paths.append(path)
        if path is None:
            missing.append(name)
    if missing:
        raise DataError(f"{len(missing)} images listed in {csv} are not in {folder} (e.g. {missing[:5]}); "
                        "extract all the images, or use the CSV of the images you have")
    return table.assign(path=paths)


def scan(folder: Path, variant: str) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """(main table, official labelled test table or None); columns name, grade, path, patient."""
    if variant == "eyepacs":
        csv = folder / "trainLabels.csv"
        train = _find_images(_read_csv(csv, ("image", "level")), folder / "train", (".jpeg", ".jpg", ".png"), csv)
        test = None
        for test_csv in (folder / "retinopathy_solution.csv", folder / "testLabels.csv"):
            if test_csv.is_file() and (folder / "test").is_dir():
                test = _find_images(_read_csv(test_csv, ("image", "level")), folder / "test",
                                    (".jpeg", ".jpg", ".png"), test_csv)
                break
        for table in (train, test):
            if table is not None:
                table["patient"] = table["name"].str.replace(r"_(left|right)$", "", regex=True)
        return train, test
    if variant == "aptos":
        csv = folder / "train.csv"
        train = _find_images(_read_csv(csv, ("id_code", "diagnosis")), folder / "train_images", (".png",), csv)
        return train.assign(patient="aptos_" + train["name"]), None
    raise DataError(f"variant must be one of {VARIANTS} or 'auto', not {variant!r}")


def fov_crop(rgb: np.ndarray, size: int, threshold: int = 5) -> np.ndarray:
    """The authors' field-of-view crop of an H×W×3 uint8 fundus photograph to ``size``×``size``×3 uint8 (a frame with
    nothing above the threshold, e.g. an all-black image, is padded and resized whole)."""
    green = rgb[:, :, 1]
    background = int(green.min())
    level = background + threshold if background >= threshold else threshold
    components, count = ndimage.label(green > level)
    if count:
        retina = components == 1 + int(np.argmax(np.bincount(components.ravel())[1:]))  # the largest component
        rows, cols = np.flatnonzero(retina.any(axis=1)), np.flatnonzero(retina.any(axis=0))
        rgb = rgb[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    h, w = rgb.shape[:2]
    side = max(h, w)
    square = np.zeros((side, side, 3), np.uint8)  # black padding, the retina centred
    square[(side - h) // 2:(side - h) // 2 + h, (side - w) // 2:(side - w) // 2 + w] = rgb
    return np.asarray(Image.fromarray(square).resize((size, size), Image.BICUBIC))


def decode_fundus(path: Path, size: int, crop: bool = True, threshold: int = 5) -> np.ndarray:
    """Decode one photograph and crop it to its field of view (picklable for worker processes)."""
    im = open_image(path, "RGB", draft=2 * size)
    rgb = np.asarray(im)
    if rgb.ndim != 3 or min(rgb.shape[:2]) < 2:
        raise Undecodable(f"{path}: image of shape {rgb.shape}")
    if crop:
        return fov_crop(rgb, size, threshold)
    return np.asarray(im.resize((size, size), Image.BICUBIC))


def _image_set(table: pd.DataFrame, size: int, referable_grade: int, options: dict[str, Any], tag: str,
               folder: Path) -> ImageSet:
    files = list(table["path"])
    params = {"size": size, "crop": options["crop"], "threshold": options["fov_threshold"]}
    cache = None
    if options["cache"]:
        names = [os.path.relpath(f, folder) for f in files]  # relative: the data folder may move
        cache_folder = Path(options["cache_dir"]) if options["cache_dir"] else folder / ".medadv_cache"
        cache = cache_folder / cache_stem(f"fundus_{tag}_{size}px", names, params)
    images, ok = decode_images(files, functools.partial(decode_fundus, size=size, crop=options["crop"],
                                                         threshold=options["fov_threshold"]),
                               (size, size, 3), cache=cache, skip_undecodable=options["skip_undecodable"],
                               workers=options["workers"])
    keep = np.flatnonzero(ok)
    skipped = [str(f) for f, good in zip(files, ok) if not good]
    if skipped:
        images = images[keep]
    labels = (table["grade"].to_numpy() >= referable_grade).astype(np.int64)[keep]
    meta = {"dataset": tag, "domain": "ophthalmology", "image_size": size, "referable_grade": referable_grade,
            "grades": table["grade"].to_numpy()[keep], "skipped_undecodable": skipped,
            "preprocessing": {"fov_crop": options["crop"], "fov_threshold": options["fov_threshold"]}}
    return ImageSet(images, labels, table["patient"].to_numpy().astype(str)[keep], LABEL_NAMES, meta,
                    table["name"].to_numpy().astype(str)[keep])


def patient_split(patients: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Bool mask of the rows whose patient falls in a random ``fraction`` of the patients (the test set)."""
    if not 0 < fraction < 1:
        raise DataError(f"test_fraction must be between 0 and 1, not {fraction}")
    unique = np.unique(patients)
    rng = np.random.default_rng(seed)
    chosen = rng.permutation(unique)[: max(1, int(round(fraction * len(unique))))]
    return np.isin(patients, chosen)


def _options(variant: str = "auto", referable_grade: int = 2, test_fraction: float = 0.2, seed: int = 0,
             crop: bool = True, fov_threshold: int = 5, skip_undecodable: bool = False, cache: bool = True,
             cache_dir: str | None = None, workers: int = 1, **unknown: Any) -> dict[str, Any]:
    if unknown:
        raise DataError(f"unknown fundus option(s) {sorted(unknown)}; fundus takes: variant, referable_grade, "
                         "test_fraction, seed, crop, fov_threshold, skip_undecodable, cache, cache_dir, workers")
    if not 1 <= referable_grade <= 4:
        raise DataError(f"referable_grade must be 1-4, not {referable_grade}")
    if isinstance(fov_threshold, bool) or not isinstance(fov_threshold, int) or not 0 <= fov_threshold < 255:
        raise DataError(f"fov_threshold must be a grey level 0-254 (the paper's 10), not {fov_threshold!r}")
    return dict(variant=variant, referable_grade=referable_grade, test_fraction=test_fraction, seed=seed, crop=crop,
                fov_threshold=fov_threshold, skip_undecodable=skip_undecodable, cache=cache, cache_dir=cache_dir,
                workers=workers)


def _main_variant(root: Path, variant: str) -> tuple[str, dict[str, Path]]:
    found = find_variants(Path(root)) if Path(root).is_dir() else {}
    variant = pick_variant(root, variant, found, VARIANTS, what="fundus", instructions=INSTRUCTIONS.format(root=root),
                           expected="no trainLabels.csv or train.csv")
    return variant, found


def _tables(folder: Path, variant: str, opts: dict[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame]:
    main, test = scan(folder, variant)
    if test is None:
        in_test = patient_split(main["patient"].to_numpy(), opts["test_fraction"], opts["seed"])
        main, test = main[~in_test], main[in_test]
    return main.reset_index(drop=True), test.reset_index(drop=True)


def load(root: Path, *, image_size: int, **options: Any) -> DomainData:
    """Referable DR as a domain. Options: variant ("auto", "eyepacs", "aptos"), referable_grade (2),
    test_fraction (0.2), seed (0), crop (True: field-of-view crop), fov_threshold (5; the paper's 10),
    skip_undecodable (False), cache (True),
    cache_dir (default ``<image folder>/../.medadv_cache``), workers (1: decoding processes)."""
    opts = _options(**options)
    variant, found = _main_variant(Path(root), opts["variant"])
    main, test = _tables(found[variant], variant, opts)
    pool_set = _image_set(main, image_size, opts["referable_grade"], opts, variant, found[variant])
    test_set = _image_set(test, image_size, opts["referable_grade"], opts, variant, found[variant])
    sources = {}
    for other, folder in found.items():
        if other != variant:
            table, extra = scan(folder, other)
            table = pd.concat([table, extra]) if extra is not None else table
            sources[other] = _image_set(table.reset_index(drop=True), image_size, opts["referable_grade"], opts, other,
                                        folder)
    return DomainData(pool=pool_set, test=test_set, sources=sources)


def verify(root: Path, *, checksums: bool = False, **options: Any) -> list[dict[str, Any]]:
    """Check the CSVs, the grades and that every listed image exists (nothing decoded); per-split counts."""
    opts = _options(**options)
    variant, found = _main_variant(Path(root), opts["variant"])
    reports = []
    for name, folder in found.items():
        if name == variant:
            main, test = _tables(folder, name, opts)
        else:  # another source: all its labelled images
            main, test = pd.concat([t for t in scan(folder, name) if t is not None]), None
        for split, table in ((f"{name} pool" if name == variant else name, main), (f"{name} test", test)):
            if table is None:
                continue
            positives = int((table["grade"] >= opts["referable_grade"]).sum())
            reports.append({"split": split, "n_images": len(table), "counts": {LABEL_NAMES[1]: positives},
                            "patients": table["patient"].nunique()})
    if checksums:
        reports.append({"note": "no official checksums are published for EyePACS or APTOS"})
    return reports
