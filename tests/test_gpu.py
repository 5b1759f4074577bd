"""The CUDA paths: mixed precision, channels_last and torch.compile in training, prediction and the attacks.

Skipped without a GPU (CI has none). ``scripts/gpu_check.sh`` runs this file and the two benchmarks in one go on a
machine that has one. ``MEDADV_TEST_DEVICE=cpu`` runs the same checks on the CPU (to check the checks). Tolerances: bfloat16 keeps about 3 significant digits, so GPU scores are compared with CPU
float32 scores at 0.02 (probabilities), and attacks in bfloat16 with attacks in float32 by their effect.
"""
from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch

from medadv import attacks, metrics
from medadv.config import StudyConfig
from medadv.data import DataSpec, development_set
from medadv.data import test_set as load_test_set
from medadv.device import amp_dtype
from medadv.models import create_model
from medadv.study import ModelSpec, Study
from medadv.train import Execution, TrainSettings, predict, train

DEVICE = os.environ.get("MEDADV_TEST_DEVICE", "cuda")
pytestmark = pytest.mark.skipif(DEVICE.startswith("cuda") and not torch.cuda.is_available(), reason="needs a CUDA GPU")

SPEC = DataSpec("synthetic", "pathology", 48, n_dev=600, n_test=200, val_fraction=0.2, seed=0)
SETTINGS = TrainSettings(epochs=3, batch_size=64, lr=3e-3, seed=0, patience=5)


@pytest.fixture(scope="module")
def trained_on_cpu() -> torch.nn.Module:
    train_set, val_set = development_set(SPEC, "d1")
    model = create_model("resnet10t", "random", 2, seed=0)
    train(model, train_set, val_set, SETTINGS, device="cpu", progress=False)
    return model.cpu().eval()


@pytest.mark.parametrize("execution", [Execution(), Execution(compile=True), Execution(amp=False, channels_last=False)],
                         ids=["amp", "amp+compile", "float32"])
def test_training_on_gpu_learns(execution):
    train_set, val_set = development_set(SPEC, "d1")
    model = create_model("resnet10t", "random", 2, seed=0)
    history = train(model, train_set, val_set, SETTINGS, device=DEVICE, progress=False, execution=execution)
    assert len(history) == 3 and all(np.isfinite(row["loss"]) for row in history)
    assert max(row["val_auc"] for row in history) > 0.6
    assert next(model.parameters()).device.type == torch.device(DEVICE).type and next(model.parameters()).dtype == torch.float32


def test_interrupted_gpu_training_resumes(tmp_path, monkeypatch):
    """The checkpoint holds CPU generator states: resuming on the GPU must restore them (a CUDA map_location broke it)."""
    import medadv.train as train_module

    train_set, val_set = development_set(SPEC, "d1")
    checkpoint = tmp_path / "last.pt"
    original, calls = train_module.predict, {"n": 0}

    def predict_then_stop(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    monkeypatch.setattr(train_module, "predict", predict_then_stop)
    with pytest.raises(KeyboardInterrupt):
        train(create_model("resnet10t", "random", 2, seed=0), train_set, val_set, SETTINGS, device=DEVICE,
              progress=False, checkpoint=checkpoint, execution=Execution(checkpoint_every_s=0))
    first = torch.load(checkpoint, weights_only=True)["history"]
    monkeypatch.setattr(train_module, "predict", original)
    history = train(create_model("resnet10t", "random", 2, seed=0), train_set, val_set, SETTINGS, device=DEVICE,
                    progress=False, checkpoint=checkpoint, execution=Execution(checkpoint_every_s=0))
    assert [row["epoch"] for row in history] == [1, 2, 3]
    assert history[0]["loss"] == pytest.approx(float(first[0, 1]))


def test_gpu_scores_match_cpu(trained_on_cpu):
    test = load_test_set(SPEC)
    cpu = predict(trained_on_cpu, test.images, batch_size=64, device="cpu", image_size=48)
    for amp in (False, True):
        gpu = predict(trained_on_cpu.to(DEVICE), test.images, batch_size=64, device=DEVICE, image_size=48, amp=amp)
        assert np.abs(gpu - cpu).max() < (0.02 if amp else 1e-3)
        assert abs(metrics.auc(test.labels, gpu) - metrics.auc(test.labels, cpu)) < 0.01
    trained_on_cpu.cpu()


def test_gpu_attacks_in_bfloat16_match_float32(trained_on_cpu):
    if amp_dtype(DEVICE) is not torch.bfloat16:
        pytest.skip("this GPU has no native bfloat16: attacks run in float32 there")
    model = trained_on_cpu.to(DEVICE)
    test = load_test_set(SPEC)
    kwargs = dict(attack="pgd", eps=0.02, batch_size=64, device=DEVICE, image_size=48, progress=False)
    fp32 = attacks.craft(model, test.images, test.labels, **kwargs)
    bf16 = attacks.craft(model, test.images, test.labels, amp=True, **kwargs)
    assert np.abs(bf16.astype(np.float32)).max() <= 0.02 + 1e-3
    assert np.mean(np.sign(bf16) == np.sign(fp32)) > 0.7  # the same steps up to near-zero gradients
    clean = predict(model, test.images, batch_size=64, device=DEVICE, image_size=48, amp=False)
    drops = []
    for delta in (fp32, bf16):
        adv = predict(model, test.images, batch_size=64, device=DEVICE, image_size=48, perturbation=delta, amp=False)
        drops.append(metrics.perc_clean(metrics.auc(test.labels, adv), metrics.auc(test.labels, clean)))
    assert drops[0] < 80 and abs(drops[0] - drops[1]) < 10  # float32 PGD: 60 on CPU
    trained_on_cpu.cpu()


def test_study_on_gpu_records_how_it_ran(tmp_path):
    cfg = StudyConfig(store=str(tmp_path / "s"), archs=("resnet10t",), inits=("random",), image_size=32, n_dev=160,
                      n_test=64, epochs_random=1, pgd_steps=2, n_boot=20, device=DEVICE, compile=True, progress=False)
    study = Study(cfg)
    unit = study.train_unit(ModelSpec("pathology", "resnet10t", "random"))
    info = json.loads((unit.run(study.store) / "history.json").read_text())
    assert info["device"] == DEVICE and info["execution"] == {"amp": True, "channels_last": True, "compile": True}
    delta = study.delta(unit.model, "pgd", cfg.eps)
    assert delta.shape == (64, 3, 32, 32) and np.abs(delta.astype(np.float32)).max() <= cfg.eps + 1e-3


def test_bench_train_on_gpu(capsys):
    from medadv import bench_train

    assert bench_train.main(["--archs", "resnet10t", "--images", "256", "--repeats", "1", "--device", DEVICE]) == 0
    assert float(capsys.readouterr().out.strip().splitlines()[-1].split("=")[1]) > 0
