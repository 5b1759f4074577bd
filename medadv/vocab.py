"""The study's vocabulary: the names of stages, initialisations, perturbations, threat models and development sets.

Why one module: these names are data (they are in store keys, results tables and the pages' prose), so each is spelled
once here and code compares with the constant, never with a literal that a typo would silently never match. They are
plain strings, so store keys, CSVs and JSON stay as they were.
"""
from __future__ import annotations

# the stages of the work, in the order they run (a unit of each is one store entry)
TRAIN, CRAFT, EVALUATE = "train", "craft", "evaluate"
STAGES: tuple[str, ...] = (TRAIN, CRAFT, EVALUATE)

# how a model's weights start: from the public ImageNet checkpoint, or drawn at random
IMAGENET, RANDOM = "imagenet", "random"
INITS: tuple[str, ...] = (IMAGENET, RANDOM)

# what is added to a test image: the attack's perturbation, or its values at shuffled pixel positions (the control)
ADVERSARIAL, SHUFFLED = "adversarial", "shuffled"
PERTURBATIONS: tuple[str, ...] = (ADVERSARIAL, SHUFFLED)

# whether the attacker crafts on the target itself or on another model (a surrogate)
WHITE_BOX, BLACK_BOX = "white-box", "black-box"
THREATS: tuple[str, ...] = (WHITE_BOX, BLACK_BOX)

# the paper's development sets: d1 (the target's), d2 (disjoint patients), half of d2, a tenth of d1
D1, D2, D2_HALF, D1_TENTH = "d1", "d2", "d2/2", "d1/10"
DEVELOPMENT_SETS: tuple[str, ...] = (D1, D2, D2_HALF, D1_TENTH)

# a pair's architectures: equal, or not (the architecture factor)
SAME, DIFFERENT = "same", "different"

# the public-parts attacker's images (beyond the paper): natural photographs, or the test images themselves
NATURAL, TEST_IMAGES = "natural", "test"
# its attacks: one universal perturbation fitted on natural images; label-free per-image feature PGD
UNIVERSAL, FEATURE_PGD = "universal", "feature_pgd"
