"""StudyConfig.stated: the prose states a per-domain setting once where the domains agree, else each domain's."""
from __future__ import annotations

from medadv.config import StudyConfig


def test_one_value_for_agreeing_domains_each_for_differing_ones():
    same = StudyConfig(domains=("radiology", "pathology"), image_size=48)
    assert same.stated("image_size") == "48"
    paper = StudyConfig(domains=("radiology", "pathology"), image_size=48,
                        domain_settings={"radiology": {"image_size": 224}, "pathology": {"image_size": 96}})
    assert paper.stated("image_size") == "radiology 224, pathology 96"
    assert paper.stated("n_dev", lambda n: str(2 * n)) == str(2 * paper.n_dev)
