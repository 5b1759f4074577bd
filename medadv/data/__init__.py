"""Data sets behind one registry, and the paper's development sets (d1, d2, d2/2, d1/10) cut patient-wise.

A data set offers each of its domains a development pool and a fixed test set (``DomainData``); ``development_set``
cuts the pool into the named sets of the paper (and beyond: partial overlap, other source), each with its own
train/validation split. Every cut is by patient and deterministic in the seed. With split files (the authors' lists,
``DataSpec.splits``, see medadv.data.splits) the paper's sets are the listed images instead, never re-cut.
"""
from __future__ import annotations

import hashlib
import importlib
import os
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from medadv.data import splits as split_lists
from medadv.data.base import DataError, DomainData, ImageSet, concat_sets

# data set -> (module, domains it serves). Real sets serve one domain each; medmnist's domain follows its subset.
DATASETS: dict[str, tuple[str, tuple[str, ...]]] = {
    "synthetic": ("medadv.data.synthetic", ("ophthalmology", "radiology", "pathology")),
    "pcam": ("medadv.data.pcam", ("pathology",)),
    "fundus": ("medadv.data.fundus", ("ophthalmology",)),
    "chestxray": ("medadv.data.chestxray", ("radiology",)),
    "medmnist": ("medadv.data.medmnist", ("ophthalmology", "radiology", "pathology")),
}
PAPER_SETS = ("d1", "d2", "d2/2", "d1/10")
NAMED_DATASETS = ("fundus", "chestxray", "pcam")  # their images have names, which split files list
HOW_OPTIONS = ("workers", "cache", "cache_dir")  # loader options that do not change the images


def domains_of(dataset: str) -> tuple[str, ...]:
    if dataset not in DATASETS:
        raise DataError(f"unknown data set {dataset!r}; available: {', '.join(DATASETS)}")
    return DATASETS[dataset][1]


def data_root(dataset: str, root: str | None = None) -> Path:
    """Where a data set is looked for: ``root``, else ``$MEDADV_DATA/<name>``, else ``~/.cache/medadv/data/<name>``."""
    if root:
        return Path(root).expanduser()
    base = os.environ.get("MEDADV_DATA", str(Path.home() / ".cache" / "medadv" / "data"))
    return Path(base).expanduser() / dataset


@dataclass(frozen=True)
class DataSpec:
    """Everything that determines the images a study sees (part of every unit's key).

    ``splits``: the split files the paper's sets are read from (``medadv.data.splits.entries``: set, part, path,
    sha256), or none: every set is cut at random. With split files, ``n_dev`` and ``val_fraction`` apply only to the
    sets beyond the paper's (overlap); the test set is still subsampled to ``n_test`` images when it has more."""

    dataset: str
    domain: str
    image_size: int
    n_dev: int
    n_test: int
    val_fraction: float
    seed: int
    options: tuple[tuple[str, Any], ...] = ()
    splits: tuple[split_lists.Entry, ...] = ()

    def identity(self) -> dict[str, Any]:
        """What the images depend on, for store keys: not the loader options that only say how fast or where decoded
        images are kept (``HOW_OPTIONS``), the split files by content, not by where they lie; without split files the
        key is the one it was before they existed (stores stay valid)."""
        values = asdict(self)
        values["options"] = tuple((k, v) for k, v in self.options if k not in HOW_OPTIONS)
        values["splits"] = [(name, part, sha) for name, part, _, sha in self.splits]
        if not self.splits:
            del values["splits"]
        return values


@lru_cache(maxsize=8)
def domain_data(spec: DataSpec, root: str | None = None) -> DomainData:
    """The pool and test set of ``spec`` (cached in memory: every unit of a study asks for the same data)."""
    domains_of(spec.dataset)
    if spec.domain not in DATASETS[spec.dataset][1]:
        raise DataError(f"data set {spec.dataset!r} has no domain {spec.domain!r}; it has {DATASETS[spec.dataset][1]}")
    if spec.dataset == "synthetic":
        from medadv.data import synthetic

        # The pool holds d1 and d2 (each n_dev images); the test set comes from another seed, so other patients.
        pool = synthetic.load(spec.domain, 2 * spec.n_dev, spec.image_size, seed=spec.seed, source="a")
        test = synthetic.load(spec.domain, spec.n_test, spec.image_size, seed=spec.seed + 7919, source="a")
        return DomainData(pool, test)
    module = importlib.import_module(DATASETS[spec.dataset][0])
    data: DomainData = module.load(data_root(spec.dataset, root), image_size=spec.image_size, **dict(spec.options))
    rng = np.random.default_rng(spec.seed)
    test, pool = data.test, data.pool
    if spec.splits:  # the listed images of every set form the pool; a listed test set replaces the data set's own
        lists = _lists(spec, root)
        everything = concat_sets([pool, test])
        index = split_lists.NameIndex(everything, spec.dataset)
        listed = [index.find(names, file) for parts in lists.sets.values() for names, file in parts.values()]
        pool = everything.subset(np.unique(np.concatenate(listed)))
        test = everything.subset(index.find(*lists.test)) if lists.test else test
    if spec.n_test < len(test):  # a fixed, seeded, patient-level subsample of the official test set
        test = _take_patients(test, rng.permutation(np.unique(test.patients)), spec.n_test)
    if 2 * spec.n_dev < len(pool) and not spec.splits:  # d1 and d2 hold n_dev images each, as for the generated set
        pool = _take_patients(pool, rng.permutation(np.unique(pool.patients)), 2 * spec.n_dev)
    return DomainData(pool, test, data.sources)


def _lists(spec: DataSpec, root: str | None) -> split_lists.Lists:
    return split_lists.read(spec.splits, data_root(spec.dataset, root))


@lru_cache(maxsize=8)
def _listed_sets(spec: DataSpec, root: str | None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Rows of the pool of each listed development set: (train rows, validation rows)."""
    index = split_lists.NameIndex(domain_data(spec, root).pool, spec.dataset)
    return {name: (index.find(*parts["train"]), index.find(*parts["val"]))
            for name, parts in _lists(spec, root).sets.items()}


def source_pool(spec: DataSpec, source: str, root: str | None = None) -> ImageSet:
    """Development pool of another source of the same domain (another camera, scanner, stain)."""
    if spec.dataset == "synthetic":
        from medadv.data import synthetic

        if source not in synthetic.SOURCES:
            raise DataError(f"unknown source {source!r}; the synthetic data set has {synthetic.SOURCES}")
        return synthetic.load(spec.domain, spec.n_dev, spec.image_size, seed=spec.seed + 104729, source=source)
    sources = domain_data(spec, root).sources
    if source not in sources:
        raise DataError(f"{spec.dataset} has no other source {source!r} here; present: {sorted(sources) or 'none'}")
    return sources[source]


def _stable_seed(*parts: Any) -> int:
    return int.from_bytes(hashlib.sha256(repr(parts).encode()).digest()[:4], "little")


def _take_patients(images: ImageSet, patient_order: np.ndarray, n_images: int) -> ImageSet:
    """The first patients of ``patient_order`` until ``n_images`` images are reached (patients stay whole)."""
    counts = dict(zip(*np.unique(images.patients, return_counts=True)))
    chosen, total = [], 0
    for patient in patient_order:
        if total >= n_images:
            break
        chosen.append(patient)
        total += counts[patient]
    return images.subset(np.flatnonzero(np.isin(images.patients, chosen)))


def _split_patients(patients: np.ndarray, fractions: tuple[float, ...], seed: int) -> list[np.ndarray]:
    """Cut the unique patients into consecutive groups of the given fractions after a seeded shuffle."""
    unique = np.random.default_rng(seed).permutation(np.unique(patients))
    bounds = np.round(np.cumsum((0.0,) + fractions) * len(unique)).astype(int)
    return [unique[a:b] for a, b in zip(bounds[:-1], bounds[1:])]


def development_set(spec: DataSpec, name: str, root: str | None = None) -> tuple[ImageSet, ImageSet]:
    """The (train, validation) images of the development set ``name``.

    Paper sets (radiology in the paper; here for every domain): ``d1`` and ``d2`` are disjoint halves of the pool's
    patients; ``d2/2`` is half of d2; ``d1/10`` a tenth of d1. Beyond: ``overlap:<f>`` is a set of d1's size sharing the
    fraction f of d1's patients (the rest from d2); ``source:<name>`` is another source's pool. Each set is split into
    train and validation by patient with ``val_fraction``. With split files (``spec.splits``) a listed set is exactly
    its listed train and validation images; a set they do not list (the authors' fundus lists have no d1/10) is cut
    from the listed d1 and d2 patients as above, and so is ``overlap:<f>``.
    """
    data = domain_data(spec, root)
    pool = data.pool
    if spec.splits:
        listed = _listed_sets(spec, root)
        if name in listed:
            train_rows, val_rows = listed[name]
            return pool.subset(train_rows), pool.subset(val_rows)
        d1_patients, d2_patients = (np.unique(pool.patients[np.concatenate(listed[d])]) for d in ("d1", "d2"))
        rng = np.random.default_rng(_stable_seed(spec.seed, "listed"))
        d1_patients, d2_patients = rng.permutation(d1_patients), rng.permutation(np.setdiff1d(d2_patients, d1_patients))
    else:
        d1_patients, d2_patients = _split_patients(pool.patients, (0.5, 0.5), spec.seed)
    if name == "d1":
        patients = d1_patients
    elif name == "d2":
        patients = d2_patients
    elif name == "d2/2":
        patients = d2_patients[: len(d2_patients) // 2]
    elif name == "d1/10":
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
    elif name.startswith("source:"):
        other = source_pool(spec, name.split(":", 1)[1], root)
        return _train_val(other, np.unique(other.patients), spec, name)
    else:
        raise DataError(
            f"unknown development set {name!r}; allowed: {', '.join(PAPER_SETS)}, 'overlap:<fraction>', 'source:<name>'"
        )
    return _train_val(pool, patients, spec, name)


def _train_val(pool: ImageSet, patients: np.ndarray, spec: DataSpec, name: str) -> tuple[ImageSet, ImageSet]:
    """Validation: ``val_fraction`` of the patients, but at least one and never all (the paper's 0.1 of a d1/10 of
    a few patients would otherwise leave none)."""
    unique = np.random.default_rng(_stable_seed(spec.seed, name)).permutation(np.unique(patients))
    n_val = min(len(unique) - 1, max(1, int(np.round(spec.val_fraction * len(unique)))))
    val_patients, train_patients = unique[:n_val], unique[n_val:]
    train = pool.subset(np.flatnonzero(np.isin(pool.patients, train_patients)))
    val = pool.subset(np.flatnonzero(np.isin(pool.patients, val_patients)))
    if len(train) == 0 or len(val) == 0:
        raise DataError(f"development set {name!r} is too small to split ({len(patients)} patients): raise n_dev")
    return train, val


def test_set(spec: DataSpec, root: str | None = None) -> ImageSet:
    return domain_data(spec, root).test


__all__ = [
    "DATASETS",
    "NAMED_DATASETS",
    "PAPER_SETS",
    "DataError",
    "DataSpec",
    "DomainData",
    "ImageSet",
    "data_root",
    "development_set",
    "domain_data",
    "domains_of",
    "source_pool",
    "test_set",
]
