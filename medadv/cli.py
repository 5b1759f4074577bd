"""The ``medadv`` command: run a page, build the book, inspect data and the store, benchmark.

User errors (an unknown profile, key, notebook or data set; a value of the wrong type; a device or store this machine
cannot use; bad or missing data) print one line naming the problem and what is allowed, and exit with status 2; no
traceback.
"""
from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path
from typing import Any, NoReturn

from medadv.book import BOOK_ENV, NotebookError
from medadv.config import ConfigError
from medadv.data.catalog import add_data_parser

USER_ERRORS: tuple[type[Exception], ...] = (ConfigError,)
STORE_HELP = ("-p store=PATH|URL sets the store (default: the profile's store:, a relative path from the book root; "
              "an fsspec URL such as s3://bucket/medadv works once its driver is installed)")


def _user_errors() -> tuple[type[Exception], ...]:
    from medadv.data.base import DataError
    from medadv.store import StoreLocationError
    from medadv.weights import WeightsError

    return (*USER_ERRORS, DataError, WeightsError, StoreLocationError, FileNotFoundError)


class Parser(argparse.ArgumentParser):
    """argparse with a one-line error (the problem and where the help is) instead of usage plus error."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}; see {self.prog} --help\n")


def plain(text: str) -> str:
    """Docstring text for the terminal: reStructuredText's ``literal`` and :role:`name` marks dropped."""
    return re.sub(r"``([^`]+)``", r"\1", re.sub(r":\w+:`([^`]+)`", r"\1", text))


def error_line(error: BaseException) -> str:
    """One line: a message's line breaks and runs of spaces become single spaces."""
    return " ".join(str(error).split())


def _page_list() -> str:
    from medadv.book import toc_pages

    try:
        return "pages: " + ", ".join(Path(page).name for page in toc_pages())
    except ConfigError as error:
        return f"pages: none listed ({error_line(error)})"


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="medadv", description=plain(__doc__.splitlines()[0]))
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="execute one notebook of the book with papermill",
                         description="Execute one page of the book (found from the current folder upwards, or\n"
                                     "--root) with a profile's parameters; its results table goes to\n"
                                     "_build/results/<page>.csv.",
                         epilog=f"{_page_list()}\n\n{STORE_HELP}.",
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    run.add_argument("notebook", help="a page: its name (t3_pretraining) or path (book/t3_pretraining.md)")
    run.add_argument("--profile", default="quick", help="params/<profile>.yaml (default: quick)")
    run.add_argument("-p", "--param", action="append", default=[], metavar="KEY=VALUE",
                     help="override a parameter (value parsed as YAML); repeatable")
    run.add_argument("-o", "--output", type=Path, help="executed notebook path (default: _build/executed/...)")
    run.add_argument("--force", action="store_true", help="execute even if nothing changed")
    run.add_argument("--log-output", action="store_true", help="stream the notebook's output (progress bars)")
    book_root_help = "the book's folder, the one with _toc.yml (default: found from the current folder upwards)"
    run.add_argument("--root", metavar="DIR", help=book_root_help)
    workers_help = ("units computed at once before the pages run, each in its own process (default: one per "
                    "cpu_threads cores where the profile fixes cpu_threads and runs on the CPU, else 1)")
    run.add_argument("-w", "--workers", type=int, metavar="N", help=workers_help)

    book = sub.add_parser("book", help="execute the book's notebooks and build the HTML book")
    book.add_argument("--profile", default="default", help="params/<profile>.yaml (default: default)")
    book.add_argument("--only", nargs="+", metavar="NAME", help="execute only these pages (the HTML needs all)")
    book.add_argument("-p", "--param", action="append", default=[], metavar="KEY=VALUE",
                      help="override a parameter in every page that declares it")
    book.add_argument("--force", action="store_true", help="execute every page even if nothing changed")
    book.add_argument("--no-html", action="store_true", help="execute only; do not build the HTML")
    book.add_argument("--log-output", action="store_true", help="stream the notebooks' output")
    book.add_argument("-j", "--jobs", type=int, default=None, metavar="N",
                      help="pages executed at once (default: one per 4 CPU cores; 1 on small machines)")
    book.add_argument("--root", metavar="DIR", help=book_root_help)
    book.add_argument("-w", "--workers", type=int, metavar="N", help=workers_help)
    for p in (book, grid := sub.add_parser("grid", help="compute every unit the book's pages need, without pages")):
        p.add_argument("--executor", choices=["local", "slurm"], default="local" if p is book else None,
                       help="where units run: in this process or as Slurm job arrays" +
                            (" (required unless --dry-run)" if p is grid else ""))
        p.add_argument("--slurm", action="append", default=[], metavar="KEY=VALUE",
                       help="Slurm option (partition, time_min, cpus_per_task, mem_gb, gpus_per_task, "
                            "array_parallelism, extra_sbatch); repeatable")
    grid.add_argument("--profile", default="default", help="params/<profile>.yaml (default: default)")
    grid.add_argument("--only", nargs="+", metavar="NAME", help="plan only these pages")
    grid.add_argument("-p", "--param", action="append", default=[], metavar="KEY=VALUE",
                      help="override a parameter in every page that declares it")
    grid.add_argument("--root", metavar="DIR", help=book_root_help)
    grid.add_argument("-w", "--workers", type=int, metavar="N", help=workers_help + "; with --executor local")
    grid.add_argument("--dry-run", action="store_true",
                      help="plan only: units per stage and domain, estimated GPU hours, store size and longest unit "
                           "(the paper profile: its three domains at the authors' sizes); reads no data, runs nothing")

    store = sub.add_parser(
        "store", help="list, check or clean the artifact store",
        description="ls: every finished unit (kind, key, size, what it is). verify: check every unit's files against "
                    "the sizes and sha256 hashes recorded when it was written, and list those that would be set "
                    "aside and recomputed on next use (exit 1 if any; nothing is changed). gc: remove scratch left "
                    "by killed runs: temp folders and resume checkpoints untouched for --older-than hours whose unit "
                    "no running process holds (a unit still computing is never touched), stale claims, and lock "
                    "files of finished units; finished units are never removed.")
    store.add_argument("action", choices=["ls", "verify", "gc"])
    store.add_argument("--root", metavar="STORE",
                       help="the store's path or URL (default: the store of --profile); it must exist")
    store.add_argument("--profile", default="default", help="whose store: params/<profile>.yaml's store: "
                       "(default: default)")
    store.add_argument("--older-than", type=float, default=1.0, metavar="HOURS",
                       help="gc: the age of the scratch and claims it removes (default: 1)")

    bench = sub.add_parser("bench", help="speed benchmarks that print ratios",
                           description="medadv bench attacks|train [OPTIONS]: see medadv bench attacks --help")
    bench.add_argument("what", choices=["attacks", "train"])
    bench.add_argument("args", nargs=argparse.REMAINDER, help="passed to the benchmark (see its --help)")

    add_data_parser(sub)
    return parser


def _run(args: argparse.Namespace) -> int:
    from medadv.book import is_current, resolve_notebook, run_notebook
    from medadv.config import parse_overrides

    source = resolve_notebook(args.notebook)
    overrides = parse_overrides(args.param)
    if args.force or not is_current(source, args.profile, overrides, args.output):
        _compute_units([source], args.profile, overrides, "local", [], args.workers)
    result = run_notebook(source, profile=args.profile, overrides=overrides, output=args.output,
                          force=args.force, log_output=args.log_output)
    state = "unchanged, skipped" if result.skipped else f"executed in {result.seconds:.0f} s"
    print(f"{result.name}: {state} -> {result.output}")
    return 0


def _book(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from medadv.book import build_html, default_jobs, is_current, page_overrides, run_pages
    from medadv.config import parse_overrides

    overrides = parse_overrides(args.param)
    pages = _pages(args.only)
    jobs = default_jobs() if args.jobs is None else args.jobs
    start = time.perf_counter()
    # the units of the pages that will execute first, several at once (--workers) or on Slurm; the pages then read
    # them from the store
    stale = [page for page in pages
             if args.force or not is_current(page, args.profile, page_overrides(page, overrides))]
    _compute_units(stale, args.profile, overrides, args.executor, args.slurm, args.workers)
    bar = tqdm(total=len(pages), desc=f"book ({args.profile}, {jobs} at a time)", unit="page")
    for result in run_pages(pages, profile=args.profile, overrides=overrides, jobs=jobs, force=args.force,
                            log_output=args.log_output):
        bar.update(1)
        bar.set_postfix_str(f"last: {result.name}")
        tqdm.write(f"{result.name}: {'unchanged' if result.skipped else f'{result.seconds:.0f} s'}")
    bar.close()
    if not args.no_html and not args.only:
        html = build_html()
        print(f"book built in {time.perf_counter() - start:.0f} s: {html / 'index.html'}")
    return 0


def _compute_units(pages: list[Path], profile: str, overrides: dict, executor: str, slurm: list[str],
                   workers: int | None = None) -> bool:
    """Plan every unit of the pages and run them stage by stage; True when none failed. ``workers`` (local runs):
    units at once, by default ``default_workers`` of the pages' ``cpu_threads`` and device."""
    from medadv.book import page_config, page_overrides, plan_units
    from medadv.config import parse_overrides
    from medadv.grid import default_workers, run_units
    from medadv.slurm import SlurmOptions
    from medadv.store import Store
    from medadv.study import fuse

    if workers is not None and workers < 1:
        raise ConfigError(f"--workers must be at least 1 (got {workers})")
    options = SlurmOptions.from_params(parse_overrides(slurm)) if executor == "slurm" else None
    if workers is None and pages:  # cpu_threads and device are study-wide: every page runs with the same
        cfg = page_config(pages[0], profile, page_overrides(pages[0], overrides))
        workers = default_workers(cfg.cpu_threads, cfg.device)
    ok = True
    for root, units in plan_units(pages, profile, overrides, here=executor == "local").items():
        report = run_units(fuse(units), Store(root), executor=executor, slurm=options, workers=workers or 1)
        print(report.summary())
        ok = ok and report.ok
    return ok


def _pages(only: list[str] | None) -> list[Path]:
    """The pages named by ``--only``, else every page of the book in table-of-contents order."""
    from medadv.book import book_root, resolve_notebook, toc_pages

    return [resolve_notebook(name) for name in only] if only else [book_root() / f"{p}.md" for p in toc_pages()]


def _grid(args: argparse.Namespace) -> int:
    from medadv.config import parse_overrides

    pages = _pages(args.only)
    if args.dry_run:
        from medadv.estimate import dry_run

        print(dry_run(args.profile, [p.stem for p in pages], parse_overrides(args.param)))
        return 0
    if args.executor is None:
        raise ConfigError("medadv grid needs --executor local|slurm (or --dry-run to plan only)")
    return 0 if _compute_units(pages, args.profile, parse_overrides(args.param), args.executor, args.slurm,
                               args.workers) else 1


def _store(args: argparse.Namespace) -> int:
    from medadv.book import profile_store
    from medadv.store import Store

    store = Store(args.root or profile_store(args.profile), create=False)
    if args.action == "gc":
        removed = store.gc(older_than_s=args.older_than * 3600)
        print(f"removed {removed} scratch entries older than {args.older_than:g} h of no running unit from "
              f"{store.location}")
        return 0
    if args.action == "verify":
        return _verify(store)
    total = 0
    for entry in store.entries():
        total += entry["bytes"]
        what = f"unreadable: {entry['error']} (see medadv store verify)" if "error" in entry else _short(entry["spec"])
        print(f"{entry['kind']:8s} {entry['key']}  {entry['bytes'] / 1e6:8.2f} MB  {what}")
    print(f"{store.location}: {total / 1e6:.1f} MB")
    return 0


def _verify(store: Any) -> int:
    """Print each unit that fails its check and what would happen to it; 1 if any does."""
    counts = {"intact": 0, "corrupt": 0, "unchecked": 0}
    for entry in store.verify():
        if entry["problems"]:
            counts["corrupt"] += 1
            print(f"corrupt  {entry['kind']:8s} {entry['key']}  {entry['path']}: {'; '.join(entry['problems'])}; "
                  "would be set aside and recomputed on next use")
        else:
            counts["intact" if entry["checked"] else "unchecked"] += 1
    print(f"{store.location}: {counts['intact']} intact, {counts['corrupt']} corrupt, {counts['unchecked']} written "
          "before manifests (not checkable)")
    return 1 if counts["corrupt"] else 0


def _short(spec: dict) -> str:
    if "model" in spec:
        m = spec["model"]
        return f"{m['domain']} {m['arch']}/{m['init']}/{m['data']}#{m['copy']}"
    if "attack" in spec:
        return f"{spec['attack']} eps={spec['eps']} on {spec['surrogate'][:8]}"
    return f"target {str(spec.get('target'))[:8]} craft {str(spec.get('craft'))[:8]} {spec.get('perturbation') or 'clean'}"


def _bench(args: argparse.Namespace) -> int:
    if args.what == "attacks":
        from medadv.bench_attacks import main as bench_main
    else:
        from medadv.bench_train import main as bench_main
    return bench_main(args.args)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handlers = {"run": _run, "book": _book, "grid": _grid, "store": _store, "bench": _bench}
    try:
        if args.command == "data":
            from medadv.data.catalog import run_data_command

            return run_data_command(args)
        if args.command in ("run", "book", "grid") and args.root:
            os.environ[BOOK_ENV] = str(Path(args.root).expanduser().resolve())
        return handlers[args.command](args)
    except _user_errors() as error:
        print(f"medadv: error: {error_line(error)}", file=sys.stderr)
        return 2
    except NotebookError as error:
        print(f"medadv: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("medadv: interrupted; finished units are kept in the store, re-run to continue", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
