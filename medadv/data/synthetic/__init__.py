"""Generated, labelled medical-like images: the embedded default data set, offline and deterministic.

Why: the book must run anywhere without downloads, yet its questions (does pre-training help? does a surrogate on other
data transfer?) only make sense on tasks that look and behave like the paper's: fine local cues that a CNN must learn,
images of one patient that share anatomy (so splits must be patient-level), and several *sources* (camera, X-ray
machine, stain and scanner, prevalence) so that "other-source development data" has its practical meaning.

Each domain draws a latent cue vector per image, ``z = noise + sep * (2 * label - 1)``, and renders it as overlapping,
noisy evidence (lesion counts and sizes, finding extents, nuclear density/size/shape/darkness), next to label-free
look-alikes (drusen, granulomas, skin folds, lymphocytes). ``sep`` is the difficulty knob (a loader option:
``data_options: {sep: 0.6}``). The defaults were tuned at 48 px with 1,000 training images and 5 epochs of AdamW for a
validation AUC of 0.7-0.8 from random init and 0.87-0.97 from ImageNet weights; under the default profile's training
(2,000 images, random init trained 300 steps at 1e-2) both initialisations reach 0.90-0.97 in ophthalmology and
pathology, and lowering ``sep`` opens no pre-training gain at d1/10 (measured: ``book/sweeps.yaml``).

Labels, patients and cue noise do not depend on ``size``; an image's draws do not depend on ``n`` (a set is a prefix of
a larger one with the same seed).

Here: the labels, patients and latent cues (``generate``), the cache and the data set's ``load``. The strokes every
domain paints with are in ``raster``, what differs between sources in ``acquisition``, and each domain's anatomy,
findings, sources and tuned ``sep`` in its own module (``ophthalmology``, ``radiology``, ``pathology``).
"""
from __future__ import annotations

import hashlib
import io
import json
import warnings
from pathlib import Path
from types import ModuleType
from typing import Callable, Iterator, Mapping

import numpy as np
from scipy import stats
from tqdm.auto import tqdm

from medadv.data.base import DomainData, ImageSet
from medadv.data.registry import data_root
from medadv.data.synthetic import ophthalmology, pathology, radiology
from medadv.data.synthetic.raster import CHUNK, Draw
from medadv.store import atomic_write_bytes

# each domain's module: its LABELS, CHANNELS, tuned SEP, acquisition SOURCES and render(draw, m, size, traits, z, src)
_DOMAIN: dict[str, ModuleType] = {"ophthalmology": ophthalmology, "radiology": radiology, "pathology": pathology}
DOMAINS: tuple[str, ...] = tuple(_DOMAIN)
SOURCES: tuple[str, ...] = ("a", "b", "c")
VERSION = 2  # bump when the images change, so caches and stored models are not reused (2: per-image variation)
DEFAULT_SEP: dict[str, float] = {domain: module.SEP for domain, module in _DOMAIN.items()}
RADIOLOGY_LABELS: tuple[str, ...] = radiology.LABELS
IMAGES_PER_PATIENT = (2, 4)  # fewest and most images of one patient (eyes, visits, patches of one slide)
FINDING_CORRELATION = 0.4  # of a patient's findings' latent scores (a Gaussian copula): findings co-occur
PATIENT_KEEP = 0.8  # probability that an image carries its patient's label (else a fresh draw at prevalence)
N_TRAITS = 8  # per-patient anatomy and look (disc position, lung scale, stroma density, ...), label-free
N_CUES = 5  # latent cues per image that the label shifts (lesion counts and sizes, finding extents, nuclear features)
_PROGRESS_FROM = 5000  # show a progress bar from this many images


def _check(domain: str, n: int, size: int, seed: int, source: str) -> None:
    if domain not in DOMAINS:
        raise ValueError(f"unknown domain {domain!r}; choose one of {', '.join(DOMAINS)}")
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}; choose one of {', '.join(SOURCES)}")
    if int(n) != n or n < 1:
        raise ValueError(f"n must be an integer >= 1 (got {n!r})")
    if int(size) != size or size < 16:
        raise ValueError(f"size must be an integer >= 16 pixels (got {size!r})")
    if int(seed) != seed or seed < 0:
        raise ValueError(f"seed must be an integer >= 0 (got {seed!r})")


def generate(domain: str, n: int, size: int, *, seed: int, source: str = "a", sep: float | None = None) -> ImageSet:
    """``n`` labelled images of ``domain`` (uint8 n×size×size×C) from acquisition ``source``, 2-4 per patient.

    ``sep`` is the label's shift of every latent cue (larger is easier); None takes the domain's tuned default.
    Ophthalmology and pathology are binary (int64 labels); radiology is multi-label (float32 (n, 5), "No Finding"
    first and 1 exactly when no finding is present).
    """
    _check(domain, n, size, seed, source)
    n, size, seed = int(n), int(size), int(seed)
    sep = DEFAULT_SEP[domain] if sep is None else float(sep)
    module = _DOMAIN[domain]
    src = module.SOURCES[source]
    key = (seed, DOMAINS.index(domain), SOURCES.index(source))

    def rng(*purpose: int) -> np.random.Generator:
        return np.random.default_rng([*key, *purpose])

    # patients: 2-4 images each, sharing anatomy traits and (mostly) their labels; findings co-occur (copula)
    fewest, most = IMAGES_PER_PATIENT
    pid = np.repeat(np.arange(n), rng(0).integers(fewest, most + 1, size=n))[:n]
    prev = np.array(src.prevalence)
    shared = rng(1).standard_normal((n, 1))
    latent = FINDING_CORRELATION * shared + np.sqrt(1 - FINDING_CORRELATION**2) * rng(2).standard_normal((n, len(prev)))
    y_patient = latent > stats.norm.ppf(1 - prev)
    keep = rng(3).random((n, len(prev))) < PATIENT_KEEP
    y = np.where(keep, y_patient[pid], rng(4).random((n, len(prev))) < prev)
    traits = rng(5).standard_normal((n, N_TRAITS))[pid]
    cues = rng(6).standard_normal((n, N_CUES))
    if domain == "radiology":
        z = cues + sep * (2.0 * np.pad(y, ((0, 0), (0, 1))) - 1.0)
        labels = np.concatenate([~y.any(1, keepdims=True), y], 1).astype(np.float32)
    else:
        z = cues + sep * (2.0 * y[:, :1] - 1.0)
        labels = y[:, 0].astype(np.int64)

    images = np.empty((n, size, size, module.CHANNELS), np.uint8)
    chunks = range(0, n, CHUNK)
    for lo in tqdm(chunks, desc=f"synthetic {domain}", unit="chunk", disable=n < _PROGRESS_FROM):
        hi = min(lo + CHUNK, n)
        d = Draw(rng(7, lo // CHUNK), hi - lo)
        images[lo:hi] = module.render(d, hi - lo, size, traits[lo:hi], z[lo:hi], src)

    patients = np.array([f"{domain[:4]}-{source}-{seed}-{k:06d}" for k in pid])
    meta = {"generator": "medadv.data.synthetic", "version": VERSION, "domain": domain, "source": source,
            "seed": seed, "size": size, "sep": sep}
    return ImageSet(images, labels, patients, module.LABELS, meta)


def _digest(images: np.ndarray, labels: np.ndarray) -> str:
    return hashlib.sha256(images.tobytes() + labels.tobytes()).hexdigest()


def _read(path: Path, expect: dict) -> ImageSet:
    """Load a cached set and check it against what was asked for and against its own checksum."""
    with np.load(path, allow_pickle=False) as f:
        meta = json.loads(str(f["meta"]))
        images, labels, patients = f["images"], f["labels"], f["patients"]
        names = tuple(str(s) for s in f["label_names"])
        digest = str(f["digest"])
    if meta != expect:
        raise ValueError(f"metadata {meta} differs from the request {expect}")
    if images.dtype != np.uint8 or images.shape[:3] != (expect["n"], expect["size"], expect["size"]):
        raise ValueError(f"images are {images.dtype} {images.shape}")
    if _digest(images, labels) != digest:
        raise ValueError("checksum mismatch")
    meta.pop("n")
    return ImageSet(images, labels, patients.astype(str), names, meta)


def cached(
    domain: str,
    n: int,
    size: int,
    *,
    seed: int,
    source: str = "a",
    sep: float | None = None,
    cache_dir: str | Path | None = None,
) -> ImageSet:
    """``generate`` with an .npz cache (default ``$MEDADV_DATA/synthetic`` or ``~/.cache/medadv/data/synthetic``).

    The file is written atomically and checked on every read (request, shapes, checksum); a file that fails the
    check is regenerated with a warning rather than trusted.
    """
    _check(domain, n, size, seed, source)
    sep = DEFAULT_SEP[domain] if sep is None else float(sep)
    root = Path(cache_dir).expanduser() if cache_dir is not None else data_root("synthetic")
    path = root / f"{domain}-{source}-n{int(n)}-px{int(size)}-seed{int(seed)}-sep{sep:g}-v{VERSION}.npz"
    expect = {"generator": "medadv.data.synthetic", "version": VERSION, "domain": domain, "source": source,
              "seed": int(seed), "size": int(size), "sep": sep, "n": int(n)}
    if path.exists():
        try:
            return _read(path, expect)
        except Exception as err:  # any unreadable or inconsistent file: never trust it
            warnings.warn(f"regenerating the corrupt synthetic cache file {path} ({type(err).__name__}: {err})",
                          stacklevel=2)
    data = generate(domain, n, size, seed=seed, source=source, sep=sep)
    buf = io.BytesIO()
    np.savez(buf, images=data.images, labels=data.labels, patients=data.patients.astype(str),
             label_names=np.array(data.label_names), meta=np.array(json.dumps({**data.meta, "n": int(n)})),
             digest=np.array(_digest(data.images, data.labels)))
    atomic_write_bytes(path, buf.getvalue())
    return data


# The test set and the other-source pools are drawn under other seeds than the development pool, so they hold other
# patients; the offsets are primes, far apart, so that no study seed's test set is another seed's pool.
TEST_SEED_OFFSET = 7919
SOURCE_SEED_OFFSET = 104729


class _SourcePools(Mapping[str, ImageSet]):
    """A pool of every source, drawn when first asked for (most studies use none)."""

    def __init__(self, draw: Callable[[str], ImageSet]) -> None:
        self._draw, self._pools = draw, {}

    def __getitem__(self, source: str) -> ImageSet:
        if source not in SOURCES:
            raise KeyError(source)
        if source not in self._pools:
            self._pools[source] = self._draw(source)
        return self._pools[source]

    def __iter__(self) -> Iterator[str]:
        return iter(SOURCES)

    def __len__(self) -> int:
        return len(SOURCES)


def load(root: Path, *, image_size: int, domain: str, n_dev: int, n_test: int, seed: int, sep: float | None = None,
         cache_dir: str | Path | None = None) -> DomainData:
    """The generated data set as a domain: a pool of ``2 * n_dev`` images (the paper's d1 and d2) and ``n_test`` test
    images of source "a", and a pool of ``n_dev`` images of every source (``source:<name>``), cached in ``root``."""
    cache = root if cache_dir is None else cache_dir
    pool = cached(domain, 2 * n_dev, image_size, seed=seed, sep=sep, cache_dir=cache)
    test = cached(domain, n_test, image_size, seed=seed + TEST_SEED_OFFSET, sep=sep, cache_dir=cache)
    sources = _SourcePools(lambda source: cached(domain, n_dev, image_size, seed=seed + SOURCE_SEED_OFFSET,
                                                 source=source, sep=sep, cache_dir=cache))
    return DomainData(pool, test, sources)
