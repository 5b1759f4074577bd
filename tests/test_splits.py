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


# ------------------------------------------------------------------------------- the authors' split files, exactly

def nih_stems(patients) -> list[str]:
    return [f"{p:08d}_{k:03d}" for p in patients for k in range(2)]


@pytest.fixture(scope="module")
def nih(tmp_path_factory):
    """ChestX-ray14 (20 patients, 2 images each) with the authors' four split YAMLs: d1 patients 1-8 (val 8), d2 9-16
    (val 16), d1/10 inside d1 (patient 1; one of d1's validation images), d2/2 half of d2's training patients and all
    of d2's validation list; one shared test list (patients 17-20, two of them in the official train_val_list)."""
    from fixtures_data import write_author_splits, write_nih

    root = tmp_path_factory.mktemp("chestxray")
    write_nih(root, patients=20, per_patient=2, size=24)
    sets = {"d1": (nih_stems(range(1, 8)), nih_stems([8])), "d2": (nih_stems(range(9, 16)), nih_stems([16])),
            "d1/10": (nih_stems([1]), nih_stems([8])[:1]), "d2/2": (nih_stems(range(9, 13)), nih_stems([16]))}
    split_files = write_author_splits(root / "splits", sets, nih_stems(range(17, 21)), "yaml", relative_to=root)
    return root, sets, split_files


def listed_spec(dataset, domain, root, split_files, **changes):
    from medadv.config import StudyConfig
    from medadv.study import Study

    cfg = StudyConfig(dataset=dataset, domains=(domain,), data_root=str(root), split_files=split_files, image_size=16,
                      n_test=1000, store=str(root / "store"), **changes)
    return Study(cfg).data_spec(domain)


def names(images) -> list[str]:
    return sorted(images.names.tolist())


def test_radiology_split_files_are_used_exactly(nih):
    root, sets, split_files = nih
    assert split_files["d1/10"] == "splits/d0_filenames.yml" and split_files["d2/2"] == "splits/d3_filenames.yml"
    spec = listed_spec("chestxray", "radiology", root, split_files)
    got = {name: development_set(spec, name, str(root)) for name in sets}
    for name, (train, val) in sets.items():  # every set is its lists, file names and all, nothing re-cut
        assert names(got[name][0]) == sorted(f"{s}.png" for s in train), name
        assert names(got[name][1]) == sorted(f"{s}.png" for s in val), name
    dev = {name: patients(tr) | patients(va) for name, (tr, va) in got.items()}
    assert not dev["d1"] & dev["d2"]  # d1 and d2 share no patient
    assert set(names(got["d1/10"][0])) < set(names(got["d1"][0]))  # d1/10 inside d1 ...
    assert set(names(got["d1/10"][1])) < set(names(got["d1"][1]))  # ... its validation list too
    assert names(got["d2/2"][1]) == names(got["d2"][1])  # d2/2 keeps d2's whole validation list
    assert set(names(got["d2/2"][0])) < set(names(got["d2"][0])) and len(patients(got["d2/2"][0])) == 4
    test = held_out_test_set(spec, str(root))
    assert names(test) == sorted(f"{s}.png" for s in nih_stems(range(17, 21)))  # the shared testIDs, exactly
    assert not set().union(*dev.values()) & patients(test)


def test_split_files_are_part_of_the_data_identity(nih, tmp_path):
    import shutil

    from fixtures_data import write_split_file
    from medadv.study import ModelSpec, TrainUnit
    from medadv.train import TrainSettings

    root, sets, split_files = nih
    spec = listed_spec("chestxray", "radiology", root, split_files)
    moved = tmp_path / "d1.yml"
    shutil.copyfile(root / split_files["d1"], moved)
    same_content = listed_spec("chestxray", "radiology", root, {**split_files, "d1": str(moved)})
    assert same_content.identity() == spec.identity()  # the content counts, not where the file lies
    write_split_file(moved, nih_stems(range(1, 7)), nih_stems([7, 8]), nih_stems(range(17, 21)))
    edited = listed_spec("chestxray", "radiology", root, {**split_files, "d1": str(moved)})
    assert edited.identity() != spec.identity()
    assert names(development_set(edited, "d1", str(root))[1]) == sorted(f"{s}.png" for s in nih_stems([7, 8]))
    random_cut = listed_spec("chestxray", "radiology", root, {})
    assert "splits" not in random_cut.identity() and "splits" in spec.identity()
    assert not any(str(root) in str(v) for v in spec.identity()["splits"])  # paths are not part of the key
    key = lambda data: TrainUnit(ModelSpec("radiology", "resnet10t", "random"), data, TrainSettings(1)).key()  # noqa: E731
    assert key(spec) == key(same_content) != key(edited)  # and so are the models trained on it


def test_split_file_errors_name_the_file_and_the_fix(nih, tmp_path):
    from fixtures_data import write_split_file
    from medadv.config import ConfigError

    root, sets, split_files = nih
    bad = write_split_file(tmp_path / "bad.yml", nih_stems([1]) + ["99999999_000", "99999999_001"], nih_stems([8]),
                           nih_stems(range(17, 21)))
    spec = listed_spec("chestxray", "radiology", root, {**split_files, "d1": str(bad)})
    with pytest.raises(DataError, match=r"2 of the 4 images listed in .*bad.yml are not in the data set "
                                        r"\(e.g. \['99999999_000', '99999999_001'\]\)"):
        held_out_test_set(spec, str(root))
    other_test = write_split_file(tmp_path / "other.yml", nih_stems([1]), nih_stems([8]), nih_stems([17]))
    with pytest.raises(DataError, match=r"the test lists of .*other\.yml and .*d0_filenames\.yml differ"):
        held_out_test_set(listed_spec("chestxray", "radiology", root, {**split_files, "d1": str(other_test)}),
                          str(root))
    with pytest.raises(ConfigError, match="split_files must list d1 and d2 .* it lists d1, d1/10"):
        listed_spec("chestxray", "radiology", root, {k: split_files[k] for k in ("d1", "d1/10")})
    with pytest.raises(DataError, match="split file .*nope.yml does not exist"):
        listed_spec("chestxray", "radiology", root, {**split_files, "d1": "nope.yml"})
    with pytest.raises(ConfigError, match=r"split_files.d1: expected a YAML file"):
        listed_spec("chestxray", "radiology", root, {**split_files, "d1": "d1.txt"})
    with pytest.raises(ConfigError, match="the synthetic data set has no names"):
        listed_spec("synthetic", "radiology", root, split_files)


def test_a_set_not_listed_is_cut_from_the_listed_parent(nih):
    """The authors' fundus lists have no d1/10: it is then a tenth of the listed d1's patients, split at random."""
    root, sets, split_files = nih
    spec = listed_spec("chestxray", "radiology", root, {k: split_files[k] for k in ("d1", "d2", "d2/2")},
                       val_fraction=0.5)
    d1 = set().union(*map(patients, development_set(spec, "d1", str(root))))
    train, val = development_set(spec, "d1/10", str(root))
    assert patients(train) | patients(val) < d1 and len(patients(train) | patients(val)) == 2  # max(2, 8 // 10)
    assert not patients(train) & patients(val) and names(development_set(spec, "d1/10", str(root))[0]) == names(train)


def test_overlap_set_mixes_the_listed_d1_and_d2(nih):
    root, sets, split_files = nih
    spec = listed_spec("chestxray", "radiology", root, split_files)
    d1 = set().union(*map(patients, development_set(spec, "d1", str(root))))
    d2 = set().union(*map(patients, development_set(spec, "d2", str(root))))
    mixed = set().union(*map(patients, development_set(spec, "overlap:0.5", str(root))))
    assert len(mixed) == len(d1) and len(mixed & d1) == round(0.5 * len(d1)) and mixed - d1 <= d2


def test_fundus_csv_lists_and_test_list(tmp_path):
    """EyePACS with the authors' CSV layout: t<n>/v<n> per set (names with extension, a header and an index column);
    the test set is the data set's own labelled test set, or a listed one."""
    from fixtures_data import write_author_splits, write_eyepacs

    root = tmp_path / "fundus"
    write_eyepacs(root, patients=12, test_patients=3)
    eyes = lambda ps: [f"{p}_{e}" for p in ps for e in ("left", "right")]  # noqa: E731
    sets = {"d1": (eyes(range(10, 15)), eyes([15])), "d2": (eyes(range(16, 21)), eyes([21])),
            "d2/2": (eyes(range(16, 18)), eyes([21]))}
    split_files = write_author_splits(root / "metadata", sets, None, "fundus", relative_to=root)
    assert split_files["d2/2"] == {"train": "metadata/t3.csv", "val": "metadata/v3.csv"}
    spec = listed_spec("fundus", "ophthalmology", root, split_files)
    for name, (train, val) in sets.items():
        got_train, got_val = development_set(spec, name, str(root))
        assert names(got_train) == sorted(train) and names(got_val) == sorted(val), name
    assert names(held_out_test_set(spec, str(root))) == sorted(eyes(range(100, 103)))  # Kaggle's labelled test set
    listed_test = write_author_splits(root / "metadata", {}, eyes([11, 100]), "fundus", relative_to=root)
    with pytest.raises(DataError, match="patients are in both the development pool and the test set"):
        held_out_test_set(listed_spec("fundus", "ophthalmology", root, {**split_files, **listed_test}), str(root))
    listed_test = write_author_splits(root / "metadata", {}, eyes([100, 101]), "fundus", relative_to=root)
    spec = listed_spec("fundus", "ophthalmology", root, {**split_files, **listed_test})
    assert names(held_out_test_set(spec, str(root))) == sorted(eyes([100, 101]))


def test_pcam_csv_lists_name_patches_by_split_and_row(tmp_path):
    from fixtures_data import write_author_splits, write_pcam

    root = tmp_path / "pcam"
    written = write_pcam(root, counts={"train": 8, "valid": 4, "test": 6})
    rows = lambda split, ks: [f"{split}_{k:06d}" for k in ks]  # noqa: E731
    sets = {"d1": (rows("train", range(4)), rows("valid", [0, 1])), "d2": (rows("train", range(4, 8)), rows("valid", [2, 3])),
            "d1/10": (rows("train", [0, 1]), rows("valid", [0, 1])), "d2/2": (rows("train", [4, 5]), rows("valid", [2, 3]))}
    split_files = write_author_splits(root / "metadata", sets, None, "pcam", relative_to=root)
    assert split_files["d1/10"] == {"train": "metadata/t110.csv", "val": "metadata/v110.csv"}
    spec = listed_spec("pcam", "pathology", root, split_files)
    got = {name: development_set(spec, name, str(root)) for name in sets}
    for name, (train, val) in sets.items():
        assert names(got[name][0]) == sorted(train) and names(got[name][1]) == sorted(val), name
    d1_train = got["d1"][0]
    assert np.array_equal(np.asarray(d1_train.images), written["train"][0][:4])  # the listed rows' pixels
    assert not (patients(got["d1"][0]) | patients(got["d1"][1])) & (patients(got["d2"][0]) | patients(got["d2"][1]))
    assert len(held_out_test_set(spec, str(root))) == 6
