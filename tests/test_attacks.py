"""Attacks: eps-ball and range, white-box strength, equality with torchattacks, BCE step, control, round trip."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from medadv import attacks as A

torch.set_num_threads(1)


class TinyNet(nn.Module):
    """A small conv net with batch norm (so eval mode matters), taking [0, 1] inputs."""

    def __init__(self, outputs: int = 2, channels: int = 3):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
            nn.Conv2d(8, 8, 3, padding=1, stride=2), nn.ReLU(),
            nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(32, outputs),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body((x - 0.5) / 0.25)


def _task(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Class 1 when the left half is brighter than the right half; noisy, 3×12×12."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 2, (n,), generator=g)
    x = 0.5 + 0.1 * torch.randn(n, 3, 12, 12, generator=g)
    shift = (2 * y - 1).float().view(-1, 1, 1, 1) * 0.08
    x[..., :6] += shift
    x[..., 6:] -= shift
    return x.clamp(0, 1), y


@pytest.fixture(scope="module")
def trained() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    model = TinyNet()
    x, y = _task(512, 0)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(60):
        for i in range(0, 512, 128):
            opt.zero_grad()
            nn.functional.cross_entropy(model(x[i:i + 128]), y[i:i + 128]).backward()
            opt.step()
    model.eval()
    xt, yt = _task(64, 1)
    return model, xt, yt


def _accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return (model(x).argmax(1) == y).float().mean().item()


def _zero_grads(model: nn.Module) -> None:
    for p in model.parameters():
        p.grad = None


def test_paper_constants() -> None:
    assert A.paper_to_unit_scale(0.02) == pytest.approx(0.01)
    assert A.PAPER_PGD == dict(steps=20, alpha=0.005, random_start=False)


@pytest.mark.parametrize("name", sorted(set(A.ATTACKS) - {"feature_pgd"}))  # feature_pgd needs a timm backbone:
def test_linf_ball_and_range(trained, name) -> None:                        # its ball is tested in test_public
    model, x, y = trained
    eps = 0.03
    x_adv = A.run_attack(name, model, x, y, eps=eps, seed=3) if name != "fgsm" else A.run_attack(name, model, x, y, eps=eps)
    assert x_adv.shape == x.shape
    assert (x_adv - x).abs().max().item() <= eps + 1e-6
    assert x_adv.min().item() >= 0 and x_adv.max().item() <= 1
    assert (x_adv != x).any()


def test_l2_ball_and_range(trained) -> None:
    model, x, y = trained
    eps = 0.5
    x_adv = A.pgd(model, x, y, eps=eps, alpha=0.2, steps=5, norm="l2", random_start=True, seed=0)
    norms = (x_adv - x).flatten(1).norm(dim=1)
    assert norms.max().item() <= eps + 1e-6
    assert norms.max().item() > 0.45  # (confident images have ~0 gradient and barely move)
    assert x_adv.min().item() >= 0 and x_adv.max().item() <= 1


def test_white_box_pgd_breaks_the_model(trained) -> None:
    model, x, y = trained
    assert _accuracy(model, x, y) >= 0.9
    x_adv = A.pgd(model, x, y, eps=0.15, alpha=0.02, steps=20, random_start=False)
    assert _accuracy(model, x_adv, y) <= 0.05
    x_adv = A.fgsm(model, x, y, eps=0.15)
    assert _accuracy(model, x_adv, y) <= 0.3


def test_no_gradients_reach_the_parameters_and_no_grad_context_is_fine(trained) -> None:
    model, x, y = trained
    _zero_grads(model)
    with torch.no_grad():
        x_adv = A.pgd(model, x, y, eps=0.03, alpha=0.01, steps=2)
    assert all(p.grad is None for p in model.parameters())
    assert not x_adv.requires_grad
    assert (x_adv != x).any()


def _matches_reference(ours: torch.Tensor, ref: torch.Tensor, eps: float) -> bool:
    """torchattacks clips at 0 and 1, ours at the storage grid's last point inside [0, 1] (``A.grid_bounds``): equal
    (1e-5) wherever the reference is inside the range, within one grid step (eps/120) where it sits on 0 or 1."""
    clipped = (ref <= 0) | (ref >= 1)
    diff = (ours - ref).abs()
    return diff[~clipped].max().item() <= 1e-5 and (diff[clipped].max().item() if clipped.any() else 0) < eps / 120


def test_equals_torchattacks(trained) -> None:
    torchattacks = pytest.importorskip("torchattacks")
    model, x, y = trained
    eps, alpha, steps = 0.03, 0.005, 10
    ref = torchattacks.PGD(model, eps=eps, alpha=alpha, steps=steps, random_start=False)(x, y)
    ours = A.pgd(model, x, y, eps=eps, alpha=alpha, steps=steps, random_start=False)
    assert _matches_reference(ours, ref, eps)
    ref = torchattacks.FGSM(model, eps=eps)(x, y)
    assert _matches_reference(A.fgsm(model, x, y, eps=eps), ref, eps)
    ref = torchattacks.MIFGSM(model, eps=eps, alpha=alpha, steps=steps, decay=1.0)(x, y)
    assert _matches_reference(A.mi_fgsm(model, x, y, eps=eps, alpha=alpha, steps=steps), ref, eps)
    # L2 and TI on an untrained model: the trained one's gradients (~1e-12) meet torchattacks' 1e-10 division guard
    torch.manual_seed(1)
    model = TinyNet().eval()
    ref = torchattacks.PGDL2(model, eps=0.5, alpha=0.1, steps=steps, random_start=False)(x, y)
    ours = A.pgd(model, x, y, eps=0.5, alpha=0.1, steps=steps, norm="l2", random_start=False)
    assert (ours - ref).abs().max().item() <= 1e-5
    # TI with momentum, DI off: torchattacks' TIFGSM with its Gaussian kernel.
    ref = torchattacks.TIFGSM(model, eps=eps, alpha=alpha, steps=steps, decay=1.0, len_kernel=5, nsig=3,
                              diversity_prob=0.0, random_start=False)(x, y)
    ours = A.pgd(model, x, y, eps=eps, alpha=alpha, steps=steps, random_start=False, momentum=1.0, ti_kernel=5)
    assert _matches_reference(ours, ref, eps)
    assert ((ref <= 0) | (ref >= 1)).any()  # the case where the two clips differ


def test_multilabel_bce_step_equals_hand_written_gradient() -> None:
    torch.manual_seed(0)
    n, labels = 6, 4
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 5 * 5, labels)).eval()
    x = torch.rand(n, 3, 5, 5) * 0.8 + 0.1
    y = (torch.rand(n, labels) > 0.5).float()
    # d/dx mean_l BCE(sigmoid(Wx + b), y) = W^T (sigmoid(z) - y) / L, per image.
    w, b = model[1].weight.detach(), model[1].bias.detach()
    z = x.flatten(1) @ w.T + b
    grad = ((torch.sigmoid(z) - y) / labels) @ w
    expected = (x + 0.01 * grad.sign().view_as(x)).clamp(0, 1)
    ours = A.pgd(model, x, y, eps=0.05, alpha=0.01, steps=1, random_start=False)
    assert torch.allclose(ours, expected, atol=1e-6)
    # wrong target width: a clear error
    with pytest.raises(ValueError, match="multi-hot"):
        A.fgsm(model, x, y[:, :2], eps=0.01)


def test_custom_loss_and_targeted(trained) -> None:
    model, x, y = trained
    target = 1 - y
    x_adv = A.pgd(model, x, target, eps=0.15, alpha=0.02, steps=20, random_start=False, targeted=True)
    with torch.no_grad():
        assert (model(x_adv).argmax(1) == target).float().mean().item() >= 0.95
    calls = []

    def loss(logits, yy):
        calls.append(1)
        return nn.functional.cross_entropy(logits, yy)

    A.pgd(model, x, y, eps=0.03, alpha=0.01, steps=3, loss=loss)
    assert len(calls) == 3


def test_seeds_make_random_attacks_deterministic(trained) -> None:
    model, x, y = trained
    kw = dict(eps=0.03, alpha=0.005, steps=3, random_start=True, diversity_prob=0.7)
    a = A.pgd(model, x, y, seed=1, **kw)
    b = A.pgd(model, x, y, seed=1, **kw)
    c = A.pgd(model, x, y, seed=2, **kw)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    torch.manual_seed(5)
    d = A.pgd(model, x, y, **kw)
    torch.manual_seed(5)
    assert torch.equal(d, A.pgd(model, x, y, **kw))


def test_di_and_ti_change_the_attack(trained) -> None:
    model, x, y = trained
    base = A.pgd(model, x, y, eps=0.03, alpha=0.005, steps=4, random_start=False)
    di = A.pgd(model, x, y, eps=0.03, alpha=0.005, steps=4, random_start=False, diversity_prob=1.0, seed=0)
    ti = A.pgd(model, x, y, eps=0.03, alpha=0.005, steps=4, random_start=False, ti_kernel=5)
    assert not torch.equal(base, di) and not torch.equal(base, ti)
    k = A.gaussian_kernel(7)
    assert k.shape == (7, 7) and k.sum().item() == pytest.approx(1.0) and k[3, 3] == k.max()
    with pytest.raises(ValueError, match="odd"):
        A.gaussian_kernel(4)


def test_ensemble_averages_logits() -> None:
    torch.manual_seed(0)
    m1, m2 = TinyNet().eval(), TinyNet().eval()
    x = torch.rand(4, 3, 12, 12)
    with torch.no_grad():
        assert torch.allclose(A.Ensemble([m1, m2])(x), (m1(x) + m2(x)) / 2)
    with pytest.raises(ValueError):
        A.Ensemble([])


def test_bad_input_is_refused(trained) -> None:
    model, x, y = trained
    with pytest.raises(ValueError, match="255"):
        A.fgsm(model, x * 255, y, eps=0.01)
    with pytest.raises(ValueError, match="unknown attack"):
        A.run_attack("cw", model, x, y, eps=0.01)
    with pytest.raises(ValueError, match="norm"):
        A.pgd(model, x, y, eps=0.01, alpha=0.01, steps=1, norm="l1")
    model.train()
    try:
        with pytest.raises(ValueError, match="eval"):
            A.fgsm(model, x, y, eps=0.01)
    finally:
        model.eval()


def test_run_attack_defaults_are_overridable(trained) -> None:
    model, x, y = trained
    calls = []

    def loss(logits, yy):
        calls.append(1)
        return nn.functional.cross_entropy(logits, yy)

    A.run_attack("pgd", model, x, y, eps=0.01, loss=loss)
    assert len(calls) == 20
    A.run_attack("mi_di_ti_pgd", model, x, y, eps=0.01, loss=loss, steps=2, seed=0)
    assert len(calls) == 22


@pytest.mark.parametrize("per_pixel", [False, True])
def test_shuffled_keeps_each_images_values(per_pixel) -> None:
    g = torch.Generator().manual_seed(0)
    x = 0.2 + 0.6 * torch.rand(3, 3, 8, 8, generator=g)
    delta = 0.03 * (2 * torch.rand(3, 3, 8, 8, generator=g) - 1)
    xs = A.shuffled(x + delta, x, seed=7, per_pixel=per_pixel)
    moved = xs - x
    for i in range(3):
        assert torch.allclose(moved[i].flatten().sort().values, delta[i].flatten().sort().values, atol=1e-6)
    assert not torch.allclose(moved, delta)
    if per_pixel:  # the channel vector of a pixel moves together: its set of triples is unchanged
        a, b = moved[0].flatten(1).T, delta[0].flatten(1).T
        assert torch.cdist(a, b, compute_mode="donot_use_mm_for_euclid_dist").min(dim=1).values.max().item() <= 1e-6
    # deterministic, and batch-independent through `start`
    assert torch.equal(xs, A.shuffled(x + delta, x, seed=7, per_pixel=per_pixel))
    assert not torch.equal(xs, A.shuffled(x + delta, x, seed=8, per_pixel=per_pixel))
    part = A.shuffled(x[1:] + delta[1:], x[1:], seed=7, start=1, per_pixel=per_pixel)
    assert torch.equal(part, xs[1:])
    # numpy and torch agree
    as_np = A.shuffle_perturbation(delta.numpy(), seed=7, per_pixel=per_pixel)
    assert np.allclose(as_np, (xs - x).numpy(), atol=1e-6)
    # clipping to [0, 1]
    edge = A.shuffled(torch.ones(1, 1, 4, 4) * 0.99, torch.ones(1, 1, 4, 4) * 0.99 - 0.02, seed=0)
    assert edge.max().item() <= 1


def test_craft_and_apply_round_trip(trained) -> None:
    model, x, y = trained
    images = (x.permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8)[:10]
    labels = y.numpy()[:10]
    delta = A.craft(model, images, labels, attack="pgd", eps=0.03, batch_size=4, device="cpu", steps=5,
                    progress=False)
    assert delta.dtype == np.float16 and delta.shape == (10, 3, 12, 12)
    x0 = A.images_to_tensor(images, "cpu")
    direct = A.pgd(model, x0, torch.from_numpy(labels), eps=0.03, alpha=0.005, steps=5, random_start=False)
    rebuilt = A.apply_perturbation(images, delta, "cpu")
    assert (rebuilt - direct).abs().max().item() <= 1e-3
    assert np.abs(delta).max() <= 0.03 + 1e-4
    # resized crafting, deterministic seeds for random attacks, clear error on a size mismatch
    d16 = A.craft(model, images, labels, attack="di_pgd", eps=0.03, batch_size=4, device="cpu", image_size=16,
                  steps=2, seed=3, progress=False)
    assert d16.shape == (10, 3, 16, 16)
    again = A.craft(model, images, labels, attack="di_pgd", eps=0.03, batch_size=4, device="cpu", image_size=16,
                    steps=2, seed=3, progress=False)
    assert np.array_equal(d16, again)
    assert A.apply_perturbation(images, d16, "cpu", image_size=16).shape == (10, 3, 16, 16)
    with pytest.raises(ValueError, match="image_size"):
        A.apply_perturbation(images, d16, "cpu")


def test_craft_multilabel_targets() -> None:
    torch.manual_seed(0)
    model = TinyNet(outputs=3, channels=1).eval()
    images = np.random.default_rng(0).integers(20, 230, (5, 12, 12, 1), dtype=np.uint8)
    labels = np.random.default_rng(1).integers(0, 2, (5, 3)).astype(np.float32)
    delta = A.craft(model, images, labels, attack="fgsm", eps=0.02, batch_size=2, device="cpu", progress=False)
    assert delta.shape == (5, 1, 12, 12)
    assert np.allclose(np.abs(delta), 0.02, atol=1e-4)


def test_bench_smoke(capsys) -> None:
    pytest.importorskip("torchattacks")
    from medadv import bench_attacks

    assert bench_attacks.main(["--device", "cpu", "--models", "resnet10t", "--size", "32", "--batch", "2",
                               "--steps", "1", "--repeats", "3"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    r1, r2 = (float(part.split("=")[1]) for part in last.split())
    assert last.startswith("pgd_vs_torchattacks=") and " pgd_vs_bound=" in last and r1 > 0 and r2 > 0
