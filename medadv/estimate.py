"""GPU hours, store size and longest unit per stage and domain of a planned grid, from its units' work and a reference
GPU throughput.

Why: the ``paper`` profile is a cluster job; before submitting it a user needs to know roughly how many GPU hours each
stage takes, how large the store grows, and how long the longest unit runs (a Slurm task's time limit must cover
it). The work of a unit is counted in image passes (a training image once per epoch, plus a validation forward; an
attack step is a forward and a backward pass, like a training step; an evaluation is one forward), and turned into
seconds with the training images/s that timm measured for the architecture on one GPU, scaled by the pixel count.
This is an estimate to plan with (small images use a GPU less efficiently, so it errs low for them; early stopping
makes trainings shorter), not a measurement. Where ``MEASURED_H200`` holds an architecture at a size (the paper's,
measured on an H200), that rate is used as it is, and an attack step at its measured PGD rate; ``measured`` replaces
either with your own (``medadv bench train``).

Store size: float32 weights per model; perturbations at one byte per value (two for a non-L∞ attack,
``medadv.perturbations``), every test image's where the profile keeps them, else the first ``KEPT_IMAGES`` per set;
float32 scores. Where crafts do not keep their perturbations, a craft scores its evaluations while crafting
(``medadv.study.fuse``): their hours stay in the evaluate stage, but the longest craft includes them.

The paper's three domains differ in data set, resolution, channels and test-set size; ``PAPER_DOMAINS`` holds them as
data (with where each number comes from), and ``plan_domains`` plans a profile once per domain with its settings.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

import pandas as pd

from medadv.vocab import CRAFT, D1, D1_TENTH, D2, D2_HALF, EVALUATE, STAGES, TRAIN, UNIVERSAL

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
DEV_FRACTION = {D1: 1.0, D2: 1.0, D2_HALF: 0.5, D1_TENTH: 0.1}  # of n_dev; overlap:f and source:x are d1-sized
CHANNELS = {"radiology": 1}  # input channels by domain (chest X-rays are grey), 3 elsewhere
OUTPUTS = {"radiology": 15}  # scores per image by domain (14 findings and "No Finding"), 1 elsewhere

#: The paper's domains at the authors' sizes: the settings ``plan_domains`` plans each domain of the paper profile
#: with (test images are the authors' test sets; n_dev is d1's train + validation images).
PAPER_DOMAINS: dict[str, dict[str, Any]] = {
    "ophthalmology": {"dataset": "fundus", "image_size": 512, "n_test": 53576, "n_dev": 17563},
    "radiology": {"dataset": "chestxray", "image_size": 224, "n_test": 25596, "n_dev": 43622},
    "pathology": {"dataset": "pcam", "image_size": 96, "n_test": 32768},
}
PAPER_SOURCES = {
    "ophthalmology": "512 px RGB (the authors' field-of-view crop); test: Kaggle DR's labelled test set (53,576 "
                     "images, retinopathy_solution.csv), the set medadv's fundus loader tests on; n_dev: half of its "
                     "35,126 training images (d1 and d2 are disjoint; the authors' lists on Zenodo were not read here)",
    "radiology": "224 px, 1 channel; test: the authors' ChestX-ray14 test set (25,596 images of 2,797 patients); "
                 "n_dev: d1 = 39,392 train + 4,230 validation (../shared/PAPER.md)",
    "pathology": "96 px RGB; test: PCam's official test split (32,768 patches); n_dev: the paper profile's",
}


@dataclass(frozen=True)
class Rate:
    """Training images/s of one architecture at one resolution."""

    images_per_s: float
    image_size: int

    def at(self, image_size: int) -> float:
        return self.images_per_s * (self.image_size / image_size) ** 2


#: Measured on one NVIDIA H200 (bfloat16 AMP, channels_last, torch 2.11, timm 1.0.29) by ``bash scripts/gpu_check.sh``
#: on 2026-11-30, one run, at the paper profile's sizes and batch sizes (64 at 96 px, 32 at 224, 16 at 512):
#: (architecture, image size) -> (training images/s of medadv's loop, PGD image-steps/s at batch 32). Small images use
#: the GPU far below what pixel-count scaling of the reference says (inception_v3 at 96 px: 1,160/s measured, 5,840/s
#: scaled), large ones above it (at 512 px: 438/s measured, 205/s scaled); hence measured rates where they exist.
MEASURED_GPU = "NVIDIA H200 (bf16 AMP, torch 2.11; scripts/gpu_check.sh, 2026-11-30)"
MEASURED_H200: dict[tuple[str, int], tuple[float, float]] = {
    ("inception_v3", 96): (1159.9, 320 / 0.253), ("densenet121", 96): (818.9, 320 / 0.302),
    ("inception_v3", 224): (779.7, 320 / 0.271), ("densenet121", 224): (439.1, 320 / 0.334),
    ("inception_v3", 512): (438.4, 320 / 0.524), ("densenet121", 512): (290.9, 320 / 0.824),
}


def _yours(arch: str, measured: Mapping[str, Rate] | None) -> bool:
    """Whether the caller measured ``arch`` itself: its rate then comes before every stored one."""
    return bool(measured) and arch in measured  # type: ignore[operator]


def rate(arch: str, measured: Mapping[str, Rate] | None = None, image_size: int | None = None) -> Rate:
    """Training throughput of ``arch``: yours (``measured``), else the H200's at exactly ``image_size`` where
    ``MEASURED_H200`` has it, else the timm reference (to be scaled by pixel count)."""
    if _yours(arch, measured):
        return measured[arch]  # type: ignore[index]
    if (arch, image_size) in MEASURED_H200:
        return Rate(MEASURED_H200[arch, image_size][0], image_size)  # type: ignore[arg-type]
    if arch not in TRAIN_IMAGES_PER_S:
        raise KeyError(
            f"no reference GPU throughput for {arch!r} (known: {', '.join(TRAIN_IMAGES_PER_S)}); "
            f"pass measured={{'{arch}': Rate(images_per_s, image_size)}} from `medadv bench train` on your GPU"
        )
    return Rate(*TRAIN_IMAGES_PER_S[arch])


def attack_steps_per_s(arch: str, image_size: int, measured: Mapping[str, Rate] | None = None) -> float:
    """Image-steps/s of an attack: measured PGD where ``MEASURED_H200`` has it (and no rate of yours overrides it),
    else a training step's (a forward and a backward pass, like an attack step)."""
    if not _yours(arch, measured) and (arch, image_size) in MEASURED_H200:
        return MEASURED_H200[arch, image_size][1]
    return rate(arch, measured, image_size).at(image_size)


def source_of(arch: str, image_size: int, measured: Mapping[str, Rate] | None = None) -> str:
    """Where an architecture's rate at a size comes from: yours, the H200's, or the scaled reference."""
    if _yours(arch, measured):
        return "measured (yours)"
    return "measured, H200" if (arch, image_size) in MEASURED_H200 else "scaled, timm RTX 3090"


def data_of(unit: Any) -> Any:
    """The data (``DataSpec``) a train, craft or evaluate unit works on."""
    if unit.stage == TRAIN:
        return unit.data
    return unit.lead.data if unit.stage == CRAFT else unit.target.data


def domain_of(unit: Any) -> str:
    return data_of(unit).domain


def unit_seconds(unit: Any, measured: Mapping[str, Rate] | None = None) -> float:
    """Estimated GPU seconds of one train, craft or evaluate unit (see the module docstring for the model); a craft's
    own work only, without the evaluations it may carry (``task_seconds``)."""
    if unit.stage == TRAIN:
        from medadv.train import epoch_length  # torch: only once a training is estimated

        data, settings = unit.data, unit.settings
        name = unit.model.data
        size = data.n_dev * DEV_FRACTION.get(name, 1.0)
        trained = epoch_length(size * (1 - data.val_fraction), settings.epoch_images)  # small sets repeat
        passes = settings.epochs * (trained + size * data.val_fraction * FORWARD_SHARE)
        return passes / rate(unit.model.arch, measured, data.image_size).at(data.image_size)
    if unit.stage == CRAFT:
        params, data = dict(unit.params), unit.lead.data
        if unit.attack == UNIVERSAL:  # fitted on natural patches; adding it to the test set costs nothing to speak of
            work = params["images"] * params["epochs"]
        else:
            work = data.n_test * (1 if unit.attack == "fgsm" else int(params.get("steps", 10)))
        return sum(work / attack_steps_per_s(m.model.arch, data.image_size, measured) for m in unit.surrogate.members)
    if unit.stage == EVALUATE:
        data = unit.target.data
        return data.n_test * FORWARD_SHARE / rate(unit.target.model.arch, measured, data.image_size).at(data.image_size)
    raise ValueError(f"unknown stage {unit.stage!r}")


def task_seconds(unit: Any, measured: Mapping[str, Rate] | None = None) -> float:
    """GPU seconds of a unit as it runs: a craft with the evaluations it scores while crafting."""
    return unit_seconds(unit, measured) + sum(unit_seconds(t, measured) for t in getattr(unit, "targets", ()))


def stored_images(unit: Any) -> int:
    """How many perturbations a craft unit stores: every test image's, or the first ``KEPT_IMAGES``."""
    from medadv.study import KEPT_IMAGES

    n = unit.lead.data.n_test
    return n if unit.keep else min(n, KEPT_IMAGES)


def unit_bytes(unit: Any) -> float:
    """Estimated size of one unit in the store."""
    if unit.stage == TRAIN:
        return 4e6 * PARAMS_M.get(unit.model.arch, 25.0)
    data = data_of(unit)
    if unit.stage == CRAFT:
        values = CHANNELS.get(data.domain, 3) * data.image_size**2
        return float(unit.encoding.bytes_per_value * values * stored_images(unit))
    return 4.0 * OUTPUTS.get(data.domain, 1) * data.n_test


def keep_all_tb(units: Iterable[Any]) -> float:
    """The store, in TB, that the craft units' perturbations would take if every one were kept
    (``keep_perturbations: true``), against the first ``KEPT_IMAGES`` per set that a fused plan keeps."""
    from dataclasses import replace

    return sum(unit_bytes(replace(u, keep=True)) for u in units if u.stage == CRAFT) / 1e12


def gpu_hours(units: Iterable[Any], measured: Mapping[str, Rate] | None = None, *,
              by_domain: bool = False) -> pd.DataFrame:
    """Units, estimated GPU hours, longest unit (minutes, as it runs: a craft with the evaluations it carries) and store
    GB per stage (units de-duplicated by key), with a total row; ``by_domain``: per domain (a ``domain`` column, each
    domain's rows and total, then the total of all)."""
    from medadv.study import fuse

    unique = list({u.key(): u for u in units}.values())
    longest: dict[tuple[str, str], float] = {}
    for task in fuse(unique):
        where = (domain_of(task), task.stage)
        longest[where] = max(longest.get(where, 0.0), task_seconds(task, measured))
    domains = list(dict.fromkeys(domain_of(u) for u in unique)) if by_domain else []
    rows = []
    for domain in [*domains, None]:
        chosen = [u for u in unique if domain is None or domain_of(u) == domain]
        part = []
        for stage in STAGES:
            staged = [u for u in chosen if u.stage == stage]
            slowest = max((s for (d, st), s in longest.items() if st == stage and domain in (None, d)), default=0.0)
            part.append({"domain": domain or "all", "stage": stage, "units": len(staged),
                         "gpu_hours": sum(unit_seconds(u, measured) for u in staged) / 3600,
                         "longest_unit_min": slowest / 60, "store_gb": sum(unit_bytes(u) for u in staged) / 1e9})
        if domain is not None or not by_domain:
            rows += part
        rows.append({"domain": domain or "all", "stage": "total", "units": sum(r["units"] for r in part),
                     "gpu_hours": sum(r["gpu_hours"] for r in part),
                     "longest_unit_min": max(r["longest_unit_min"] for r in part),
                     "store_gb": sum(r["store_gb"] for r in part)})
    frame = pd.DataFrame(rows)
    return frame if by_domain else frame.drop(columns="domain")


def per_image_times(units: Iterable[Any], measured: Mapping[str, Rate] | None = None) -> pd.DataFrame:
    """The per-image GPU times an estimate rests on, per domain and architecture: a training image (forward and
    backward), an attack step and a forward pass, at the domain's resolution, and their source."""
    seen: dict[tuple[str, str, int], None] = {}
    for unit in units:
        if unit.stage == TRAIN:
            seen[(unit.model.domain, unit.model.arch, unit.data.image_size)] = None
    rows = []
    for domain, arch, size in seen:
        train_ms = 1000 / rate(arch, measured, size).at(size)
        rows.append({"domain": domain, "arch": arch, "image_size": size, "train_ms": train_ms,
                     "attack_step_ms": 1000 / attack_steps_per_s(arch, size, measured),
                     "forward_ms": train_ms * FORWARD_SHARE, "from": source_of(arch, size, measured)})
    return pd.DataFrame(rows)


def plan_domains(profile: str, pages: Iterable[str] | None = None, overrides: Mapping[str, Any] | None = None,
                 settings: Mapping[str, Mapping[str, Any]] | None = None) -> list[Any]:
    """Every unit the book's pages need under ``profile`` (``paper.PAGES``) (planned only: no data is read); with ``settings``
    (domain -> parameters, e.g. ``PAPER_DOMAINS``), the domains named there, each with its parameters on top of
    ``overrides`` (as the profile's ``domain_settings`` where the configuration has them)."""
    from medadv.book import plan_profile
    from medadv.config import StudyConfig
    from medadv.paper import PAGES

    chosen = list(PAGES if pages is None else pages)
    base = dict(overrides or {})
    if not settings:
        return plan_profile(profile, chosen, base)
    if "domain_settings" in StudyConfig.keys():  # one profile, per-domain settings
        per_domain = {"domains": list(settings), "domain_settings": {d: dict(s) for d, s in settings.items()}}
        return plan_profile(profile, chosen, {**base, **per_domain})
    return [unit for domain, values in settings.items()
            for unit in plan_profile(profile, chosen, {**base, **values, "domains": [domain]})]


def profile_gpu_hours(profile: str, pages: Iterable[str] | None = None, overrides: Mapping[str, Any] | None = None,
                      measured: Mapping[str, Rate] | None = None,
                      settings: Mapping[str, Mapping[str, Any]] | None = None,
                      by_domain: bool = False) -> pd.DataFrame:
    """``gpu_hours`` of every unit the book's factor pages need under ``profile`` (``plan_domains``)."""
    return gpu_hours(plan_domains(profile, pages, overrides, settings), measured, by_domain=by_domain)


def paper_plan(profile: str, pages: Iterable[str] | None = None,
               overrides: Mapping[str, Any] | None = None) -> tuple[list[Any], list[str]]:
    """The units of ``profile`` as it stands and, for ``paper``, those of the paper's domains it does not plan itself
    (at ``PAPER_DOMAINS``' settings), with the names of those added domains: the three-domain estimate."""
    chosen = None if pages is None else list(pages)
    units = plan_domains(profile, chosen, overrides)
    planned = {domain_of(u) for u in units}
    added = [d for d in PAPER_DOMAINS if d not in planned] if profile == "paper" else []
    if added:
        units += plan_domains(profile, chosen, overrides, {d: PAPER_DOMAINS[d] for d in added})
    return units, added


def dry_run(profile: str, pages: Sequence[str] | None = None, overrides: Mapping[str, Any] | None = None,
            measured: Mapping[str, Rate] | None = None) -> str:
    """What ``medadv grid --profile P --dry-run`` prints: units per stage and domain, GPU hours, store size, longest
    unit, and the per-image times they rest on, from planning alone (``paper_plan``)."""
    from medadv.book import book_root
    from medadv.config import keep_perturbations
    from medadv.study import KEPT_IMAGES

    units, added = paper_plan(profile, pages, overrides)
    table = gpu_hours(units, measured, by_domain=True)
    keep = keep_perturbations(profile, dict(overrides or {}), book_root() / "params")
    inside = sum(u.stage == EVALUATE and u.craft is not None and not u.craft.keep for u in units)
    lines = [f"medadv grid --profile {profile} --dry-run: planned only (no data read, nothing run)"]
    if added:
        lines.append(f"the profile plans {', '.join(sorted({domain_of(u) for u in units} - set(added)))}; added at the "
                     "authors' sizes (medadv.estimate.PAPER_DOMAINS):")
        lines += [f"  {d}: {', '.join(f'{k}={v}' for k, v in PAPER_DOMAINS[d].items())}; {PAPER_SOURCES[d]}"
                  for d in added]
    lines.append("perturbations: one byte per value; " + (
        "every one stored (keep_perturbations: true)" if keep else
        f"keep_perturbations: false: each craft scores its evaluations while crafting ({inside} of the evaluations "
        f"below) and stores its first {KEPT_IMAGES} perturbations"))
    shown = table.rename(columns={"gpu_hours": "GPU hours", "longest_unit_min": "longest unit (min)",
                                  "store_gb": "store (GB)"})
    lines += ["", shown.to_string(index=False, float_format=lambda v: f"{v:,.1f}"), ""]
    lines.append(f"GPU hours: each unit's image passes at the rates measured on one {MEASURED_GPU} where the table "
                 f"below says 'measured, H200' (the paper's architectures at its sizes); elsewhere the training "
                 f"throughput timm published on one {REFERENCE_GPU} GPU ({REFERENCE_SOURCE}), scaled by pixel count "
                 "(scaled, not measured). `medadv bench train` on your GPU gives rates to pass as measured=. "
                 "Per-image times:")
    lines.append(per_image_times(units, measured).to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    return "\n".join(lines)
