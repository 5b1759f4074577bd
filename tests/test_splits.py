"""The paper's development sets: patient-level, disjoint where the paper's are, the right sizes, deterministic."""
from __future__ import annotations

import numpy as np
import pytest

from medadv.data import DataError, DataSpec, development_set
from medadv.data import test_set as held_out_test_set


@pytest.fixture(scope="module")
def spec():
    return DataSpec("synthetic", "pathology", 32, n_dev=400, n_test=100, val_fraction=0.2, seed=0)


def patients(images):
    return set(images.patients.tolist())


def test_sets_are_patient_level_and_disjoint(spec):
    d1_train, d1_val = development_set(spec, "d1")
    d2_train, d2_val = development_set(spec, "d2")
    test = held_out_test_set(spec)
    d1, d2 = patients(d1_train) | patients(d1_val), patients(d2_train) | patients(d2_val)
    assert not patients(d1_train) & patients(d1_val)
    assert not d1 & d2
    assert not (d1 | d2) & patients(test)
    assert abs(len(d1_train) + len(d1_val) - 400) < 40 and abs(len(d2_train) + len(d2_val) - 400) < 40
    assert 0.1 < len(d1_val) / (len(d1_train) + len(d1_val)) < 0.3


def test_subsets_are_inside_their_parent(spec):
    d1 = set().union(*map(patients, development_set(spec, "d1")))
    d2 = set().union(*map(patients, development_set(spec, "d2")))
    half = set().union(*map(patients, development_set(spec, "d2/2")))
    tenth = set().union(*map(patients, development_set(spec, "d1/10")))
    assert half < d2 and abs(len(half) - len(d2) / 2) <= 1
    assert tenth < d1 and abs(len(tenth) - len(d1) / 10) <= 1


def test_overlap_sets(spec):
    d1 = set().union(*map(patients, development_set(spec, "d1")))
    for fraction in (0.0, 0.5, 1.0):
        s = set().union(*map(patients, development_set(spec, f"overlap:{fraction}")))
        assert len(s) == len(d1)
        assert len(s & d1) == round(fraction * len(d1))
    with pytest.raises(DataError, match="overlap must be a fraction"):
        development_set(spec, "overlap:2")


def test_other_source(spec):
    train, val = development_set(spec, "source:b")
    assert not (patients(train) | patients(val)) & set().union(*map(patients, development_set(spec, "d1")))
    assert abs(train.images.mean() - development_set(spec, "d1")[0].images.mean()) > 0.5  # another stain / scanner
    with pytest.raises(DataError, match="unknown source"):
        development_set(spec, "source:zzz")


def test_deterministic_and_bad_names(spec):
    a, _ = development_set(spec, "d2/2")
    b, _ = development_set(spec, "d2/2")
    assert np.array_equal(a.patients, b.patients) and np.array_equal(a.images, b.images)
    with pytest.raises(DataError, match="unknown development set 'd3'.*allowed: d1, d2, d2/2, d1/10"):
        development_set(spec, "d3")
