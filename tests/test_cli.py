"""The command line as a new user meets it (#20): every user error is one line naming the problem and the fix, exit 2;
the book is the one the user runs in (two clones, one environment); store commands work on the profile's store; a
finished or failed run leaves no scratch behind; files are written with the user's umask; the terminal shows no
kernel noise; help texts are plain text."""
from __future__ import annotations

import importlib.util
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from fixtures_data import write_nih
from medadv.book import book_root, build_dir, page_config, profile_store, resolve_notebook
from medadv.cli import main
from medadv.config import ConfigError
from medadv.store import Store

PAGE = """---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---

# A page

```{code-cell} ipython3
:tags: [parameters]
store = "unset"
seed = 0
```

```{code-cell} ipython3
import pandas as pd
from medadv.book import ROOT, save_results

save_results(pd.DataFrame({"store": [store], "seed": [seed], "root": [str(ROOT)]}))
```
"""


def _clone(folder: Path) -> Path:
    """A minimal book: _toc.yml, one page, two profiles with a relative store."""
    (folder / "book").mkdir(parents=True)
    (folder / "_toc.yml").write_text("format: jb-book\nroot: book/page\n")
    (folder / "book" / "page.md").write_text(PAGE)
    (folder / "params").mkdir()
    (folder / "params" / "quick.yaml").write_text("store: _build/store-quick\nseed: 1\n")
    (folder / "params" / "default.yaml").write_text("store: _build/store\n")
    return folder


def _cli(capsys, *args: str) -> tuple[int, list[str], str]:
    """Run ``medadv ARGS`` in this process: (exit status, stderr lines, stdout)."""
    try:
        code = main(list(args))
    except SystemExit as done:
        code = done.code
    out, err = capsys.readouterr()
    return code, err.strip().splitlines(), out


def _one_line_error(capsys, *args: str, match: str) -> None:
    code, err, _ = _cli(capsys, *args)
    assert code == 2 and len(err) == 1 and match in err[0], err
    assert "Traceback" not in err[0]


@pytest.fixture
def no_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


# ------------------------------------------------------------------------------- one line, exit 2 (items 4, 5)

@pytest.mark.parametrize("args, match", [
    (["-p", "epochs_imagenet=0"], "epochs_imagenet must be a positive integer"),
    (["-p", "pgd_alpha=-0.01"], "pgd_alpha must be a positive number"),
    (["-p", "device=cuda"], "device 'cuda': no CUDA GPU is visible here"),
    (["-p", "store=nosuch://bucket/medadv"], "store 'nosuch://bucket/medadv'"),
])
def test_bad_page_parameters_are_refused_before_the_page_starts(capsys, tmp_path, monkeypatch, no_gpu, args, match):
    monkeypatch.setenv("MEDADV_BUILD", str(tmp_path))
    _one_line_error(capsys, "run", "t3_pretraining", "--profile", "quick", *args, match=match)
    assert not (tmp_path / "executed").exists() and not (tmp_path / "failed").exists()


@pytest.mark.skipif(importlib.util.find_spec("s3fs") is not None, reason="s3fs is installed here")
def test_fsspec_store_without_its_driver_is_refused_before_the_page_starts(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("MEDADV_BUILD", str(tmp_path))
    _one_line_error(capsys, "run", "t3_pretraining", "-p", "store=s3://bucket/medadv", match="pip install s3fs")


def test_data_errors_are_one_line(capsys, tmp_path):
    write_nih(tmp_path / "chestxray")
    root = ["--data-root", str(tmp_path)]
    _one_line_error(capsys, "data", "verify", "chestxray", *root, "-o", "nosuchopt=1",
                    match="unknown chestxray option(s) ['nosuchopt']")
    _one_line_error(capsys, "data", "verify", "chestxray", *root, "-o", "foo=[1", match="not valid YAML")
    (tmp_path / "chestxray" / "Data_Entry_2017.csv").write_text("")
    _one_line_error(capsys, "data", "verify", "chestxray", *root, match="Data_Entry_2017.csv")
    _one_line_error(capsys, "data", "verify", "fundus", *root, match="fundus is not in")  # multi-line instructions


def test_bench_attacks_refuses_unknown_models_and_absent_devices(capsys, no_gpu):
    _one_line_error(capsys, "bench", "attacks", "--models", "nosuch", match="--models: unknown architecture 'nosuch'")
    _one_line_error(capsys, "bench", "attacks", "--device", "cuda", match="no CUDA GPU is visible here")
    _one_line_error(capsys, "bench", "attacks", "--repeats", "1", match="--repeats must be >= 3")
    _one_line_error(capsys, "bench", "train", "--archs", "nosuch", match="--archs: unknown architecture 'nosuch'")


# ------------------------------------------------------------------------------- the store commands (items 2, 5, 7)

def test_store_commands_use_the_profile_store_and_refuse_a_mistyped_root(capsys, tmp_path, monkeypatch):
    clone = _clone(tmp_path / "clone")
    monkeypatch.chdir(clone)
    monkeypatch.delenv("MEDADV_BOOK_ROOT", raising=False)
    _one_line_error(capsys, "store", "ls", match=f"no store at {clone / '_build' / 'store'}")  # not made yet
    store = Store(clone / "_build" / "store-quick")
    good = store.get_or_compute("unit", {"a": 1}, "1", lambda out: (out / "f").write_text("1"))
    bad = store.get_or_compute("unit", {"a": 2}, "1", lambda out: (out / "f").write_text("2"))
    (bad / "f").write_text("22")
    code, err, out = _cli(capsys, "store", "ls", "--profile", "quick")
    assert code == 0 and good.name in out and bad.name in out and str(store.root) in out
    code, err, out = _cli(capsys, "store", "verify", "--profile", "quick")
    assert code == 1 and f"corrupt  unit     {bad.name}" in out and "f has 2 bytes, 1 were written" in out
    assert "1 intact, 1 corrupt" in out and (bad / "f").read_text() == "22"  # verify changes nothing
    (good / "spec.json").write_text("{garbage")
    code, err, out = _cli(capsys, "store", "ls", "--root", str(store.root))
    assert code == 0 and err == [] and f"{good.name}" in out and "unreadable" in out
    code, err, out = _cli(capsys, "store", "gc", "--profile", "quick")
    assert code == 0 and "removed 0 scratch entries older than 1 h" in out
    (tmp_path / "a-file").write_text("")
    _one_line_error(capsys, "store", "ls", "--root", str(tmp_path / "stor"), match="no store at")
    _one_line_error(capsys, "store", "ls", "--root", str(tmp_path / "a-file" / "store"), match="no store at")
    assert not (tmp_path / "stor").exists()


# ------------------------------------------------------------------------------- which book (item 7)

def test_the_book_is_the_one_the_user_runs_in(tmp_path, monkeypatch):
    first, second = _clone(tmp_path / "first"), _clone(tmp_path / "second")
    monkeypatch.delenv("MEDADV_BUILD", raising=False)
    monkeypatch.delenv("MEDADV_BOOK_ROOT", raising=False)
    monkeypatch.chdir(second / "book")  # anywhere inside the clone
    source = resolve_notebook("page")
    assert book_root() == second and source == second / "book" / "page.md" and build_dir() == second / "_build"
    assert page_config(source, "quick", {}).store == str(second / "_build" / "store-quick")
    assert profile_store("default") == str(second / "_build" / "store")
    monkeypatch.setenv("MEDADV_BOOK_ROOT", str(first))  # --root DIR
    assert resolve_notebook("page") == first / "book" / "page.md" and build_dir() == first / "_build"
    monkeypatch.setenv("MEDADV_BOOK_ROOT", str(tmp_path))
    with pytest.raises(ConfigError, match="--root .*: no _toc.yml there"):
        book_root()
    monkeypatch.delenv("MEDADV_BOOK_ROOT")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="no book here: .* holds _toc.yml; run medadv inside a clone of the book, or "
                                          "pass --root DIR"):
        book_root()


def _dead_pid() -> int:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(done.stdout)


def test_a_page_runs_in_its_own_clone_quietly_cleanly_and_readably(tmp_path):
    """Two clones, one environment: `medadv run` in the second writes the second's build and store, with the
    user's umask, no kernel warning, no scratch left (a killed run's removed too), no stale failure."""
    first, second = _clone(tmp_path / "first"), _clone(tmp_path / "second")
    temp = tmp_path / "temp"
    stale = temp / f"medadv-page-{_dead_pid()}-abc123"  # left by a killed run
    stale.mkdir(parents=True)
    (second / "_build" / "failed").mkdir(parents=True)
    (second / "_build" / "failed" / "page.ipynb").write_text("{}")  # an earlier failure
    env = {k: v for k, v in os.environ.items() if k not in ("MEDADV_BUILD", "MEDADV_BOOK_ROOT")}
    package = str(Path(__file__).resolve().parent.parent)
    env.update(TMPDIR=str(temp), PYTHONPATH=os.pathsep.join(filter(None, [package, env.get("PYTHONPATH")])))
    done = subprocess.run([sys.executable, "-m", "medadv", "run", "page", "--profile", "quick"], cwd=second, env=env,
                          capture_output=True, text=True, timeout=300, preexec_fn=lambda: os.umask(0o022))
    assert done.returncode == 0, done.stderr
    assert "without encryption" not in done.stderr and "WARNING" not in done.stderr, done.stderr
    results = second / "_build" / "results" / "page.csv"
    assert results.read_text().splitlines()[1] == f"{second / '_build' / 'store-quick'},1,{second}"
    assert not (first / "_build").exists()
    executed = second / "_build" / "executed" / "book" / "page.ipynb"
    for path in (results, executed):
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, path
    assert json.loads(executed.read_text())["metadata"]["medadv"]["profile"] == "quick"
    assert stat.S_IMODE((second / "_build" / "store-quick").stat().st_mode) == 0o755
    assert list(temp.glob("medadv-*")) == [] and not (second / "_build" / "failed" / "page.ipynb").exists()


# ------------------------------------------------------------------------------- help texts (item 9)

def test_help_is_plain_text_and_says_what_matters(capsys):
    code, _, out = _cli(capsys, "run", "--help")
    assert code == 0 and "pages: intro, methods" in out and "-p store=PATH|URL" in out and "--root DIR" in out
    code, _, out = _cli(capsys, "store", "--help")
    assert "verify" in out and "gc" in out and "--older-than HOURS" in out and "never touched" in out
    code, _, out = _cli(capsys, "bench", "attacks", "--help")
    assert "``" not in out and ":func:" not in out and "resnet50,tf_efficientnet_lite0)" in out
    assert "PGD steps (default: 10)" in out
    code, _, out = _cli(capsys, "--help")
    assert "``" not in out
