"""One registry of what each page measures (``medadv.paper.PAGES``): the pages ask it for their conditions and
``medadv grid`` plans from it, so a cluster computes ahead of the book every unit a page reads. The check that a
page's store keys are all planned executes every page (``test_book.py``, slow); here the planning side, fast."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from medadv import paper
from medadv.book import plan_profile, toc_pages
from medadv.config import StudyConfig
from medadv.study import Study

#: The book's pages that read data or plan, and measure nothing (no store unit).
MEASURE_NOTHING = {"methods", "course", "reproduce"}


def touched_keys(page: str, store: Path, monkeypatch: pytest.MonkeyPatch, results: Path) -> set[str]:
    """Execute ``page``'s code cells in this process under the quick profile (as papermill would: its parameters
    cell, then the values the page runs with), recording the key of every store unit it reads or computes."""
    import jupytext

    from medadv.book import ENV_RESULTS, declared_parameters, page_config, resolve_notebook
    from medadv.config import STUDY_WIDE_KEYS
    from medadv.store import Store, spec_key

    seen: set[str] = set()
    original = Store.get_or_compute

    def recording(self: Store, kind: str, spec: Any, version: str, *args: Any, **kwargs: Any) -> Path:
        seen.add(spec_key(kind, spec, version))
        return original(self, kind, spec, version, *args, **kwargs)

    monkeypatch.setattr(Store, "get_or_compute", recording)
    source = resolve_notebook(page)
    cfg = page_config(source, "quick", {"store": str(store)})
    names = set(declared_parameters(source)) | set(STUDY_WIDE_KEYS)
    params = {k: v for k, v in cfg.as_dict().items() if k in names}  # what the runner injects, as resolved
    monkeypatch.chdir(source.parent)
    monkeypatch.setenv(ENV_RESULTS, str(results))
    monkeypatch.setenv("MEDADV_NOTEBOOK", page)
    namespace: dict[str, Any] = {}
    for cell in jupytext.read(source).cells:
        if cell.cell_type == "code":
            exec(compile(cell.source, str(source), "exec"), namespace)  # noqa: S102 - the book's own pages
            if "parameters" in cell.metadata.get("tags", []):
                namespace.update(params)
    return seen


def planned_keys(page: str) -> set[str]:
    return {unit.key() for unit in plan_profile("quick", [page])}


def test_every_page_of_the_book_is_in_the_registry_or_measures_nothing():
    pages = {Path(p).name for p in toc_pages()}
    assert set(paper.PAGES) | MEASURE_NOTHING == pages and not set(paper.PAGES) & MEASURE_NOTHING
    assert all(planned_keys(page) == set() for page in MEASURE_NOTHING)


def test_pages_ask_the_registry_for_what_they_show():
    study = Study(StudyConfig(archs=("a1", "a2"), domains=("pathology",), copies=2))
    conditions = {page: set(paper.page_conditions(study, page)) for page in paper.PAGES}
    for page, table in [("t2_perturbation", paper.t2_conditions), ("t3_pretraining", paper.t3_conditions),
                        ("t4_data", paper.t4_conditions), ("t5_data_pretraining", paper.t5_conditions),
                        ("architecture", paper.t3_conditions), ("beyond_copies", paper.copies_conditions),
                        ("beyond_attacks", paper.attack_conditions), ("beyond_public", paper.public_conditions)]:
        assert set(table(study, "pathology")) <= conditions[page], page
    # the verdicts' conditions: every claim's on its page, all of them on the introduction
    for c in paper.CLAIMS:
        assert set(paper.claim_conditions(study, c.id, "pathology")) <= conditions[c.page]
        assert set(paper.claim_conditions(study, c.id, "pathology")) <= conditions["intro"]
    assert set(paper.copies_conditions(study, "pathology")) <= conditions["t3_pretraining"]  # its seed check
    white = {c for c in conditions["architecture"] if c.threat == "white-box"}
    assert {(c.target.arch, c.target.init) for c in white} == {(a, i) for a in ("a1", "a2") for i in study.cfg.inits}
    assert paper.page_models(study, "targets") == paper.trained_configurations(study, "pathology")


def test_the_planner_covers_the_architecture_white_box_and_the_targets_clean_evaluations():
    arch = plan_profile("quick", ["architecture"])
    white = [u for u in arch if u.stage == "evaluate" and u.craft is not None
             and u.craft.surrogate.key() == u.target.key()]
    assert len(white) == 2 * 2 * 2 * 2  # arch × init × attack × perturbation, each target through itself
    targets = plan_profile("quick", ["targets"])
    clean = {u.target.model for u in targets if u.stage == "evaluate"}
    assert {m.data for m in clean} == set(paper.DEVELOPMENT_SETS)  # surrogate-only models (d2, d2/2) too
    assert {u.stage for u in targets} == {"train", "evaluate"} and len(clean) == len(targets) / 2
