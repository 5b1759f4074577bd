"""The public-parts attacker: natural images, the feature-disruption loss, feature PGD and the universal perturbation."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from medadv import natural
from medadv.attacks import Features, feature_loss, feature_pgd, run_attack, universal
from medadv.config import StudyConfig
from medadv.models import create_model
from medadv.study import PublicSpec, Study


class LinearNet(nn.Module):
    """A backbone whose one feature stage is a fixed linear map W of the image: every gradient is known by hand."""

    def __init__(self, w: torch.Tensor) -> None:
        super().__init__()
        self.w = w

    def forward_intermediates(self, x: torch.Tensor, intermediates_only: bool = True) -> list[torch.Tensor]:
        return [(x.flatten(1) @ self.w.T)[:, :, None, None]]


class LinearClassifier(nn.Module):
    def __init__(self, w: torch.Tensor) -> None:
        super().__init__()
        self.net = LinearNet(w)
        self.register_buffer("mean", torch.zeros(1, 1, 1, 1))
        self.register_buffer("std", torch.ones(1, 1, 1, 1))


@pytest.fixture()
def linear() -> tuple[LinearClassifier, torch.Tensor]:
    w = torch.randn(6, 1 * 4 * 4, generator=torch.Generator().manual_seed(0))
    return LinearClassifier(w).eval(), w


def test_universal_is_one_tensor_in_the_ball_and_matches_the_hand_step(linear):
    model, w = linear
    x = 0.25 + 0.5 * torch.rand(5, 1, 4, 4, generator=torch.Generator().manual_seed(1))  # x + u stays in [0, 1]
    u = universal(model, x, eps=0.1, alpha=0.03, epochs=1, batch_size=5, seed=3)
    assert u.shape == (1, 4, 4) and float(u.abs().max()) <= 0.1 + 1e-7
    # by hand: features W(x+u)/sqrt(6); loss = sum_i |W u|^2 / 6; d loss / d u = 2 n W^T W u / 6
    gen = torch.Generator().manual_seed(3)
    u0 = torch.randint(-120, 121, (1, 4, 4), generator=gen) * (0.1 / 120)  # a start on the storage grid
    grad = (2 * 5 * w.T @ w @ u0.flatten() / 6).view(1, 4, 4)
    expected = (u0 + 0.03 * grad.sign()).clamp(-0.1, 0.1)
    assert torch.allclose(u, expected, atol=1e-5)
    assert torch.equal(u, universal(model, x, eps=0.1, alpha=0.03, epochs=1, batch_size=5, seed=3))  # seeded


def test_feature_loss_grows_along_feature_pgd_and_ignores_labels(linear):
    model, w = linear
    x = 0.5 * torch.ones(3, 1, 4, 4)
    features = Features(model)
    losses = [float(feature_loss(features(feature_pgd(model, x, eps=0.1, alpha=0.01, steps=k, seed=0)), features(x)))
              for k in range(0, 6)]
    assert all(b > a for a, b in zip(losses, losses[1:])), losses
    adv = run_attack("feature_pgd", model, x, torch.tensor([0, 1, 0]), eps=0.1, steps=3, alpha=0.01, seed=0)
    assert torch.equal(adv, feature_pgd(model, x, eps=0.1, alpha=0.01, steps=3, seed=0))  # labels play no part
    assert float((adv - x).abs().max()) <= 0.1 + 1e-6
    # one step by hand: from the seeded start d0, d1 = clip(d0 + alpha * sign(2 W^T W d0 / 6))
    gen = torch.Generator().manual_seed(0)
    d0 = torch.randint(-120, 121, x.shape, generator=gen).float() * (0.1 / 120)  # on the storage grid
    d0 = (x + d0).clamp(0, 1) - x
    step = torch.stack([(w.T @ w @ d.flatten()).view(1, 4, 4) for d in d0]).sign()
    expected = (x + (d0 + 0.01 * step).clamp(-0.1, 0.1)).clamp(0, 1)
    assert torch.allclose(feature_pgd(model, x, eps=0.1, alpha=0.01, steps=1, seed=0), expected, atol=1e-5)


def test_features_of_a_timm_classifier_cover_every_stage():
    model = create_model("tf_efficientnet_lite0", "random", 2, seed=0).eval()
    out = Features(model)(torch.rand(2, 3, 32, 32))
    assert out.shape[0] == 2 and out.shape[1] == 16 * 16**2 + 24 * 8**2 + 40 * 4**2 + 112 * 2**2 + 320 * 1
    with pytest.raises(ValueError, match="forward_intermediates"):
        Features(nn.Linear(2, 2))


def test_natural_patches_are_seeded_sized_and_never_medical(tmp_path):
    a = natural.patches(12, 24, seed=5)
    assert a.shape == (12, 24, 24, 3) and a.dtype == np.uint8
    assert np.array_equal(a, natural.patches(12, 24, seed=5)) and not np.array_equal(a, natural.patches(12, 24, seed=6))
    assert len({a[i].tobytes() for i in range(12)}) == 12  # crops differ
    gray = natural.patches(4, 16, channels=1, seed=0)
    assert gray.shape == (4, 16, 16, 1)
    assert not set(natural.PHOTOGRAPHS) & set(natural.EXCLUDED_MEDICAL)


def test_a_folder_of_photographs_replaces_the_bundled_ones(tmp_path):
    rng = np.random.default_rng(0)
    for name in ("a.png", "b.jpg"):
        Image.fromarray(rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)).save(tmp_path / name)
    assert sorted(natural.photographs(tmp_path)) == ["a.png", "b.jpg"]
    assert natural.patches(3, 16, seed=0, folder=tmp_path).shape == (3, 16, 16, 3)
    with pytest.raises(natural.NaturalImagesError, match="not a folder"):
        natural.photographs(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(natural.NaturalImagesError, match="no image files"):
        natural.photographs(tmp_path / "empty")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "x.png").write_bytes(b"not a png")
    with pytest.raises(natural.NaturalImagesError, match="cannot read"):
        natural.photographs(tmp_path / "bad")


def test_the_planner_covers_the_public_parts_units():
    from medadv import paper
    from medadv.book import plan_profile
    from medadv.study import PublicUnit

    units = plan_profile("quick", ["beyond_public"])
    public = [u for u in units if u.stage == "craft" and isinstance(u.surrogate, PublicUnit)]
    assert sorted(u.attack for u in public) == ["feature_pgd"] * 2 + ["universal"] * 2  # one per architecture
    assert all(dict(u.params).keys() == {"alpha", "epochs", "images"} for u in public if u.attack == "universal")
    shared = [u for u in units if u.stage == "train" and u.model.init_of is not None]
    assert len(shared) == 2 and all(u.model.data == "d2" and u.model.init == "random" for u in shared)
    # every condition has its attacker level; random-init targets have one more (the shared start)
    study = Study(StudyConfig(archs=("a1",), domains=("pathology",)))
    levels = {}
    for c in paper.public_conditions(study, "pathology"):
        levels.setdefault(c.target.init, set()).add(paper.knowledge(c))
    assert levels["random"] == set(paper.KNOWLEDGE) and levels["imagenet"] == set(paper.KNOWLEDGE) - {paper.SHARED_START}


def test_a_universal_craft_adds_one_tensor_to_every_test_image(tmp_path):
    cfg = StudyConfig(store=str(tmp_path), image_size=32, n_dev=60, n_test=24, archs=("tf_efficientnet_lite0",),
                      device="cpu", progress=False, eps=0.03, natural_count=16, universal_epochs=1, batch_size=8)
    study = Study(cfg)
    surrogate = PublicSpec("pathology", "tf_efficientnet_lite0", "natural")
    delta = study.delta(surrogate, "universal", cfg.eps)
    x = study.test("pathology").images.transpose(0, 3, 1, 2) / 255.0
    inside = (x + delta > 1e-3) & (x + delta < 1 - 1e-3)  # where clipping did not cut it
    u = np.where(inside, delta, np.nan)
    spread = np.nanmax(u, axis=0) - np.nanmin(u, axis=0)
    assert np.nanmax(spread) < 2 * cfg.eps / 120 + 1e-6  # the same value in every image, up to the int8 step
    assert float(np.abs(delta).max()) <= cfg.eps + 1e-6 and float(np.abs(delta).max()) > 0.5 * cfg.eps
    assert study.craft_unit(surrogate, "universal", cfg.eps).surrogate.members[0].model.init == "imagenet"
    assert not any((tmp_path / "train").glob("*"))  # the public attacker trained nothing
