"""GPU hours and store size per stage of a planned grid, from its units' work and a reference GPU throughput.

Why: the ``paper`` profile is a cluster job; before submitting it a user needs to know roughly how many GPU hours each
stage takes. The work of a unit is counted in image passes (a training image once per epoch, plus a validation
forward; an attack step is a forward and a backward pass, like a training step; an evaluation is one forward), and
turned into seconds with the training images/s that timm measured for the architecture on one GPU, scaled by the pixel
count. This is an estimate to plan with (small images use a GPU less efficiently, so it errs low for them; early
stopping makes trainings shorter), not a measurement: ``measured`` replaces a reference rate with your own.
Store size: float32 weights per model, float16 perturbations per adversarial image (RGB), float32 scores.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping

import pandas as pd

REFERENCE_GPU = "RTX 3090, AMP, batch 256-512, PyTorch 1.12"
REFERENCE_SOURCE = "timm results/benchmark-train-amp-nchw-pt112-cu113-rtx3090.csv"
# training images/s at the given resolution, from REFERENCE_SOURCE (PARAMS_M: its millions of parameters)
TRAIN_IMAGES_PER_S: dict[str, tuple[float, int]] = {
    "inception_v3": (602.3, 299),
    "densenet121": (730.1, 224),
    "resnet50": (826.1, 224),
    "tf_efficientnet_lite0": (1591.8, 224),
    "tf_efficientnet_lite1": (1110.9, 240),
    "tf_efficientnet_lite2": (816.8, 260),
}
PARAMS_M = {"inception_v3": 23.83, "densenet121": 7.98, "resnet50": 25.56, "tf_efficientnet_lite0": 4.65,
            "tf_efficientnet_lite1": 5.42, "tf_efficientnet_lite2": 6.09}
FORWARD_SHARE = 1 / 3  # a forward pass costs about a third of a training step (forward + backward of about twice)
DEV_FRACTION = {"d1": 1.0, "d2": 1.0, "d2/2": 0.5, "d1/10": 0.1}  # of n_dev; overlap:f and source:x are d1-sized


@dataclass(frozen=True)
class Rate:
    """Training images/s of one architecture at one resolution."""

    images_per_s: float
    image_size: int

    def at(self, image_size: int) -> float:
        return self.images_per_s * (self.image_size / image_size) ** 2


def rate(arch: str, measured: Mapping[str, Rate] | None = None) -> Rate:
    if measured and arch in measured:
        return measured[arch]
    if arch not in TRAIN_IMAGES_PER_S:
        raise KeyError(
            f"no reference GPU throughput for {arch!r} (known: {', '.join(TRAIN_IMAGES_PER_S)}); "
            f"pass measured={{'{arch}': Rate(images_per_s, image_size)}} from `medadv bench train` on your GPU"
        )
    return Rate(*TRAIN_IMAGES_PER_S[arch])


def unit_seconds(unit: Any, measured: Mapping[str, Rate] | None = None) -> float:
    """Estimated GPU seconds of one train, craft or evaluate unit (see the module docstring for the model)."""
    if unit.stage == "train":
        data, settings = unit.data, unit.settings
        name = unit.model.data
        size = data.n_dev * DEV_FRACTION.get(name, 1.0)
        passes = settings.epochs * size * ((1 - data.val_fraction) + data.val_fraction * FORWARD_SHARE)
        return passes / rate(unit.model.arch, measured).at(data.image_size)
    if unit.stage == "craft":
        steps = 1 if unit.attack == "fgsm" else int(dict(unit.params).get("steps", 10))
        data = unit.lead.data
        return sum(data.n_test * steps / rate(m.model.arch, measured).at(data.image_size)
                   for m in unit.surrogate.members)
    if unit.stage == "evaluate":
        data = unit.target.data
        return data.n_test * FORWARD_SHARE / rate(unit.target.model.arch, measured).at(data.image_size)
    raise ValueError(f"unknown stage {unit.stage!r}")


def unit_bytes(unit: Any) -> float:
    """Estimated size of one unit in the store."""
    if unit.stage == "train":
        return 4e6 * PARAMS_M.get(unit.model.arch, 25.0)
    if unit.stage == "craft":
        data = unit.lead.data
        return 2.0 * 3 * data.image_size**2 * data.n_test
    return 4.0 * unit.target.data.n_test


def gpu_hours(units: Iterable[Any], measured: Mapping[str, Rate] | None = None) -> pd.DataFrame:
    """Units, estimated GPU hours and store GB per stage (units de-duplicated by key), with a total row."""
    unique = {u.key(): u for u in units}.values()
    rows = []
    for stage in ("train", "craft", "evaluate"):
        seconds = [unit_seconds(u, measured) for u in unique if u.stage == stage]
        rows.append({"stage": stage, "units": len(seconds), "gpu_hours": sum(seconds) / 3600,
                     "longest_unit_min": max(seconds, default=0.0) / 60,
                     "store_gb": sum(unit_bytes(u) for u in unique if u.stage == stage) / 1e9})
    frame = pd.DataFrame(rows)
    total = {"stage": "total", "units": int(frame.units.sum()), "gpu_hours": frame.gpu_hours.sum(),
             "longest_unit_min": frame.longest_unit_min.max(), "store_gb": frame.store_gb.sum()}
    return pd.concat([frame, pd.DataFrame([total])], ignore_index=True)


def profile_gpu_hours(profile: str, pages: Iterable[str] | None = None, overrides: Mapping[str, Any] | None = None,
                      measured: Mapping[str, Rate] | None = None) -> pd.DataFrame:
    """``gpu_hours`` of every unit the book's factor pages need under ``profile`` (planned only: no data is read)."""
    from medadv.book import plan_profile
    from medadv.paper import PAGE_CONDITIONS

    return gpu_hours(plan_profile(profile, PAGE_CONDITIONS if pages is None else pages, dict(overrides or {})), measured)
