"""The paper's designs: its setting, the conditions of its tables T2–T5 (and of the book's pages beyond them), its
claims, and one registry of what every page of the book measures (``PAGES``).

Why one registry: a page asks it for its conditions (``page_conditions``) and ``medadv grid`` plans from it
(``medadv.book.plan_units``), so what a cluster computes ahead of the book is exactly what the pages read. Each
``*_conditions`` function states one table's design of ../shared/PAPER.md in code; what is computed from conditions
lives in ``medadv.analysis``, what is shown in ``medadv.show``.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from itertools import permutations, product
from typing import Any, Callable, Iterable, Sequence

from medadv.attacks import PAPER_PGD
from medadv.config import ConfigError, StudyConfig
from medadv.study import Condition, EnsembleSpec, ModelSpec, PublicSpec, Study, same_config_surrogate
from medadv.vocab import (ADVERSARIAL, D1, D1_TENTH, D2, D2_HALF, DEVELOPMENT_SETS, FEATURE_PGD, IMAGENET, NATURAL,
                          PERTURBATIONS, RANDOM, SHUFFLED, TEST_IMAGES, UNIVERSAL)

# ------------------------------------------------------------------------------------------------------ the setting

#: The paper's images lie on [-1, 1], ours on [0, 1]: its eps and step sizes are twice ours.
PAPER_SCALE = 2.0


def to_paper_scale(value: float) -> float:
    """An eps or step size on our [0, 1] image scale, on the paper's [-1, 1] scale (× 2)."""
    return PAPER_SCALE * value


#: The paper's setting (../shared/PAPER.md), per domain where it differs; eps and PGD step on our [0, 1] scale (the
#: PGD schedule is the attacks' own default, ``attacks.PAPER_PGD``).
PAPER_SETTING: dict[str, Any] = {
    "dataset": {"ophthalmology": "EyePACS (Kaggle DR)", "radiology": "NIH ChestX-ray14", "pathology": "PatchCamelyon"},
    "image_size": {"ophthalmology": 512, "radiology": 224, "pathology": 96},
    "archs": ("inception_v3", "densenet121"),
    "inits": (IMAGENET, RANDOM),
    "attacks": ("fgsm", "pgd"),
    "eps": 0.01,
    "pgd_steps": PAPER_PGD["steps"],
    "pgd_alpha": PAPER_PGD["alpha"],
    "copies": 1,  # one trained model per configuration (plus the second copy as the same-everything surrogate)
}
#: The data set of this package that reads each domain's real data.
REAL_DATASETS = {"ophthalmology": "fundus", "radiology": "chestxray", "pathology": "pcam"}
#: The paper's two attacks: its T2 sets them side by side, its T3–T5 average them.
PAPER_ATTACKS = ("fgsm", "pgd")

# ------------------------------------------------------------------------------------------------------ designs

def surrogate_for(target: ModelSpec, arch: str, init: str, data: str, *, shared_init: bool = False) -> ModelSpec:
    """The surrogate of the given configuration; if it equals the target's, the independent second copy.
    ``shared_init``: a random-init surrogate of a random-init target's architecture starts from the target's initial
    weights (the shared-initialisation control)."""
    candidate = ModelSpec(target.domain, arch, init, data, copy=target.copy)
    surrogate = same_config_surrogate(target) if candidate == target else ModelSpec(target.domain, arch, init, data)
    if shared_init and arch == target.arch and init == target.init == RANDOM:
        return replace(surrogate, init_of=target)
    return surrogate


def grid_conditions(
    study: Study, domain: str, *, target_data: str, surrogate_data: Sequence[str], target_inits: Sequence[str],
    surrogate_inits: Sequence[str], attacks: Sequence[str], eps: Iterable[float],
    perturbations: Sequence[str] = (ADVERSARIAL, SHUFFLED),
) -> list[Condition]:
    """Every (target, surrogate) over the profile's architectures and the given inits and data, per attack and eps."""
    archs = study.cfg.archs
    out = []
    for t_arch, t_init, s_arch, s_init, s_data, attack, e, pert in product(
        archs, target_inits, archs, surrogate_inits, surrogate_data, attacks, list(eps), perturbations
    ):
        target = ModelSpec(domain, t_arch, t_init, target_data)
        surrogate = surrogate_for(target, s_arch, s_init, s_data, shared_init=study.cfg.shared_init)
        out.append(Condition(target, surrogate, attack, e, pert))
    return out


def white_box_conditions(study: Study, domain: str, *, init: str, data: str, attacks: Sequence[str],
                         eps: Iterable[float]) -> list[Condition]:
    """Each target attacked through itself: the white-box reference (the most an attack can do), with its control."""
    return [Condition(t, t, a, e, p) for t, a, e, p in product(
        [ModelSpec(domain, arch, init, data) for arch in study.cfg.archs], attacks, list(eps), PERTURBATIONS)]


def t2_conditions(study: Study, domain: str) -> list[Condition]:
    """T2, perturbation degree: random init, both on d1, FGSM and PGD over the eps grid, with the shuffled control;
    plus the white-box reference (each target attacked through itself)."""
    c = study.cfg
    return grid_conditions(study, domain, target_data=D1, surrogate_data=[D1], target_inits=[RANDOM],
                           surrogate_inits=[RANDOM], attacks=c.attacks, eps=c.eps_grid) + white_box_conditions(
        study, domain, init=RANDOM, data=D1, attacks=c.attacks, eps=c.eps_grid)


def t3_conditions(study: Study, domain: str) -> list[Condition]:
    """T3, pre-training: target init × surrogate init × same/different architecture, on d1."""
    c = study.cfg
    return grid_conditions(study, domain, target_data=D1, surrogate_data=[D1], target_inits=c.inits,
                           surrogate_inits=c.inits, attacks=c.attacks, eps=[c.eps])


def t4_conditions(study: Study, domain: str) -> list[Condition]:
    """T4, development data: random init; target on d1; surrogate on d1 (second copy), d2 and d2/2."""
    c = study.cfg
    return grid_conditions(study, domain, target_data=D1, surrogate_data=[D1, D2, D2_HALF],
                           target_inits=[RANDOM], surrogate_inits=[RANDOM], attacks=c.attacks, eps=[c.eps])


def t5_conditions(study: Study, domain: str) -> list[Condition]:
    """T5, pre-training under data difference: target on d1/10, surrogate on d2, init × init."""
    c = study.cfg
    return grid_conditions(study, domain, target_data=D1_TENTH, surrogate_data=[D2], target_inits=c.inits,
                           surrogate_inits=c.inits, attacks=c.attacks, eps=[c.eps])


# ------------------------------------------------------------------------------------------------------ beyond the paper

#: The paper's iterative attack: the baseline the transfer-enhancing attacks are compared with.
BASELINE_ATTACK = "pgd"


def verdict_attack(cfg: StudyConfig) -> str:
    """The attack a page's verdict uses: PGD where the study runs it, else the study's first attack."""
    return BASELINE_ATTACK if BASELINE_ATTACK in cfg.attacks else cfg.attacks[0]


def copies_conditions(study: Study, domain: str) -> list[Condition]:
    """Beyond the paper, variance between copies: T3's same-architecture pairs of equal initialisation (ImageNet →
    ImageNet, random → random; the profile's first architecture; d1) for every ordered pair of distinct, independently
    trained copies 1 … ``copies`` as (target, surrogate), with the verdict attack at eps and the shuffled control.
    Target copy 1 attacked through copy 2 is the paper's single comparison (T3's condition, the same units)."""
    c = study.cfg
    if c.copies < 2:
        raise ConfigError(f"copies must be at least 2 (two independently trained copies make one pair), got {c.copies}")
    arch, attack = c.archs[0], verdict_attack(c)
    return [Condition(ModelSpec(domain, arch, init, D1, t), ModelSpec(domain, arch, init, D1, s), attack, c.eps, p)
            for init in c.inits for t, s in permutations(range(1, c.copies + 1), 2) for p in PERTURBATIONS]


def attack_list(cfg: StudyConfig) -> list[str]:
    """The attacks the transfer-attack page compares: PGD (the baseline) first, then the study's other attacks."""
    return list(dict.fromkeys([BASELINE_ATTACK, *cfg.attacks]))


def attack_conditions(study: Study, domain: str) -> list[Condition]:
    """Beyond the paper, transfer-enhancing attacks: T3's pairs of equal initialisation with targets of the profile's
    first architecture (each init, d1) and surrogates of every architecture of that init (the target's own
    configuration: its second copy), under PGD and each other attack of the study; plus PGD on the ensemble of those
    surrogates (mean logits; never the target itself). Each with the shuffled control."""
    c = study.cfg
    out = []
    for init in c.inits:
        target = ModelSpec(domain, c.archs[0], init, D1)
        singles = tuple(surrogate_for(target, arch, init, D1, shared_init=c.shared_init) for arch in c.archs)
        for attack, surrogate, perturbation in product(attack_list(c), singles, PERTURBATIONS):
            out.append(Condition(target, surrogate, attack, c.eps, perturbation))
        if len(singles) > 1:
            out += [Condition(target, EnsembleSpec(singles), BASELINE_ATTACK, c.eps, p) for p in PERTURBATIONS]
    return out


def architecture_conditions(study: Study, domain: str) -> list[Condition]:
    """The architecture page's matrix: T3's conditions one by one, plus the white-box diagonal (each target of each
    initialisation attacked through itself at eps), with their shuffled controls."""
    c = study.cfg
    white = [w for init in c.inits
             for w in white_box_conditions(study, domain, init=init, data=D1, attacks=c.attacks, eps=[c.eps])]
    return t3_conditions(study, domain) + white


#: The public-parts chapter's attacker knowledge levels, from least to most (its table's rows, in order).
PUBLIC_NATURAL = "public checkpoint, natural images"
PUBLIC_TEST = "public checkpoint, medical images, no labels"
SHARED_START = "shared starting point (random init, d2)"
D2_HALF_SURROGATE = "surrogate on less other data (d2/2)"
D2_SURROGATE = "surrogate on other data (d2)"
D1_COPY = "surrogate on the same data (d1 copy)"
WHITE_BOX_TARGET = "the target itself (white box)"
KNOWLEDGE: tuple[str, ...] = (PUBLIC_NATURAL, PUBLIC_TEST, SHARED_START, D2_HALF_SURROGATE, D2_SURROGATE, D1_COPY,
                              WHITE_BOX_TARGET)


def knowledge(cond: Condition) -> str:
    """What the attacker of a public-parts condition had (one of ``KNOWLEDGE``)."""
    s = cond.surrogate
    if isinstance(s, PublicSpec):
        return PUBLIC_NATURAL if s.images == NATURAL else PUBLIC_TEST
    if cond.target in s.members:
        return WHITE_BOX_TARGET
    if isinstance(s, ModelSpec) and s.init_of is not None:
        return SHARED_START
    if s.data == D1:
        return D1_COPY
    if s.data == D2:
        return D2_SURROGATE
    if s.data == D2_HALF:
        return D2_HALF_SURROGATE
    raise ValueError(f"{s.label()} is no attacker of the public-parts design")


def public_conditions(study: Study, domain: str) -> list[Condition]:
    """Beyond the paper, the attacker with public parts only: each target (every architecture and initialisation of
    the profile, d1) attacked through the ImageNet checkpoint of its own architecture with a universal perturbation
    fitted on natural photographs, and with label-free feature PGD on the test images; for scale, the paper's
    black-box surrogates of the target's configuration (d1 copy, d2, d2/2) and the white box under the verdict
    attack; and, for random-init targets, a random-init surrogate on d2 started from the target's own initial weights
    (a shared starting point without ImageNet features). Each with its shuffled control."""
    c = study.cfg
    attack, out = verdict_attack(c), []
    for arch, init in product(c.archs, c.inits):
        target = ModelSpec(domain, arch, init, D1)
        public = [(PublicSpec(domain, arch, NATURAL), UNIVERSAL), (PublicSpec(domain, arch, TEST_IMAGES), FEATURE_PGD)]
        paper_attackers = [surrogate_for(target, arch, init, data) for data in (D2_HALF, D2)]
        attackers = public + [(s, attack) for s in [*paper_attackers, same_config_surrogate(target), target]]
        if init == RANDOM:
            attackers.insert(2, (replace(ModelSpec(domain, arch, RANDOM, D2), init_of=target), attack))
        out += [Condition(target, s, a, c.eps, p) for s, a in attackers for p in PERTURBATIONS]
    return out


def method(cond: Condition) -> str:
    """The attack as the transfer-attack page names it: the attack, or "ensemble <attack>" on an ensemble."""
    return f"ensemble {cond.attack}" if isinstance(cond.surrogate, EnsembleSpec) else cond.attack


#: The factor pages whose models the reference pages describe (T2 trains a subset of T3's random d1 models).
FACTOR_TABLES: tuple[Callable[[Study, str], list[Condition]], ...] = (t3_conditions, t4_conditions, t5_conditions)


def trained_configurations(study: Study, domain: str) -> list[ModelSpec]:
    """Every model configuration (copy 1) the factor pages train in ``domain``, as target or surrogate, in order."""
    seen: dict[ModelSpec, None] = {}
    for conditions_of in FACTOR_TABLES:
        for cond in conditions_of(study, domain):
            for spec in (cond.target, cond.surrogate):
                seen.setdefault(ModelSpec(spec.domain, spec.arch, spec.init, spec.data), None)
    order = {name: i for i, name in enumerate(DEVELOPMENT_SETS)}
    return sorted(seen, key=lambda s: (order.get(s.data, 9), study.cfg.archs.index(s.arch), s.init))


def pretraining_pairs(study: Study, domain: str, data: str = D1) -> list[tuple[ModelSpec, ModelSpec]]:
    """(ImageNet-initialised, randomly initialised) model of each architecture on ``data``: the pre-training gain's
    pairs (copy 1, the factor pages' targets)."""
    return [(ModelSpec(domain, arch, IMAGENET, data), ModelSpec(domain, arch, RANDOM, data))
            for arch in study.cfg.archs]


# ------------------------------------------------------------------------------------------------------ claims


@dataclass(frozen=True)
class Claim:
    """One claim of the paper's abstract, the page that tests it, and how (the difference whose sign decides);
    ``table``: the conditions its verdict reads (under the verdict attack)."""

    id: str
    text: str
    page: str
    measure: str
    expected_sign: int
    table: Callable[[Study, str], list[Condition]]


#: The abstract's claims, each tested per domain (b: across domains) on the page that owns it; the introduction
#: lists them all from the same functions (``analysis.claim_rows``).
CLAIMS: tuple[Claim, ...] = (
    Claim("a", "ImageNet pre-training increases transfer, with the same and with different architectures",
          "t3_pretraining", "perc_clean(ImageNet target ← ImageNet surrogate) − perc_clean(random ← random), T3 (d1), "
          "once over same-architecture pairs, once over different-architecture pairs", -1, t3_conditions),
    Claim("b", "the larger the performance gain from pre-training, the larger the transfer", "gain_vs_transfer",
          "slope of the transfer gain (perc_clean random pair − ImageNet pair) on the pre-training gain in clean AUC, "
          "one point per domain × target architecture", +1, t3_conditions),
    Claim("c", "different development data lowers transfer", "t4_data",
          "perc_clean(surrogate on d2) − perc_clean(surrogate on d1), T4 (random init, target on d1), all pairs", +1,
          t4_conditions),
    Claim("d", "a different architecture amplifies the data effect", "t4_data",
          "(d2 − d1) over different-architecture pairs − (d2 − d1) over same-architecture pairs, T4", +1,
          t4_conditions),
    Claim("e", "pre-training still increases transfer when the target has little data", "t5_data_pretraining",
          "perc_clean(ImageNet pair) − perc_clean(random pair), target on d1/10, surrogate on d2 (T5), all pairs", -1,
          t5_conditions),
)


def claim(claim_id: str) -> Claim:
    for c in CLAIMS:
        if c.id == claim_id:
            return c
    raise ValueError(f"unknown claim {claim_id!r}; claims: {', '.join(c.id for c in CLAIMS)}")


def claim_conditions(study: Study, claim_id: str, domain: str) -> list[Condition]:
    """Every condition a claim's verdict reads in ``domain``: its table's under the verdict attack (adversarial and
    shuffled control), and for claim a the copies whose pairs check the verdict against the training seed."""
    attack = verdict_attack(study.cfg)
    chosen = [c for c in claim(claim_id).table(study, domain) if c.attack == attack]
    if claim_id == "a" and study.cfg.copies >= 2:
        chosen += copies_conditions(study, domain)
    return chosen


# ------------------------------------------------------------------------------------------------------ the registry


@dataclass(frozen=True)
class Design:
    """What a page measures in one domain: transfer conditions, and models it evaluates clean beyond their targets."""

    conditions: list[Condition] = field(default_factory=list)
    models: list[ModelSpec] = field(default_factory=list)


def _claims(*ids: str) -> Callable[[Study, str], Design]:
    def design(study: Study, domain: str) -> Design:
        conditions = [c for i in ids for c in claim_conditions(study, i, domain)]
        gains = [m for i in ids if i == "b" for pair in pretraining_pairs(study, domain) for m in pair]
        return Design(list(dict.fromkeys(conditions)), gains)
    return design


def _table(conditions_of: Callable[[Study, str], list[Condition]], *ids: str) -> Callable[[Study, str], Design]:
    def design(study: Study, domain: str) -> Design:
        extra = _claims(*ids)(study, domain)
        return Design(list(dict.fromkeys(conditions_of(study, domain) + extra.conditions)), extra.models)
    return design


#: page stem -> what it measures in a domain. Pages not named here measure nothing (they read data or plan).
PAGES: dict[str, Callable[[Study, str], Design]] = {
    "intro": _claims(*(c.id for c in CLAIMS)),
    "targets": lambda study, domain: Design(models=trained_configurations(study, domain)),
    "t2_perturbation": _table(t2_conditions),
    "t3_pretraining": _table(t3_conditions, "a"),
    "gain_vs_transfer": _claims("b"),
    "architecture": _table(architecture_conditions),
    "t4_data": _table(t4_conditions, "c", "d"),
    "t5_data_pretraining": _table(t5_conditions, "e"),
    "beyond_copies": _table(copies_conditions),
    "beyond_attacks": _table(attack_conditions),
    "beyond_public": _table(public_conditions),
}


def page_design(study: Study, page: str, domain: str) -> Design:
    """What ``page`` measures in ``domain`` (an empty design for a page that measures nothing)."""
    return PAGES[page](study, domain) if page in PAGES else Design()


def page_conditions(study: Study, page: str) -> list[Condition]:
    """Every condition ``page`` measures, over the study's domains."""
    return [c for d in study.cfg.domains for c in page_design(study, page, d).conditions]


def page_models(study: Study, page: str) -> list[ModelSpec]:
    """Every model ``page`` evaluates clean beyond its conditions' targets, over the study's domains."""
    return [m for d in study.cfg.domains for m in page_design(study, page, d).models]
