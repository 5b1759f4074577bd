"""Fetch data-set files safely: resumable HTTP downloads, checksums, atomic placement.

Why: the real data sets are gigabytes (PCam's training images alone are 6 GB compressed). A download that dies at
90 % should continue where it stopped (HTTP Range), a file that arrives corrupted must never be used (checksum), and a
reader must never see a half-written file (write to ``NAME.part``, then rename).
"""
from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable

from medadv.data.base import DataError

CHUNK = 1 << 20  # 1 MiB reads: large enough for speed, small enough to resume close to where a failure happened


def file_hash(path: str | os.PathLike[str], algorithm: str = "md5") -> str:
    """Hex digest of a file, read in chunks (the files are larger than memory)."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def check_file(path: str | os.PathLike[str], *, md5: str | None = None, sha256: str | None = None) -> None:
    """Raise DataError unless the file exists and matches every checksum given."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path} does not exist; download it again (`medadv data prepare`)")
    for algorithm, expected in (("md5", md5), ("sha256", sha256)):
        if expected is None:
            continue
        actual = file_hash(path, algorithm)
        if actual.lower() != expected.lower():
            raise DataError(
                f"{path} has {algorithm} {actual}, expected {expected}: the file is corrupted or a different "
                "version; delete it and download it again (`medadv data prepare`)"
            )


def download(
    url: str,
    dest: str | os.PathLike[str],
    *,
    md5: str | None = None,
    sha256: str | None = None,
    timeout: float = 60.0,
    progress: Callable[[int, int | None], None] | None = None,
) -> Path:
    """Download ``url`` to ``dest``, resuming a previous partial download, and check its checksum.

    Bytes arrive in ``dest.part``; a second call continues it with an HTTP Range request (a server that ignores Range
    makes it start over). The file is renamed to ``dest`` only once complete and verified; on a checksum mismatch the
    partial file is deleted and DataError raised. An existing ``dest`` that matches is kept (no network use).
    ``progress(bytes_done, bytes_total_or_None)`` is called after every chunk.
    """
    dest = Path(dest)
    if dest.exists():
        if md5 is None and sha256 is None:
            return dest
        check_file(dest, md5=md5, sha256=sha256)  # raises with the fix when it does not match
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    offset = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "medadv"})
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as err:
        if err.code != 416 or not offset:  # 416: nothing left to send, the partial file is already complete
            raise DataError(f"downloading {url} failed: HTTP {err.code} {err.reason}; check the URL and retry") from err
        response = None
    except (urllib.error.URLError, OSError) as err:
        raise DataError(f"downloading {url} failed ({err}); check the network and run again to resume") from err
    if response is not None:
        with response:
            if response.status == 206:
                start = _range_start(response.headers.get("Content-Range"))
                if start != offset:
                    raise DataError(f"{url} answered a resume request with bytes from {start}, not {offset}; "
                                    f"delete {part} and run again")
                mode = "ab"
            else:  # 200: the server sent the whole file (it ignores Range), so start over
                offset, mode = 0, "wb"
            length = response.headers.get("Content-Length")
            total = offset + int(length) if length is not None else None
            done = offset
            with open(part, mode) as f:
                for block in iter(lambda: response.read(CHUNK), b""):
                    f.write(block)
                    done += len(block)
                    if progress is not None:
                        progress(done, total)
                f.flush()
                os.fsync(f.fileno())
            if total is not None and done < total:
                raise DataError(f"download of {url} stopped at {done} of {total} bytes; run again to resume")
    for algorithm, expected in (("md5", md5), ("sha256", sha256)):
        if expected is not None and file_hash(part, algorithm).lower() != expected.lower():
            part.unlink()
            raise DataError(
                f"{url} arrived with a wrong {algorithm} (expected {expected}); the partial file was deleted. "
                "Run again; if it keeps failing the file on the server changed: report it"
            )
    os.replace(part, dest)
    return dest


def _range_start(content_range: str | None) -> int:
    """First byte of a ``Content-Range: bytes START-END/TOTAL`` header (-1 when absent or malformed)."""
    try:
        return int(content_range.split()[1].split("-")[0])  # type: ignore[union-attr]
    except (AttributeError, IndexError, ValueError):
        return -1


def gunzip(src: str | os.PathLike[str], dest: str | os.PathLike[str], *, md5: str | None = None) -> Path:
    """Decompress ``src`` (.gz) to ``dest`` atomically, checking the result's md5 when given."""
    src, dest = Path(src), Path(dest)
    fd, tmp = tempfile.mkstemp(prefix=dest.name + ".", suffix=".tmp", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as out, gzip.open(src, "rb") as inp:
            shutil.copyfileobj(inp, out, CHUNK)
        if md5 is not None and file_hash(tmp, "md5").lower() != md5.lower():
            raise DataError(f"{src} decompresses to a file whose md5 is not {md5}; delete {src} and download it again")
        os.replace(tmp, dest)
    except (OSError, EOFError) as err:
        raise DataError(f"cannot decompress {src} ({err}); delete it and download it again") from err
    finally:
        Path(tmp).unlink(missing_ok=True)
    return dest
