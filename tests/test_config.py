"""StudyConfig and profiles: every bad parameter is caught with a message naming it and what is allowed."""
from __future__ import annotations

import pytest

from medadv.config import ConfigError, StudyConfig, check_device_available, parse_eps, profile_parameters


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
        # #20 item 4: these stored untrained models or trained and attacked with nonsense, and printed a verdict
        ({"epochs_imagenet": 0}, "epochs_imagenet must be a positive integer .*trained at least one epoch.*got 0"),
        ({"epochs_random": -1}, "epochs_random must be a positive integer"),
        ({"pgd_alpha": -0.01}, "pgd_alpha must be a positive number, got -0.01"),
        ({"lr_imagenet": 0}, "lr_imagenet must be a positive number"),
        ({"lr_random": -1e-3}, "lr_random must be a positive number"),
        ({"weight_decay": -1e-4}, "weight_decay must be 0 or more"),
        ({"patience": 0}, "patience must be a positive integer"),
        ({"patience": -2}, "patience must be a positive integer"),
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


def test_a_device_this_machine_lacks_is_refused(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError, match="device 'cuda': no CUDA GPU is visible here.*device=auto or device=cpu"):
        check_device_available("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(ConfigError, match="has 1 GPU"):
        check_device_available("cuda:3")
    check_device_available("cuda:0")
    check_device_available("cpu")
