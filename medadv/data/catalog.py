"""The data sets on disk (the registry's, ``medadv.data.registry``): where each is looked for, how to get it, and the
``medadv data list|prepare|verify`` commands.

Data sets live in ``$MEDADV_DATA/<name>/`` (default ``~/.cache/medadv/data/<name>``; ``--data-root DIR`` or
``data_root=`` replaces ``$MEDADV_DATA``), in the layout in which each is distributed. ``prepare`` downloads what has
a public URL (PCam and MedMNIST+ on Zenodo: checksummed, resumable, atomic) and prints where to get and put the
rest; ``verify`` checks structure, shapes, dtypes and labels (and with ``--checksums`` the official md5s) and prints
per split the number of images and of positives.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, TextIO

import yaml

from medadv.data.base import DataError
from medadv.data.download import download, gunzip
from medadv.data.registry import DATASETS, data_root, entry


def dataset_dir(name: str, root: str | os.PathLike[str] | None = None) -> Path:
    """Where ``medadv data`` looks for data set ``name``: ``<data root>/<name>``; a ``--data-root`` that is itself the
    data set's folder (it holds the set's files and no ``<name>`` subfolder) is taken as is."""
    entry(name)
    base = data_root(root=root)
    if root is not None and not (base / name).is_dir() and presence(name, base):
        return base
    return base / name


def module(name: str) -> ModuleType:
    return importlib.import_module(f"medadv.data.{entry(name).module}")


ON_DISK = tuple(name for name, e in DATASETS.items() if not e.generated)  # what ``medadv data`` lists and checks


def presence(name: str, folder: Path) -> str:
    """'' when absent, else a short description of what is there."""
    if not folder.is_dir():
        return ""
    if name == "pcam":
        from medadv.data import pcam

        have = sum((folder / pcam.file_name(s, p)).is_file() for s in pcam.SPLITS for p in "xy")
        return "" if have == 0 else f"{have}/6 HDF5 files" + ("" if have == 6 else " (incomplete)")
    if name == "medmnist":
        from medadv.data import medmnist

        return ", ".join(f"{s}@{n}px" for s, n in medmnist.present(folder))
    found = module(name).find_variants(folder)
    return ", ".join(sorted(found))


def instructions(name: str, folder: Path) -> str:
    """Where to get the files of a data set and where to put them."""
    if name == "pcam":
        return (f"Run `medadv data prepare pcam` (7.5 GB from https://zenodo.org/records/2546921), or download the "
                f"camelyonpatch_level_2_split_*.h5.gz files and meta CSVs there and gunzip them into {folder}.")
    if name == "medmnist":
        return (f"Run `medadv data prepare medmnist [--subset NAME] [--size 28|64|128|224]`, or download "
                f"https://zenodo.org/records/10519652/files/<subset>[_<size>].npz into {folder}.")
    return module(name).INSTRUCTIONS.format(root=folder)


# ---------------------------------------------------------------------------------------------------- commands

def list_datasets(root: str | os.PathLike[str] | None = None, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    base = data_root(root=root)
    print(f"data root: {base}  (set $MEDADV_DATA or pass --data-root to change it)", file=out)
    for name in ON_DISK:
        what = presence(name, base / name)
        status = f"present: {what}" if what else "absent"
        domains = DATASETS[name].domains
        print(f"  {name:<10} {domains[0] if len(domains) == 1 else 'several':<14} {status:<40} {base / name}", file=out)
        print(f"  {'':<10} {DATASETS[name].title}", file=out)
    for name in sorted(set(DATASETS) - set(ON_DISK)):
        print(f"  (the built-in {name} data needs no files)", file=out)
    return 0


def _progress(label: str, out: TextIO) -> Callable[[int, int | None], None]:
    shown = {"step": -1}

    def report(done: int, total: int | None) -> None:
        step = int(10 * done / total) if total else done >> 27  # every 10 %, or every 128 MiB without a size
        if step != shown["step"]:
            shown["step"] = step
            size = f"{done / 2**20:,.0f} MiB" + (f" of {total / 2**20:,.0f} MiB" if total else "")
            print(f"  {label}: {size}", file=out, flush=True)

    return report


def prepare(name: str, *, root: str | os.PathLike[str] | None = None, subsets: list[str] | None = None,
            size: int = 28, keep_archives: bool = False, out: TextIO | None = None) -> int:
    """Download a public data set into its folder, or print where to get it."""
    out = out or sys.stdout
    folder = dataset_dir(name, root)
    if not entry(name).downloadable:
        print(f"{name} cannot be downloaded automatically (it needs an account or accepting terms).", file=out)
        print(instructions(name, folder), file=out)
        print(f"Then check it with `medadv data verify {name}`.", file=out)
        return 0
    folder.mkdir(parents=True, exist_ok=True)
    if name == "medmnist":
        from medadv.data import medmnist

        for subset in subsets or list(medmnist.DOMAIN):
            medmnist._check_subset(subset)
            if size not in medmnist.SIZES:
                raise DataError(f"size must be one of {medmnist.SIZES}, not {size}")
            file = medmnist.file_name(subset, size)
            print(f"{file}: downloading into {folder}", file=out)
            download(medmnist.url(subset, size), folder / file, md5=medmnist.MD5[(subset, size)],
                     progress=_progress(file, out))
    else:  # pcam
        from medadv.data import pcam

        for split in pcam.SPLITS:
            for part in ("x", "y"):
                h5 = pcam.file_name(split, part)
                if (folder / h5).is_file():
                    print(f"{h5}: present (check it with `medadv data verify pcam --checksums`)", file=out)
                    continue
                gz = h5 + ".gz"
                print(f"{gz}: downloading into {folder}", file=out)
                download(pcam.ZENODO.format(name=gz), folder / gz, md5=pcam.GZ_MD5[gz], progress=_progress(gz, out))
                print(f"{gz}: decompressing", file=out)
                gunzip(folder / gz, folder / h5, md5=pcam.MD5[h5])
                if not keep_archives:
                    (folder / gz).unlink()
            meta = pcam.file_name(split, "meta")
            download(pcam.ZENODO.format(name=meta), folder / meta, md5=pcam.MD5[meta])
    print(f"done; check it with `medadv data verify {name}`", file=out)
    return 0


def format_reports(reports: list[dict[str, Any]]) -> str:
    """Per split: images (and patients), then the positives per output."""
    lines = []
    for r in reports:
        if "note" in r:
            lines.append(f"  note: {r['note']}")
            continue
        head = f"  {r['split']}: {r['n_images']} images"
        if "patients" in r:
            head += f", {r['patients']} patients"
        if "shape" in r:
            head += f", images {tuple(r['shape'])} {r['dtype']}"
        counts = r["counts"]
        if len(counts) == 1:
            (label, count), = counts.items()
            lines.append(f"{head}; positives: {count} ({label})")
        else:
            lines.append(f"{head}; positives per output:")
            lines.extend(f"    {label:<32} {count}" for label, count in counts.items())
    return "\n".join(lines)


def verify(name: str, *, root: str | os.PathLike[str] | None = None, checksums: bool = False,
           out: TextIO | None = None, **options: Any) -> list[dict[str, Any]]:
    """Check a data set's files and print the per-split counts; raises DataError naming the problem."""
    out = out or sys.stdout
    folder = dataset_dir(name, root)
    if not folder.is_dir():
        raise DataError(f"{name} is not in {folder}. " + instructions(name, folder))
    reports = module(name).verify(folder, checksums=checksums, **options)
    print(f"{name} at {folder}: OK" + (" (official checksums match)" if checksums and name in ("pcam", "medmnist")
                                        else ""), file=out)
    print(format_reports(reports), file=out)
    return reports


# ---------------------------------------------------------------------------------------------------- CLI hook

def _option(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"options are KEY=VALUE, not {text!r}")
    try:
        return key.strip(), yaml.safe_load(value)
    except yaml.YAMLError:
        raise argparse.ArgumentTypeError(f"-o {text!r}: the value is not valid YAML (quote a string: "
                                         f"-o '{key.strip()}=\"...\"')") from None


def add_data_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``data list|prepare|verify`` to a CLI's subparsers; ``args.func`` is run_data_command."""
    parser = subparsers.add_parser(
        "data", help="list, download and check the real data sets",
        description="Real data sets live in $MEDADV_DATA/<name>/ (default ~/.cache/medadv/data/<name>), in the layout "
                    "in which each is distributed. `prepare` downloads PCam and MedMNIST+ (checksummed, resumable) "
                    "and says where to get the others; `verify` checks a set and prints per-split counts.")
    commands = parser.add_subparsers(dest="data_command", required=True)
    names = sorted(ON_DISK)
    listing = commands.add_parser("list", help="every data set, whether present, and where it is looked for")
    listing.add_argument("--data-root", help="folder holding the data-set folders (default: $MEDADV_DATA)")
    prep = commands.add_parser("prepare", help="download a data set, or print where to get it")
    prep.add_argument("name", choices=names)
    prep.add_argument("--data-root", help="folder holding the data-set folders (default: $MEDADV_DATA)")
    prep.add_argument("--subset", action="append", help="medmnist: a subset to download (repeatable; default all)")
    prep.add_argument("--size", type=int, default=28, help="medmnist: 28, 64, 128 or 224 px (default 28)")
    prep.add_argument("--keep-archives", action="store_true", help="pcam: keep the .h5.gz files after gunzip")
    check = commands.add_parser("verify", help="check structure, shapes, labels (and checksums); print counts")
    check.add_argument("name", choices=names)
    check.add_argument("--checksums", action="store_true", help="also compare the official md5s (slow: reads all)")
    check.add_argument("--data-root", help="folder holding the data-set folders (default: $MEDADV_DATA)")
    check.add_argument("-o", "--option", action="append", type=_option, default=[], metavar="KEY=VALUE",
                       help="a loader option, e.g. -o subset=pathmnist or -o resize=256")
    parser.set_defaults(func=run_data_command)
    return parser


def run_data_command(args: argparse.Namespace) -> int:
    """Run ``medadv data ...``; returns the exit status (2 with a one-line message on stderr for data problems and
    bad options: the user's to fix, as every user error of the CLI)."""
    try:
        if args.data_command == "list":
            return list_datasets(args.data_root)
        if args.data_command == "prepare":
            return prepare(args.name, root=args.data_root, subsets=args.subset, size=args.size,
                           keep_archives=args.keep_archives)
        if args.data_command == "verify":
            verify(args.name, root=args.data_root, checksums=args.checksums, **dict(args.option))
            return 0
    except DataError as err:
        from medadv.cli import error_line

        print(f"medadv data: error: {error_line(err)}", file=sys.stderr)
        return 2
    raise ValueError(f"unknown data command {args.data_command!r}")
