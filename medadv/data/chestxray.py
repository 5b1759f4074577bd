"""Chest X-rays, multi-label: NIH ChestX-ray14 (the paper's radiology data) and CheXpert.

Layouts (as distributed, after extracting the archives), in the data-set folder or its ``nih/`` / ``chexpert/``
subfolders:
- NIH ChestX-ray14: ``Data_Entry_2017.csv`` (or ``Data_Entry_2017_v2020.csv``; columns ``Image Index``,
  ``Finding Labels`` ("|"-separated), ``Follow-up #``, ``Patient ID``, ...), the PNGs in ``images/`` or
  ``images_001/images/`` ... (the tarballs' and Kaggle's layouts), and the official patient-wise split lists
  ``train_val_list.txt`` / ``test_list.txt``.
- CheXpert: ``train.csv`` and ``valid.csv`` (``Path`` column, e.g. ``CheXpert-v1.0-small/train/patient00001/...``) in
  the folder, in ``CheXpert-v1.0-small/`` or ``CheXpert-v1.0/``. Uncertain labels (-1) become ``uncertain`` (0 by
  default: the "U-Zeros" policy), blanks 0. The patient is the ``patientNNNNN`` part of the path.

Outputs: the paper's 15 sigmoid outputs for NIH ("No Finding" + the 14 findings, in the authors' order), CheXpert's 14
observations; or one finding with ``finding=`` (then a binary single-label task). Images: 1 channel (N×H×W×1),
centre-cropped to a square (NIH images already are) and resized to ``image_size``, or, with ``resize=`` (the paper:
256), resized to that size and then centre-cropped to ``image_size`` (the paper: 224, as the authors' improc.py);
decoded once and cached.

Splits are patient-level. Test set: the official ``test_list.txt`` (NIH) or ``valid.csv`` (CheXpert), else a random
``test_fraction`` of the patients. The authors' split files (their d1/d2/d2/2/d1/10 lists) are not a loader option:
they are the study's ``split_files`` setting (see medadv.data.splits), which takes the development sets and the test
set from them exactly.
"""
from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image

from medadv.data.base import DataError, DomainData, ImageSet, pick_variant, read_csv
from medadv.data.decode import cache_stem, decode_images, open_image
from medadv.data.fundus import patient_split

VARIANTS = ("nih", "chexpert")
NIH_LABELS = ("No Finding", "Cardiomegaly", "Emphysema", "Edema", "Hernia", "Pneumothorax", "Effusion", "Mass",
              "Fibrosis", "Atelectasis", "Consolidation", "Pleural_Thickening", "Nodule", "Pneumonia", "Infiltration")
CHEXPERT_LABELS = ("No Finding", "Enlarged Cardiomediastinum", "Cardiomegaly", "Lung Opacity", "Lung Lesion", "Edema",
                   "Consolidation", "Pneumonia", "Atelectasis", "Pneumothorax", "Pleural Effusion", "Pleural Other",
                   "Fracture", "Support Devices")
ALIASES = {"effusion": "pleural effusion", "pleural effusion": "effusion"}  # the same finding named by each set
NIH_CSVS = ("Data_Entry_2017.csv", "Data_Entry_2017_v2020.csv")
INSTRUCTIONS = """\
NIH ChestX-ray14: https://nihcc.app.box.com/v/ChestXray-NIHCC (no account; or the Kaggle mirror "nih-chest-xrays/data").
  Put Data_Entry_2017.csv, train_val_list.txt, test_list.txt and the extracted images/ (or images_0NN/images/)
  folders into {root} (or {root}/nih). The authors' split files (Radiology/splits/d*_filenames.yml in
  github.com/Gerda92/adversarial_transfer_factors) go in the profile's split_files (see the README).
CheXpert: https://stanfordmlgroup.github.io/competitions/chexpert/ (registration). Extract CheXpert-v1.0-small
  (train.csv, valid.csv, train/, valid/) into {root} (or {root}/chexpert)."""


def _key(name: str) -> str:
    return name.lower().replace("_", " ")


def find_variants(root: Path) -> dict[str, Path]:
    """The chest X-ray data sets present under ``root``: name → folder holding its CSV."""
    found: dict[str, Path] = {}
    for folder in (root, root / "nih"):
        if any((folder / c).is_file() for c in NIH_CSVS):
            found["nih"] = folder
            break
    for folder in (root, root / "chexpert", root / "CheXpert-v1.0-small", root / "CheXpert-v1.0",
                   root / "chexpert" / "CheXpert-v1.0-small", root / "chexpert" / "CheXpert-v1.0"):
        if (folder / "train.csv").is_file() and (folder / "valid.csv").is_file():
            found["chexpert"] = folder
            break
    return found


def _read_csv(path: Path, columns: tuple[str, ...]) -> pd.DataFrame:
    table = read_csv(path)
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise DataError(f"{path} lacks column(s) {missing} (it has {list(table.columns)[:12]}); use the official file")
    return table


def _nih_image_paths(folder: Path) -> dict[str, Path]:
    """Every PNG under ``images*/`` (one level of ``images_0NN/images/`` nesting as in the Kaggle mirror)."""
    paths: dict[str, Path] = {}
    for top in sorted(folder.glob("images*")):
        if top.is_dir():
            for sub in (top, top / "images"):
                if sub.is_dir():
                    paths.update((p.name, p) for p in sub.glob("*.png"))
    return paths


def scan_nih(folder: Path) -> pd.DataFrame:
    """Columns name (file name), patient, path (None when absent), labels (N×15 multi-hot)."""
    csv = next(folder / c for c in NIH_CSVS if (folder / c).is_file())
    table = _read_csv(csv, ("Image Index", "Finding Labels", "Patient ID"))
    labels = np.zeros((len(table), len(NIH_LABELS)), np.float32)
    index = {_key(n): i for i, n in enumerate(NIH_LABELS)}
    for row, findings in enumerate(table["Finding Labels"].astype(str)):
        for finding in findings.split("|"):
            if _key(finding.strip()) not in index:
                raise DataError(f"{csv} row {row + 2}: unknown finding {finding!r} (known: {list(NIH_LABELS)})")
            labels[row, index[_key(finding.strip())]] = 1.0
    present = _nih_image_paths(folder)
    names = table["Image Index"].astype(str)
    return pd.DataFrame({"name": names, "patient": table["Patient ID"].astype(str).to_numpy(),
                         "path": [present.get(n) for n in names], "labels": list(labels)})


def _chexpert_table(csv: Path, uncertain: float) -> pd.DataFrame:
    table = _read_csv(csv, ("Path", *CHEXPERT_LABELS))
    raw = table[list(CHEXPERT_LABELS)].to_numpy(dtype=np.float64, na_value=0.0)
    bad = ~np.isin(raw, (-1.0, 0.0, 1.0))
    if bad.any():
        raise DataError(f"{csv} has label values other than 1, 0, -1 and blank (e.g. {raw[bad][:3].tolist()})")
    labels = np.where(raw == -1.0, uncertain, raw).astype(np.float32)
    rel = table["Path"].astype(str)
    patients = rel.str.extract(r"(patient\d+)", expand=False)
    if patients.isna().any():
        raise DataError(f"{csv}: paths without a patientNNNNN part (e.g. {rel[patients.isna()].tolist()[:3]})")
    locate = _locator(csv.parent, rel.iloc[0] if len(rel) else "")
    paths = [p if p.is_file() else None for p in map(locate, rel)]
    return pd.DataFrame({"name": rel, "patient": patients.to_numpy(), "path": paths,
                         "labels": list(labels)})


def _locator(folder: Path, first: str) -> Any:
    """CheXpert's paths start with the archive's folder name (``CheXpert-v1.0-small/train/...``): resolve them from
    the folder's parent, from the folder itself, or with that first part dropped, whichever finds the first image."""
    def drop_first(rel: str) -> Path:
        return folder / Path(*Path(rel).parts[1:]) if len(Path(rel).parts) > 1 else folder / rel

    candidates = (lambda rel: folder.parent / rel, lambda rel: folder / rel, drop_first)
    return next((c for c in candidates if c(first).is_file()), candidates[0])


def scan_chexpert(folder: Path, uncertain: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train table, valid table); columns as scan_nih's, CheXpert's 14 outputs."""
    return _chexpert_table(folder / "train.csv", uncertain), _chexpert_table(folder / "valid.csv", uncertain)


def decode_xray(path: Path, size: int, resize: int | None = None) -> np.ndarray:
    """Decode one radiograph to size×size×1 uint8: greyscale, centre square, resized to ``resize`` (default ``size``)
    and then its centre size×size cut out (picklable for workers)."""
    scaled = resize or size
    im = open_image(path, "L", draft=scaled)
    w, h = im.size
    side = min(w, h)
    im = im.crop(((w - side) // 2, (h - side) // 2, (w - side) // 2 + side, (h - side) // 2 + side))
    image = np.asarray(im.resize((scaled, scaled), Image.BICUBIC))
    start = (scaled - size) // 2
    return image[start:start + size, start:start + size, None]


def _options(variant: str = "auto", finding: str | None = None, test_fraction: float = 0.2, seed: int = 0,
             uncertain: float = 0.0, resize: int | None = None, only_present: bool = False,
             skip_undecodable: bool = False, cache: bool = True, cache_dir: str | None = None, workers: int = 1,
             **unknown: Any) -> dict[str, Any]:
    if "split_file" in unknown:
        raise DataError("the chestxray option split_file is gone: name the authors' files in the profile's "
                        "split_files instead, e.g. split_files: {d1: splits/d1_filenames.yml, ...} (see the README)")
    if unknown:
        raise DataError(f"unknown chestxray option(s) {sorted(unknown)}; chestxray takes: variant, finding, "
                         "test_fraction, seed, uncertain, resize, only_present, skip_undecodable, cache, "
                         "cache_dir, workers")
    if uncertain not in (0, 1):
        raise DataError(f"uncertain must be 0 or 1 (how CheXpert's uncertain labels count), not {uncertain}")
    if resize is not None and (isinstance(resize, bool) or not isinstance(resize, int) or resize < 1):
        raise DataError(f"resize must be a size in pixels (the paper's 256) or null, not {resize!r}")
    return dict(variant=variant, finding=finding, test_fraction=test_fraction, seed=seed, uncertain=float(uncertain),
                resize=resize, only_present=only_present, skip_undecodable=skip_undecodable, cache=cache,
                cache_dir=cache_dir, workers=workers)


def _list_file(path: Path, table: pd.DataFrame) -> set[str]:
    """The image names of an official list file, every one of them in the data set's CSV (a name that is not would
    silently shrink the split)."""
    names = set(path.read_text().split())
    unknown = sorted(names - set(table["name"]))
    if unknown:
        raise DataError(f"{len(unknown)} images named in {path} are not in the data set's CSV (e.g. {unknown[:5]}); "
                        "use the list files that came with this CSV")
    return names


def _split(table: pd.DataFrame, folder: Path, variant: str, opts: dict[str, Any],
           official_test: pd.DataFrame | None) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """(pool rows, test rows, meta) for one data set."""
    if official_test is not None:
        return table, official_test, {"split": "official (valid.csv is the test set)"}
    lists = folder / "train_val_list.txt", folder / "test_list.txt"
    if all(f.is_file() for f in lists):
        train_names, test_names = (_list_file(f, table) for f in lists)
        return (table[table["name"].isin(train_names)], table[table["name"].isin(test_names)],
                {"split": "official train_val_list.txt / test_list.txt"})
    in_test = patient_split(table["patient"].to_numpy(), opts["test_fraction"], opts["seed"])
    how = f"random {opts['test_fraction']} of patients, seed {opts['seed']}"
    return table[~in_test], table[in_test], {"split": how}


def _outputs(variant: str, finding: str | None) -> tuple[tuple[str, ...], int | None]:
    """(label names, column of the chosen finding or None for all outputs)."""
    names = NIH_LABELS if variant == "nih" else CHEXPERT_LABELS
    if finding is None:
        return names, None
    keys = [_key(n) for n in names]
    wanted = _key(finding)
    if wanted not in keys and ALIASES.get(wanted) in keys:
        wanted = ALIASES[wanted]
    if wanted not in keys:
        raise DataError(f"finding {finding!r} is not one of the {variant} outputs {list(names)}")
    column = keys.index(wanted)
    return (f"no {names[column]}", names[column]), column


def _present(table: pd.DataFrame, opts: dict[str, Any], what: str) -> pd.DataFrame:
    absent = table["path"].isna()
    if absent.any() and not opts["only_present"]:
        raise DataError(f"{int(absent.sum())} {what} images are not on disk (e.g. {table['name'][absent].tolist()[:5]}"
                        "); extract all the image archives, or pass only_present=True to use the images you have")
    return table[~absent]


def _image_set(table: pd.DataFrame, size: int, column: int | None, label_names: tuple[str, ...],
               opts: dict[str, Any], cache_folder: Path, tag: str, meta: dict[str, Any]) -> ImageSet:
    table = table.reset_index(drop=True)
    files = list(table["path"])
    cache = None
    if opts["cache"]:
        folder = Path(opts["cache_dir"]) if opts["cache_dir"] else cache_folder / ".medadv_cache"
        names = [os.path.relpath(f, cache_folder) for f in files]  # relative: the data folder may move
        params = {"size": size, **({"resize": opts["resize"]} if opts["resize"] else {})}
        cache = folder / cache_stem(f"chestxray_{tag}_{size}px", names, params)
    decode = functools.partial(decode_xray, size=size, resize=opts["resize"])
    images, ok = decode_images(files, decode, (size, size, 1), cache=cache,
                               skip_undecodable=opts["skip_undecodable"], workers=opts["workers"])
    keep = np.flatnonzero(ok)
    skipped = [str(f) for f, good in zip(files, ok) if not good]
    if skipped:
        images = images[keep]
    n_outputs = len(NIH_LABELS if tag == "nih" else CHEXPERT_LABELS)
    labels = np.stack(table["labels"].to_list()).astype(np.float32) if len(table) else np.zeros((0, n_outputs))
    labels = labels[keep] if column is None else labels[keep, column].astype(np.int64)
    preprocessing = {"resize": opts["resize"] or size, "centre_crop": size}
    return ImageSet(images, labels, table["patient"].to_numpy().astype(str)[keep], label_names,
                    {"dataset": tag, "domain": "radiology", "image_size": size, "skipped_undecodable": skipped,
                     "preprocessing": preprocessing, **meta}, table["name"].to_numpy().astype(str)[keep])


def _main_variant(root: Path, variant: str) -> tuple[str, dict[str, Path]]:
    found = find_variants(Path(root)) if Path(root).is_dir() else {}
    variant = pick_variant(root, variant, found, VARIANTS, what="chest X-ray", instructions=INSTRUCTIONS.format(root=root),
                           expected="no Data_Entry_2017.csv, no CheXpert train.csv/valid.csv")
    return variant, found


def _checked_tables(root: Path, options: dict[str, Any]) -> tuple[dict[str, Any], str, dict[str, Path], list[str], int | None,
                                                               pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Options, variant, variants found, output names and column, pool and test tables (no patient in both), meta."""
    opts = _options(**options)
    variant, found = _main_variant(Path(root), opts["variant"])
    label_names, column = _outputs(variant, opts["finding"])
    pool, test, meta = _tables(variant, found[variant], opts)
    shared = set(pool["patient"]) & set(test["patient"])
    if shared:
        raise DataError(f"{len(shared)} patients are in both the pool and the test set (e.g. {sorted(shared)[:3]}); "
                        "fix the split file or the official lists so that every patient is in one of them")
    return opts, variant, found, label_names, column, pool, test, meta


def _tables(variant: str, folder: Path, opts: dict[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    if variant == "nih":
        pool, test, meta = _split(scan_nih(folder), folder, variant, opts, None)
    else:
        train, valid = scan_chexpert(folder, opts["uncertain"])
        pool, test, meta = _split(train, folder, variant, opts, valid)
    return _present(pool, opts, f"{variant} pool"), _present(test, opts, f"{variant} test"), meta


def load(root: Path, *, image_size: int, **options: Any) -> DomainData:
    """Chest X-rays as a domain. Options: variant ("auto", "nih", "chexpert"), finding (None: all outputs),
    test_fraction (0.2), seed (0), uncertain (0), resize (None: straight to image_size; the paper's 256, then a
    centre crop to image_size), only_present (False), skip_undecodable (False),
    cache (True), cache_dir (default ``<data folder>/.medadv_cache``), workers (1: decoding processes)."""
    opts, variant, found, label_names, column, pool, test, meta = _checked_tables(root, options)
    if opts["resize"] and opts["resize"] < image_size:
        raise DataError(f"resize {opts['resize']} is smaller than image_size {image_size}: the centre crop of "
                        f"image_size pixels is cut from the image resized to resize (the paper: 256, then 224)")
    pool_set = _image_set(pool, image_size, column, label_names, opts, found[variant], variant, meta)
    test_set = _image_set(test, image_size, column, label_names, opts, found[variant], variant, meta)
    sources: dict[str, ImageSet] = {}
    for other, folder in found.items():
        if other == variant:
            continue
        try:
            other_names, other_column = _outputs(other, opts["finding"])
        except ValueError:  # the chosen finding has no counterpart in the other data set
            pool_set.meta["sources_note"] = f"{other} has no output {opts['finding']!r}: not offered as a source"
            continue
        a, b, _ = _tables(other, folder, opts)
        sources[other] = _image_set(pd.concat([a, b]), image_size, other_column, other_names, opts, folder,
                                    other, {"split": "all images (other source)"})
    return DomainData(pool=pool_set, test=test_set, sources=sources)


def verify(root: Path, *, checksums: bool = False, **options: Any) -> list[dict[str, Any]]:
    """Check the CSVs, labels, split lists and that every image used exists (nothing decoded); per-split counts
    per output."""
    opts, variant, found, label_names, column, pool, test, meta = _checked_tables(root, options)
    reports = []
    for split, table in (("pool", pool), ("test", test)):
        labels = np.stack(table["labels"].to_list()) if len(table) else np.zeros((0, 15))
        counts = ({n: int(c) for n, c in zip(label_names, labels.sum(axis=0))} if column is None
                  else {label_names[1]: int(labels[:, column].sum())})
        reports.append({"split": f"{variant} {split}", "n_images": len(table), "counts": counts,
                        "patients": table["patient"].nunique()})
    if checksums:
        reports.append({"note": "no official checksums are published for ChestX-ray14 or CheXpert"})
    return reports
