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
REFERENCE_PAGES = {"intro", "methods", "gain_vs_transfer", "course", "reproduce"}  # their tables are not measurements


def medadv(*args: str, env: dict[str, str], timeout: float = 2400) -> subprocess.CompletedProcess:
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
        if page not in REFERENCE_PAGES:  # pages of measurements keep the tidy result columns
            assert set(REQUIRED) <= set(table.columns), page
            assert (table.ci_low <= table.value + 1e-9).all() and (table.value <= table.ci_high + 1e-9).all(), page


@pytest.mark.slow
def test_t3_numbers_are_consistent(quick_book):
    build, _, _ = quick_book
    t3 = pd.read_csv(build / "results" / "t3_pretraining.csv")
    clean = t3[(t3.metric == "auc") & (t3.attack == "none")]
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
    assert list(verdict.part) == ["same architecture", "different architecture"] and set(verdict.claim) == {"a"}
    assert verdict.interval.str.contains("test patients").all()
    assert verdict.seed.iloc[0] != "not measured" and verdict.seed.iloc[1] == "not measured"  # the copies: same arch


@pytest.mark.slow
def test_every_claim_has_a_verdict_on_its_page_and_in_the_introduction(quick_book):
    build, _, _ = quick_book
    claims = pd.read_csv(build / "results" / "intro-claims.csv").fillna({"note": "", "interval": ""})
    assert list(dict.fromkeys(claims.claim)) == ["a", "b", "c", "d", "e"]
    assert set(claims.verdict) <= {"holds", "fails", "unresolved"} and (claims.interval != "").all()
    unresolved = claims[claims.verdict == "unresolved"]  # a reason, or an interval that does not exclude zero
    assert ((unresolved.note != "") | ~((unresolved.ci_low > 0) | (unresolved.ci_high < 0))).all()
    on_pages = pd.concat([pd.read_csv(build / "results" / f"{page}-verdict.csv") for page in
                          ("t3_pretraining", "gain_vs_transfer", "t4_data", "t5_data_pretraining")])
    key = ["claim", "part", "domain"]
    # the introduction calls the pages' functions: the same verdicts and numbers
    pd.testing.assert_frame_equal(claims[[*key, "difference", "verdict"]].set_index(key).sort_index(),
                                  on_pages[[*key, "difference", "verdict"]].set_index(key).sort_index())
    slope = claims[claims.claim == "b"].iloc[0]
    assert slope.verdict == "unresolved" and "at least 3" in slope.note  # quick: 1 domain x 2 architectures


@pytest.mark.slow
def test_paper_layout_opens_the_table_pages(quick_book):
    build, _, _ = quick_book
    import json

    def first_table(page: str) -> str:
        cells = json.loads((build / "executed" / "book" / f"{page}.ipynb").read_text())["cells"]
        for cell in cells:
            for out in cell.get("outputs", []):
                if "text/html" in out.get("data", {}):
                    return "".join(out["data"]["text/html"])
        return ""

    assert "% of clean" in first_table("t3_pretraining") and "surrogate init" in first_table("t3_pretraining")
    assert "surrogate data" in first_table("t4_data") and "% of clean" in first_table("t5_data_pretraining")
    assert "shuffled control" in first_table("t2_perturbation") and "FGSM" in first_table("t2_perturbation")


@pytest.mark.slow
def test_t2_has_white_box_reference_and_t4_t5_their_data(quick_book):
    build, _, _ = quick_book
    t2 = pd.read_csv(build / "results" / "t2_perturbation.csv")
    assert {"white-box", "black-box"} <= set(t2.threat)
    wb = t2[(t2.threat == "white-box") & (t2.metric == "perc_clean")]
    bb = t2[(t2.threat == "black-box") & (t2.metric == "perc_clean") & (t2.perturbation == "adversarial")]
    assert wb.value.mean() < bb.value.mean()  # attacking the target itself is the strongest attack
    assert sorted(t2.eps.dropna().unique()) == [0.01, 0.02, 0.04]
    working = pd.read_csv(build / "results" / "t2_perturbation-working-eps.csv")
    assert (working["factor pages' eps ([0, 1])"] == 0.02).all()  # the profile's eps, not StudyConfig's default
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
        (["run", "book/t3_pretraining.md", "-w", "0"], "--workers must be at least 1 (got 0)"),
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


@pytest.mark.slow
def test_methods_and_targets_numbers(quick_book):
    build, _, _ = quick_book
    differences = pd.read_csv(build / "results" / "methods.csv").set_index("setting")
    assert differences.loc["eps on [-1, 1] (ours × 2)", "this build"] == "0.04"  # quick eps 0.02, twice on [-1, 1]
    assert differences.loc["eps on [-1, 1] (ours × 2)", "paper"] == "0.02" and differences.differs.sum() >= 5
    assert not differences.loc["initialisations", "differs"]
    sets = pd.read_csv(build / "results" / "methods-sets.csv").set_index("set")
    dev = sets.train + sets.validation
    assert dev["d2/2"] < dev["d2"] and dev["d1/10"] < dev["d1"] / 5 and sets.loc["test", "test"] == 64
    assert abs(dev["d1"] - 240) < 30 and sets.loc["d1/10", "patients"] >= 2  # d1 is n_dev images, whole patients
    assert differences[differences.differs].why.notna().all()
    training = pd.read_csv(build / "results" / "methods-training.csv")
    assert training.why.str.startswith("our choice").all() and "optimiser" in set(training.setting)
    weights = pd.read_csv(build / "results" / "methods-weights.csv")
    assert len(weights) == 2 and weights.weights_source.str.len().gt(0).all()

    clean = pd.read_csv(build / "results" / "targets-clean.csv")
    assert set(clean.data) == {"d1", "d2", "d2/2", "d1/10"} and clean.auc.between(0, 1).all()
    assert (clean.ci_low <= clean.auc).all() and (clean.auc <= clean.ci_high).all()
    assert set(clean[clean.data == "d2/2"].init) == {"random"}  # T4 trains d2/2 surrogates from random init only
    assert (clean[clean.init == "random"].weights_source == "random").all()
    gains = pd.read_csv(build / "results" / "targets-gains.csv")
    assert set(gains.data) == {"d1", "d2", "d1/10"} and len(gains) == 6
    assert np.allclose(gains.gain, gains.auc_imagenet - gains.auc_random)
    by_auc = clean.set_index(["arch", "init", "data"]).auc
    assert np.allclose(gains.auc_imagenet, [by_auc[(a, "imagenet", d)] for a, d in zip(gains.arch, gains.data)])
    tidy = pd.read_csv(build / "results" / "targets.csv")
    assert len(tidy) == len(clean) and (tidy.metric == "auc").all()


@pytest.mark.slow
def test_gain_vs_transfer_and_architecture_numbers(quick_book):
    build, _, _ = quick_book
    points = pd.read_csv(build / "results" / "gain_vs_transfer.csv")
    assert len(points) == 2 and set(points.attack) == {"pgd"}  # 1 domain x 2 architectures
    gains = pd.read_csv(build / "results" / "targets-gains.csv").query("data == 'd1'").set_index("arch").gain
    assert np.allclose(points.set_index("arch").auc_gain, gains.reindex(points.arch))
    assert (points.transfer_gain_low <= points.transfer_gain).all() and (points.transfer_gain <= points.transfer_gain_high).all()
    # the transfer gain is random→random minus imagenet→imagenet perc_clean over T3's surrogates of each target
    t3 = pd.read_csv(build / "results" / "t3_pretraining.csv").query(
        "metric == 'perc_clean' and attack == 'pgd' and perturbation == 'adversarial'")
    for row in points.itertuples():
        part = t3[t3.target_arch == row.arch]
        rr = part[(part.target_init == "random") & (part.surrogate_init == "random")].value.mean()
        ii = part[(part.target_init == "imagenet") & (part.surrogate_init == "imagenet")].value.mean()
        assert np.isclose(row.transfer_gain, rr - ii, atol=1e-6)
    fit = pd.read_csv(build / "results" / "gain_vs_transfer-fit.csv")
    slope = np.diff(points.transfer_gain.values)[0] / np.diff(points.auc_gain.values)[0]  # two points: the line through them
    assert np.allclose(np.diff(fit.fit) / np.diff(fit.x), slope)

    matrix = pd.read_csv(build / "results" / "architecture-matrix.csv")
    black, white = matrix[matrix.threat == "black-box"], matrix[matrix.threat == "white-box"]
    assert len(black) == 4 * 4 * 2 and len(white) == 4 * 2  # (arch x init)^2 per attack; the diagonal per attack
    assert white.perc_clean.mean() < black.perc_clean.mean()  # the target's own gradients attack best
    cells = t3.set_index(["surrogate_arch", "surrogate_init", "target_arch", "target_init"]).value
    pgd = black[black.attack == "pgd"]
    assert np.allclose(pgd.perc_clean, [cells[tuple(k)] for k in
                                        pgd[["surrogate_arch", "surrogate_init", "target_arch", "target_init"]].values])


@pytest.mark.slow
def test_beyond_pages_agree_with_t3(quick_book):
    build, _, _ = quick_book
    key = ["target_arch", "target_init", "target_copy", "surrogate_arch", "surrogate_init", "surrogate_copy"]
    t3 = pd.read_csv(build / "results" / "t3_pretraining.csv").query(
        "metric == 'perc_clean' and attack == 'pgd' and perturbation == 'adversarial'").set_index(key).value
    arch = "tf_efficientnet_lite0"  # the quick profile's first architecture
    pairs = pd.read_csv(build / "results" / "beyond_copies-pairs.csv")
    assert len(pairs) == 2 * 2 and pairs.paper_pair.sum() == 2  # quick: 2 copies, 2 ordered pairs per init
    for row in pairs[pairs.paper_pair].itertuples():  # the paper's pair 2 -> 1 is T3's condition
        assert np.isclose(row.perc_clean, t3[(arch, row.target_init, 1, arch, row.target_init, 2)])
    verdicts = pd.read_csv(build / "results" / "beyond_copies-verdict.csv")
    assert set(verdicts.verdict) <= {"holds", "fails", "unresolved"} and "all pairs (mean)" in set(verdicts.pair)
    attacked = pd.read_csv(build / "results" / "beyond_attacks.csv").query(
        "metric == 'perc_clean' and perturbation == 'adversarial'")
    assert set(attacked.attack) == {"pgd", "mi_fgsm", "di_pgd", "ti_pgd", "mi_di_ti_pgd"}  # params/quick/beyond_attacks
    ensemble = attacked[attacked.surrogate_copy == 0]
    assert len(ensemble) == 2 and set(ensemble.attack) == {"pgd"} and (ensemble.threat == "black-box").all()
    single_pgd = attacked[(attacked.attack == "pgd") & (attacked.surrogate_copy > 0)].set_index(key).value
    assert len(single_pgd) == 4 and np.allclose(single_pgd, t3.reindex(single_pgd.index))  # T3's adversarial sets
    effects = pd.read_csv(build / "results" / "beyond_attacks-effects.csv")
    assert set(effects.verdict) <= {"holds", "fails", "unresolved"}
    assert set(effects[effects.contrast == "gain over PGD"].method) == {"mi_fgsm", "di_pgd", "ti_pgd", "mi_di_ti_pgd",
                                                                        "ensemble pgd"}
    public = pd.read_csv(build / "results" / "beyond_public.csv").query(
        "metric == 'perc_clean' and perturbation == 'adversarial'")
    assert {"universal", "feature_pgd"} <= set(public.attack) and set(public.target_data) == {"d1"}
    assert set(public[public.attack == "universal"].surrogate_data) == {"public:natural"}
    t3_pgd = public[(public.attack == "pgd") & (public.surrogate_data == "d1") & (public.target_copy == 1)
                    & (public.surrogate_copy == 2)].set_index(key).value
    assert len(t3_pgd) == 4 and np.allclose(t3_pgd, t3.reindex(t3_pgd.index))  # the d1-copy row is T3's condition
    verdicts = pd.read_csv(build / "results" / "beyond_public-verdicts.csv")
    assert len(verdicts) == 4 and set(verdicts.verdict) <= {"holds", "fails", "unresolved"}


@pytest.mark.slow
def test_course_and_reproduce_tables(quick_book):
    build, _, _ = quick_book
    course = pd.read_csv(build / "results" / "course.csv")
    assert len(course) == 6 and course.exercise.is_unique
    assert course.set_index("exercise").loc["ex-eps", "eps ([0, 1], default)"] == 0.05
    assert "mi_di_ti_pgd" in course.set_index("exercise").loc["ex-attack", "attacks (default)"]
    sizes = course.set_index("exercise")["train images (this build)"]
    assert sizes["ex-overlap"].startswith("pathology: ") and int(sizes["ex-source"].split(": ")[1]) > 100
    counts = pd.read_csv(build / "results" / "reproduce.csv").set_index("page")
    assert (counts.total == counts.train + counts.craft + counts.evaluate).all()
    book = counts.loc["book (shared units once)"]
    pages = counts.drop(index="book (shared units once)")
    # per domain (the paper profile has 3): 2 archs x 2 inits x (d1 x2, d2, d1/10) + 2 d2/2, + the third copy of the
    # first arch per init (beyond_copies), + per arch a random-init d2 model from its random target's start and an
    # ImageNet-initialised d2/2 model (beyond_public)
    assert book.train == 3 * 24 and book.total < pages.total.sum()
    assert counts.loc["beyond_public", "train"] > 0
    assert counts.loc["beyond_copies", "train"] == 3 * 6 and counts.loc["beyond_attacks", "craft"] > 3 * 16
    assert counts.loc["t3_pretraining", "train"] == 3 * 8 and counts.loc["t3_pretraining", "craft"] == 3 * 16
    profiles = pd.read_csv(build / "results" / "reproduce-profiles.csv")
    assert {"quick", "default", "paper"} <= set(profiles.profile)
    hours = pd.read_csv(build / "results" / "reproduce-gpu-hours.csv").set_index(["domain", "stage"])
    assert {"ophthalmology", "radiology", "pathology"} < set(hours.index.get_level_values("domain"))  # and "all"
    stages = hours.drop(index="total", level="stage")
    assert hours.loc[("all", "total"), "gpu_hours"] == pytest.approx(stages.gpu_hours.sum())
    assert hours.loc[("all", "total"), "units"] == stages.units.sum() >= book.total
    assert hours.loc[("all", "total"), "store_gb"] < 1000  # the paper's three domains in under a terabyte
    for domain in ("ophthalmology", "radiology", "pathology"):
        assert hours.loc[(domain, "train"), "gpu_hours"] > hours.loc[(domain, "evaluate"), "gpu_hours"] > 0
    per_image = pd.read_csv(build / "results" / "reproduce-per-image.csv")
    assert set(per_image.domain) == {"ophthalmology", "radiology", "pathology"} and (per_image.forward_ms > 0).all()


@pytest.mark.slow
def test_pages_in_parallel_overlap_and_give_the_same_tables(quick_book, tmp_path, monkeypatch):
    from medadv.book import resolve_notebook, run_pages

    build, _, _ = quick_book
    monkeypatch.setenv("MEDADV_BUILD", str(tmp_path))
    sources = [resolve_notebook(name) for name in ("course", "reproduce")]
    results = list(run_pages(sources, profile="quick", overrides={"store": str(build / "store")}, jobs=2))
    assert sorted(r.name for r in results) == ["course", "reproduce"] and not any(r.skipped for r in results)
    assert max(r.started for r in results) < min(r.started + r.seconds for r in results)  # they ran at once
    for name in ("course", "reproduce-gpu-hours"):
        pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "results" / f"{name}.csv"),
                                      pd.read_csv(build / "results" / f"{name}.csv"))


def test_linear_trend_recovers_a_line_and_refuses_a_ci_from_two_points():
    from medadv.metrics import linear_trend

    rng = np.random.default_rng(0)
    x = np.linspace(0, 0.3, 6)
    y = 2 + 50 * x + rng.normal(0, 0.5, len(x))
    fit, band = linear_trend(x, y, n_boot=300, seed=1)
    assert abs(fit["slope"] - 50) < 5 and fit["ci_low"] < fit["slope"] < fit["ci_high"]
    assert (band.low <= band.fit + 1e-9).all() and (band.fit <= band.high + 1e-9).all()
    two, _ = linear_trend([0.0, 1.0], [1.0, 3.0])
    assert two["slope"] == pytest.approx(2.0) and np.isnan(two["ci_low"])


@pytest.mark.parametrize("remote, expected", [
    ("git@github.com:someone/medadv.git", "https://github.com/someone/medadv"),
    ("https://github.com/someone/medadv.git", "https://github.com/someone/medadv"),
    ("https://gitlab.com/someone/medadv.git", None),
])
def test_launch_buttons_point_at_the_repository_the_book_is_built_from(tmp_path, monkeypatch, remote, expected):
    import yaml

    from medadv.book import repository_url, stage_book

    monkeypatch.setenv("MEDADV_REPOSITORY_URL", remote)
    monkeypatch.setenv("MEDADV_BUILD", str(tmp_path))
    assert repository_url() == expected
    stage_book()
    staged = yaml.safe_load((tmp_path / "executed" / "_config.yml").read_text())
    original = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert staged["repository"]["url"] == (expected or original["repository"]["url"])
    assert staged["launch_buttons"] == original["launch_buttons"] and staged["execute"] == original["execute"]


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES)
def test_grid_plans_every_unit_a_page_touches(quick_book, page, monkeypatch, tmp_path):
    """``medadv grid`` plans from the registry the pages read: every store key a page touches under the quick
    profile (executed in this process on the book's store, keys recorded) is planned for it."""
    from test_registry import planned_keys, touched_keys

    build, _, _ = quick_book
    touched = touched_keys(page, build / "store", monkeypatch, tmp_path)
    assert touched <= planned_keys(page), f"{page}: {len(touched - planned_keys(page))} keys not planned"
