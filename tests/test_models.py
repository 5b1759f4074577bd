"""Models: ImageNet weights offline (genuine: they classify photos), normalisation inside, heads, bad input."""
from __future__ import annotations

import numpy as np
import pytest
import skimage.data
import torch
import torch.nn.functional as F

from medadv.models import create_model, imagenet_classifier
from medadv.weights import PACKAGED_WEIGHTS, WeightsError, imagenet_weights, map_in_order


def _photo(name: str) -> torch.Tensor:
    image = torch.from_numpy(getattr(skimage.data, name)()).permute(2, 0, 1)[None].float() / 255
    return F.interpolate(image, size=(224, 224), mode="bilinear", antialias=True)


@pytest.mark.parametrize("arch", sorted(PACKAGED_WEIGHTS))
def test_packaged_imagenet_weights_classify_photos(arch):
    model = imagenet_classifier(arch).eval()
    assert model.info.weights_source.startswith("package:")
    with torch.no_grad():
        cat = model(_photo("chelsea")).argmax(1).item()
        coffee = model(_photo("coffee")).argmax(1).item()
    assert 281 <= cat <= 285  # the cat classes; lite0 says 285, Egyptian cat
    assert coffee == 967  # espresso


def test_map_in_order_checks_shapes():
    model = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Linear(3, 1))
    good = {"a.w": torch.zeros(3, 2), "a.b": torch.zeros(3), "b.w": torch.zeros(1, 3), "b.b": torch.zeros(1)}
    assert list(map_in_order(good, model)) == ["0.weight", "0.bias", "1.weight", "1.bias"]
    with pytest.raises(WeightsError, match="shape mismatch"):
        map_in_order({**good, "b.w": torch.zeros(2, 3)}, model)
    with pytest.raises(WeightsError, match="not the same network"):
        map_in_order({"a.w": torch.zeros(3, 2)}, model)


def test_missing_weights_error_names_the_fix(monkeypatch):
    import timm

    def offline(*args, **kwargs):
        if kwargs.get("pretrained"):
            raise RuntimeError("no network")
        return original(*args, **kwargs)

    original = timm.create_model
    monkeypatch.setattr(timm, "create_model", offline)
    with pytest.raises(WeightsError, match="weights_file"):
        imagenet_weights("resnet18")


def test_weights_file_round_trip(tmp_path):
    from safetensors.torch import save_file

    state = imagenet_weights("tf_efficientnet_lite0").state_dict
    path = tmp_path / "lite0.safetensors"
    save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    loaded = imagenet_weights("tf_efficientnet_lite0", weights_file=path)
    assert loaded.source.startswith("file:")
    assert torch.equal(loaded.state_dict["conv_stem.weight"], state["conv_stem.weight"])


def test_create_model_inputs_in_unit_range_and_heads():
    torch.manual_seed(0)
    x = torch.rand(2, 3, 32, 32)
    model = create_model("tf_efficientnet_lite0", "imagenet", 2).eval()
    head = model.net.get_classifier()
    assert head.weight.std().item() < 0.02 and torch.all(head.bias == 0)  # small new head
    expected = model.net((x - 0.5) / 0.5)  # lite's ImageNet normalisation is mean = std = 0.5
    assert torch.allclose(model(x), expected)
    grey = create_model("tf_efficientnet_lite0", "imagenet", 15, in_chans=1, multilabel=True)
    assert grey(torch.rand(2, 1, 32, 32)).shape == (2, 15) and grey.info.multilabel
    rgb_stem = imagenet_weights("tf_efficientnet_lite0").state_dict["conv_stem.weight"]
    assert torch.allclose(grey.net.conv_stem.weight[:, 0], rgb_stem.sum(1), atol=1e-5)  # timm's adapt_input_conv


def test_random_init_is_seeded_and_differs_from_imagenet():
    a = create_model("resnet10t", "random", 2, seed=1)
    b = create_model("resnet10t", "random", 2, seed=1)
    c = create_model("resnet10t", "random", 2, seed=2)
    assert torch.equal(a.net.conv1[0].weight, b.net.conv1[0].weight)
    assert not torch.equal(a.net.conv1[0].weight, c.net.conv1[0].weight)
    assert a.info.weights_source == "random"


def test_bad_input():
    with pytest.raises(ValueError, match="unknown architecture"):
        create_model("not_a_net", "random")
    with pytest.raises(ValueError, match="allowed: imagenet, random"):
        create_model("resnet10t", "scratch")
