"""Stored perturbations (#22): one byte per value for L∞ attacks within half a quantisation step, and crafts that
score their targets while the perturbations are in memory, with the same scores as evaluations read from the store."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from medadv import attacks
from medadv.config import StudyConfig, profile_parameters
from medadv.grid import run_units
from medadv.perturbations import CODES, META, Encoding, Perturbations, Stored
from medadv.study import KEPT_IMAGES, Condition, CraftUnit, ModelSpec, EvaluateUnit, Study, fuse, same_config_surrogate
from medadv.train import predict

TARGET = ModelSpec("pathology", "resnet10t", "random")
OTHER = ModelSpec("pathology", "resnet10t", "random", "d2")  # a target added later
SURROGATE = same_config_surrogate(TARGET)


def conditions(*targets: ModelSpec) -> list[Condition]:
    return [Condition(t, SURROGATE, attack, 0.02, p) for t in targets for attack in ("fgsm", "pgd")
            for p in ("adversarial", "shuffled")]


def config(root, keep: bool) -> StudyConfig:
    # 272 test images: two chunks of 256 (the last one partial), more than a fused craft keeps
    return StudyConfig(store=str(root), archs=("resnet10t",), inits=("random",), image_size=16, n_dev=80, n_test=272,
                       epochs_random=1, batch_size=32, eps=0.02, pgd_steps=2, pgd_alpha=0.01, n_boot=20,
                       device="cpu", progress=False, keep_perturbations=keep)


# ------------------------------------------------------------------------------------------------ quantisation

@pytest.mark.parametrize("eps", [0.005, 0.01, 0.03])
def test_quantisation_error_is_at_most_half_a_step(eps):
    encoding = Encoding.for_attack(eps)
    assert (encoding.format, encoding.dtype, encoding.scale) == ("int8-linf", "int8", eps / 120)
    rng = np.random.default_rng(0)
    delta = rng.uniform(-eps, eps, (16, 3, 8, 8)).astype(np.float32)
    delta[0, 0, 0, :3] = (-eps, 0.0, eps)  # the interval's ends and its centre are exact
    codes = encoding.encode(torch.from_numpy(delta))
    assert codes.dtype == np.int8 and codes.min() >= -120 and codes.max() <= 120
    error = np.abs(encoding.decode(codes) - delta)
    assert error.max() <= encoding.scale / 2 * (1 + 1e-5) == pytest.approx(encoding.max_error * (1 + 1e-5))
    assert error[0, 0, 0, :3].max() <= eps * 1e-6  # float32 rounding only
    # the decoded values fill the bound: a uniform sample reaches within 2% of half a step
    assert error.max() > 0.98 * encoding.scale / 2


def test_crafted_perturbations_are_stored_exactly():
    """A real craft's perturbations decode to the crafted ones (to float32 rounding): FGSM's ±eps, PGD's sums of alpha
    = eps/k steps, its random start and the clip to [0, 1] all lie on the codes' grid (``attacks.GRID_LEVELS``), also
    on images full of pixels within eps of 0 and 1, where a plain clip would leave −x or 1 − x."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, 2), torch.nn.Tanh(),
                                torch.nn.Linear(2, 2)).eval()
    rng = np.random.default_rng(1)
    images = rng.choice(np.array([0, 1, 2, 5, 128, 250, 253, 254, 255], np.uint8), (20, 8, 8, 3))  # many near 0, 1
    labels = np.arange(20) % 2
    encoding = Encoding.for_attack(0.03)
    for attack, params in (("fgsm", {}), ("pgd", {"steps": 3, "alpha": 0.0075}),
                           ("pgd", {"steps": 4, "alpha": 0.0075, "random_start": True}),
                           ("mi_fgsm", {"steps": 4, "alpha": 0.0075})):
        at_bound = []
        for i, delta in attacks.craft_batches(model, images, labels, attack=attack, eps=0.03, batch_size=8,
                                              device="cpu", progress=False, **params):
            x = attacks.images_to_tensor(images[i:i + len(delta)], "cpu")
            decoded = torch.from_numpy(encoding.decode(encoding.encode(delta)))
            assert (decoded - delta).abs().max() <= 1e-7, (attack, params)
            adversarial = x + delta
            assert adversarial.min() >= -1e-7 and adversarial.max() <= 1 + 1e-7 and delta.abs().max() <= 0.03 + 1e-7
            lower, upper = attacks.grid_bounds(x, 0.03)
            at_bound.append(((adversarial - lower).abs() < 1e-7) & (lower < x - 0.03 + 1e-7).logical_not())
        assert float(torch.cat(at_bound).float().mean()) > 0.05, attack  # pixels the range stopped: the case in point


def test_grid_bounds_stop_within_one_step_of_the_image_range():
    x = torch.tensor([0.0, 0.0101, 0.5, 0.9899, 1.0, 0.02])
    eps = 0.03
    step = eps / attacks.GRID_LEVELS
    lower, upper = attacks.grid_bounds(x, eps)
    assert torch.all(lower >= 0) and torch.all(upper <= 1)
    assert torch.all(lower < torch.clamp(x - eps, min=0) + step) and torch.all(upper > torch.clamp(x + eps, max=1) - step)
    for bound in (lower, upper):
        codes = (bound - x) / step
        assert torch.allclose(codes, codes.round(), atol=1e-3)  # on the grid around x
    assert lower[2] == pytest.approx(0.5 - eps) and upper[2] == pytest.approx(0.5 + eps)
    assert lower[0] == 0 and upper[4] == 1


def test_random_starts_lie_on_the_storage_grid():
    gen = torch.Generator().manual_seed(0)
    start = attacks.grid_uniform((4000,), 0.02, gen)
    codes = start / (0.02 / attacks.GRID_LEVELS)
    assert torch.allclose(codes, codes.round(), atol=1e-4)
    assert codes.round().min() == -120 and codes.round().max() == 120 and abs(float(codes.mean())) < 3
    assert len(torch.unique(codes.round())) == 241  # every grid point is drawn


def test_non_linf_perturbations_are_not_quantised():
    encoding = Encoding.for_attack(0.5, norm="l2")
    assert (encoding.format, encoding.dtype) == ("float16", "float16")
    delta = torch.tensor([[[[0.3, -0.7]]]])
    assert np.array_equal(encoding.decode(encoding.encode(delta)), delta.to(torch.float16).float().numpy())


def test_a_view_decodes_and_shuffles_batch_by_batch():
    """Reading a set in batches (as ``predict`` does) gives the rows of decoding it whole, for the control too."""
    encoding = Encoding.for_attack(0.02)
    codes = np.random.default_rng(2).integers(-120, 121, (10, 3, 4, 4)).astype(np.int8)
    whole = Perturbations(codes, encoding, shuffle_seed=7)[:]
    assert np.array_equal(whole, encoding.decode(attacks.shuffle_perturbation(codes, seed=7)))
    batched = np.concatenate([Perturbations(codes, encoding, 7)[np.arange(i, min(i + 4, 10))] for i in (0, 4, 8)])
    assert np.array_equal(batched, whole)
    assert np.array_equal(Perturbations(codes[4:], encoding, 7, start=4)[:], whole[4:])  # a chunk knows its offset
    with pytest.raises(IndexError, match="consecutive"):
        Perturbations(codes, encoding)[np.array([0, 2])]


# ------------------------------------------------------------------------------------------------ fused crafts

@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    """One study that keeps every perturbation (the reference) and one that fuses, sharing the trained models."""
    root = tmp_path_factory.mktemp("fused")
    kept, fused = Study(config(root / "kept", True)), Study(config(root / "fused", False))
    report = run_units(kept.units(conditions(TARGET, OTHER)), kept.store, progress=False)
    assert report.ok, report.summary()
    shutil.copytree(kept.store.root / "train", fused.store.root / "train")
    return kept, fused


def test_bytes_per_adversarial_image_are_one_per_value(stores):
    kept, _ = stores
    craft = kept.craft_unit(SURROGATE, "pgd", 0.02)
    folder = kept.store.path("craft", craft.key())
    stored = Stored.read(folder)
    assert stored.codes.dtype == np.int8 and stored.complete and stored.codes.shape == (272, 3, 16, 16)
    header = (folder / CODES).stat().st_size - stored.codes.nbytes
    assert stored.codes.nbytes / 272 == 3 * 16 * 16 and header <= 128  # C·H·W bytes per image, one npy header
    meta = json.loads((folder / META).read_text())
    assert meta["eps"] == 0.02 and meta["scale"] == pytest.approx(0.02 / 120) and meta["format"] == "int8-linf"


def test_fused_craft_scores_equal_unfused_evaluations(stores):
    kept, fused = stores
    plan = fuse(fused.units(conditions(TARGET)))
    crafts = [u for u in plan if isinstance(u, CraftUnit)]
    assert len(crafts) == 2 and all(len(c.targets) == 2 and not c.keep for c in crafts)  # adversarial, shuffled
    assert not [u for u in plan if isinstance(u, EvaluateUnit) and u.craft is not None]  # none left on its own
    report = run_units(plan, fused.store, progress=False)
    assert report.ok, report.summary()
    for cond in conditions(TARGET):
        unit = fused.evaluate_unit(cond.target, cond)
        assert unit.key() == kept.evaluate_unit(cond.target, cond).key() and unit.done(fused.store)
        assert np.array_equal(fused.scores(cond), kept.scores(cond)), cond
    for attack in ("fgsm", "pgd"):  # a fused craft keeps the first perturbations, the same codes
        craft = fused.craft_unit(SURROGATE, attack, 0.02)
        small, whole = craft.stored(fused.store), kept.craft_unit(SURROGATE, attack, 0.02).stored(kept.store)
        assert len(small.codes) == KEPT_IMAGES < whole.n_images == small.n_images
        assert np.array_equal(small.codes, whole.codes[:KEPT_IMAGES])
        assert np.array_equal(fused.delta(SURROGATE, attack, 0.02, "shuffled"),
                              kept.delta(SURROGATE, attack, 0.02, "shuffled")[:KEPT_IMAGES])


def test_a_target_added_later_re_crafts_the_same_perturbations(stores, tmp_path):
    kept, fused = stores
    craft = fused.craft_unit(SURROGATE, "pgd", 0.02)
    folder = fused.store.path("craft", craft.key())
    if not craft.done(fused.store):  # run alone: fuse the first target's evaluations first
        assert run_units(fuse(fused.units(conditions(TARGET))), fused.store, progress=False).ok
    record = (folder / "spec.json").read_text()
    plan = fuse(fused.units(conditions(TARGET, OTHER)))
    todo = [u for u in plan if not u.done(fused.store)]
    assert sorted(u.stage for u in todo) == ["craft", "craft", "evaluate"]  # the crafts, and OTHER's clean scores
    assert run_units(plan, fused.store, progress=False).ok
    assert (folder / "spec.json").read_text() == record  # the stored craft is not written again
    for cond in conditions(OTHER):
        assert np.array_equal(fused.scores(cond), kept.scores(cond)), cond
    craft.sweep(fused.store, [], out=tmp_path)  # deterministic: crafting again gives the stored codes
    assert np.array_equal(np.load(tmp_path / CODES), np.load(folder / CODES))


def test_an_evaluation_alone_on_a_fused_craft_re_crafts_it(stores):
    """A page asking for scores that no fused craft computed (a new condition) gets them all the same."""
    kept, fused = stores
    cond = Condition(OTHER, SURROGATE, "fgsm", 0.02, "shuffled")
    unit = fused.evaluate_unit(cond.target, cond)
    fused.craft_unit(SURROGATE, "fgsm", 0.02).run(fused.store)
    shutil.rmtree(fused.store.path("evaluate", unit.key()), ignore_errors=True)
    assert not unit.done(fused.store)
    assert np.array_equal(fused.scores(cond), kept.scores(cond))


# ------------------------------------------------------------------------------------------------ the quick profile

def test_quick_profile_scores_from_float_and_quantised_perturbations_agree(tmp_path):
    """The same craft on the quick profile's data, scored from its float32 perturbations (lossless), its float16 ones
    (the store before #22) and the stored int8 ones: int8 equals float32 (the attacks work on the grid it codes), for
    the shuffled control too; float16 is within 1e-3."""
    from medadv import metrics

    quick = {k: v for k, v in profile_parameters("quick").items() if k in StudyConfig.keys()}
    cfg = StudyConfig.from_mapping({**quick, "store": str(tmp_path), "device": "cpu", "archs": ["resnet10t"]})
    study = Study(cfg)
    target = ModelSpec("pathology", "resnet10t", "random")
    test = study.test("pathology")
    model = study.model(target)
    for attack in cfg.attacks:
        craft = study.craft_unit(same_config_surrogate(target), attack, cfg.eps)
        stored = craft.stored(study.store)
        channels, size = test.images.shape[-1], cfg.image_size
        assert stored.codes.nbytes / len(test) == channels * size * size  # one byte per value
        exact = np.concatenate([d.numpy() for _, d in attacks.craft_batches(
            study.model(craft.surrogate.model), test.images, test.labels, attack=attack, eps=cfg.eps,
            batch_size=cfg.batch_size, device="cpu", image_size=size, seed=craft.lead.settings.seed, progress=False,
            **dict(craft.params))])
        assert np.abs(stored.view()[:] - exact).max() <= 1e-7
        control = attacks.shuffle_perturbation(exact, seed=craft.shuffle_seed)
        assert np.abs(stored.view(craft.shuffle_seed)[:] - control).max() <= 1e-7
        lossless = predict(model, test.images, batch_size=256, device="cpu", image_size=size, perturbation=exact)
        half = predict(model, test.images, batch_size=256, device="cpu", image_size=size,
                       perturbation=exact.astype(np.float16).astype(np.float32))
        after = study.scores(Condition(target, craft.surrogate.model, attack, cfg.eps))
        assert np.abs(after - lossless).max() <= 1e-6
        assert np.abs(half - lossless).max() <= 1e-3
        assert abs(metrics.auc(test.labels, after) - metrics.auc(test.labels, lossless)) <= 1e-6
