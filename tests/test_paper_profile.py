"""The paper profile end to end: `medadv book --profile paper` builds one book with its three domains, from tiny files
in each real format (an EyePACS folder + CSV with the authors' CSV split lists, ChestX-ray14 with their split YAMLs,
PCam HDF5 cut at random with the paper's validation fraction), with sizes, epochs and architectures overridden to
tiny ones on the CPU, so that every code path of the paper profile runs in CI."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from fixtures_data import write_author_splits, write_eyepacs, write_nih, write_pcam
from medadv.book import ROOT, toc_pages

PAGES = [Path(p).name for p in toc_pages()]
DOMAINS = {"ophthalmology", "radiology", "pathology"}
# per domain: its own (tiny) size, so a page that used one size for every domain would fail on the shapes
TINY = {"ophthalmology": {"image_size": 24}, "radiology": {"image_size": 16}, "pathology": {"image_size": 32}}


def write_data(data: Path) -> dict:
    """The three data sets in $MEDADV_DATA's layout; returns the split_files of fundus and chest X-rays."""
    write_eyepacs(data / "fundus", patients=12, test_patients=6)  # patients 10-21, test 100-105
    eyes = lambda ps: [f"{p}_{e}" for p in ps for e in ("left", "right")]  # noqa: E731
    fundus = write_author_splits(data / "fundus" / "metadata", {  # theirs: d1, d2, d3 = d2/2 (no d1/10)
        "d1": (eyes(range(10, 15)), eyes([15])), "d2": (eyes(range(16, 21)), eyes([21])),
        "d2/2": (eyes(range(16, 18)), eyes([21]))}, None, "fundus", relative_to=data / "fundus")
    write_nih(data / "chestxray", patients=24, per_patient=2, size=24)
    stems = lambda ps: [f"{p:08d}_{k:03d}" for p in ps for k in range(2)]  # noqa: E731
    chest = write_author_splits(data / "chestxray" / "splits", {
        "d1": (stems(range(1, 8)), stems([8])), "d2": (stems(range(9, 16)), stems([16])),
        "d1/10": (stems([1]), stems([8])[:1]), "d2/2": (stems(range(9, 13)), stems([16]))},
        stems(range(17, 25)), "yaml", relative_to=data / "chestxray")
    write_pcam(data / "pcam", counts={"train": 40, "valid": 8, "test": 12})  # 2 patches per slide
    return {"ophthalmology": fundus, "radiology": chest}


@pytest.fixture(scope="module")
def paper_book(tmp_path_factory):
    build = tmp_path_factory.mktemp("paper-build")
    split_files = write_data(build / "data")
    domain_settings = {d: {**TINY[d], **({"split_files": split_files[d]} if d in split_files else {})} for d in TINY}
    overrides = {"domain_settings": domain_settings, "archs": ["tf_efficientnet_lite0", "tf_efficientnet_lite1"],
                 "epochs_imagenet": 1, "epochs_random": 1, "batch_size": 8, "n_boot": 20, "pgd_steps": 2,
                 "eps_grid": [0.01, 0.02], "natural_count": 32, "universal_epochs": 1, "device": "cpu",
                 "progress": False, "store": str(build / "store")}
    flags = [arg for key, value in overrides.items()
             for arg in ("-p", f"{key}={yaml.safe_dump(value, default_flow_style=True).strip()}")]
    env = {**os.environ, "MEDADV_BUILD": str(build), "MEDADV_DATA": str(build / "data")}
    # two pages at a time, one torch thread each: on 2 cores shared with other jobs, 2-thread torch ran 10x slower
    done = subprocess.run([sys.executable, "-m", "medadv", "book", "--profile", "paper", "-j", "2", *flags], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return build


@pytest.mark.slow
def test_one_book_of_three_domains(paper_book):
    build = paper_book
    assert (build / "html" / "index.html").is_file()
    for page in PAGES:
        assert (build / "results" / f"{page}.csv").is_file(), page
    for page in ("t3_pretraining", "t4_data", "t5_data_pretraining", "t2_perturbation"):
        table = pd.read_csv(build / "results" / f"{page}.csv")
        assert set(table.domain) == DOMAINS, page
    executed = json.loads((build / "executed" / "book" / "t3_pretraining.ipynb").read_text())
    assert executed["metadata"]["medadv"]["parameters"]["random_init"] == "he"  # study-wide settings reach every page


@pytest.mark.slow
def test_the_listed_sets_and_the_papers_preprocessing_reach_the_models(paper_book):
    """Each trained model's history records its data's preprocessing, its split files and He initialisation; the
    development sets are the listed ones (fundus d1: 10 + 2 images), d1/10 cut from the listed d1 where the authors'
    fundus lists have none, and pathology's random cut uses the domain's validation fraction."""
    build = paper_book
    histories = [json.loads(p.read_text()) for p in (build / "store" / "train").glob("*/history.json")]
    by = {(h["data"]["dataset"], h["arch"], h["init"], h["n_train"], h["n_val"]) for h in histories}
    assert ("fundus", "tf_efficientnet_lite0", "random", 10, 2) in by  # d1 as listed in t1.csv / v1.csv
    assert ("chestxray", "tf_efficientnet_lite0", "random", 14, 2) in by  # d1 as listed in d1_filenames.yml
    assert ("chestxray", "tf_efficientnet_lite0", "random", 2, 1) in by  # d1/10 as listed in d0_filenames.yml
    fundus = [h for h in histories if h["data"]["dataset"] == "fundus"]
    assert {h["data"]["preprocessing"]["fov_threshold"] for h in fundus} == {10}  # the authors' threshold
    assert all(len(h["data"]["split_files"]) == 6 for h in fundus)  # t1/v1, t2/v2, t3/v3
    chest = [h for h in histories if h["data"]["dataset"] == "chestxray"]
    assert {json.dumps(h["data"]["preprocessing"]) for h in chest} == {'{"resize": 256, "centre_crop": 16}'}
    assert all(h["in_chans"] == 1 and h["num_outputs"] == 15 and h["multilabel"] for h in chest)
    assert {h["random_init"] for h in histories if h["init"] == "random"} == {"he"}
    assert {h["random_init"] for h in histories if h["init"] == "imagenet"} == {None}
    pcam = [h for h in histories if h["data"]["dataset"] == "pcam"]
    assert pcam and all(not h["data"]["split_files"] for h in pcam)
    sizes = pd.read_csv(build / "results" / "methods-sets.csv").set_index(["domain", "set"])
    assert sizes.loc[("ophthalmology", "d1"), "train"] == 10 and sizes.loc[("ophthalmology", "d2/2"), "train"] == 4
    assert sizes.loc[("ophthalmology", "d1/10"), "patients"] == 2  # cut from the listed d1: max(2, 6 // 10)
    assert sizes.loc[("radiology", "test"), "test"] == 16 and sizes.loc[("pathology", "test"), "test"] == 12
