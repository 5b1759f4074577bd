"""Independent models: every model's seed comes from its whole identity; a shared start only when asked for."""
from __future__ import annotations

import dataclasses

import pytest
import torch

from medadv import paper
from medadv.config import ConfigError, StudyConfig
from medadv.study import ModelSpec, Study, model_seed


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> Study:
    cfg = StudyConfig(store=str(tmp_path_factory.mktemp("store")), image_size=32, n_dev=80, n_test=20,
                      archs=("tf_efficientnet_lite0",), device="cpu", progress=False)
    return Study(cfg)


def initial_weights(study: Study, spec: ModelSpec) -> dict[str, torch.Tensor]:
    return study.train_unit(spec).build().state_dict()


def order(study: Study, spec: ModelSpec) -> torch.Tensor:
    """The first epoch's batch order the training loop draws for ``spec``."""
    return torch.randperm(50, generator=torch.Generator().manual_seed(study.train_unit(spec).settings.seed))


def same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


TARGET = ModelSpec("pathology", "tf_efficientnet_lite0", "random", "d1", 1)
OTHERS = [dataclasses.replace(TARGET, data="d2"), dataclasses.replace(TARGET, data="d2/2"),
          dataclasses.replace(TARGET, copy=2), dataclasses.replace(TARGET, domain="ophthalmology")]


def test_seed_depends_on_every_part_of_the_identity_and_the_study_seed():
    seeds = {model_seed(0, m) for m in [TARGET, *OTHERS, dataclasses.replace(TARGET, init="imagenet"),
                                        dataclasses.replace(TARGET, arch="tf_efficientnet_lite1")]}
    assert len(seeds) == 7
    assert model_seed(0, TARGET) == model_seed(0, ModelSpec("pathology", "tf_efficientnet_lite0", "random"))
    assert model_seed(1, TARGET) != model_seed(0, TARGET)


@pytest.mark.parametrize("other", OTHERS[:3], ids=["d2", "d2/2", "copy2"])
def test_different_models_start_from_different_weights_and_orders(study, other):
    assert not same(initial_weights(study, TARGET), initial_weights(study, other))
    assert not torch.equal(order(study, TARGET), order(study, other))


def test_one_model_twice_is_identical(study):
    assert same(initial_weights(study, TARGET), initial_weights(study, dataclasses.replace(TARGET)))
    assert study.train_unit(TARGET).key() == study.train_unit(dataclasses.replace(TARGET)).key()


def test_shared_init_is_a_parameter_not_an_accident(study):
    surrogate = paper.surrogate_for(TARGET, TARGET.arch, "random", "d2", shared_init=True)
    assert surrogate.init_of == TARGET and "init of d1#1" in surrogate.label()
    assert same(initial_weights(study, TARGET), initial_weights(study, surrogate))  # the same starting point ...
    assert not torch.equal(order(study, TARGET), order(study, surrogate))  # ... but its own batch order
    assert study.train_unit(surrogate).key() != study.train_unit(dataclasses.replace(surrogate, init_of=None)).key()
    # not shared: another architecture, an ImageNet pair, or the parameter off
    assert paper.surrogate_for(TARGET, "tf_efficientnet_lite1", "random", "d2", shared_init=True).init_of is None
    imagenet = dataclasses.replace(TARGET, init="imagenet")
    assert paper.surrogate_for(imagenet, imagenet.arch, "imagenet", "d2", shared_init=True).init_of is None
    assert paper.surrogate_for(TARGET, TARGET.arch, "random", "d2").init_of is None


def test_shared_init_reaches_the_designs(tmp_path):
    cfg = StudyConfig(store=str(tmp_path / "s"), archs=("a1", "a2"), device="cpu", shared_init=True)
    t4 = paper.t4_conditions(Study(cfg), "pathology")
    shared = {c.surrogate for c in t4 if c.surrogate.init_of is not None}
    assert shared and all(s.arch == s.init_of.arch and s.init_of.data == "d1" for s in shared)
    assert all(c.surrogate.init_of is None for c in t4 if c.surrogate.arch != c.target.arch)
    off = paper.t4_conditions(Study(cfg.replace(shared_init=False)), "pathology")
    assert all(c.surrogate.init_of is None for c in off)


def test_shared_init_needs_two_random_models_of_one_architecture():
    with pytest.raises(ValueError, match="shared initialisation"):
        ModelSpec("pathology", "tf_efficientnet_lite1", "random", "d2", init_of=TARGET)
    with pytest.raises(ValueError, match="shared initialisation"):
        ModelSpec("pathology", TARGET.arch, "imagenet", "d2", init_of=TARGET)


def test_train_noise_reaches_the_training_and_keys_only_when_set(tmp_path):
    plain = Study(StudyConfig(store=str(tmp_path), image_size=32, n_dev=80, n_test=20, device="cpu"))
    noisy = Study(StudyConfig(store=str(tmp_path), image_size=32, n_dev=80, n_test=20, device="cpu", train_noise=0.05))
    a, b = plain.train_unit(TARGET), noisy.train_unit(TARGET)
    assert b.settings.noise == 0.05 and "noise" not in a.spec()["settings"]  # stores from before the setting stay valid
    assert a.key() != b.key()
    with pytest.raises(Exception, match="train_noise"):
        StudyConfig(train_noise=0.7)


def test_batch_size_random_trains_only_random_init_models_at_its_batch(tmp_path):
    """#23: random init gets its own batch (more steps at the same images); fine-tuning and crafting keep batch_size."""
    plain = Study(StudyConfig(store=str(tmp_path), image_size=32, n_dev=80, n_test=20, device="cpu", batch_size=32))
    small = Study(StudyConfig(store=str(tmp_path), image_size=32, n_dev=80, n_test=20, device="cpu", batch_size=32,
                              batch_size_random=16))
    pretrained = dataclasses.replace(TARGET, init="imagenet")
    assert plain.train_unit(TARGET).settings.batch_size == 32
    assert small.train_unit(TARGET).settings.batch_size == 16
    assert small.train_unit(pretrained).key() == plain.train_unit(pretrained).key()  # its store entry is reused
    assert small.craft_unit(TARGET, "pgd", 0.01).batch_size == 32
    assert small.train_unit(TARGET).key() != plain.train_unit(TARGET).key()
    assert (plain.cfg.stated_batch_size(), small.cfg.stated_batch_size()) == ("32", "32; random init 16")


def test_batch_size_random_overrides_a_domains_own_batch_for_random_init_only():
    """One rule for the batch a model trains at, whatever states it (the study, the methods pages)."""
    cfg = StudyConfig(domains=("ophthalmology", "pathology"), batch_size=32, batch_size_random=16,
                      domain_settings={"pathology": {"batch_size": 8}})
    assert cfg.train_batch_size("pathology", "imagenet") == 8
    assert cfg.train_batch_size("ophthalmology", "imagenet") == 32
    assert cfg.train_batch_size("pathology", "random") == 16
    assert cfg.stated_batch_size() == "ophthalmology 32, pathology 8; random init 16"


def test_warmup_is_in_a_trainings_key_only_where_it_is_on(tmp_path):
    """Stores of trainings from before the setting stay valid; a warm-up is another training."""
    plain = Study(StudyConfig(store=str(tmp_path), domains=("pathology",), archs=("resnet10t",)))
    warm = Study(StudyConfig(store=str(tmp_path), domains=("pathology",), archs=("resnet10t",), warmup=0.1))
    assert "warmup" not in plain.train_unit(TARGET).spec()["settings"]
    assert warm.train_unit(TARGET).spec()["settings"]["warmup"] == 0.1
    assert warm.train_unit(TARGET).key() != plain.train_unit(TARGET).key()
    with pytest.raises(ConfigError, match="warmup"):
        StudyConfig(warmup=1.0)



def test_grad_clip_is_in_a_trainings_key_only_where_it_is_on_and_stated_on_the_methods_page(tmp_path):
    from medadv.analysis import training_choices

    plain = Study(StudyConfig(store=str(tmp_path), domains=("pathology",), archs=("resnet10t",)))
    clipped = Study(StudyConfig(store=str(tmp_path), domains=("pathology",), archs=("resnet10t",), grad_clip=1.0))
    assert "grad_clip" not in plain.train_unit(TARGET).spec()["settings"]
    assert clipped.train_unit(TARGET).spec()["settings"]["grad_clip"] == 1.0
    assert clipped.train_unit(TARGET).key() != plain.train_unit(TARGET).key()
    stated = {cfg.grad_clip: training_choices(cfg).set_index("setting")["this build"] for cfg in (plain.cfg, clipped.cfg)}
    assert stated[1.0]["gradient clipping"] == "global norm 1" and stated[0.0]["gradient clipping"] == "none"
    for bad in (-0.5, float("inf")):
        with pytest.raises(ConfigError, match="grad_clip"):
            StudyConfig(grad_clip=bad)
