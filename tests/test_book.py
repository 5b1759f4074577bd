"""The book end to end: the quick profile through the real runner and CLI, the numbers it wrote, the rendered HTML
in headless Chromium, skipping unchanged pages, and every user error as one clear line."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from medadv.book import ROOT, toc_pages

PAGES = [Path(p).name for p in toc_pages()]
REQUIRED = ["domain", "target_arch", "target_init", "target_data", "surrogate_arch", "surrogate_init", "surrogate_data",
            "attack", "eps", "perturbation", "metric", "value", "ci_low", "ci_high", "n_images", "seed"]


def medadv(*args: str, env: dict[str, str], timeout: float = 1200) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "medadv", *args], cwd=ROOT, env={**os.environ, **env},
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="session")
def quick_book(tmp_path_factory):
    build = tmp_path_factory.mktemp("build")
    env = {"MEDADV_BUILD": str(build), "MEDADV_DATA": str(build / "data")}
    start = time.perf_counter()
    done = medadv("book", "--profile", "quick", "-p", f"store={build / 'store'}", env=env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return build, env, time.perf_counter() - start


@pytest.mark.slow
def test_every_page_writes_a_tidy_results_table(quick_book):
    build, _, _ = quick_book
    for page in PAGES:
        table = pd.read_csv(build / "results" / f"{page}.csv")
        assert len(table) > 0, page
        if page != "intro":
            assert set(REQUIRED) <= set(table.columns), page
            assert (table.ci_low <= table.value + 1e-9).all() and (table.value <= table.ci_high + 1e-9).all(), page


@pytest.mark.slow
def test_t3_numbers_are_consistent(quick_book):
    build, _, _ = quick_book
    t3 = pd.read_csv(build / "results" / "t3_pretraining.csv")
    clean = t3[t3.metric == "auc"][t3.attack == "none"]
    assert len(clean) == 4 and clean.value.between(0, 1).all()  # 2 archs x 2 inits, clean AUC
    attacked = t3[t3.attack != "none"]
    assert set(attacked.attack) == {"fgsm", "pgd"} and set(attacked.perturbation) == {"adversarial", "shuffled"}
    # the same-configuration surrogate is the second copy, never the target itself: all black-box
    assert (attacked.threat == "black-box").all()
    same = attacked[(attacked.surrogate_arch == attacked.target_arch) & (attacked.surrogate_init == attacked.target_init)]
    assert len(same) > 0 and (same.surrogate_copy == 2).all() and (same.target_copy == 1).all()
    # perc_clean = AUC_adv / AUC_clean * 100, row by row
    keys = ["target_arch", "target_init", "surrogate_arch", "surrogate_init", "attack", "perturbation"]
    auc_adv = attacked[attacked.metric == "auc"].set_index(keys).value
    pc = attacked[attacked.metric == "perc_clean"].set_index(keys).value
    auc_clean = clean.set_index(["target_arch", "target_init"]).value
    expected = auc_adv / auc_clean.reindex(auc_adv.index.droplevel([2, 3, 4, 5])).values * 100
    assert np.allclose(pc.sort_index(), expected.sort_index(), rtol=1e-6)
    # 2 archs x 2 inits targets, x 4 surrogate configs, x 2 attacks, x 2 perturbations, x 2 metrics
    assert len(attacked) == 4 * 4 * 2 * 2 * 2
    cells = pd.read_csv(build / "results" / "t3_pretraining-cells.csv")
    assert (cells.n_pairs == 2).all() and len(cells) == 2 * 2 * 2 * 2 * 2
    verdict = pd.read_csv(build / "results" / "t3_pretraining-verdict.csv")
    assert set(verdict.verdict) <= {"holds", "fails", "unresolved"}


@pytest.mark.slow
def test_t2_has_white_box_reference_and_t4_t5_their_data(quick_book):
    build, _, _ = quick_book
    t2 = pd.read_csv(build / "results" / "t2_perturbation.csv")
    assert {"white-box", "black-box"} <= set(t2.threat)
    wb = t2[(t2.threat == "white-box") & (t2.metric == "perc_clean")]
    bb = t2[(t2.threat == "black-box") & (t2.metric == "perc_clean") & (t2.perturbation == "adversarial")]
    assert wb.value.mean() < bb.value.mean()  # attacking the target itself is the strongest attack
    assert sorted(t2.eps.dropna().unique()) == [0.01, 0.02, 0.04]
    t4 = pd.read_csv(build / "results" / "t4_data.csv")
    assert set(t4[t4.attack != "none"].surrogate_data) == {"d1", "d2", "d2/2"}
    assert set(t4[t4.attack != "none"].target_init) == {"random"}
    t5 = pd.read_csv(build / "results" / "t5_data_pretraining.csv")
    assert set(t5.target_data) == {"d1/10"} and set(t5[t5.attack != "none"].surrogate_data) == {"d2"}


@pytest.mark.slow
def test_unchanged_rebuild_skips_every_page(quick_book):
    build, env, first = quick_book
    start = time.perf_counter()
    done = medadv("book", "--profile", "quick", "-p", f"store={build / 'store'}", "--no-html", env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stderr.count("unchanged") + done.stdout.count("unchanged") == len(PAGES)
    assert time.perf_counter() - start < first / 3


@pytest.mark.slow
def test_rendered_pages_show_their_figures_in_chromium(quick_book):
    build, _, _ = quick_book
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        if os.environ.get("MEDADV_REQUIRE_CHROMIUM"):
            pytest.fail("chromium is not installed (apt-get install chromium)")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    html = build / "html"
    for page in PAGES:
        path = html / "book" / f"{page}.html"
        dom = subprocess.run(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", f"--user-data-dir={build / 'chromium'}", "--dump-dom",
             path.as_uri()], capture_output=True, text=True, timeout=120,
        ).stdout
        assert "<h1>" in dom or "<h1 " in dom, page
        assert "Traceback" not in dom and "Error" not in re.sub(r"<[^>]+>", " ", dom).split("Provenance")[0], page
        images = re.findall(r'<img[^>]+src="([^"]+)"', dom)
        figures = [src for src in images if "_images" in src or src.startswith("data:image")]
        assert figures, f"{page} shows no figure"
        for src in figures:
            if not src.startswith("data:"):
                assert (path.parent / src).resolve().stat().st_size > 1000, (page, src)
        assert "mystnb" not in dom or "glue" not in dom  # glued values were replaced
    csv_links = re.findall(r'href="([^"]+\.csv)"', (html / "book" / "t3_pretraining.html").read_text())
    assert csv_links and all((html / "book" / link).resolve().is_file() for link in csv_links)


@pytest.mark.parametrize(
    "args, message",
    [
        (["run", "book/t3_pretraining.md", "--profile", "nope"], "unknown profile 'nope'; "),
        (["run", "book/t3_pretraining.md", "-p", "epsilon=0.1"], "has no parameter epsilon"),
        (["run", "book/t3_pretraining.md", "-p", "n_dev=many"], "n_dev: expected int"),
        (["run", "book/t3_pretraining.md", "-p", "domains=[dermatology]"], "'dermatology' is not allowed"),
        (["run", "book/not_a_page.md"], "is not a notebook of the book"),
        (["run", "book/t3_pretraining.md", "-p", "archs=[resnet_9000]"], "unknown architecture 'resnet_9000'"),
        (["book", "--profile", "quick", "--only", "nope"], "is not a notebook of the book"),
    ],
)
def test_user_errors_are_one_clear_line(tmp_path, args, message):
    done = medadv(*args, env={"MEDADV_BUILD": str(tmp_path)}, timeout=120)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and message.replace("; ", "") in lines[0], done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "results").exists() and not (tmp_path / "executed").exists()


def test_failing_page_reports_the_cell_and_leaves_no_results(tmp_path):
    env = {"MEDADV_BUILD": str(tmp_path), "MEDADV_DATA": str(tmp_path / "nodata")}
    done = medadv("run", "book/intro.md", "--profile", "quick", "-p", "dataset=pcam", "-p", "domains=[pathology]",
                  env=env, timeout=300)
    assert done.returncode == 1
    assert re.search(r"intro.md failed in cell \d+ \(DataError", done.stderr), done.stderr
    assert not (tmp_path / "results").exists() or not list((tmp_path / "results").iterdir())
    assert not (tmp_path / "executed" / "book" / "intro.ipynb").exists()
    assert (tmp_path / "failed" / "intro.ipynb").is_file()
