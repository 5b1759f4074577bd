"""Decode a list of image files once into a cached, memory-mapped uint8 array.

Why: decoding and resizing 35,000 fundus photographs or 112,000 chest X-rays takes minutes to an hour; a study loads
them many times. The first load writes ``<stem>.npy`` (N×H×W×C uint8) and ``<stem>.npz`` (the file names and which
decoded); later loads memory-map the ``.npy``, so even EyePACS at 512 px (tens of GB) is never read whole into memory.
(An ``.npz`` cannot be memory-mapped, hence the pair.) The stem holds a hash of the file list and the decoding
parameters, so a changed data set or setting gets its own cache. Writes are atomic and locked: two processes asking
for the same cache decode it once.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
from filelock import FileLock
from PIL import Image

from medadv.data.base import DataError

CACHE_VERSION = 1


class Undecodable(Exception):
    """One image file could not be decoded (truncated, not an image, unsupported format)."""


def open_image(path: Path, mode: str, draft: int | None = None) -> Image.Image:
    """Open and fully decode an image in ``mode`` ("RGB" or "L"); JPEGs decode at reduced scale when ``draft`` allows
    (a 3,000 px fundus photograph decoded at 1/4 size is 10× faster and still twice the output size)."""
    try:
        with Image.open(path) as im:
            if draft is not None and im.format == "JPEG":
                im.draft(mode, (draft, draft))
            if mode == "L" and im.mode in ("I;16", "I;16B", "I"):  # 16-bit greyscale: rescale, don't clip
                arr = np.asarray(im, dtype=np.float64)
                arr = arr * (255.0 / max(float(arr.max()), 1.0))
                return Image.fromarray(arr.astype(np.uint8), "L")
            return im.convert(mode)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
        raise Undecodable(f"{path}: {err}") from err


def cache_stem(kind: str, names: Sequence[str], params: dict[str, Any]) -> str:
    """A name for the cache of ``names`` decoded with ``params``."""
    blob = json.dumps({"v": CACHE_VERSION, "names": list(names), "params": params}, sort_keys=True)
    return f"{kind}_{hashlib.sha256(blob.encode()).hexdigest()[:16]}"


def decode_images(
    files: Sequence[Path],
    decode: Callable[[Path], np.ndarray],
    shape: tuple[int, int, int],
    *,
    cache: Path | None,
    skip_undecodable: bool = False,
    workers: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """Decode every file with ``decode`` (a picklable function returning an H×W×C uint8 array of ``shape``).

    Returns ``(images, ok)``: images N×H×W×C uint8 (memory-mapped from ``cache.npy`` when ``cache`` is given) and a
    bool mask of the files that decoded. An undecodable file raises DataError naming it, unless
    ``skip_undecodable`` (its row is then zeros and ``ok`` is False; the caller drops and reports it).
    ``workers`` > 1 decodes in that many processes.
    """
    if cache is None or not files:
        return _decode_all(files, decode, shape, None, skip_undecodable, workers)
    npy, index = cache.with_suffix(".npy"), cache.with_suffix(".npz")
    if not (npy.exists() and index.exists()):
        try:
            cache.parent.mkdir(parents=True, exist_ok=True)
        except OSError:
            pass
        if not os.access(cache.parent, os.W_OK):
            raise DataError(f"cannot write the decoded-image cache in {cache.parent} (read-only data folder?); pass "
                            "cache_dir= a writable folder, or cache=False")
        with FileLock(str(cache.with_suffix(".lock"))):
            if not (npy.exists() and index.exists()):
                fd, tmp = tempfile.mkstemp(prefix=npy.name + ".", suffix=".tmp.npy", dir=npy.parent)
                os.close(fd)
                try:
                    out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(len(files), *shape))
                    _, ok = _decode_all(files, decode, shape, out, skip_undecodable, workers)
                    out.flush()
                    del out
                    os.replace(tmp, npy)
                finally:
                    Path(tmp).unlink(missing_ok=True)
                _save_index(index, names=np.array([f.name for f in files]), ok=ok)
    images = np.load(npy, mmap_mode="r")
    with np.load(index) as z:
        names, ok = z["names"], z["ok"]
    if images.shape != (len(files), *shape) or list(names) != [f.name for f in files]:
        raise DataError(f"the image cache {npy} does not match the data set; delete {npy} and {index} and load again")
    if not skip_undecodable and not ok.all():
        bad = [f.name for f, good in zip(files, ok) if not good][:5]
        raise DataError(f"{int((~ok).sum())} images could not be decoded (e.g. {bad}); replace them, or pass "
                        "skip_undecodable=True to leave them out")
    return images, ok


def _save_index(path: Path, **arrays: np.ndarray) -> None:
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp.npz", dir=path.parent)
    os.close(fd)
    try:
        np.savez(tmp, **arrays)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def _try(decode: Callable[[Path], np.ndarray], path: Path) -> np.ndarray | str:
    try:
        return decode(path)
    except Undecodable as err:
        return str(err)


def _decode_all(
    files: Sequence[Path],
    decode: Callable[[Path], np.ndarray],
    shape: tuple[int, int, int],
    out: np.ndarray | None,
    skip_undecodable: bool,
    workers: int,
) -> tuple[np.ndarray, np.ndarray]:
    if out is None:
        out = np.zeros((len(files), *shape), np.uint8)
    ok = np.ones(len(files), bool)
    errors: list[str] = []
    if workers > 1 and len(files) > 1:
        with ProcessPoolExecutor(workers) as pool:
            results = pool.map(_try, [decode] * len(files), files, chunksize=64)
            _collect(results, out, ok, errors, shape, skip_undecodable)
    else:
        _collect((_try(decode, f) for f in files), out, ok, errors, shape, skip_undecodable)
    if errors:
        warnings.warn(f"skipped {len(errors)} undecodable images, e.g. {errors[:3]}", stacklevel=3)
    return out, ok


def _collect(results: Any, out: np.ndarray, ok: np.ndarray, errors: list[str], shape: tuple[int, int, int],
             skip_undecodable: bool) -> None:
    for i, result in enumerate(results):
        if isinstance(result, str):
            if not skip_undecodable:
                raise DataError(f"cannot decode {result}; replace the file (download it again), or pass "
                                "skip_undecodable=True to leave it out and report the count")
            ok[i] = False
            errors.append(result)
            continue
        if result.shape != shape or result.dtype != np.uint8:
            raise DataError(f"decoding gave {result.shape} {result.dtype}, expected {shape} uint8 (image {i})")
        out[i] = result
