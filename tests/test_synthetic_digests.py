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
    "ophthalmology-130-32-0-a": "8528f5bb08d9f49c2136a9ac37df4bc7047adddcb892d78b95f0661e27eca278",
    "ophthalmology-20-48-3-b": "6d661f20fff9fcab5e362b31cc44884203662a49986cbac6918d4576c04bbd15",
    "ophthalmology-7-17-11-c": "3326423fa1468bc9e2ba57ecaf5a04b8b724058349757835358ff5bbe9df9849",
    "radiology-130-32-0-a": "7cd4b818a0a33c6c2d863e94b7a9c7b369b94162b0713c1a516ee3086ce28688",
    "radiology-20-48-3-b": "dfb4626ecb3c2fbaec99c9f79f68e6ad8c40a078fd78d69536a42f92fc340bbc",
    "radiology-7-17-11-c": "41ece02d63ad6bb252a37595020e63548b5ed516b395c67d3ba41d42edfaab0d",
    "pathology-130-32-0-a": "f80271fb24469bec139cb1f6658f16afe7406afd0fe86f3720bcd04498096783",
    "pathology-20-48-3-b": "8544fba8305bcb01e4834c3973015a87d8e3798d0fc66a02754fe313d5f7ec22",
    "pathology-7-17-11-c": "2db21b27eb0cff158104d7d631deb2d1b0ab7662f51c3736d999fff2e88bc7eb",
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
