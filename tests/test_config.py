"""StudyConfig and profiles: every bad parameter is caught with a message naming it and what is allowed."""
from __future__ import annotations

import pytest

from medadv.config import ConfigError, StudyConfig, parse_eps, profile_parameters


def test_eps_scales_and_fractions():
    assert parse_eps("2/255") == pytest.approx(2 / 255)
    assert parse_eps(0.01) == 0.01
    cfg = StudyConfig(eps="4/255", eps_grid=["1/255", 0.02])
    assert cfg.eps == pytest.approx(4 / 255) and cfg.eps_grid == (pytest.approx(1 / 255), 0.02)
    for bad in ("two", 2, True, "1/0"):
        with pytest.raises(ConfigError, match="eps"):
            parse_eps(bad)


def test_lists_become_tuples():
    cfg = StudyConfig.from_mapping({"domains": ["pathology", "radiology"], "archs": "resnet18"})
    assert cfg.domains == ("pathology", "radiology") and cfg.archs == ("resnet18",)


@pytest.mark.parametrize(
    "values, message",
    [
        ({"epsilon": 0.1}, "unknown parameter.*epsilon.*allowed"),
        ({"n_dev": "many"}, "n_dev: expected int"),
        ({"n_dev": 0}, "n_dev must be a positive integer"),
        ({"domains": ["dermatology"]}, "domains: 'dermatology' is not allowed; allowed: ophthalmology"),
        ({"inits": ["scratch"]}, "inits: 'scratch' is not allowed"),
        ({"attacks": ["cw"]}, "attacks: 'cw' is not allowed"),
        ({"dataset": "imagenet"}, "dataset: 'imagenet' is not allowed"),
        ({"progress": "yes"}, "progress: expected bool"),
        ({"image_size": 8}, "too small"),
    ],
)
def test_bad_values_name_the_key(values, message):
    with pytest.raises(ConfigError, match=message):
        StudyConfig.from_mapping(values)


def test_notebook_globals_are_filtered_when_not_strict():
    cfg = StudyConfig.from_mapping({"seed": 3, "In": [], "pd": object()}, strict=False)
    assert cfg.seed == 3


def test_profiles_load_and_validate():
    for name in ("quick", "default", "paper"):
        values = profile_parameters(name)
        assert set(values) <= StudyConfig.keys(), name
        StudyConfig.from_mapping(values)
    with pytest.raises(ConfigError, match="unknown profile 'nope'.*available profiles: default, paper, quick"):
        profile_parameters("nope")
