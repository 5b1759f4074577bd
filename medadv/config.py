"""A study's parameters: one typed, validated dataclass, read from notebook parameters or YAML profiles.

Why one place: every notebook's papermill ``parameters`` cell, every ``params/*.yaml`` file and every ``-p key=value``
on the command line end up here, so a typo or a wrong type is caught once, with a message that names the key and what
is allowed, before any minute of training is spent.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields
from fractions import Fraction
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import yaml

from medadv.store import DEFAULT_ROOT, is_url
from medadv.vocab import D1, D2, IMAGENET, RANDOM


class ConfigError(ValueError):
    """A parameter is unknown, of the wrong type or out of range; the message names it and what is allowed."""


def parse_eps(value: Any) -> float:
    """An epsilon on the [0, 1] pixel scale, from a number or a string such as ``"2/255"``."""
    if isinstance(value, bool):
        raise ConfigError(f"eps must be a number or a fraction string like '2/255', not {value!r}")
    if isinstance(value, (int, float)):
        eps = float(value)
    elif isinstance(value, str):
        try:
            eps = float(Fraction(value.strip()))
        except (ValueError, ZeroDivisionError):
            raise ConfigError(f"eps {value!r} is not a number or a fraction like '2/255'") from None
    else:
        raise ConfigError(f"eps must be a number or a fraction string like '2/255', not {value!r}")
    if not 0 <= eps <= 1:
        raise ConfigError(f"eps {eps} is outside [0, 1]: eps is on the [0, 1] pixel scale (the paper's 0.02 is 0.01 here)")
    return eps


#: Settings that may differ between domains (``domain_settings: {radiology: {image_size: 224, ...}}``): the data set,
#: where it lies, its loader's options (preprocessing), the split files, sizes and the batch size.
DOMAIN_KEYS = ("dataset", "data_root", "data_options", "split_files", "image_size", "n_dev", "n_test", "val_fraction",
               "batch_size")
#: Settings that every page must run with alike (the data and how models are trained): the runner passes them to
#: every page whether or not its parameters cell names them, so pages share one store's models.
STUDY_WIDE_KEYS = ("data_root", "data_options", "split_files", "domain_settings", "val_fraction", "random_init",
                   "epoch_images", "train_noise", "warmup", "grad_clip", "lr_imagenet", "lr_random", "batch_size_random",
                   "weight_decay", "patience", "weights_files", "amp", "compile", "cpu_threads")


@dataclass(frozen=True)
class StudyConfig:
    """Every knob of the study. Defaults run in seconds on a CPU (the tests' size); profiles scale them up.

    ``domain_settings`` gives a domain its own value of any ``DOMAIN_KEYS`` setting (one profile, three data sets);
    ``for_domain`` is the configuration a domain runs with."""

    # data
    dataset: str = "synthetic"
    domains: tuple[str, ...] = ("pathology",)
    data_root: str | None = None  # the data set's folder; default $MEDADV_DATA/<data set>
    data_options: dict[str, Any] = field(default_factory=dict)  # passed to the data set's loader, e.g. fov_threshold
    split_files: dict[str, Any] = field(default_factory=dict)  # development set -> its lists (medadv.data.splits)
    image_size: int = 32
    n_dev: int = 200  # images in the development set d1 (train + validation); d2 has as many
    n_test: int = 100
    val_fraction: float = 0.2
    domain_settings: dict[str, dict[str, Any]] = field(default_factory=dict)  # domain -> its DOMAIN_KEYS values
    # models and training
    archs: tuple[str, ...] = ("tf_efficientnet_lite0", "tf_efficientnet_lite1")
    inits: tuple[str, ...] = (IMAGENET, RANDOM)
    random_init: str = "timm"  # what "random" init draws: "he" (Kaiming normal, the paper) or timm's own default
    weights_files: dict[str, str] = field(default_factory=dict)  # arch -> local ImageNet checkpoint
    epochs_imagenet: int = 1
    epochs_random: int = 1
    batch_size: int = 64
    # the training batch of random-init models (None: batch_size): from random init, optimiser steps are what is short
    # (fine-tuning starts near a solution); at the same images, half the batch gives twice the steps
    batch_size_random: int | None = None
    lr_imagenet: float = 1e-3
    lr_random: float = 3e-3
    weight_decay: float = 1e-4
    patience: int = 3
    train_noise: float = 0.0  # std of Gaussian noise added to training images, on [0, 1] (0: none, as the paper)
    # the first fraction of a training's steps raises the learning rate linearly from 1% to its value (then cosine):
    # from random init a full learning rate on the first steps can throw a model to a constant output it never
    # leaves (measured: book/sweeps.yaml); 0: cosine from the first step
    warmup: float = 0.0
    # the largest global norm of a training step's gradients, larger ones scaled down to it (0: no clipping): with
    # the warm-up, a random start at a large learning rate can still spike to a constant output (book/sweeps.yaml)
    grad_clip: float = 0.0
    epoch_images: int | None = None  # images per epoch at least: smaller sets repeat theirs (as many steps as d1)
    copies: int = 2  # independently trained copies per configuration (copy 2 is the "same everything" surrogate)
    # the shared-initialisation control: random-init surrogates of the target's architecture start from the target's
    # own initial weights (batch order and augmentation stay their own); off, every model starts from its own
    shared_init: bool = False
    # attacks
    attacks: tuple[str, ...] = ("fgsm", "pgd")
    # the public-parts attacker (beyond the paper): a folder of natural photographs (None: scikit-image's bundled
    # ones, medadv.natural), how many augmented patches of them a universal perturbation is fitted on, in how many passes
    natural_images: str | None = None
    natural_count: int = 1024
    universal_epochs: int = 4
    eps: float = 0.01
    eps_grid: tuple[float, ...] = (0.005, 0.01, 0.02, 0.03)
    pgd_steps: int = 20
    pgd_alpha: float = 0.005
    # false: `medadv grid` scores each adversarial set's targets while crafting it and stores only the perturbations
    # the book shows (the first 256 per set); true (small profiles): every perturbation, for pages to re-use
    keep_perturbations: bool = True
    # statistics and execution
    n_boot: int = 200
    seed: int = 0
    store: str = DEFAULT_ROOT
    device: str = "auto"
    amp: bool = True  # mixed precision on CUDA; how units run, like device: not part of store keys
    compile: bool = False  # torch.compile each training (worth it for long GPU trainings only)
    # torch CPU threads every unit computes with (None: torch's default, all cores). Fixed, CPU results do not depend
    # on the core count, and ``medadv book``/``grid`` run cores // cpu_threads units at once (``medadv.grid``)
    cpu_threads: int | None = None
    progress: bool = True

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in {"eps"}:
                object.__setattr__(self, f.name, parse_eps(value))
            elif f.name == "eps_grid":
                object.__setattr__(self, f.name, tuple(parse_eps(v) for v in _as_sequence(f.name, value)))
            elif f.type.startswith("tuple"):
                object.__setattr__(self, f.name, tuple(_as_sequence(f.name, value)))
        self._validate()

    def _validate(self) -> None:
        from medadv.attacks import ATTACKS
        from medadv.data import DATASETS, domains_of
        from medadv.models import INITS, RANDOM_INITS

        _check_choice("dataset", self.dataset, DATASETS)
        self._validate_domain_settings()
        for domain in self.domains:
            _check_choice("domains", domain, domains_of(self.domain_settings.get(domain, {}).get("dataset", self.dataset)))
        for init in self.inits:
            _check_choice("inits", init, INITS)
        _check_choice("random_init", self.random_init, RANDOM_INITS)
        _check_split_files("split_files", self.split_files, self.dataset)
        for attack in self.attacks:
            _check_choice("attacks", attack, ATTACKS)
        _check_choice("device", self.device.split(":")[0], ("auto", "cpu", "cuda", "mps"))
        if not 0.0 <= self.train_noise < 0.5:
            raise ConfigError(f"train_noise is a standard deviation on the [0, 1] image scale, from 0 (none) to below "
                              f"0.5, got {self.train_noise!r}")
        if not 0.0 <= self.warmup < 1.0:
            raise ConfigError(f"warmup is the fraction of a training's steps that raise the learning rate, from 0 (none) "
                              f"to below 1, got {self.warmup!r}")
        if not 0.0 <= self.grad_clip < float("inf"):
            raise ConfigError(f"grad_clip is the largest gradient norm of a training step, 0 (no clipping) or more, "
                              f"got {self.grad_clip!r}")
        if self.epoch_images is not None and self.epoch_images < 1:
            raise ConfigError(f"epoch_images must be a positive integer or null (one pass per epoch), got {self.epoch_images}")
        for name in ("image_size", "n_dev", "n_test", "batch_size", "n_boot", "pgd_steps", "copies", "patience",
                     "natural_count", "universal_epochs"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ConfigError(f"{name} must be a positive integer, got {getattr(self, name)!r}")
        if self.cpu_threads is not None and (not isinstance(self.cpu_threads, int) or isinstance(self.cpu_threads, bool)
                                             or self.cpu_threads < 1):
            raise ConfigError(f"cpu_threads must be a positive integer or null (torch's default: every core), got "
                              f"{self.cpu_threads!r}")
        if self.batch_size_random is not None and (not isinstance(self.batch_size_random, int)
                                                   or self.batch_size_random < 1):
            raise ConfigError(f"batch_size_random must be a positive integer or null (random-init models train at "
                              f"batch_size), got {self.batch_size_random!r}")
        for name in ("epochs_imagenet", "epochs_random"):  # 0 would store an untrained model and judge it
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ConfigError(f"{name} must be a positive integer (every model is trained at least one epoch), "
                                  f"got {getattr(self, name)!r}")
        for name in ("lr_imagenet", "lr_random", "pgd_alpha"):
            if not getattr(self, name) > 0 or getattr(self, name) == float("inf"):
                raise ConfigError(f"{name} must be a positive number, got {getattr(self, name)!r}")
        if not 0 <= self.weight_decay < float("inf"):
            raise ConfigError(f"weight_decay must be 0 or more, got {self.weight_decay!r}")
        if self.image_size < 16:
            raise ConfigError(f"image_size {self.image_size} is too small: use at least 16 pixels")
        if not 0 < self.val_fraction < 1:
            raise ConfigError(f"val_fraction must be in (0, 1), got {self.val_fraction}")
        if not self.archs:
            raise ConfigError("archs is empty: name at least one timm architecture")

    def _validate_domain_settings(self) -> None:
        """Each domain's settings: known domains and keys, values of the right type, and valid as a configuration."""
        types = {f.name: f.type for f in fields(self)}
        for domain, settings in self.domain_settings.items():
            _check_choice("domain_settings", domain, ("ophthalmology", "radiology", "pathology"))
            if not isinstance(settings, dict):
                raise ConfigError(f"domain_settings.{domain} must be a mapping of settings, got {settings!r}")
            for key, value in settings.items():
                if key not in DOMAIN_KEYS:
                    raise ConfigError(f"domain_settings.{domain}: {key} cannot differ between domains; per-domain "
                                      f"settings: {', '.join(DOMAIN_KEYS)}")
                _check_type(f"domain_settings.{domain}.{key}", value, types[key])
            try:
                self.for_domain(domain)
            except ConfigError as error:
                raise ConfigError(f"domain_settings.{domain}: {error}") from None
        shared_root = {self.for_domain(d).dataset for d in self.domains
                       if self.data_root and "data_root" not in self.domain_settings.get(d, {})}
        if len(shared_root) > 1:
            raise ConfigError(f"data_root is one data set's folder, but the domains use {', '.join(sorted(shared_root))}"
                              ": set it per domain (domain_settings.<domain>.data_root), or leave it unset to read "
                              "each data set from $MEDADV_DATA/<data set>")

    def for_domain(self, domain: str) -> "StudyConfig":
        """The configuration ``domain`` runs with: its ``domain_settings`` in place of the global values (validated as
        a configuration of that one domain)."""
        settings = self.domain_settings.get(domain)
        if not settings:
            return self
        return dataclasses.replace(self, **settings, domains=(domain,), domain_settings={})

    def per_domain(self, key: str) -> dict[str, Any]:
        """The value of ``key`` in each domain of the study, e.g. ``{"radiology": 224, "pathology": 96}``."""
        return {domain: getattr(self.for_domain(domain), key) for domain in self.domains}

    def stated(self, key: str, fmt: Callable[[Any], str] = str) -> str:
        """A per-domain setting as prose and tables state it: one value where every domain has it (the small
        profiles), else each domain's ("ophthalmology 512, radiology 224, pathology 96" under the paper profile)."""
        values = {domain: fmt(value) for domain, value in self.per_domain(key).items()}
        if len(set(values.values())) == 1:
            return next(iter(values.values()))
        return ", ".join(f"{domain} {value}" for domain, value in values.items())

    def train_batch_size(self, domain: str, init: str) -> int:
        """The batch a model of ``domain`` trains at: ``batch_size_random`` from random init where set (steps are
        what random init is short of), else the domain's ``batch_size``."""
        if init == RANDOM and self.batch_size_random is not None:
            return self.batch_size_random
        return self.for_domain(domain).batch_size

    def stated_batch_size(self) -> str:
        """The training batch as the methods pages state it: "32", or "32; random init 16"."""
        stated = self.stated("batch_size")
        return stated if self.batch_size_random is None else f"{stated}; random init {self.batch_size_random}"

    def stated_schedule(self) -> str:
        """The learning-rate schedule as the methods pages state it (``medadv.train.lr_schedule`` runs it)."""
        if not self.warmup:
            return "cosine decay over all steps"
        return f"linear warm-up from 1% over the first {self.warmup:.0%} of steps, then cosine decay"

    def stated_grad_clip(self) -> str:
        """Gradient clipping as the methods pages state it (``medadv.train.train`` runs it)."""
        return f"global norm {self.grad_clip:g}" if self.grad_clip else "none"

    @classmethod
    def keys(cls) -> set[str]:
        return {f.name for f in fields(cls)}

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], *, strict: bool = True) -> "StudyConfig":
        """Build from a mapping (a notebook's globals, a YAML profile). ``strict`` rejects unknown keys."""
        known = cls.keys()
        unknown = sorted(set(values) - known)
        if strict and unknown:
            raise ConfigError(f"unknown parameter(s) {', '.join(unknown)}; allowed: {', '.join(sorted(known))}")
        chosen = {k: v for k, v in values.items() if k in known}
        types = {f.name: f.type for f in fields(cls)}
        for key, value in chosen.items():
            _check_type(key, value, types[key])
        return cls(**chosen)

    def replace(self, **changes: Any) -> "StudyConfig":
        return dataclasses.replace(self, **changes)

    def resolved_device(self) -> str:
        from medadv.device import resolve_device

        return resolve_device(self.device)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _as_sequence(name: str, value: Any) -> list[Any]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)):
        return list(value)
    raise ConfigError(f"{name} must be a list, got {type(value).__name__} {value!r}")


def _check_split_files(name: str, value: dict[str, Any], dataset: str) -> None:
    """``split_files``: each paper set names a YAML (the authors' radiology lists) or a pair of CSVs {train, val};
    ``test`` a CSV."""
    from medadv.data import NAMED_DATASETS, PAPER_SETS

    if value and dataset not in NAMED_DATASETS:
        raise ConfigError(f"{name}: split files list images by name, and the {dataset} data set has no names; use them "
                          f"with {', '.join(NAMED_DATASETS)}")
    if value and not {D1, D2} <= set(value):
        raise ConfigError(f"{name} must list d1 and d2 (the other sets are cut from them where not listed); it lists "
                          f"{', '.join(value)}")
    for key, files in value.items():
        _check_choice(name, key, (*PAPER_SETS, "test"))
        yaml_file = isinstance(files, str) and files.endswith((".yml", ".yaml"))
        pair = isinstance(files, dict) and set(files) == {"train", "val"} and all(isinstance(v, str) for v in files.values())
        if key == "test" and not isinstance(files, str) or key != "test" and not (yaml_file or pair):
            raise ConfigError(f"{name}.{key}: expected a YAML file (trainIDs, valIDs, testIDs) or {{train: <csv>, "
                              f"val: <csv>}}{' (test: one CSV)' if key == 'test' else ''}, got {files!r}")


def _check_choice(name: str, value: Any, allowed: Any) -> None:
    if value not in allowed:
        raise ConfigError(f"{name}: {value!r} is not allowed; allowed: {', '.join(map(str, allowed))}")


def _check_type(key: str, value: Any, type_name: str) -> None:
    """Type check of one parameter against the dataclass annotation (a string under postponed annotations)."""
    if key in {"eps", "eps_grid"}:
        return  # numbers or fraction strings, checked by parse_eps
    ok: bool
    if type_name == "bool":
        ok = isinstance(value, bool)
    elif type_name == "int":
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif type_name == "float":
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif type_name == "str":
        ok = isinstance(value, str)
    elif type_name == "str | None":
        ok = value is None or isinstance(value, str)
    elif type_name == "int | None":
        ok = value is None or (isinstance(value, int) and not isinstance(value, bool))
    elif type_name.startswith("tuple"):
        ok = isinstance(value, (list, tuple, str))
    elif type_name.startswith("dict"):
        ok = isinstance(value, dict)
    else:
        ok = True
    if not ok:
        raise ConfigError(f"parameter {key}: expected {type_name}, got {type(value).__name__} {value!r}")


PARAMS_DIR = Path(__file__).resolve().parent.parent / "params"


def profile_path(profile: str, params_dir: Path = PARAMS_DIR) -> Path:
    path = params_dir / f"{profile}.yaml"
    if not path.is_file():
        available = sorted(p.stem for p in params_dir.glob("*.yaml"))
        raise ConfigError(f"unknown profile {profile!r}: no {path}; available profiles: {', '.join(available)}")
    return path


def read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        raise ConfigError(f"{path} is not valid YAML: {error}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping of parameter names to values")
    return data


def profile_parameters(profile: str, notebook_stem: str | None = None, params_dir: Path = PARAMS_DIR) -> dict[str, Any]:
    """Parameters of a profile: ``params/<profile>.yaml``, then ``params/<profile>/<notebook>.yaml`` on top."""
    values = read_yaml(profile_path(profile, params_dir))
    if notebook_stem:
        per_notebook = params_dir / profile / f"{notebook_stem}.yaml"
        if per_notebook.is_file():
            values = merge_parameters(values, read_yaml(per_notebook))
    return values


def merge_parameters(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    """``top`` over ``base`` (a profile, then a page's file, then the command line): a setting ``top`` gives replaces
    ``base``'s value of it globally and in every domain (``-p image_size=64`` is 64 px everywhere); ``top``'s
    ``domain_settings`` are merged into ``base``'s domain by domain and key by key."""
    per_domain, top_domains = base.get("domain_settings") or {}, top.get("domain_settings") or {}
    mappings = isinstance(per_domain, dict) and isinstance(top_domains, dict)
    if not mappings or not all(isinstance(v, dict) for v in (*per_domain.values(), *top_domains.values())):
        return {**base, **top}  # not mappings: left for StudyConfig to report
    out = {**base, **{k: v for k, v in top.items() if k != "domain_settings"}}
    per_domain = {domain: {k: v for k, v in settings.items() if k not in top} for domain, settings in per_domain.items()}
    for domain, settings in top_domains.items():
        per_domain[domain] = {**per_domain.get(domain, {}), **settings}
    if per_domain or "domain_settings" in top:
        out["domain_settings"] = per_domain
    return out


def parse_overrides(pairs: Iterable[str]) -> dict[str, Any]:
    """``key=value`` strings, values parsed as YAML (``eps=0.02``, ``archs=[resnet18]``, ``eps=2/255``)."""
    out: dict[str, Any] = {}
    for pair in pairs:
        if "=" not in pair:
            raise ConfigError(f"-p {pair!r}: expected key=value")
        key, raw = pair.split("=", 1)
        try:
            out[key.strip()] = yaml.safe_load(raw)
        except yaml.YAMLError:
            raise ConfigError(f"-p {pair!r}: the value is not valid YAML") from None
    return out


def parameter_names(declared: Iterable[str]) -> set[str]:
    """The parameters a page takes: those it declares, and the study-wide settings (``STUDY_WIDE_KEYS``: the data
    and how models train) when it builds a study, as every such page runs with them alike."""
    declared = set(declared)
    return declared | set(STUDY_WIDE_KEYS) if declared & StudyConfig.keys() else declared


def resolve_store(store: str, root: Path) -> str:
    """A store location as pages use it: a URL or absolute path as given, a relative path from the book root."""
    if is_url(store) or Path(store).expanduser().is_absolute():
        return store
    return str(root / store)


def resolve_parameters(declared: Mapping[str, Any], profile: str, page: str, overrides: Mapping[str, Any],
                       root: Path) -> tuple[dict[str, Any], StudyConfig]:
    """A page's parameters: the profile, then the page's own file, then the overrides (``-p``), restricted to what the
    page takes and validated before any compute; with the ``StudyConfig`` it will run with (its ``declared`` defaults
    under them). ``root`` is the book's folder: its ``params/`` and the anchor of a relative store."""
    names = parameter_names(declared)
    profile_values = profile_parameters(profile, page, params_dir=root / "params")
    unknown = sorted(set(profile_values) - StudyConfig.keys() - set(declared))
    if unknown:
        raise ConfigError(f"profile {profile!r} sets unknown parameter(s) {', '.join(unknown)}; "
                          f"allowed: {', '.join(sorted(StudyConfig.keys()))}")
    not_declared = sorted(set(overrides) - names)
    if not_declared:
        raise ConfigError(f"{page}.md has no parameter {', '.join(not_declared)}; "
                          f"its parameters: {', '.join(declared)}")
    params = merge_parameters({k: v for k, v in profile_values.items() if k in names}, overrides)
    if isinstance(params.get("store"), str):  # pages execute in book/: anchor relative stores to the book root
        params["store"] = resolve_store(params["store"], root)
    merged = {**declared, **params}
    cfg = StudyConfig.from_mapping({k: v for k, v in merged.items() if k in StudyConfig.keys()})  # bad values
    if "archs" in declared:
        check_archs(cfg.archs)
    return params, cfg


def keep_perturbations(profile: str, overrides: Mapping[str, Any], params_dir: Path) -> bool:
    """Whether a grid keeps every perturbation (``keep_perturbations`` of the profile or ``-p``). Pages do not declare
    it: it says how crafts are stored, not what they compute, and pages find the scores either way."""
    keep = overrides.get("keep_perturbations", profile_parameters(profile, params_dir=params_dir).get(
        "keep_perturbations", StudyConfig.keep_perturbations))
    if not isinstance(keep, bool):
        raise ConfigError(f"keep_perturbations must be true or false, got {keep!r}")
    return keep


def check_archs(archs: Any, key: str = "archs") -> None:
    """Refuse names timm does not know, before any compute (an unknown name would fail after an hour otherwise)."""
    from medadv.models import check_arch

    for arch in archs:
        try:
            check_arch(arch)
        except ValueError as error:
            raise ConfigError(f"{key}: {error}") from None


def check_device_available(device: str) -> None:
    """Refuse a device this machine lacks, before a page or benchmark starts (not in ``StudyConfig``: a login node
    without a GPU plans the units of GPU nodes)."""
    import torch

    kind, _, index = device.partition(":")
    if kind == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {device!r}: no CUDA GPU is visible here (torch.cuda.is_available() is False); "
                          "use device=auto or device=cpu, or run on a machine with a GPU")
    if kind == "cuda" and index and (not index.isdigit() or int(index) >= torch.cuda.device_count()):
        raise ConfigError(f"device {device!r}: this machine has {torch.cuda.device_count()} GPU(s), cuda:0 to "
                          f"cuda:{torch.cuda.device_count() - 1}")
    if kind == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(f"device {device!r}: Apple's MPS is not available here; use device=auto or device=cpu")
