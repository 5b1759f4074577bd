"""The generated images are pinned: a change to the generator (or a refactoring of it) that moves one pixel, label
or patient fails here. Stores hold models trained on these images; bump ``synthetic.VERSION`` and these digests
together when the images are meant to change."""
from __future__ import annotations

import hashlib

import pytest

from medadv.data import DataSpec, domain_data, source_pool
from medadv.data.synthetic import generate

# sha256 of images, labels and patients of generate(domain, n, size, seed=seed, source=source)
DIGESTS = {
    "ophthalmology-130-32-0-a": "0c1af0582997cc8150998f669769341fc7b6e0023d81a02abe613d98ea453f56",
    "ophthalmology-20-48-3-b": "15d47a00a8b7ebdf6b2f6d8a854c7af192e3e88025c73bbb642d16db958b6622",
    "ophthalmology-7-17-11-c": "81a17e5f789c98fcc8052c02119a864d127d6e61bebf5953ff828d9cab7e0e49",
    "radiology-130-32-0-a": "7cd4b818a0a33c6c2d863e94b7a9c7b369b94162b0713c1a516ee3086ce28688",
    "radiology-20-48-3-b": "dfb4626ecb3c2fbaec99c9f79f68e6ad8c40a078fd78d69536a42f92fc340bbc",
    "radiology-7-17-11-c": "41ece02d63ad6bb252a37595020e63548b5ed516b395c67d3ba41d42edfaab0d",
    "pathology-130-32-0-a": "7d1406527c3f081651953bc62173887befa44771a513dbc81b33161d8b58e032",
    "pathology-20-48-3-b": "596526378c0982d5fc911615ce247a9941eac0912b08dfe37a4a209cda84d6cd",
    "pathology-7-17-11-c": "2de589cece39bec3730a75fee5688ea0f20b9171a299a4773f97a82a747ad1fd",
}


def digest(data) -> str:
    return hashlib.sha256(data.images.tobytes() + data.labels.tobytes() + "|".join(data.patients).encode()).hexdigest()


@pytest.mark.parametrize("case", sorted(DIGESTS))
def test_generated_images_are_unchanged(case: str) -> None:
    domain, n, size, seed, source = case.split("-")
    assert digest(generate(domain, int(n), int(size), seed=int(seed), source=source)) == DIGESTS[case]


def test_the_study_sees_the_pool_test_set_and_sources_it_always_saw(tmp_path) -> None:
    spec = DataSpec("synthetic", "pathology", 17, n_dev=4, n_test=3, val_fraction=0.25, seed=11)
    data = domain_data(spec, str(tmp_path))
    assert digest(data.pool) == digest(generate("pathology", 8, 17, seed=11))
    assert digest(data.test) == digest(generate("pathology", 3, 17, seed=11 + 7919))
    assert digest(source_pool(spec, "c", str(tmp_path))) == digest(
        generate("pathology", 4, 17, seed=11 + 104729, source="c"))
