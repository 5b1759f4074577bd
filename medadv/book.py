"""Execute the book's notebooks with a parameter profile (papermill), then build the HTML book (Jupyter Book 1.x).

Why this shape: the notebooks are jupytext MyST files with a papermill ``parameters`` cell; the runner merges the
profile, a per-notebook file and command-line overrides, validates them against the notebook's own parameters and
``StudyConfig`` before any compute starts, executes into a temporary file and moves it into place only on success
(a failed page leaves no output and no results table), and skips a page whose source, parameters and library code
are unchanged. The book is then built from the executed notebooks with execution off, so nothing runs twice.

Which book: the folder holding ``_toc.yml``, found from the current directory upwards (or named by ``--root DIR``,
``$MEDADV_BOOK_ROOT``), not the installed package's folder: with one environment and several clones (a course), each
clone builds its own pages into its own ``_build`` with its own ``params/``, and relative stores live in it.
"""
from __future__ import annotations

import ast
import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

import yaml

from medadv.config import (STUDY_WIDE_KEYS, ConfigError, StudyConfig, check_device_available, keep_perturbations,
                           parameter_names, profile_parameters, resolve_parameters, resolve_store)
from medadv.store import Store, atomic_write_bytes
from medadv.vocab import STAGES

BOOK_ENV = "MEDADV_BOOK_ROOT"  # set by ``--root DIR``; kernels inherit it
PACKAGE = Path(__file__).resolve().parent
KERNEL_QUIET = ["--IPKernelApp.log_level=CRITICAL"]  # its "running over TCP without encryption" warning, shutdown noise


def book_root(start: Path | None = None) -> Path:
    """The book a command works on: ``$MEDADV_BOOK_ROOT``, else the nearest folder holding ``_toc.yml`` from ``start``
    (default: the current directory) upwards."""
    named = os.environ.get(BOOK_ENV)
    if named:
        root = Path(named).expanduser().resolve()
        if not (root / "_toc.yml").is_file():
            raise ConfigError(f"--root {named}: no _toc.yml there; name the folder of a clone of the book")
        return root
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "_toc.yml").is_file():
            return folder
    raise ConfigError(f"no book here: neither {here} nor a folder above it holds _toc.yml; run medadv inside a clone "
                      "of the book, or pass --root DIR")


def __getattr__(name: str) -> Any:
    """``medadv.book.ROOT``: the book root where this process runs (pages execute inside their book)."""
    if name == "ROOT":
        return book_root()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def build_dir() -> Path:
    """Where generated files go: ``$MEDADV_BUILD`` or ``_build`` in the book root (tests point it elsewhere)."""
    build = os.environ.get("MEDADV_BUILD")
    return Path(build) if build else book_root() / "_build"


def executed_dir() -> Path:
    """The staging source of the HTML book: _config.yml, _toc.yml and the executed notebooks."""
    return build_dir() / "executed"


def results_dir() -> Path:
    return build_dir() / "results"

ENV_RESULTS = "MEDADV_RESULTS_DIR"


class NotebookError(RuntimeError):
    """A notebook failed while executing; the message names the notebook and the failing cell."""


def toc_pages(root: Path | None = None) -> list[str]:
    """Page paths (without suffix, relative to the book root) in the order of ``_toc.yml``."""
    toc = yaml.safe_load(((root or book_root()) / "_toc.yml").read_text())
    pages = [toc["root"]]

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "file" in node:
                pages.append(node["file"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk({k: v for k, v in toc.items() if k != "root"})
    return [str(Path(p).with_suffix("")) for p in pages]


def resolve_notebook(name: str, root: Path | None = None) -> Path:
    """``book/t3_pretraining.md``, ``book/t3_pretraining`` or ``t3_pretraining`` → the page's source file."""
    root = root or book_root()
    pages = toc_pages(root)
    stem = Path(name).with_suffix("").name
    for page in pages:
        if Path(page).name == stem:
            path = root / f"{page}.md"
            if path.is_file():
                return path
    raise ConfigError(f"{name!r} is not a notebook of the book; notebooks: {', '.join(Path(p).name for p in pages)}")


def declared_parameters(source: Path) -> dict[str, Any]:
    """The names and default values of a notebook's papermill ``parameters`` cell."""
    import jupytext

    notebook = jupytext.read(source)
    for cell in notebook.cells:
        if cell.cell_type == "code" and "parameters" in cell.metadata.get("tags", []):
            values: dict[str, Any] = {}
            for node in ast.parse(cell.source).body:
                if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                    values[node.targets[0].id] = ast.literal_eval(node.value)
            return values
    return {}


def page_config(source: Path, profile: str, overrides: dict[str, Any]) -> StudyConfig:
    """The StudyConfig a page will run with (its defaults, then the profile, then overrides)."""
    return _validated_parameters(source, profile, overrides)[1]


def profile_store(profile: str) -> str:
    """The store a profile's pages use (its ``store:``, relative to the book root), for ``medadv store``."""
    root = book_root()
    return resolve_store(profile_parameters(profile, params_dir=root / "params").get("store", StudyConfig.store), root)


def _validated_parameters(source: Path, profile: str, overrides: dict[str, Any]) -> tuple[dict[str, Any], StudyConfig]:
    return resolve_parameters(declared_parameters(source), profile, source.stem, overrides, book_root(source.parent))


def library_fingerprint() -> str:
    """Hash of medadv's source: a page re-runs when the code that computes it changes."""
    digest = hashlib.sha256()
    for path in sorted(PACKAGE.rglob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def stamp(source: Path, params: dict[str, Any], profile: str) -> str:
    blob = json.dumps({"source": source.read_text(), "params": params, "profile": profile,
                       "lib": library_fingerprint()}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


@dataclass
class RunResult:
    name: str
    output: Path
    skipped: bool
    seconds: float
    started: float = 0.0  # wall-clock time.time() when execution began (0 when skipped)


def executed_path(source: Path) -> Path:
    return executed_dir() / source.relative_to(book_root(source.parent)).with_suffix(".ipynb")


def page_overrides(source: Path, overrides: dict[str, Any]) -> dict[str, Any]:
    """The book-wide ``-p`` overrides that ``source`` takes: those it declares (study-wide keys included)."""
    names = parameter_names(declared_parameters(source))
    return {k: v for k, v in overrides.items() if k in names}


def _executed_stamp(source: Path, output: Path) -> str | None:
    """The stamp of the page's last successful execution at ``output`` (None: never executed, or no results)."""
    if not (output.is_file() and (results_dir() / f"{source.stem}.csv").is_file()):
        return None
    return json.loads(output.read_text()).get("metadata", {}).get("medadv", {}).get("stamp")


def is_current(source: Path, profile: str, overrides: dict[str, Any] | None = None, output: Path | None = None) -> bool:
    """Whether ``run_notebook`` (with the same ``output``) would skip the page: executed with these parameters and
    this library already."""
    params, _ = _validated_parameters(source, profile, overrides or {})
    return _executed_stamp(source, output or executed_path(source)) == stamp(source, params, profile)


def run_notebook(source: Path, *, profile: str = "quick", overrides: dict[str, Any] | None = None,
                 output: Path | None = None, force: bool = False, log_output: bool = False) -> RunResult:
    """Execute one page with papermill; write the executed notebook and ``_build/results/<stem>.csv`` on success."""
    import jupytext
    import papermill

    params, cfg = _validated_parameters(source, profile, overrides or {})
    logging.getLogger("papermill").addFilter(_study_wide_is_known)
    output = output or executed_path(source)
    page_stamp = stamp(source, params, profile)
    if not force and _executed_stamp(source, output) == page_stamp:
        return RunResult(source.stem, output, True, 0.0)
    _preflight(params, cfg)  # only a page that executes needs the device and the store
    start, started = time.perf_counter(), time.time()
    output.parent.mkdir(parents=True, exist_ok=True)
    with scratch_dir(source.stem) as tmp:
        tmp_dir = Path(tmp)
        notebook = jupytext.read(source)
        notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        unexecuted = tmp_dir / f"{source.stem}.ipynb"
        jupytext.write(notebook, unexecuted)
        executed = tmp_dir / "executed.ipynb"
        page_results = tmp_dir / "results"
        page_results.mkdir()
        try:
            with _environment({ENV_RESULTS: str(page_results), "MEDADV_NOTEBOOK": source.stem,
                               BOOK_ENV: str(book_root(source.parent))}):
                papermill.execute_notebook(
                    str(unexecuted), str(executed), parameters=params, kernel_name="python3",
                    cwd=str(source.parent), progress_bar=False, log_output=log_output,
                    extra_arguments=KERNEL_QUIET,
                )
        except papermill.PapermillExecutionError as error:
            failed = build_dir() / "failed" / f"{source.stem}.ipynb"
            failed.parent.mkdir(parents=True, exist_ok=True)
            if executed.exists():
                shutil.copyfile(executed, failed)
            raise NotebookError(
                f"{source.name} failed in cell {error.exec_count} ({error.ename}: {error.evalue}); "
                f"the executed notebook with the traceback is {failed}"
            ) from None
        produced = sorted(page_results.glob("*.csv"))
        if not produced:
            raise NotebookError(f"{source.name} ran but saved no results table (call medadv.book.save_results)")
        data = json.loads(executed.read_text())
        for cell in data["cells"]:  # readers see the parameters folded (a click away), not as the page's opening
            tags = cell.get("metadata", {}).get("tags", [])
            if {"parameters", "injected-parameters"} & set(tags) and "hide-input" not in tags:
                cell["metadata"]["tags"] = [*tags, "hide-input"]
        data.setdefault("metadata", {})["medadv"] = {"stamp": page_stamp, "profile": profile, "parameters": params}
        atomic_write_bytes(output, json.dumps(data, indent=1).encode())
        results_dir().mkdir(parents=True, exist_ok=True)
        downloads = output.parent / "data"
        downloads.mkdir(parents=True, exist_ok=True)
        for csv in produced:
            shutil.copyfile(csv, downloads / csv.name)
            os.replace(csv, results_dir() / csv.name)
    (build_dir() / "failed" / f"{source.stem}.ipynb").unlink(missing_ok=True)  # an earlier failure's, now stale
    return RunResult(source.stem, output, False, time.perf_counter() - start, started)


def _study_wide_is_known(record: logging.LogRecord) -> bool:
    """papermill warns of every parameter a page's cell does not name; the study-wide ones are meant to be so."""
    return not any(record.getMessage() == f"Passed unknown parameter: {key}" for key in STUDY_WIDE_KEYS)


def _preflight(params: dict[str, Any], cfg: StudyConfig) -> None:
    """What a page needs from this machine, checked before its kernel starts: the device it names, and a store
    location that can be opened (an fsspec driver installed, a folder that can be created)."""
    if "device" in params:
        check_device_available(cfg.device)
    if "store" in params:
        Store(cfg.store)


@contextmanager
def scratch_dir(name: str) -> Iterator[Path]:
    """A temporary folder for one run (``medadv-<name>-<pid>-*`` in the temp folder), removed when the run ends;
    those of runs killed before they could remove theirs (their process is gone) are removed first."""
    for stale in Path(tempfile.gettempdir()).glob("medadv-*"):
        match = re.fullmatch(r"medadv-.+-(\d+)-\w+", stale.name)
        if match and stale.is_dir() and stale.stat().st_uid == os.getuid() and not _alive(int(match[1])):
            shutil.rmtree(stale, ignore_errors=True)
    with tempfile.TemporaryDirectory(prefix=f"medadv-{name}-{os.getpid()}-") as tmp:
        yield Path(tmp)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def default_jobs() -> int:
    """Pages executed at once by default: one per 4 CPU cores, so each page's torch keeps a few cores (1 on small
    machines, where parallel pages would only fight over the cores; measured: 2 torch processes on 2 cores run each
    3-20x slower than one)."""
    return max(1, (os.cpu_count() or 1) // 4)


def run_pages(sources: Iterable[Path], *, profile: str, overrides: dict[str, Any] | None = None, jobs: int = 1,
              force: bool = False, log_output: bool = False) -> Iterator[RunResult]:
    """Execute pages (each gets the overrides it declares), ``jobs`` at a time; yields results as pages finish.

    Pages are independent notebooks; the units they share are computed once through the store's lock per unit,
    so a page that needs a model another page is training waits for it instead of training it again. With
    ``jobs > 1`` each page runs in its own worker process whose kernels get ``cores // jobs`` threads. A failing
    page stops the pages not yet started; the running ones finish (their results stay valid) before the error.
    """
    overrides = overrides or {}
    work = [(source, page_overrides(source, overrides)) for source in sources]
    if jobs < 1:
        raise ConfigError(f"jobs must be at least 1 (got {jobs})")
    if jobs == 1 or len(work) <= 1:
        for source, own in work:
            yield run_notebook(source, profile=profile, overrides=own, force=force, log_output=log_output)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    threads = max(1, (os.cpu_count() or 1) // jobs)
    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn"), initializer=_limit_threads,
                             initargs=(threads,)) as pool:
        futures = [pool.submit(run_notebook, source, profile=profile, overrides=own, force=force,
                               log_output=log_output) for source, own in work]
        try:
            for future in as_completed(futures):
                yield future.result()
        finally:
            for future in futures:
                future.cancel()


def _limit_threads(threads: int) -> None:
    """Worker start-up: the kernels this worker starts inherit these (torch reads them when imported)."""
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = str(threads)


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables for the kernel papermill starts (it inherits ours), then restore them."""
    previous = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def save_results(frame: Any, name: str | None = None, *, key: str = "") -> Path:
    """Save a notebook's tidy results (and extra tables, ``key``) as CSV.

    Under the runner the file goes to a temporary folder that is moved into ``_build/results`` only if the whole
    notebook succeeds; run by hand it goes straight to ``_build/results``. The page's own table is
    ``<stem>.csv``; extra tables are ``<stem>-<key>.csv`` (offered as downloads on the page).
    """
    stem = name or os.environ.get("MEDADV_NOTEBOOK", "results")
    folder = Path(os.environ.get(ENV_RESULTS, results_dir()))
    path = folder / (f"{stem}-{key}.csv" if key else f"{stem}.csv")
    atomic_write_bytes(path, frame.to_csv(index=False).encode())
    return path


def repository_url(root: Path | None = None) -> str | None:
    """The GitHub URL the book is built from: ``$MEDADV_REPOSITORY_URL``, else the checkout's ``origin`` remote
    (``git@github.com:o/r.git`` and ``https://github.com/o/r.git`` → ``https://github.com/o/r``); None if neither is
    a GitHub repository (Binder and Colab launch only from GitHub)."""
    url = os.environ.get("MEDADV_REPOSITORY_URL")
    if not url:
        try:
            url = subprocess.run(["git", "-C", str(root or book_root()), "remote", "get-url", "origin"], capture_output=True,
                                 text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return None
    match = re.fullmatch(r"(?:https://|git@|ssh://git@)github\.com[/:]([\w.-]+)/([\w.-]+?)(?:\.git)?/?", url or "")
    return f"https://github.com/{match[1]}/{match[2]}" if match else None


def stage_book(root: Path | None = None) -> None:
    """Copy the book's configuration and static files next to the executed notebooks; the repository link and the
    launch buttons point at the repository the book is built from (``repository_url``) when it is on GitHub."""
    root = root or book_root()
    executed_dir().mkdir(parents=True, exist_ok=True)
    for name in ("_config.yml", "_toc.yml", "references.bib"):
        if (root / name).is_file():
            shutil.copyfile(root / name, executed_dir() / name)
    url = repository_url(root)
    if url and (root / "_config.yml").is_file():
        config = yaml.safe_load((root / "_config.yml").read_text())
        config.setdefault("repository", {})["url"] = url
        atomic_write_bytes(executed_dir() / "_config.yml", yaml.safe_dump(config, sort_keys=False).encode())
    for folder in ("book/_static", "book/images"):
        if (root / folder).is_dir():
            shutil.copytree(root / folder, executed_dir() / folder, dirs_exist_ok=True)


def build_html(root: Path | None = None, *, strict: bool = False) -> Path:
    """Build ``_build/html`` from the executed notebooks (Jupyter Book 1.x, execution off)."""
    root = root or book_root()
    stage_book(root)
    missing = [p for p in toc_pages(root) if not (executed_dir() / f"{p}.ipynb").is_file()]
    if missing:
        raise NotebookError(f"pages not executed yet: {', '.join(missing)}; run `medadv book` without --only first")
    command = [sys.executable, "-c", "from jupyter_book.cli.main import main; main()", "build", str(executed_dir()), "--path-output", str(build_dir() / "jb"),
               "--builder", "html"]
    if strict:
        command += ["-W", "-n", "--keep-going"]
    completed = subprocess.run(command, capture_output=True, text=True)
    if completed.returncode != 0:
        raise NotebookError(f"jupyter-book build failed:\n{completed.stdout[-3000:]}\n{completed.stderr[-3000:]}")
    html = build_dir() / "html"
    built = build_dir() / "jb" / "_build" / "html"
    tmp = build_dir() / "html.new"
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(built, tmp)
    shutil.rmtree(html, ignore_errors=True)
    os.replace(tmp, html)
    return html


def plan_profile(profile: str, pages: Iterable[str], overrides: dict[str, Any] | None = None) -> list[Any]:
    """Every unit the named pages need under ``profile``, planned only (no data, no models: the store is pointed at
    a scratch folder), for counts and estimates of a grid before it runs."""
    with scratch_dir("plan") as scratch:
        sources = [book_root() / "book" / f"{page}.md" for page in pages]
        planned = plan_units(sources, profile, {"store": str(scratch), **(overrides or {})})
    return [unit for group in planned.values() for unit in group]


def plan_units(sources: Iterable[Path], profile: str, overrides: dict[str, Any], *,
               here: bool = False) -> dict[str, list[Any]]:
    """Every unit the given pages need (``paper.PAGES``, the registry the pages read their conditions from), from
    their parameters, grouped by store root (``medadv grid``); ``here``: they will run on this machine, so its device
    is checked too."""
    from medadv.paper import PAGES, page_design
    from medadv.study import Study

    keep = keep_perturbations(profile, overrides, book_root() / "params")
    by_store: dict[str, dict[str, Any]] = {}
    for source in sources:
        if source.stem not in PAGES:  # a page that measures nothing
            continue
        cfg = page_config(source, profile, page_overrides(source, overrides))
        cfg = cfg.replace(keep_perturbations=keep)
        if here:
            check_device_available(cfg.device)
        study = Study(cfg)
        units = by_store.setdefault(study.store.location, {})
        for domain in cfg.domains:
            design = page_design(study, source.stem, domain)
            for unit in study.units(design.conditions, design.models):
                units.setdefault(unit.key(), unit)
    return {root: list(units.values()) for root, units in by_store.items()}



# ------------------------------------------------------------------------------------------------------ pages

from typing import TYPE_CHECKING, Sequence  # noqa: E402 - what the pages' helpers below add

if TYPE_CHECKING:
    import pandas as pd

    from medadv.study import Study


def open_page(namespace: dict[str, Any]) -> tuple[StudyConfig, Study]:
    """A page's setup in one call, ``cfg, study = book.open_page(globals())``: the page's parameters (as papermill
    injected them into ``namespace``) as a validated ``StudyConfig``, the ``Study`` over it, the book's figure style,
    and tables that show notes and reasons in full."""
    import pandas as pd

    from medadv import plots
    from medadv.study import Study

    cfg = StudyConfig.from_mapping(namespace, strict=False)
    plots.style()
    pd.set_option("display.max_colwidth", None)
    return cfg, Study(cfg)


#: The course page's exercises: which page each re-runs and with what (``-p`` overrides), or which development set.
EXERCISES: tuple[dict[str, Any], ...] = (
    {"label": "ex-eps", "page": "t3_pretraining", "overrides": {"eps": 0.05}, "data": None,
     "question": "a larger eps"},
    {"label": "ex-arch", "page": "t3_pretraining",
     "overrides": {"archs": ["tf_efficientnet_lite0", "tf_efficientnet_lite2"]}, "data": None,
     "question": "another architecture pair"},
    {"label": "ex-overlap", "page": "t4_data", "overrides": {}, "data": "overlap:0.5",
     "question": "a surrogate sharing half of the target's patients"},
    {"label": "ex-source", "page": "t4_data", "overrides": {}, "data": "source:b",
     "question": "a surrogate trained on another source"},
    {"label": "ex-attack", "page": "t3_pretraining", "overrides": {"attacks": ["pgd", "mi_di_ti_pgd"]}, "data": None,
     "question": "a transfer-enhancing attack"},
    {"label": "ex-public", "page": "beyond_public", "overrides": {"natural_count": 64, "universal_epochs": 1},
     "data": None, "question": "an attacker with a handful of photographs"},
)


def _train_images(study: Study, domain: str, name: str) -> str:
    """The training images of a development set, or why the data set has none (a real data set has no source b)."""
    from medadv.data import DataError, development_set

    try:
        return str(len(development_set(study.data_spec(domain), name, study.data_root(domain))[0]))
    except DataError as error:
        return f"none ({str(error).split(';')[0]})"


def exercise_table(study: Study, profile: str = "quick") -> pd.DataFrame:
    """Each exercise's page, command, and what it changes, checked: the overrides validate against the page (as the
    runner would), and a development set it names is cut here (its size per domain)."""
    import pandas as pd

    rows = []
    for ex in EXERCISES:
        source = book_root() / "book" / f"{ex['page']}.md"
        flags = " ".join(f"-p '{k}={_yaml_value(v)}'" for k, v in ex["overrides"].items())
        cfg = page_config(source, profile, ex["overrides"])  # raises if the override is not valid for the page
        sizes = ""
        if ex["data"]:
            sizes = ", ".join(f"{d}: {_train_images(study, d, ex['data'])}" for d in study.cfg.domains)
        rows.append({"exercise": ex["label"], "question": ex["question"], "page": ex["page"],
                     "command": f"medadv run book/{ex['page']}.md --profile {profile} {flags}".strip()
                     if ex["overrides"] else "", "development set": ex["data"] or "",
                     "train images (this build)": sizes, f"eps ([0, 1], {profile})": cfg.eps,
                     f"archs ({profile})": ", ".join(cfg.archs), f"attacks ({profile})": ", ".join(cfg.attacks)})
    return pd.DataFrame(rows)


def _yaml_value(value: Any) -> str:
    return f"[{', '.join(map(str, value))}]" if isinstance(value, (list, tuple)) else str(value)


def profiles(params_dir: Path | None = None) -> dict[str, dict[str, Any]]:
    """Every profile's parameters (``params/<name>.yaml``; default: the package's ``PARAMS_DIR``)."""
    from medadv.config import PARAMS_DIR, read_yaml

    params_dir = params_dir or PARAMS_DIR
    return {p.stem: read_yaml(p) for p in sorted(params_dir.glob("*.yaml"))}


def profile_table(params_dir: Path | None = None) -> pd.DataFrame:
    """Profiles side by side: one row per parameter, one column per profile (values as written)."""
    import pandas as pd

    found = profiles(params_dir)
    keys = list(dict.fromkeys(k for values in found.values() for k in values))
    return pd.DataFrame([{"parameter": k, **{name: _yaml_value(v.get(k, "")) for name, v in found.items()}}
                         for k in keys])


def timings_table(path: Path) -> pd.DataFrame:
    """Measured wall times (a YAML list of {profile, scope, hardware, minutes, date, note}); empty if none yet."""
    import pandas as pd

    columns = ["profile", "scope", "hardware", "minutes", "date", "note"]
    entries = (yaml.safe_load(path.read_text()) or {}).get("timings") or [] if path.is_file() else []
    return pd.DataFrame([{c: e.get(c) for c in columns} for e in entries], columns=columns)


def sweeps_table(path: Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The measured sweeps that sized the default profile (``book/sweeps.yaml``): one row per run, and the file's
    header fields (hardware, date); empty if the file is absent."""
    import pandas as pd

    found = (yaml.safe_load(path.read_text()) or {}) if path.is_file() else {}
    runs = found.pop("runs", None) or []
    columns = ["run", "domain", "auc", "random_transfer", "imagenet_transfer", "gradient_cosine"]
    return pd.DataFrame([{c: r.get(c, "") for c in columns} for r in runs], columns=columns), found


def unit_counts(profile: str, pages: Sequence[str] | None = None) -> pd.DataFrame:
    """Units per stage (train, craft, evaluate) the ``profile`` needs, per page (default: every page that measures,
    ``paper.PAGES``) and for the whole book (shared units counted once). Planning builds unit specs only: no data,
    no models; the store is pointed at a scratch folder."""
    import pandas as pd

    from medadv.paper import PAGES

    pages = list(PAGES if pages is None else pages)
    rows = [{"page": page, **_count(plan_profile(profile, [page]))} for page in pages]
    rows.append({"page": "book (shared units once)", **_count(plan_profile(profile, pages))})
    return pd.DataFrame(rows)


def _count(units: list[Any]) -> dict[str, int]:
    counts = {stage: sum(u.stage == stage for u in units) for stage in STAGES}
    return {**counts, "total": sum(counts.values())}


def profile_overview(params_dir: Path | None = None) -> pd.DataFrame:
    """Per profile: the command that builds the book with it, its data, where it runs and where its store is."""
    import pandas as pd

    rows = []
    for name, values in profiles(params_dir).items():
        device = values.get("device", "auto")
        cfg = StudyConfig.from_mapping(values)  # per-domain data sets and sizes resolved
        by_dataset: dict[str, list[str]] = {}
        for domain, dataset in cfg.per_domain("dataset").items():
            by_dataset.setdefault(dataset, []).append(domain)
        rows.append({"profile": name, "command": f"medadv book --profile {name}",
                     "data": "; ".join(f"{dataset} ({', '.join(domains)})" for dataset, domains in by_dataset.items()),
                     "image_size": cfg.stated("image_size"),
                     "archs": _yaml_value(values.get("archs", [])),
                     "hardware": "a CUDA GPU" if str(device).startswith("cuda") else "CPU (a GPU if present)",
                     "store": values.get("store", "")})
    return pd.DataFrame(rows)
