"""Models: ImageNet weights offline (genuine: they classify photos), normalisation inside, heads, bad input."""
from __future__ import annotations

import math

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


def test_he_init_is_kerass_he_normal():
    """random_init="he": every convolution's weights have std sqrt(2 / fan_in) (the kept values of a normal truncated
    at two of its stds, as Keras's he_normal), biases 0, batch norms at 1 and 0; the head stays small."""
    model = create_model("resnet10t", "random", 2, seed=0, random_init="he")
    checked = 0
    for name, module in model.net.named_modules():
        if isinstance(module, torch.nn.Conv2d) and module.weight.numel() >= 10_000:
            w, fan_in = module.weight.detach(), module.weight[0].numel()
            expected = math.sqrt(2 / fan_in)
            assert w.std().item() == pytest.approx(expected, rel=0.05), name
            assert w.abs().max().item() <= 2 * expected / 0.87962566103423978 + 1e-6, name  # truncated at 2 stds
            assert abs(w.mean().item()) < 0.05 * expected, name
            checked += 1
        if isinstance(module, torch.nn.BatchNorm2d):
            assert torch.all(module.weight == 1) and torch.all(module.bias == 0), name
    assert checked >= 5
    head = model.net.get_classifier()
    assert head.weight.std().item() < 0.02 and torch.all(head.bias == 0)
    timm_init = create_model("resnet10t", "random", 2, seed=0)  # timm's own (resnet: Kaiming normal, fan_out)
    assert not torch.equal(timm_init.net.layer1[0].conv1.weight, model.net.layer1[0].conv1.weight)
    inception = create_model("inception_v3", "random", 2, seed=0)  # timm draws every conv from std 0.1 here
    he_inception = create_model("inception_v3", "random", 2, seed=0, random_init="he")
    conv = lambda m: m.net.Mixed_7c.branch3x3dbl_1.conv.weight  # noqa: E731  # 2048 inputs: He's std is 0.031
    assert conv(inception).std().item() == pytest.approx(0.1, rel=0.05)
    assert conv(he_inception).std().item() == pytest.approx(math.sqrt(2 / 2048), rel=0.05)
    pretrained = [create_model("tf_efficientnet_lite0", "imagenet", 2, seed=0, random_init=r) for r in ("he", "timm")]
    assert all(torch.equal(a, b) for a, b in zip(*(m.state_dict().values() for m in pretrained)))  # not affected
    with pytest.raises(ValueError, match="unknown random_init 'xavier'; allowed: he, timm"):
        create_model("resnet10t", "random", random_init="xavier")


def test_random_init_is_in_the_key_of_he_models_only():
    from medadv.data import DataSpec
    from medadv.study import ModelSpec, TrainUnit
    from medadv.train import TrainSettings

    data = DataSpec("synthetic", "pathology", 32, 100, 50, 0.2, 0)
    unit = lambda init, random_init: TrainUnit(ModelSpec("pathology", "resnet10t", init), data, TrainSettings(1),  # noqa: E731
                                               random_init=random_init)
    assert "random_init" not in unit("random", "timm").spec()  # the keys from before the setting: stores stay valid
    assert unit("random", "he").spec()["random_init"] == "he" and unit("random", "he").key() != unit("random", "timm").key()
    assert unit("imagenet", "he").key() == unit("imagenet", "timm").key()


def test_bad_input():
    with pytest.raises(ValueError, match="unknown architecture"):
        create_model("not_a_net", "random")
    with pytest.raises(ValueError, match="allowed: imagenet, random"):
        create_model("resnet10t", "scratch")
