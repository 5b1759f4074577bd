"""The data a study sees: a ``DataSpec`` names it, and every data set of the registry (``medadv.data.registry``, the
generated one too) is loaded through the same ``load(root, *, image_size, **options)``.

A data set offers each of its domains a development pool and a fixed test set (``DomainData``); ``development_set``
cuts the pool into the named sets of the paper (and beyond: partial overlap, other source), each with its own
train/validation split (``medadv.data.splits``). Every cut is by patient and deterministic in the seed. With split
files (the authors' lists, ``DataSpec.splits``) the paper's sets are the listed images instead, never re-cut.
"""
from __future__ import annotations

import importlib
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from medadv.data import splits as split_lists
from medadv.data.base import DataError, DomainData, ImageSet, concat_sets
from medadv.data.registry import DATASETS, NAMED_DATASETS, data_root, domains_of, entry
from medadv.data.splits import PAPER_SETS

HOW_OPTIONS = ("workers", "cache", "cache_dir")  # loader options that do not change the images


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
        key is the one it was before they existed (stores stay valid); a generated set's key holds its generator's
        ``VERSION``."""
        values = asdict(self)
        values["options"] = tuple((k, v) for k, v in self.options if k not in HOW_OPTIONS)
        values["splits"] = [(name, part, sha) for name, part, _, sha in self.splits]
        if not self.splits:
            del values["splits"]
        if entry(self.dataset).generated:  # a changed generator must not reuse what was computed on its old images
            values["generator_version"] = importlib.import_module(f"medadv.data.{entry(self.dataset).module}").VERSION
        return values


def data_spec(dataset: str, domain: str, image_size: int, n_dev: int, n_test: int, val_fraction: float, seed: int,
              options: dict[str, Any], split_files: dict[str, Any], root: str | None = None) -> DataSpec:
    """The spec of a study's data: the data set's options for the domain (``Entry.domain_options``) under the study's
    own, and its split files hashed (read from the data set's folder ``root``)."""
    options = {**entry(dataset).domain_options.get(domain, {}), **options}
    splits = split_lists.entries(split_files, data_root(dataset, root)) if split_files else ()
    return DataSpec(dataset, domain, image_size, n_dev, n_test, val_fraction, seed, tuple(sorted(options.items())),
                    splits)


@lru_cache(maxsize=8)
def domain_data(spec: DataSpec, root: str | None = None) -> DomainData:
    """The pool and test set of ``spec`` (cached in memory: every unit of a study asks for the same data)."""
    if spec.domain not in domains_of(spec.dataset):
        raise DataError(f"data set {spec.dataset!r} has no domain {spec.domain!r}; it has {domains_of(spec.dataset)}")
    dataset = entry(spec.dataset)
    drawn_to = {name: getattr(spec, name) for name in dataset.study_settings}  # a generated set: the study's sizes
    data: DomainData = importlib.import_module(f"medadv.data.{dataset.module}").load(
        data_root(spec.dataset, root), image_size=spec.image_size, **drawn_to, **dict(spec.options))
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
    if 2 * spec.n_dev < len(pool) and not spec.splits:  # d1 and d2 hold n_dev images each
        pool = _take_patients(pool, rng.permutation(np.unique(pool.patients)), 2 * spec.n_dev)
    return DomainData(pool, test, data.sources)


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
    sources = domain_data(spec, root).sources
    if source not in sources:
        raise DataError(f"unknown source {source!r}: {spec.dataset} has {', '.join(sources) or 'no other source'} here")
    return sources[source]


def development_set(spec: DataSpec, name: str, root: str | None = None) -> tuple[ImageSet, ImageSet]:
    """The (train, validation) images of the development set ``name`` (``medadv.data.splits.development_set``); a
    ``source:<name>`` set is another source's pool."""
    if name.startswith("source:"):
        other = source_pool(spec, name.split(":", 1)[1], root)
        return split_lists.train_val(other, np.unique(other.patients), spec.seed, spec.val_fraction, name)
    listed = _listed_sets(spec, root) if spec.splits else None
    return split_lists.development_set(domain_data(spec, root).pool, name, spec.seed, spec.val_fraction, listed)


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
    "data_spec",
    "development_set",
    "domain_data",
    "domains_of",
    "source_pool",
    "test_set",
]
