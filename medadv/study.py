"""The study's units of work (train, craft, evaluate), cached in the store, and the tidy results built from them.

A *target* and a *surrogate* are both ``ModelSpec``s: a domain, an architecture, an initialisation, a development set
and a copy index. Copy 2 of a configuration is trained independently of copy 1 (its own seed for init, data order and
augmentation): it is the paper's "same architecture, init and data" surrogate, never the target itself (that pair is
the white-box reference). A surrogate may also be an ``EnsembleSpec``: several trained models attacked together
(mean logits); it is not a unit of its own, its members are. Adversarial sets are crafted once per surrogate, attack
and eps on the fixed test set and reused for every target: stored (one byte per value) where the profile keeps them,
else scored for every target while they are in memory (``fuse``). Notebooks call ``Study`` methods and get DataFrames;
nothing here plots.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import math
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from medadv import attacks, metrics
from medadv.config import StudyConfig
from medadv.data import DataSpec, ImageSet, data_spec, development_set, test_set
from medadv.models import Classifier, ModelInfo, create_model
from medadv.perturbations import CODES, Encoding, Perturbations, Stored, write_meta
from medadv.store import Store, spec_key
from medadv.device import cpu_threads, resolve_device
from medadv.train import AUGMENT_BY_DOMAIN, Execution, TrainSettings, predict, train
from medadv.vocab import (ADVERSARIAL, BLACK_BOX, CRAFT, D1, EVALUATE, IMAGENET, NATURAL, PERTURBATIONS, RANDOM,
                          SHUFFLED, STAGES, TEST_IMAGES, TRAIN, UNIVERSAL, WHITE_BOX)

# Bump a stage's version when its code changes what it computes: old store entries are then not reused.
# craft 2: perturbations stored in one byte per value (int8 on [-eps, eps]) instead of float16.
# craft 3: L∞ attacks on the int8 grid (random starts, the clip to [0, 1]): stored = crafted (medadv.attacks.GRID_LEVELS).
VERSIONS = {TRAIN: "1", CRAFT: "3", EVALUATE: "1"}
SHUFFLE_VERSION = "1"  # the craft version whose key seeds the shuffled control (CraftUnit.shuffle_seed)
PREDICT_BATCH = 256  # images per forward pass of an evaluation (a fused craft scores in the same batches)
KEPT_IMAGES = 256  # perturbations a craft stores when the profile does not keep all (keep_perturbations: false)
RESULT_COLUMNS = [
    "domain", "target_arch", "target_init", "target_data", "target_copy", "surrogate_arch", "surrogate_init",
    "surrogate_data", "surrogate_copy", "threat", "attack", "eps", "perturbation", "metric", "value", "ci_low",
    "ci_high", "n_images", "seed",
]


_LOADED: dict[tuple[str, str], Classifier] = {}  # trained models already read in this process


class StoredUnit:
    """What every stored unit shares: its key hashes its stage, ``spec()`` and the stage's code version."""

    stage: str

    def spec(self) -> dict[str, Any]:
        raise NotImplementedError

    def key(self) -> str:
        return spec_key(self.stage, self.spec(), VERSIONS[self.stage])

    def done(self, store: Store) -> bool:
        return store.has(self.stage, self.key())

    def _get_or_compute(self, store: Store, compute: Callable[[Path], None]) -> Path:
        return store.get_or_compute(self.stage, self.spec(), VERSIONS[self.stage], compute)

    def _threads(self) -> contextlib.AbstractContextManager:
        """The CPU thread count the unit computes with (its execution's ``cpu_threads``), wherever it runs."""
        raise NotImplementedError


@dataclass(frozen=True)
class ModelSpec:
    """The identity of one trained model within a study.

    ``init_of``: start from the initial weights of that model (same domain and architecture, random init) instead of
    this model's own: the shared-initialisation control (``StudyConfig.shared_init``). Batch order and augmentation
    stay this model's own."""

    domain: str
    arch: str
    init: str
    data: str = D1
    copy: int = 1
    init_of: ModelSpec | None = None

    def __post_init__(self) -> None:
        o = self.init_of
        if o is not None and (o.init_of is not None or (o.domain, o.arch, o.init) != (self.domain, self.arch, RANDOM)
                              or self.init != RANDOM):
            raise ValueError(f"a shared initialisation needs two random-init models of one domain and architecture; "
                             f"got {self.label()} from the initial weights of {o.label()}")

    def label(self) -> str:
        shared = f" (init of {self.init_of.data}#{self.init_of.copy})" if self.init_of else ""
        return f"{self.arch}/{self.init}/{self.data}#{self.copy}{shared}"

    @property
    def members(self) -> tuple[ModelSpec, ...]:
        """The trained models a surrogate consists of: this one (an ``EnsembleSpec`` has several)."""
        return (self,)


@dataclass(frozen=True)
class PublicSpec:
    """The surrogate of the attacker who has only public parts (beyond the paper): the ImageNet checkpoint of
    ``arch`` that a target may have been fine-tuned from, never trained on medical data and without a medical head,
    used with natural photographs (``images="natural"``: one universal perturbation) or with the test images
    themselves (``"test"``: label-free feature PGD). It reads as a surrogate of ImageNet init whose development data
    is "public" and copy 0; it has no trained members."""

    domain: str
    arch: str
    images: str = NATURAL

    def __post_init__(self) -> None:
        if self.images not in (NATURAL, TEST_IMAGES):
            raise ValueError(f"a public-parts attacker uses {NATURAL!r} or {TEST_IMAGES!r} images, got {self.images!r}")

    @property
    def init(self) -> str:
        return IMAGENET

    @property
    def copy(self) -> int:
        return 0

    @property
    def members(self) -> tuple[ModelSpec, ...]:
        """No trained models: the checkpoint is public."""
        return ()

    @property
    def data(self) -> str:
        return f"public:{self.images}"

    def label(self) -> str:
        return f"{self.arch}/ImageNet checkpoint/{self.images} images"


@dataclass(frozen=True)
class EnsembleSpec:
    """Surrogates attacked together (the mean of their logits, ``attacks.Ensemble``): one surrogate of a condition.

    In tidy rows it reads as one surrogate: ``arch`` joins the members' architectures with "+", ``init`` and ``data``
    are the members' common value (joined with "+" where they differ), and ``copy`` is 0 (no single copy)."""

    members: tuple[ModelSpec, ...]

    def __post_init__(self) -> None:
        if len(self.members) < 2:
            raise ValueError(f"an ensemble needs at least 2 members, got {len(self.members)}")
        domains = {m.domain for m in self.members}
        if len(domains) != 1:
            raise ValueError(f"ensemble members span several domains {sorted(domains)}")

    @property
    def domain(self) -> str:
        return self.members[0].domain

    @property
    def arch(self) -> str:
        return "+".join(m.arch for m in self.members)

    @property
    def init(self) -> str:
        return "+".join(dict.fromkeys(m.init for m in self.members))

    @property
    def data(self) -> str:
        return "+".join(dict.fromkeys(m.data for m in self.members))

    @property
    def copy(self) -> int:
        return 0

    def label(self) -> str:
        return f"ensemble[{', '.join(m.label() for m in self.members)}]"


@dataclass(frozen=True)
class TrainUnit(StoredUnit):
    """Train one model (``ModelSpec``) on its development set; stores ``model.safetensors`` and ``history.json``."""

    model: ModelSpec
    data: DataSpec
    settings: TrainSettings
    weights_file: str | None = None
    device: str = "auto"  # resolved where the unit runs (a Slurm job's node may have a GPU the planner lacks)
    data_root: str | None = None
    progress: bool = True
    execution: Execution = Execution()  # like the device: how it runs, not part of the key
    random_init: str = "timm"  # what a random init draws (models.RANDOM_INITS); keyed only where it is not timm's
    stage: str = field(default=TRAIN, init=False)

    @property
    def run_device(self) -> str:
        return resolve_device(self.device)

    @property
    def members(self) -> tuple[TrainUnit, ...]:
        """The trainings a surrogate consists of: this one (an ``EnsembleUnit`` has several)."""
        return (self,)

    def spec(self) -> dict[str, Any]:
        settings = asdict(self.settings)
        for name in ("noise", "warmup", "grad_clip"):
            if not settings[name]:  # off: the keys from before the setting
                del settings[name]
        spec = {"model": asdict(self.model), "data": self.data.identity(), "settings": settings,
                "weights_file": self.weights_file}
        if self.model.init == RANDOM and self.random_init != "timm":  # timm's: the keys from before the setting
            spec["random_init"] = self.random_init
        return spec

    def describe(self) -> str:
        return f"train {self.model.domain} {self.model.label()}"

    def build(self, init: str | None = None) -> Classifier:
        """The untrained model; ``init="random"`` gives a cheap skeleton for loading trained weights into."""
        train_set, _ = development_set(self.data, self.model.data, self.data_root)
        init = init or self.model.init
        return create_model(
            self.model.arch, init, train_set.num_outputs, in_chans=train_set.channels, multilabel=train_set.multilabel,
            weights_file=self.weights_file if init == IMAGENET else None,
            seed=self.settings.seed if self.settings.init_seed is None else self.settings.init_seed,
            random_init=self.random_init,
        )

    def _threads(self) -> contextlib.AbstractContextManager:
        return cpu_threads(self.execution.cpu_threads)

    def run(self, store: Store) -> Path:
        def compute(out: Path) -> None:
            from safetensors.torch import save_file

            train_set, val_set = development_set(self.data, self.model.data, self.data_root)
            model = self.build()
            history = train(
                model, train_set, val_set, self.settings, device=self.run_device, image_size=self.data.image_size,
                checkpoint=store.partial(self.key()) / "last.pt", progress=self.progress, description=self.describe(),
                execution=self.execution,
            )
            state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
            save_file(state, str(out / "model.safetensors"))
            info = {**asdict(model.info), "history": history, "n_train": len(train_set), "n_val": len(val_set),
                    "device": self.run_device, "execution": asdict(self.execution),
                    "random_init": self.random_init if self.model.init == RANDOM else None,
                    "data": {"dataset": self.data.dataset, "options": dict(self.data.options),
                             "preprocessing": train_set.meta.get("preprocessing", {}),
                             "split_files": [list(entry) for entry in self.data.splits]}}
            (out / "history.json").write_text(json.dumps(info, indent=1))

        with self._threads():
            return self._get_or_compute(store, compute)

    def load(self, store: Store) -> Classifier:
        """The trained model (training it first if the store lacks it), in eval mode on the unit's device."""
        from safetensors.torch import load_file

        cache_key = (store.location, self.key())
        if cache_key in _LOADED:
            return _LOADED[cache_key]
        path = self.run(store)
        model = self.build(init=RANDOM)
        model.load_state_dict(load_file(str(path / "model.safetensors")))
        info = json.loads((path / "history.json").read_text())
        model.info = ModelInfo(**{k: info[k] for k in ModelInfo.__dataclass_fields__})
        if len(_LOADED) >= 16:  # a few models per page are reused many times; keep memory bounded
            _LOADED.pop(next(iter(_LOADED)))
        _LOADED[cache_key] = model.to(self.run_device).eval()
        return _LOADED[cache_key]

    def history(self, store: Store) -> dict[str, Any]:
        return json.loads((self.run(store) / "history.json").read_text())


@dataclass(frozen=True)
class EnsembleUnit:
    """The surrogate an ``EnsembleSpec`` names: its members' trainings, loaded together as ``attacks.Ensemble``.

    Not a stored unit (nothing to compute beyond its members): a ``CraftUnit`` on it is keyed by the members' keys,
    in order. Data, device and the attack's seed come from the first member (members of one domain share the data;
    see ``CraftUnit.lead``)."""

    members: tuple[TrainUnit, ...]

    @property
    def model(self) -> EnsembleSpec:
        return EnsembleSpec(tuple(m.model for m in self.members))

    def key(self) -> str:
        return spec_key("ensemble", {"members": [m.key() for m in self.members]}, "1")

    def load(self, store: Store) -> attacks.Ensemble:
        """The trained members (training any the store lacks) as one model, in eval mode."""
        return attacks.Ensemble([m.load(store) for m in self.members]).eval()


@dataclass(frozen=True)
class PublicUnit:
    """The surrogate a ``PublicSpec`` names: the ImageNet checkpoint, built (never trained) with the input channels
    and outputs of ``reference``, the ImageNet-initialised training of the same architecture on the domain's d1 (whose
    data, device, seed and execution options a craft on it uses, as a ``CraftUnit.lead``). Not a stored unit."""

    model: PublicSpec
    reference: TrainUnit
    natural_images: str | None = None  # a folder of photographs instead of scikit-image's (``medadv.natural``)

    @property
    def members(self) -> tuple[TrainUnit, ...]:
        return (self.reference,)

    def key(self) -> str:
        r = self.reference
        return spec_key("public", {"arch": self.model.arch, "weights_file": r.weights_file, "images": self.model.images,
                                   "data": r.data.identity(), "natural_images": self.natural_images}, "1")

    def load(self, store: Store) -> Classifier:
        """The checkpoint behind a freshly drawn head (which no public-parts attack reads), in eval mode."""
        return self.reference.build(init=IMAGENET).to(self.reference.run_device).eval()

    def natural(self, count: int, channels: int, seed: int) -> np.ndarray:
        """The attacker's natural patches at the data's image size (uint8 N×H×W×C, ``medadv.natural.patches``)."""
        from medadv import natural

        return natural.patches(count, self.reference.data.image_size, channels=channels, seed=seed,
                               folder=self.natural_images)


@dataclass(frozen=True)
class CraftUnit(StoredUnit):
    """Adversarial perturbations of the test set, crafted on one surrogate (a trained model or an ensemble of them):
    ``delta.npy`` and ``delta.json`` (one byte per value for L∞ attacks, see ``medadv.perturbations``).

    ``keep`` and ``targets`` say how the unit runs, not what it computes, so they are not part of its key (an
    evaluation's key names this key whichever way it was computed, and pages find its scores either way):
    ``keep=False`` stores only the first ``KEPT_IMAGES`` perturbations (the book's image strips and perceptibility
    read these), and ``targets`` are evaluations scored while each chunk of perturbations is in memory (one forward
    pass per target per batch) and stored under their own keys. ``done`` means the perturbations and every target's
    scores are stored; a target added later re-crafts the set (same seed, same perturbations) to score it."""

    surrogate: TrainUnit | EnsembleUnit | PublicUnit
    attack: str
    eps: float
    params: tuple[tuple[str, Any], ...] = ()
    batch_size: int = 64
    keep: bool = True
    targets: tuple[EvaluateUnit, ...] = ()
    stage: str = field(default=CRAFT, init=False)

    def spec(self) -> dict[str, Any]:
        return {"surrogate": self.surrogate.key(), "attack": self.attack, "eps": self.eps, "params": dict(self.params)}

    def describe(self) -> str:
        scored = f", scoring {len(self.targets)} evaluation(s)" if self.targets else ""
        return (f"craft {self.attack} eps={self.eps:g} on {self.surrogate.model.domain} {self.surrogate.model.label()}"
                f"{scored}")

    @property
    def lead(self) -> TrainUnit:
        """The training whose data, device, seed and execution options the attack uses: the surrogate, or an
        ensemble's first member."""
        return self.surrogate.members[0]

    @property
    def encoding(self) -> Encoding:
        return Encoding.for_attack(self.eps, dict(self.params).get("norm", "linf"))

    @property
    def shuffle_seed(self) -> int:
        """The seed of this set's shuffled control (per image: (seed, image index)), from the set's identity under
        craft version 1: how perturbations are stored (version 2) does not redraw the control's permutations."""
        return int(spec_key(self.stage, self.spec(), SHUFFLE_VERSION)[:8], 16)

    def done(self, store: Store) -> bool:
        return store.has(self.stage, self.key()) and all(t.done(store) for t in self.targets)

    def _threads(self) -> contextlib.AbstractContextManager:
        return self.lead._threads()

    def run(self, store: Store) -> Path:
        """Craft and store the perturbations (if the store lacks them) and score every target not yet stored."""
        with self._threads():
            return self._run(store)

    def _run(self, store: Store) -> Path:
        scored: dict[str, np.ndarray] = {}

        def compute(out: Path) -> None:
            scored.update(self.sweep(store, [t for t in self.targets if not t.done(store)], out))

        path = self._get_or_compute(store, compute)
        missing = [t for t in self.targets if t.key() not in scored and not t.done(store)]
        if missing:  # the perturbations were stored before these targets were asked for: craft them again
            scored.update(self.sweep(store, missing))
        for target in self.targets:
            if target.key() in scored:
                target.put(store, scored[target.key()])
        return path

    def sweep(self, store: Store, targets: Sequence[EvaluateUnit], out: Path | None = None) -> dict[str, np.ndarray]:
        """Craft the set chunk by chunk and score ``targets`` on each chunk; with ``out``, also write the stored
        perturbations there (all, or the first ``KEPT_IMAGES`` when not ``keep``). Returns each target's scores.

        A chunk is a whole number of attack batches (so each batch gets the seed it gets in any run) and of
        ``PREDICT_BATCH`` (so a target sees exactly the batches ``EvaluateUnit`` gives it from the stored file: the
        same scores, bit for bit on a CPU)."""
        for t in targets:
            if t.craft is None or t.craft.key() != self.key() or t.target.data != self.lead.data:
                raise ValueError(f"{t.describe()} is not an evaluation of {self.describe()} on its test set")
        model, lead, encoding = self.surrogate.load(store), self.lead, self.encoding
        test = test_set(lead.data, lead.data_root)
        n, kept = len(test), len(test) if self.keep else min(len(test), KEPT_IMAGES)
        models = {t.target.key(): t.target.load(store) for t in targets}
        scores: dict[str, list[np.ndarray]] = {t.key(): [] for t in targets}
        step = math.lcm(self.batch_size, PREDICT_BATCH)
        stored: np.ndarray | None = None
        chunk: list[np.ndarray] = []
        for i, delta in self._batches(model, test):
            chunk.append(encoding.encode(delta))
            end = i + len(chunk[-1])
            if end % step and end < n:
                continue
            codes, start = np.concatenate(chunk), end - sum(len(c) for c in chunk)
            chunk = []
            if out is not None and start < kept:
                if stored is None:
                    stored = np.lib.format.open_memmap(out / CODES, mode="w+", dtype=codes.dtype,
                                                       shape=(kept, *codes.shape[1:]))
                stored[start:min(end, kept)] = codes[:kept - start]
            rows = test.subset(np.arange(start, end)).images
            for t in targets:
                view = Perturbations(codes, encoding, self.shuffle_seed if t.perturbation == SHUFFLED else None,
                                     start)
                scores[t.key()].append(t.predict(models[t.target.key()], rows, view))
        if out is not None:
            assert stored is not None
            stored.flush()
            write_meta(out, encoding, n, stored.shape)
            del stored
        return {key: np.concatenate(parts) for key, parts in scores.items()}

    def _batches(self, model: nn.Module, test: ImageSet) -> Iterator[tuple[int, torch.Tensor]]:
        """(first row, perturbations) of the test set batch by batch: the attack on each batch, or, for the universal
        perturbation, the one tensor fitted on natural images added to every image (clipped as any other)."""
        lead = self.lead
        if self.attack != UNIVERSAL:
            yield from attacks.craft_batches(
                model, test.images, test.labels, attack=self.attack, eps=self.eps, batch_size=self.batch_size,
                device=lead.run_device, image_size=lead.data.image_size, seed=lead.settings.seed,
                progress=lead.progress, amp=lead.execution.amp, **dict(self.params))
            return
        if not isinstance(self.surrogate, PublicUnit):
            raise ValueError(f"a universal perturbation is fitted on natural images by a public-parts surrogate, "
                             f"not on {self.surrogate.model.label()}")
        params = dict(self.params)
        photos = self.surrogate.natural(params["images"], test.channels, lead.settings.seed)
        u = attacks.universal(model, attacks.images_to_tensor(photos, lead.run_device), eps=self.eps,
                              alpha=params["alpha"], epochs=params["epochs"], batch_size=self.batch_size,
                              seed=lead.settings.seed, progress=lead.progress)
        for i in range(0, len(test), self.batch_size):
            x = attacks.images_to_tensor(test.images[i:i + self.batch_size], lead.run_device, lead.data.image_size)
            yield i, (x + u).clamp_(*attacks.grid_bounds(x, self.eps)) - x

    def stored(self, store: Store) -> Stored:
        """The stored perturbations (crafting them first if the store lacks them)."""
        return Stored.read(self.run(store))

    def delta(self, store: Store, perturbation: str = ADVERSARIAL) -> np.ndarray:
        """The stored perturbations as crafted (float32; every test image's, or the first ``KEPT_IMAGES`` where the
        profile did not keep all), or their spatially shuffled control (same values, random pixel positions)."""
        if perturbation not in PERTURBATIONS:
            raise ValueError(f"unknown perturbation {perturbation!r}; allowed: {', '.join(PERTURBATIONS)}")
        return np.asarray(self.stored(store).view(self.shuffle_seed if perturbation == SHUFFLED else None))


@dataclass(frozen=True)
class EvaluateUnit(StoredUnit):
    """A target's scores on the clean test set (``craft=None``) or on a perturbed one: ``scores.npy``.

    Its key is the same whether it is computed on its own (reading the craft's stored perturbations) or inside its
    craft (``CraftUnit.targets``), and so are its scores."""

    target: TrainUnit
    craft: CraftUnit | None = None
    perturbation: str = ADVERSARIAL
    stage: str = field(default=EVALUATE, init=False)

    def spec(self) -> dict[str, Any]:
        return {"target": self.target.key(), CRAFT: self.craft.key() if self.craft else None,
                "perturbation": self.perturbation if self.craft else None}

    def describe(self) -> str:
        what = f"{self.craft.describe()} ({self.perturbation})" if self.craft else "clean"
        return f"evaluate {self.target.model.label()} on {what}"

    def predict(self, model: Classifier, images: Any, perturbation: Any = None) -> np.ndarray:
        """The target's scores on ``images`` (plus ``perturbation``), in batches of ``PREDICT_BATCH``."""
        t = self.target
        scores = predict(model, images, batch_size=PREDICT_BATCH, device=t.run_device, image_size=t.data.image_size,
                         perturbation=perturbation, amp=t.execution.amp, channels_last=t.execution.channels_last)
        return scores.astype(np.float32)

    def _threads(self) -> contextlib.AbstractContextManager:
        return self.target._threads()

    def run(self, store: Store) -> Path:
        def compute(out: Path) -> None:
            np.save(out / "scores.npy", self._compute(store))

        with self._threads():
            return self._get_or_compute(store, compute)

    def _compute(self, store: Store) -> np.ndarray:
        if self.craft is None:
            return self.predict(self.target.load(store), test_set(self.target.data, self.target.data_root).images)
        stored = self.craft.stored(store)
        if not stored.complete:  # the craft kept only some perturbations: craft them again (same seed, same values)
            return self.craft.sweep(store, [self])[self.key()]
        view = stored.view(self.craft.shuffle_seed if self.perturbation == SHUFFLED else None)
        return self.predict(self.target.load(store), test_set(self.target.data, self.target.data_root).images, view)

    def put(self, store: Store, scores: np.ndarray) -> Path:
        """Store scores computed elsewhere (inside the craft, ``CraftUnit.sweep``) under this unit's own key."""
        return self._get_or_compute(store, lambda out: np.save(out / "scores.npy", scores.astype(np.float32)))

    def scores(self, store: Store) -> np.ndarray:
        return np.load(self.run(store) / "scores.npy")


def fuse(units: Iterable[Any]) -> list[Any]:
    """The units to run when crafts do not keep their perturbations: each such craft carries the evaluations of its
    perturbations (``CraftUnit.targets``), which leave the evaluate stage; crafts that keep theirs, trainings and
    clean evaluations are unchanged. Keys do not change, so what is stored is found either way."""
    units = list(units)
    inside: dict[str, dict[str, EvaluateUnit]] = {}
    crafts: dict[str, CraftUnit] = {}
    for unit in units:
        if isinstance(unit, EvaluateUnit) and unit.craft is not None and not unit.craft.keep:
            inside.setdefault(unit.craft.key(), {}).setdefault(unit.key(), unit)
            crafts.setdefault(unit.craft.key(), unit.craft)
    out: list[Any] = []
    for unit in units:
        if isinstance(unit, CraftUnit) and unit.key() in inside:
            targets = {t.key(): t for t in unit.targets} | inside.pop(unit.key())
            out.append(replace(unit, targets=tuple(targets.values())))
        elif not (isinstance(unit, EvaluateUnit) and unit.craft is not None and unit.craft.key() in crafts):
            out.append(unit)
    out += [replace(crafts[key], targets=tuple(targets.values())) for key, targets in inside.items()]
    return out


@dataclass(frozen=True)
class Condition:
    """One measured transfer: a target attacked with images crafted on a surrogate."""

    target: ModelSpec
    surrogate: ModelSpec | EnsembleSpec
    attack: str
    eps: float
    perturbation: str = ADVERSARIAL

    @property
    def threat(self) -> str:
        """White-box where the surrogate is the target itself (or an ensemble that contains it)."""
        own = self.target in self.surrogate.members
        return WHITE_BOX if own else BLACK_BOX

    @property
    def same_arch(self) -> bool:
        """Whether the surrogate has the target's architecture (an ensemble never has: its arch joins several)."""
        return self.target.arch == self.surrogate.arch

    @property
    def pair_init(self) -> str | None:
        """The initialisation target and surrogate share ("imagenet", "random"), None where they differ: the
        paper's pre-training contrast compares ImageNet pairs with random pairs."""
        return self.target.init if self.target.init == self.surrogate.init else None


class Study:
    """A study under one configuration: builds units, computes them through the store, returns tidy rows."""

    def __init__(self, cfg: StudyConfig) -> None:
        self.cfg = cfg
        self.store = Store(cfg.store)
        self.device = cfg.resolved_device()
        self._clean_auc: dict[ModelSpec, dict[str, float]] = {}

    # units -------------------------------------------------------------------------------------------------
    def data_spec(self, domain: str) -> DataSpec:
        """The data of ``domain`` under its own settings (``StudyConfig.for_domain``), split files included."""
        c = self.cfg.for_domain(domain)
        return data_spec(c.dataset, domain, c.image_size, c.n_dev, c.n_test, c.val_fraction, c.seed, c.data_options,
                         c.split_files, c.data_root)

    def data_root(self, domain: str) -> str | None:
        """The data folder ``domain`` names (None: ``$MEDADV_DATA/<data set>``), for ``medadv.data``'s functions."""
        return self.cfg.for_domain(domain).data_root

    def train_unit(self, model: ModelSpec) -> TrainUnit:
        c = self.cfg
        pretrained = model.init == IMAGENET
        settings = TrainSettings(
            epochs=c.epochs_imagenet if pretrained else c.epochs_random,
            batch_size=c.train_batch_size(model.domain, model.init),
            lr=c.lr_imagenet if pretrained else c.lr_random, weight_decay=c.weight_decay, patience=c.patience,
            augment=AUGMENT_BY_DOMAIN.get(model.domain, "flips"), seed=model_seed(c.seed, model),
            init_seed=model_seed(c.seed, model.init_of) if model.init_of else None, epoch_images=c.epoch_images,
            noise=c.train_noise, warmup=c.warmup, grad_clip=c.grad_clip,
        )
        return TrainUnit(model, self.data_spec(model.domain), settings, c.weights_files.get(model.arch) if pretrained
                         else None, c.device, self.data_root(model.domain), c.progress,
                         Execution(amp=c.amp, compile=c.compile, cpu_threads=c.cpu_threads), c.random_init)

    def attack_params(self, attack: str) -> tuple[tuple[str, Any], ...]:
        if attack == "fgsm":
            return ()
        if attack == UNIVERSAL:  # sign steps of the profile's PGD step, over the natural patches, several passes
            return (("alpha", self.cfg.pgd_alpha), ("epochs", self.cfg.universal_epochs),
                    ("images", self.cfg.natural_count))
        return (("alpha", self.cfg.pgd_alpha), ("steps", self.cfg.pgd_steps))

    def surrogate_unit(self, surrogate: ModelSpec | EnsembleSpec | PublicSpec) -> TrainUnit | EnsembleUnit | PublicUnit:
        if isinstance(surrogate, EnsembleSpec):
            return EnsembleUnit(tuple(self.train_unit(m) for m in surrogate.members))
        if isinstance(surrogate, PublicSpec):
            reference = self.train_unit(ModelSpec(surrogate.domain, surrogate.arch, IMAGENET, D1))
            return PublicUnit(surrogate, reference, self.cfg.natural_images)
        return self.train_unit(surrogate)

    def craft_unit(self, surrogate: ModelSpec | EnsembleSpec | PublicSpec, attack: str, eps: float) -> CraftUnit:
        return CraftUnit(self.surrogate_unit(surrogate), attack, float(eps), self.attack_params(attack),
                         self.cfg.for_domain(surrogate.domain).batch_size, keep=self.cfg.keep_perturbations)

    def evaluate_unit(self, target: ModelSpec, condition: Condition | None = None) -> EvaluateUnit:
        if condition is None:
            return EvaluateUnit(self.train_unit(target))
        craft = self.craft_unit(condition.surrogate, condition.attack, condition.eps)
        return EvaluateUnit(self.train_unit(target), craft, condition.perturbation)

    def units(self, conditions: Iterable[Condition], models: Iterable[ModelSpec] = ()) -> list[Any]:
        """Every unit the conditions need, and the training and clean evaluation of each of ``models``, by stage
        (for ``medadv.grid.run_units``)."""
        out: dict[str, Any] = {}
        for model in models:
            for unit in (self.train_unit(model), self.evaluate_unit(model)):
                out.setdefault(unit.key(), unit)
        for cond in conditions:
            members = cond.surrogate.members  # evaluated clean too: a surrogate near chance marks its cells
            for unit in (self.train_unit(cond.target), *(self.train_unit(s) for s in members),
                         *(self.evaluate_unit(s) for s in members),
                         self.craft_unit(cond.surrogate, cond.attack, cond.eps), self.evaluate_unit(cond.target),
                         self.evaluate_unit(cond.target, cond)):
                out.setdefault(unit.key(), unit)
        return sorted(out.values(), key=lambda u: STAGES.index(u.stage))

    # data and scores ----------------------------------------------------------------------------------------
    def test(self, domain: str):
        return test_set(self.data_spec(domain), self.data_root(domain))

    def model(self, spec: ModelSpec | EnsembleSpec) -> Classifier | attacks.Ensemble:
        return self.surrogate_unit(spec).load(self.store)

    def history(self, spec: ModelSpec) -> dict[str, Any]:
        return self.train_unit(spec).history(self.store)

    def clean_scores(self, target: ModelSpec) -> np.ndarray:
        return self.evaluate_unit(target).scores(self.store)

    def scores(self, cond: Condition) -> np.ndarray:
        return self.evaluate_unit(cond.target, cond).scores(self.store)

    def delta(self, surrogate: ModelSpec | EnsembleSpec, attack: str, eps: float,
              perturbation: str = ADVERSARIAL) -> np.ndarray:
        """The stored perturbations (float32, N×C×H×W): every test image's, or the first ``KEPT_IMAGES`` where the
        profile does not keep them all (``keep_perturbations: false``)."""
        return self.craft_unit(surrogate, attack, eps).delta(self.store, perturbation)

    def perceptibility(self, surrogate: ModelSpec | EnsembleSpec, attack: str, eps: float) -> dict[str, float]:
        """Mean PSNR, SSIM, L∞ and L2 of the stored perturbations on their clean images (``n_images`` of them: the
        whole test set, or the first ``KEPT_IMAGES`` where the profile does not keep them all)."""
        craft = self.craft_unit(surrogate, attack, eps)
        delta = craft.delta(self.store)
        test = self.test(surrogate.domain)
        images = test.images if len(delta) == len(test) else test.subset(np.arange(len(delta))).images
        values = metrics.perceptibility(images, delta, image_size=craft.lead.data.image_size)
        return {**values, "n_images": len(delta)}

    # statistics ---------------------------------------------------------------------------------------------
    def _boot(self, domain: str) -> dict[str, Any]:
        test = self.test(domain)
        return {"groups": test.patients, "n_boot": self.cfg.n_boot, "seed": self.cfg.seed}

    def clean_auc(self, target: ModelSpec) -> dict[str, float]:
        """Clean test AUC with its CI (remembered: tables ask for every target's several times)."""
        if target not in self._clean_auc:
            test = self.test(target.domain)
            self._clean_auc[target] = metrics.bootstrap(metrics.auc, test.labels, self.clean_scores(target),
                                                        **self._boot(target.domain))
        return self._clean_auc[target]

    def perc_clean(self, conditions: Sequence[Condition]) -> dict[str, float]:
        """perc_clean averaged over conditions of one domain (e.g. the architecture pairs of a table cell), with a
        bootstrap CI from the same patient resamples for every condition."""
        domain = _one_domain(conditions)
        test = self.test(domain)
        pairs = [(self.clean_scores(c.target), self.scores(c)) for c in conditions]
        flat = [s for pair in pairs for s in pair]
        return metrics.bootstrap(metrics.mean_perc_clean, test.labels, *flat, **self._boot(domain))

    def perc_clean_difference(self, a: Sequence[Condition], b: Sequence[Condition]) -> dict[str, Any]:
        """Paired bootstrap of mean perc_clean(a) − mean perc_clean(b) on the same test images and resamples."""
        out = self.perc_clean_contrast([a, b], [1.0, -1.0])
        value_a, value_b = out.pop("values")
        return {**out, "value_a": value_a, "value_b": value_b}

    def perc_clean_contrast(self, groups: Sequence[Sequence[Condition]], weights: Sequence[float]) -> dict[str, Any]:
        """Σ weights[i] × mean perc_clean(groups[i]), every group on the same test images and resamples: a difference
        is weights (1, −1), an interaction (a difference of two differences) (1, −1, −1, 1)."""
        domain = _one_domain([c for group in groups for c in group])
        flat = [tuple(s for c in group for s in (self.clean_scores(c.target), self.scores(c))) for group in groups]
        return metrics.weighted_contrast(metrics.mean_perc_clean, self.test(domain).labels, flat, weights,
                                         **self._boot(domain))

    # tidy results -------------------------------------------------------------------------------------------
    def clean_rows(self, targets: Iterable[ModelSpec]) -> pd.DataFrame:
        rows = []
        for t in dict.fromkeys(targets):
            ci = self.clean_auc(t)
            rows.append(_row(t, None, "none", float("nan"), "none", "auc", ci, len(self.test(t.domain)), self.cfg.seed))
        return pd.DataFrame(rows, columns=RESULT_COLUMNS)

    def transfer_rows(self, conditions: Iterable[Condition]) -> pd.DataFrame:
        """One row per condition and metric (``auc`` under attack and ``perc_clean``), each with its bootstrap CI."""
        rows = []
        for cond in conditions:
            test = self.test(cond.target.domain)
            adv = self.scores(cond)
            auc_ci = metrics.bootstrap(metrics.auc, test.labels, adv, **self._boot(cond.target.domain))
            pc_ci = self.perc_clean([cond])
            for name, ci in (("auc", auc_ci), ("perc_clean", pc_ci)):
                rows.append(_row(cond.target, cond.surrogate, cond.attack, cond.eps, cond.perturbation, name, ci,
                                 len(test), self.cfg.seed, cond.threat))
        return pd.DataFrame(rows, columns=RESULT_COLUMNS)


def _one_domain(conditions: Sequence[Condition]) -> str:
    domains = {c.target.domain for c in conditions} | {c.surrogate.domain for c in conditions}
    if len(domains) != 1:
        raise ValueError(f"conditions span several domains {sorted(domains)}: compare within one domain")
    return domains.pop()


def _row(target: ModelSpec, surrogate: ModelSpec | EnsembleSpec | None, attack: str, eps: float, perturbation: str,
         metric: str, ci: dict[str, float], n: int, seed: int, threat: str = "none") -> dict[str, Any]:
    s = surrogate
    return {
        "domain": target.domain, "target_arch": target.arch, "target_init": target.init, "target_data": target.data,
        "target_copy": target.copy, "surrogate_arch": s.arch if s else "", "surrogate_init": s.init if s else "",
        "surrogate_data": s.data if s else "", "surrogate_copy": s.copy if s else 0, "threat": threat,
        "attack": attack, "eps": eps, "perturbation": perturbation, "metric": metric, "value": ci["value"],
        "ci_low": ci["ci_low"], "ci_high": ci["ci_high"], "n_images": n, "seed": seed,
    }


def model_seed(study_seed: int, model: ModelSpec) -> int:
    """The training seed of one model (its initial weights, batch order and augmentation), derived from its whole
    identity and the study's seed: two different models never share a starting point or a batch order by accident
    (a random-init target and a surrogate of the same architecture on other data that shared their initial weights
    transferred to each other for that reason alone). A shared start is asked for explicitly (``ModelSpec.init_of``)."""
    identity = (study_seed, model.domain, model.arch, model.init, model.data, model.copy)
    return int.from_bytes(hashlib.sha256(repr(identity).encode()).digest()[:4], "little")


def same_config_surrogate(target: ModelSpec) -> ModelSpec:
    """The paper's "same everything" surrogate: an independently trained second copy of the target's configuration."""
    return ModelSpec(target.domain, target.arch, target.init, target.data, copy=target.copy + 1)
