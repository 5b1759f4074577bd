"""Every data set the study can use, in one table, and where each is read from.

Why one table: the configuration checks names and domains against it, the study loads through it, and ``medadv data``
lists, downloads and verifies from it, so adding a data set is one entry and one module with ``load(root, *,
image_size, **options) -> DomainData`` (and ``verify`` for a set on disk).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from medadv.data import medmnist
from medadv.data.base import DataError

DATA_ENV = "MEDADV_DATA"  # the folder holding the data-set folders
DEFAULT_DATA_ROOT = Path.home() / ".cache" / "medadv" / "data"


@dataclass(frozen=True)
class Entry:
    """One data set: ``module`` (medadv.data.<module>) has its ``load``; ``domains`` are those it serves."""

    title: str
    module: str
    domains: tuple[str, ...]
    downloadable: bool = False  # ``medadv data prepare`` fetches it (public URL, checksums)
    named: bool = True  # its images have names, which split files list
    generated: bool = False  # drawn, not read: no files, and drawn to the study's sizes (``study_settings``)
    # the DataSpec fields its loader takes besides image_size: a generated set is drawn to the study's sizes and seed
    study_settings: tuple[str, ...] = ()
    # loader options a domain gets unless the study names them (they are part of the data's identity)
    domain_options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


ALL_DOMAINS = ("ophthalmology", "radiology", "pathology")
DATASETS: dict[str, Entry] = {
    "synthetic": Entry("Generated fundus photographs, chest X-rays and H&E patches (the embedded default)",
                       "synthetic", ALL_DOMAINS, named=False, generated=True,
                       study_settings=("domain", "n_dev", "n_test", "seed")),
    "pcam": Entry("PatchCamelyon: 96 px lymph-node patches, metastasis (Veeling et al. 2018)", "pcam",
                  ("pathology",), downloadable=True),
    "fundus": Entry("Kaggle/EyePACS and APTOS-2019 fundus photographs, referable DR", "fundus", ("ophthalmology",)),
    "chestxray": Entry("NIH ChestX-ray14 (15 outputs) and CheXpert chest X-rays", "chestxray", ("radiology",)),
    # one MedMNIST+ subset per domain unless the study names one
    "medmnist": Entry("MedMNIST+ pathmnist, chestmnist, pneumoniamnist, retinamnist (npz)", "medmnist", ALL_DOMAINS,
                      downloadable=True, named=False,
                      domain_options={d: {"subset": s} for d, s in medmnist.SUBSET_FOR_DOMAIN.items()}),
}
NAMED_DATASETS = tuple(name for name, entry in DATASETS.items() if entry.named)


def entry(dataset: str) -> Entry:
    if dataset not in DATASETS:
        raise DataError(f"unknown data set {dataset!r}; available: {', '.join(DATASETS)}")
    return DATASETS[dataset]


def domains_of(dataset: str) -> tuple[str, ...]:
    return entry(dataset).domains


def data_root(dataset: str | None = None, root: str | os.PathLike[str] | None = None) -> Path:
    """Where ``dataset`` is read from: ``root`` when given (its own folder, a study's ``data_root``), else
    ``$MEDADV_DATA/<dataset>``, else ``~/.cache/medadv/data/<dataset>``. Without a data set: the folder holding them
    all (``root``, ``$MEDADV_DATA`` or ``~/.cache/medadv/data``)."""
    if root:
        return Path(root).expanduser()
    base = Path(os.environ.get(DATA_ENV) or DEFAULT_DATA_ROOT).expanduser()
    return base / dataset if dataset else base
