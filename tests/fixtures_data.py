"""Writers of tiny data sets in each real format (HDF5, JPEG/PNG + CSV, split YAML, npz), for the loader tests."""
from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import yaml
from PIL import Image

from medadv.data import pcam


def write_pcam(root: Path, counts: dict[str, int] | None = None, size: int = 16, meta: bool = True) -> dict:
    """PCam files; labels alternate 0/1; slide k of split s is ``{s}_wsi_{k}`` (2 patches per slide)."""
    counts = counts or {"train": 8, "valid": 4, "test": 6}
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    written = {}
    for split, n in counts.items():
        x = rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8)
        y = (np.arange(n) % 2).astype(np.uint8).reshape(n, 1, 1, 1)
        with h5py.File(root / pcam.file_name(split, "x"), "w") as f:
            f.create_dataset("x", data=x, chunks=(1, size, size, 3))
        with h5py.File(root / pcam.file_name(split, "y"), "w") as f:
            f.create_dataset("y", data=y)
        if meta:
            positive = y.ravel() > 0
            table = pd.DataFrame({"coord_y": np.arange(n), "coord_x": np.arange(n), "tumor_patch": positive,
                                  "center_tumor_patch": positive, "wsi": [f"{split}_wsi_{i // 2}" for i in range(n)]})
            table.to_csv(root / pcam.file_name(split, "meta"))
        written[split] = (x, y.ravel())
    return written


def fundus_photo(rng: np.random.Generator, h: int = 48, w: int = 64) -> np.ndarray:
    """A black frame with a bright reddish disc (the retina) off-centre."""
    img = np.zeros((h, w, 3), np.uint8)
    yy, xx = np.mgrid[:h, :w]
    disc = (yy - 20) ** 2 + (xx - 24) ** 2 <= 15 ** 2
    img[disc] = (200, 90, 40)
    img[disc] += rng.integers(0, 20, (int(disc.sum()), 3), dtype=np.uint8)
    return img


def write_eyepacs(root: Path, patients: int = 6, test_patients: int = 0) -> pd.DataFrame:
    """trainLabels.csv + train/<p>_{left,right}.jpeg; grades cycle 0..4. Optional labelled test set."""
    rng = np.random.default_rng(1)
    rows = []
    for split, first, n in (("train", 10, patients), ("test", 100, test_patients)):
        if not n:
            continue
        (root / split).mkdir(parents=True, exist_ok=True)
        for p in range(first, first + n):
            for eye in ("left", "right"):
                name = f"{p}_{eye}"
                Image.fromarray(fundus_photo(rng)).save(root / split / f"{name}.jpeg", quality=95)
                rows.append({"image": name, "level": len(rows) % 5, "split": split})
    table = pd.DataFrame(rows)
    table[table.split == "train"][["image", "level"]].to_csv(root / "trainLabels.csv", index=False)
    if test_patients:
        test = table[table.split == "test"][["image", "level"]].assign(Usage="Public")
        test.to_csv(root / "retinopathy_solution.csv", index=False)
    return table


def write_aptos(root: Path, n: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(2)
    (root / "train_images").mkdir(parents=True, exist_ok=True)
    table = pd.DataFrame({"id_code": [f"a{i:03x}" for i in range(n)], "diagnosis": [i % 5 for i in range(n)]})
    for code in table.id_code:
        Image.fromarray(fundus_photo(rng)).save(root / "train_images" / f"{code}.png")
    table.to_csv(root / "train.csv", index=False)
    return table


NIH_FINDINGS = ["No Finding", "Cardiomegaly|Effusion", "Atelectasis", "No Finding", "Pleural_Thickening", "Mass"]


def write_nih(root: Path, patients: int = 6, per_patient: int = 2, size: int = 24, nested: bool = True) -> pd.DataFrame:
    """Data_Entry_2017.csv, PNGs under images_001/images/ (or images/), official lists: last 2 patients are test."""
    rng = np.random.default_rng(3)
    folder = root / "images_001" / "images" if nested else root / "images"
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for p in range(1, patients + 1):
        for k in range(per_patient):
            name = f"{p:08d}_{k:03d}.png"
            Image.fromarray(rng.integers(0, 256, (size, size), dtype=np.uint8), "L").save(folder / name)
            rows.append({"Image Index": name, "Finding Labels": NIH_FINDINGS[(len(rows)) % len(NIH_FINDINGS)],
                         "Follow-up #": k, "Patient ID": p, "Patient Age": 50, "Patient Gender": "M",
                         "View Position": "PA"})
    table = pd.DataFrame(rows)
    table.to_csv(root / "Data_Entry_2017.csv", index=False)
    test = table["Patient ID"] > patients - 2
    (root / "train_val_list.txt").write_text("\n".join(table["Image Index"][~test]) + "\n")
    (root / "test_list.txt").write_text("\n".join(table["Image Index"][test]) + "\n")
    return table


def write_split_file(path: Path, train: list[str], val: list[str], test: list[str]) -> Path:
    path.write_text(yaml.safe_dump({"testIDs": test, "trainIDs": train, "valIDs": val}))
    return path


CHEXPERT_COLUMNS = ["No Finding", "Enlarged Cardiomediastinum", "Cardiomegaly", "Lung Opacity", "Lung Lesion", "Edema",
                    "Consolidation", "Pneumonia", "Atelectasis", "Pneumothorax", "Pleural Effusion", "Pleural Other",
                    "Fracture", "Support Devices"]


def write_chexpert(root: Path) -> None:
    """CheXpert-v1.0-small/{train,valid}.csv with 3 train patients (2 studies) and 1 valid patient; JPEGs 30×24."""
    rng = np.random.default_rng(4)
    base = root / "CheXpert-v1.0-small"
    for split, patients in (("train", (1, 2, 3)), ("valid", (64541,))):
        rows = []
        for p in patients:
            for study in (1, 2):
                rel = f"CheXpert-v1.0-small/{split}/patient{p:05d}/study{study}/view1_frontal.jpg"
                (root / rel).parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(rng.integers(0, 256, (30, 24), dtype=np.uint8), "L").save(root / rel)
                labels = {c: np.nan for c in CHEXPERT_COLUMNS}
                labels["Cardiomegaly"] = 1.0 if p == 1 else -1.0  # patient 1 positive, the others uncertain
                labels["Edema"] = 0.0
                rows.append({"Path": rel, "Sex": "Male", "Age": 60, "Frontal/Lateral": "Frontal", "AP/PA": "PA",
                             **labels})
        pd.DataFrame(rows).to_csv(base / f"{split}.csv", index=False)


def write_medmnist(root: Path, subset: str, size: int = 28, n: tuple[int, int, int] = (10, 4, 6),
                   channels: int = 1, labels: int = 2, multilabel: bool = False) -> Path:
    rng = np.random.default_rng(5)
    root.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for split, count in zip(("train", "val", "test"), n):
        shape = (count, size, size) if channels == 1 else (count, size, size, channels)
        arrays[f"{split}_images"] = rng.integers(0, 256, shape, dtype=np.uint8)
        arrays[f"{split}_labels"] = (rng.integers(0, 2, (count, labels)) if multilabel
                                     else (np.arange(count) % labels).reshape(count, 1)).astype(np.uint8)
    path = root / (f"{subset}.npz" if size == 28 else f"{subset}_{size}.npz")
    np.savez_compressed(path, **arrays)
    return path


#: Our development sets under the authors' file names: radiology's YAMLs (d0 is d1/10, d3 is d2/2), and the
#: ophthalmology (3 is d2/2) and pathology (110 is d1/10, 22 is d2/2) CSV pairs t<n>/v<n>.
AUTHOR_NAMES = {"yaml": {"d1": "d1", "d2": "d2", "d2/2": "d3", "d1/10": "d0"},
                "fundus": {"d1": "1", "d2": "2", "d2/2": "3"},
                "pcam": {"d1": "1", "d2": "2", "d2/2": "22", "d1/10": "110"}}


def write_author_splits(folder: Path, sets: dict[str, tuple[list[str], list[str]]], test: list[str] | None,
                        layout: str, relative_to: Path | None = None) -> dict:
    """The authors' split files of ``sets`` (set -> (train names, val names)) in ``layout`` "yaml" (one YAML per set
    with the shared ``test`` list), "fundus" (CSVs with a header and pandas' index column, names with their
    ``.jpeg`` extension, plus ``test.csv`` when ``test`` is given) or "pcam" (bare names, one per row). Returns the
    ``split_files`` setting, paths relative to ``relative_to`` when given."""
    folder.mkdir(parents=True, exist_ok=True)
    out: dict = {}

    def where(path: Path) -> str:
        return str(path.relative_to(relative_to)) if relative_to else str(path)

    for name, (train, val) in sets.items():
        tag = AUTHOR_NAMES[layout][name]
        if layout == "yaml":
            out[name] = where(write_split_file(folder / f"{tag}_filenames.yml", train, val, test or []))
            continue
        paths = {}
        for part, names in (("train", train), ("val", val)):
            path = folder / f"{part[0]}{tag}.csv"
            if layout == "fundus":
                pd.DataFrame({"filename": [f"{n}.jpeg" for n in names]}).to_csv(path)
            else:
                path.write_text("".join(f"{n}\n" for n in names))
            paths[part] = where(path)
        out[name] = paths
    if test is not None and layout != "yaml":
        path = folder / "test.csv"
        pd.DataFrame({"filename": test}).to_csv(path, index=False)
        out["test"] = where(path)
    return out
