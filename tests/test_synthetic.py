"""The generated default data set: shapes, determinism, patients, labels, sources, cache, learnability."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from medadv.data import synthetic
from medadv.data.synthetic import DOMAINS, SOURCES, cached, generate

CHANNELS = {"ophthalmology": 3, "radiology": 1, "pathology": 3}


@pytest.mark.parametrize("domain", DOMAINS)
def test_shapes_dtypes_and_labels(domain: str) -> None:
    data = generate(domain, 40, 24, seed=0)
    assert data.images.shape == (40, 24, 24, CHANNELS[domain]) and data.images.dtype == np.uint8
    assert data.patients.shape == (40,) and data.patients.dtype.kind == "U"
    assert data.images.std() > 10  # not blank
    if domain == "radiology":
        assert data.multilabel and data.labels.dtype == np.float32 and data.labels.shape == (40, 5)
        assert data.label_names[0] == "No Finding" and len(data.label_names) == 5
    else:
        assert not data.multilabel and data.labels.dtype == np.int64 and set(data.labels) <= {0, 1}
        assert len(data.label_names) == 2
    assert data.meta["domain"] == domain and data.meta["source"] == "a"


def test_odd_sizes_work() -> None:
    for size in (16, 33):
        assert generate("ophthalmology", 3, size, seed=1).images.shape == (3, size, size, 3)


@pytest.mark.parametrize("domain", DOMAINS)
def test_deterministic_by_seed(domain: str) -> None:
    a, b = generate(domain, 20, 32, seed=3), generate(domain, 20, 32, seed=3)
    assert a.images.tobytes() == b.images.tobytes()
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_array_equal(a.patients, b.patients)
    c = generate(domain, 20, 32, seed=4)
    assert a.images.tobytes() != c.images.tobytes()
    assert not set(a.patients) & set(c.patients)


def test_images_do_not_depend_on_n_and_labels_not_on_size() -> None:
    small, large = generate("pathology", 10, 32, seed=5), generate("pathology", 150, 32, seed=5)
    assert small.images.tobytes() == large.images[:10].tobytes()
    np.testing.assert_array_equal(small.patients, large.patients[:10])
    other = generate("pathology", 150, 20, seed=5)
    np.testing.assert_array_equal(other.labels, large.labels)


def test_patients_have_several_images_and_correlated_labels() -> None:
    data = generate("ophthalmology", 600, 16, seed=0)
    ids, counts = np.unique(data.patients, return_counts=True)
    assert counts[:-1].min() >= 2 and counts.max() <= 4  # the last patient may be cut short by n
    assert 2.6 < counts.mean() < 3.4
    assert all(p.startswith("opht-a-0-") for p in ids)
    # images of one patient agree on the label far more often than random pairs
    same = [len(set(data.labels[data.patients == p])) == 1 for p in ids[:-1]]
    assert np.mean(same) > 0.65


@pytest.mark.parametrize("domain", DOMAINS)
def test_prevalence_in_sane_range(domain: str) -> None:
    data = generate(domain, 600, 16, seed=1)
    prevalence = data.labels.mean(0)
    if domain == "radiology":
        assert np.all((prevalence[1:] > 0.04) & (prevalence[1:] < 0.4)), prevalence
        assert 0.2 < prevalence[0] < 0.7
    else:
        assert 0.25 < prevalence < 0.6


def test_no_finding_is_one_exactly_when_no_finding() -> None:
    labels = generate("radiology", 400, 16, seed=2).labels
    assert set(np.unique(labels)) <= {0.0, 1.0}
    np.testing.assert_array_equal(labels[:, 0], (labels[:, 1:].sum(1) == 0).astype(np.float32))
    findings = labels[:, 1:]
    assert (findings.sum(1) >= 2).sum() > 10  # findings co-occur


@pytest.mark.parametrize("domain", DOMAINS)
def test_sources_differ(domain: str) -> None:
    stats = {}
    for source in SOURCES:
        data = generate(domain, 48, 32, seed=0, source=source)
        assert data.patients[0].startswith(f"{domain[:4]}-{source}-0-")
        x = data.images.astype(np.float64)
        stats[source] = np.concatenate([x.mean((0, 1, 2)), x.std((0, 1, 2))])
    for s, t in (("a", "b"), ("a", "c"), ("b", "c")):
        assert np.abs(stats[s] - stats[t]).max() > 3.0, (s, t, stats[s], stats[t])


def test_bad_arguments_name_the_allowed_values() -> None:
    with pytest.raises(ValueError, match="ophthalmology, radiology, pathology"):
        generate("dermatology", 4, 32, seed=0)
    with pytest.raises(ValueError, match="a, b, c"):
        generate("pathology", 4, 32, seed=0, source="z")
    with pytest.raises(ValueError, match="n must"):
        generate("pathology", 0, 32, seed=0)
    with pytest.raises(ValueError, match="size must"):
        generate("pathology", 4, 8, seed=0)
    with pytest.raises(ValueError, match="seed must"):
        cached("pathology", 4, 32, seed=-1)


def test_cache_round_trip_and_corrupt_file_is_regenerated(tmp_path) -> None:
    first = cached("radiology", 12, 20, seed=7, cache_dir=tmp_path)
    files = list(tmp_path.glob("*.npz"))
    assert len(files) == 1 and not list(tmp_path.glob("*.tmp"))
    again = cached("radiology", 12, 20, seed=7, cache_dir=tmp_path)
    assert again.images.tobytes() == first.images.tobytes()
    np.testing.assert_array_equal(again.labels, first.labels)
    np.testing.assert_array_equal(again.patients, first.patients)
    assert again.label_names == first.label_names and again.meta == first.meta

    for damage in (b"not a zip file", None):
        if damage is None:  # a flipped byte inside the stored images: the checksum catches it
            np.savez(files[0], **{**_arrays(files[0]), "images": first.images ^ 1})
        else:
            files[0].write_bytes(damage)
        with pytest.warns(UserWarning, match="regenerating"):
            fixed = cached("radiology", 12, 20, seed=7, cache_dir=tmp_path)
        assert fixed.images.tobytes() == first.images.tobytes()
        assert cached("radiology", 12, 20, seed=7, cache_dir=tmp_path).images.tobytes() == first.images.tobytes()


def _arrays(path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


def test_cache_dir_from_environment(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("MEDADV_DATA", str(tmp_path))
    cached("pathology", 3, 16, seed=0)
    assert len(list((tmp_path / "synthetic").glob("pathology-a-n3-*.npz"))) == 1


def _features(images: np.ndarray) -> np.ndarray:
    """Colour histograms and edge statistics: a cheap, fixed description that a linear model can use."""
    x = images.astype(np.float32) / 255
    hist = [np.histogram(x[i, ..., c], bins=12, range=(0, 1))[0] for i in range(len(x)) for c in range(x.shape[-1])]
    gy, gx = np.gradient(x, axis=(1, 2))
    grad = np.sqrt(gx**2 + gy**2)
    return np.concatenate([np.reshape(hist, (len(x), -1)), x.mean((1, 2)), grad.mean((1, 2)), grad.std((1, 2))], 1)


@pytest.mark.parametrize("domain", ["ophthalmology", "pathology"])
def test_learnable_but_not_trivial(domain: str) -> None:
    train, test = generate(domain, 400, 32, seed=1), generate(domain, 300, 32, seed=2)
    model = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=2000))
    model.fit(_features(train.images), train.labels)
    auc = roc_auc_score(test.labels, model.predict_proba(_features(test.images))[:, 1])
    assert 0.65 < auc < 0.99, auc


def test_difficulty_knob() -> None:
    """A larger sep separates the classes more (on the generator's own latent cues, so this is cheap)."""
    easy = generate("pathology", 300, 16, seed=0, sep=2.0)
    hard = generate("pathology", 300, 16, seed=0, sep=0.0)
    dark = lambda d: 255 - d.images.astype(np.float64).mean((1, 2, 3))  # noqa: E731
    assert roc_auc_score(easy.labels, dark(easy)) > roc_auc_score(hard.labels, dark(hard)) + 0.1
    assert synthetic.DEFAULT_SEP["pathology"] > 0
