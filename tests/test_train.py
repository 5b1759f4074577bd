"""Training: deterministic on CPU, independent copies differ, an interrupted run resumes to the same weights."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from medadv.data import DataSpec, development_set
from medadv.models import create_model
from medadv.train import Execution, TrainSettings, augment, lr_schedule, predict, train

SPEC = DataSpec("synthetic", "pathology", 32, n_dev=120, n_test=40, val_fraction=0.25, seed=0)
EVERY_EPOCH = Execution(checkpoint_every_s=0)


def _fit(seed: int, epochs: int = 2, checkpoint=None, arch: str = "resnet10t", execution: Execution = Execution(),
         warmup: float = 0.0):
    train_set, val_set = development_set(SPEC, "d1")
    model = create_model(arch, "random", 2, seed=seed)
    settings = TrainSettings(epochs=epochs, batch_size=32, lr=3e-3, seed=seed, patience=5, warmup=warmup)
    history = train(model, train_set, val_set, settings, checkpoint=checkpoint, progress=False, execution=execution)
    return model, history


def _weights(model):
    return torch.cat([p.detach().flatten() for p in model.state_dict().values() if p.is_floating_point()])


def test_same_seed_same_weights_other_seed_differs():
    a, history_a = _fit(seed=1)
    b, history_b = _fit(seed=1)
    c, _ = _fit(seed=2)
    assert torch.equal(_weights(a), _weights(b))
    assert history_a == history_b and len(history_a) == 2
    assert not torch.allclose(_weights(a), _weights(c))
    assert all(0 <= row["val_auc"] <= 1 and row["loss"] > 0 for row in history_a)


@pytest.mark.parametrize("warmup", [0.0, 0.4], ids=["cosine", "warm-up"])
def test_resume_after_interruption_equals_uninterrupted(tmp_path, warmup):
    full, history_full = _fit(seed=3, epochs=3, warmup=warmup)
    checkpoint = tmp_path / "last.pt"
    _fit(seed=3, epochs=3, checkpoint=checkpoint, execution=EVERY_EPOCH, warmup=warmup)  # the state after the last
    state = torch.load(checkpoint, weights_only=True)
    assert state["history"].shape[0] == 3
    assert ("best_model" in state) == (state["stale"] > 0)  # a second copy of the weights only when it differs
    # simulate a kill after epoch 1: train 1 epoch with the same 3-epoch schedule, then resume
    checkpoint.unlink()

    class Stop(Exception):
        pass

    import medadv.train as train_module

    original = train_module.predict
    calls = {"n": 0}

    def predict_then_stop(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:  # the second epoch's validation: the first epoch's checkpoint is on disk
            raise Stop
        return original(*args, **kwargs)

    train_module.predict = predict_then_stop
    try:
        with pytest.raises(Stop):
            _fit(seed=3, epochs=3, checkpoint=checkpoint, execution=EVERY_EPOCH, warmup=warmup)
    finally:
        train_module.predict = original
    assert torch.load(checkpoint, weights_only=True)["history"].shape[0] == 1
    resumed, history_resumed = _fit(seed=3, epochs=3, checkpoint=checkpoint, execution=EVERY_EPOCH, warmup=warmup)
    assert history_resumed == history_full
    assert torch.equal(_weights(resumed), _weights(full))


@pytest.mark.parametrize("garbage", [b"not a checkpoint", b"PK\x03\x04" + bytes(100)], ids=["text", "broken zip"])
def test_garbage_checkpoint_is_discarded_and_training_starts_afresh(tmp_path, garbage):
    """A damaged partial/<key>/last.pt failed every run with torch's message (suggesting weights_only=False)."""
    fresh, history_fresh = _fit(seed=4, epochs=1)
    checkpoint = tmp_path / "partial" / "key" / "last.pt"
    checkpoint.parent.mkdir(parents=True)
    checkpoint.write_bytes(garbage)
    with pytest.warns(UserWarning, match=f"discarding the unreadable resume checkpoint {checkpoint}.*from the start"):
        model, history = _fit(seed=4, epochs=1, checkpoint=checkpoint, execution=EVERY_EPOCH)
    assert history == history_fresh and torch.equal(_weights(model), _weights(fresh))
    assert torch.load(checkpoint, weights_only=True)["history"].shape[0] == 1  # a good one replaced it


def test_compiled_training_follows_eager_and_keeps_plain_weights(tmp_path):
    """torch.compile (inductor; on CPU here, the same code path as on a GPU) trains the same model up to float
    reordering, and the checkpoint and the model hold the plain module's weights (no ``_orig_mod.`` prefix)."""
    eager, history_eager = _fit(seed=1)
    checkpoint = tmp_path / "last.pt"
    compiled, history_compiled = _fit(seed=1, checkpoint=checkpoint,
                                      execution=Execution(compile=True, checkpoint_every_s=0))
    assert [row["epoch"] for row in history_compiled] == [1, 2]
    for a, b in zip(history_eager, history_compiled):
        assert b["loss"] == pytest.approx(a["loss"], rel=1e-3)
    assert list(compiled.state_dict()) == list(eager.state_dict())
    assert list(torch.load(checkpoint, weights_only=True)["model"]) == list(eager.state_dict())
    assert type(compiled) is type(eager)


def test_float32_layouts_agree():
    """channels_last changes kernels, not the model: same training up to float reordering."""
    _, nchw = _fit(seed=4, execution=Execution(channels_last=False))
    _, nhwc = _fit(seed=4, execution=Execution(channels_last=True))
    for a, b in zip(nchw, nhwc):
        assert b["loss"] == pytest.approx(a["loss"], rel=1e-3)


def test_checkpoints_wait_for_their_interval(tmp_path):
    _fit(seed=5, checkpoint=tmp_path / "a.pt", execution=Execution(checkpoint_every_s=3600))
    assert not (tmp_path / "a.pt").exists()  # two short epochs: nothing worth saving yet
    _fit(seed=5, checkpoint=tmp_path / "b.pt", execution=Execution(checkpoint_every_s=0))
    assert torch.load(tmp_path / "b.pt", weights_only=True)["history"].shape[0] == 2


def test_learns_above_chance():
    model, history = _fit(seed=0, epochs=3, arch="resnet10t")
    assert max(row["val_auc"] for row in history) > 0.6


def test_predict_shapes_and_perturbation():
    train_set, _ = development_set(SPEC, "d1")
    model = create_model("resnet10t", "random", 2, seed=0).eval()
    scores = predict(model, train_set.images[:10], batch_size=4, device="cpu", image_size=32)
    assert scores.shape == (10,) and np.all((scores >= 0) & (scores <= 1))
    zero = np.zeros((10, 3, 32, 32), np.float16)
    assert np.allclose(predict(model, train_set.images[:10], batch_size=4, device="cpu", image_size=32,
                               perturbation=zero), scores, atol=1e-6)
    multi = create_model("resnet10t", "random", 5, multilabel=True, seed=0).eval()
    assert predict(multi, train_set.images[:3], batch_size=4, device="cpu", image_size=48).shape == (3, 5)



def test_predict_memory_layout_changes_speed_not_scores():
    """``channels_last`` (the ``Execution`` switch, which evaluation honours like training) only picks the kernels."""
    train_set, _ = development_set(SPEC, "d1")
    model = create_model("tf_efficientnet_lite0", "random", 2, seed=0).eval()
    nhwc = predict(model, train_set.images[:8], batch_size=4, device="cpu", image_size=32)
    nchw = predict(model, train_set.images[:8], batch_size=4, device="cpu", image_size=32, channels_last=False)
    assert np.allclose(nhwc, nchw, atol=1e-5) and not np.allclose(nhwc, nhwc[0])

def test_augment_keeps_values_and_is_seeded():
    x = torch.rand(4, 3, 16, 16)
    a = augment(x, "flips", torch.Generator().manual_seed(0))
    b = augment(x, "flips", torch.Generator().manual_seed(0))
    assert torch.equal(a, b)
    assert torch.allclose(a.sum(dim=(1, 2, 3)), x.sum(dim=(1, 2, 3)), atol=1e-4)  # flips and rotations only
    assert augment(x, "mild", torch.Generator().manual_seed(0)).shape == x.shape
    with pytest.raises(ValueError, match="unknown augmentation"):
        augment(x, "heavy", torch.Generator())


def test_noise_augmentation_is_seeded_clipped_and_of_the_asked_size():
    x = torch.full((64, 1, 32, 32), 0.5)
    a = augment(x, "none", torch.Generator().manual_seed(0), noise=0.05)
    assert torch.equal(a, augment(x, "none", torch.Generator().manual_seed(0), noise=0.05))
    assert abs(float((a - x).std()) - 0.05) < 0.002 and abs(float((a - x).mean())) < 0.002
    assert torch.equal(augment(x, "none", torch.Generator().manual_seed(0)), x)  # 0: no noise
    edge = augment(torch.ones(8, 3, 8, 8), "flips", torch.Generator().manual_seed(1), noise=0.2)
    assert float(edge.max()) == 1.0 and float(edge.min()) < 1.0  # clipped to the image range


def test_bench_train_prints_a_ratio(capsys):
    from medadv import bench_train

    assert bench_train.main(["--archs", "resnet10t", "--size", "32", "--images", "64", "--batch", "32",
                             "--repeats", "1", "--device", "cpu", "--no-channels-last"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert "float32, channels_last=False, compile=False" in out[0]
    assert out[-1].startswith("train_vs_plain=") and float(out[-1].split("=")[1]) > 0


def test_a_small_set_repeats_its_images_to_fill_an_epoch():
    from medadv.train import epoch_order, to_device_batch

    g = torch.Generator().manual_seed(0)
    order = epoch_order(10, 25, g)
    assert len(order) == 25 and sorted(order[:10]) == list(range(10)) and sorted(order[10:20]) == list(range(10))
    assert len(epoch_order(40, 25, g)) == 40 and len(epoch_order(40, None, g)) == 40  # a set larger: one pass
    images = np.arange(5 * 4 * 4 * 1, dtype=np.uint8).reshape(5, 4, 4, 1)
    batch = to_device_batch(images, np.array([1, 1, 3]), torch.device("cpu"), 4)  # a repeat at a pass boundary
    assert batch.shape == (3, 1, 4, 4) and torch.equal(batch[0], batch[1])
    assert torch.equal(batch[2], torch.from_numpy(images[3]).permute(2, 0, 1).float() / 255)


def _rates(steps: int, warmup: float, lr: float = 0.01) -> np.ndarray:
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr)
    schedule, rates = lr_schedule(optimizer, steps, warmup), []
    for _ in range(steps):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.step()
    return np.array(rates)


def test_warmup_rises_linearly_from_a_hundredth_then_decays_as_the_cosine():
    plain, warm = _rates(100, 0.0), _rates(100, 0.1)
    assert plain[0] == pytest.approx(0.01) and np.all(np.diff(plain) <= 0) and plain[-1] < 1e-4
    assert warm[0] == pytest.approx(1e-4) and np.all(np.diff(warm[:11]) > 0) and warm[10] == pytest.approx(0.01)
    assert np.allclose(warm[10:], _rates(90, 0.0))  # after the rise: the cosine over the remaining steps
    assert np.allclose(_rates(100, 0.001), plain)  # under one step of rise: none



def test_grad_clip_bounds_every_steps_gradient_norm_and_a_large_bound_changes_nothing(monkeypatch):
    norms: list[float] = []
    real = torch.nn.utils.clip_grad_norm_

    def spy(parameters, max_norm, *args, **kwargs):
        parameters = list(parameters)
        total = real(parameters, max_norm, *args, **kwargs)  # the norm before clipping
        after = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(p.grad) for p in parameters]))
        norms.append((float(total), float(after)))
        return total

    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", spy)
    train_set, val_set = development_set(SPEC, "d1")

    def fit(grad_clip: float) -> torch.Tensor:
        model = create_model("resnet10t", "random", 2, seed=4)
        train(model, train_set, val_set, TrainSettings(epochs=1, batch_size=32, lr=3e-3, seed=4, grad_clip=grad_clip),
              progress=False)
        return _weights(model)

    plain = fit(0.0)
    assert norms == []  # off: never called
    clipped = fit(0.05)
    assert len(norms) == -(-len(train_set) // 32) and all(before > 0.05 for before, _ in norms)  # one per step
    assert all(after == pytest.approx(0.05, rel=1e-4) for _, after in norms)
    assert not torch.allclose(clipped, plain)
    assert torch.equal(fit(1e9), plain)  # a bound no step reaches: the same training, bit for bit
