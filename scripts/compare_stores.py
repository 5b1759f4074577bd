"""Compare the perturbed-image scores of two stores that hold the same units (same keys), e.g. one built with the
int8 perturbation store and one with a lossless float32 one (#22), or a store before and after a change that should
not move a score.

Why: ``scripts/compare_builds.py`` compares the printed tables; this looks one level down, at every evaluation's
scores, and says per attack and perturbation (adversarial or shuffled control) how far apart they are.

Usage: python scripts/compare_stores.py STORE_A STORE_B [--tolerance 1e-3]
Exits 1 if any evaluation present in both differs by more than the tolerance.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np


def craft_specs(*stores: Path) -> dict[str, dict]:
    """Each craft unit's spec by key, from both stores' manifests."""
    specs: dict[str, dict] = {}
    for store in stores:
        for manifest in (store / "craft").glob("*/spec.json"):
            meta = json.loads(manifest.read_text())
            specs[meta["key"]] = meta["spec"]
    return specs


def differences(a: Path, b: Path) -> dict[tuple[str, str], list[float]]:
    """Largest |score difference| of each perturbed evaluation found in both stores, grouped by (attack,
    perturbation)."""
    crafts = craft_specs(a, b)
    groups: dict[tuple[str, str], list[float]] = defaultdict(list)
    for folder in sorted((a / "evaluate").glob("*")):
        other = b / "evaluate" / folder.name / "scores.npy"
        if not (folder / "scores.npy").exists() or not other.exists():
            continue
        spec = json.loads((folder / "spec.json").read_text())["spec"]
        if spec.get("craft") is None:  # clean scores: no perturbation involved
            continue
        attack = crafts.get(spec["craft"], {}).get("attack", "?")
        diff = np.abs(np.load(folder / "scores.npy").astype(np.float64) - np.load(other)).max()
        groups[(attack, spec["perturbation"])].append(float(diff))
    return groups


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("a", type=Path)
    parser.add_argument("b", type=Path)
    parser.add_argument("--tolerance", type=float, default=1e-3)
    args = parser.parse_args(argv)
    groups = differences(args.a, args.b)
    if not groups:
        print("no perturbed evaluation is in both stores")
        return 1
    worst = 0.0
    for (attack, perturbation), diffs in sorted(groups.items()):
        d = np.array(diffs)
        worst = max(worst, float(d.max()))
        print(f"{attack:14s} {perturbation:12s} {len(d):4d} evaluations: max |diff| {d.max():.2e}, "
              f"identical {np.mean(d == 0):.0%}, > {args.tolerance:g}: {int(np.sum(d > args.tolerance))}")
    print(f"all: {sum(len(v) for v in groups.values())} evaluations, max |diff| {worst:.2e}")
    return 0 if worst <= args.tolerance else 1


if __name__ == "__main__":
    sys.exit(main())
