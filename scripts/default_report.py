"""Print what a build of the default book shows of the paper's factors, from its results tables.

Why: whether the default lets the factors show (issue #23) is judged on a cold build by a handful of figures: T2's
working eps per domain, the pre-training gain in clean AUC at d1 and d1/10, how many d1/10 targets are clearly above
chance, how many black-box cells of T3-T5 lie below (and beat) their shuffled control, which cells rest on a model
near chance, and the verdicts with their CIs. This reads them from ``_build/results/*.csv`` so that two builds can be
compared by the same lines.

Usage: python scripts/default_report.py [_build/results]
"""
from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

FACTOR_PAGES = ("t3_pretraining", "t4_data", "t5_data_pretraining")
VERDICT_PAGES = FACTOR_PAGES + ("gain_vs_transfer",)


def main(results: Path) -> None:
    eps = pd.read_csv(results / "t2_perturbation-working-eps.csv")
    print("T2 working eps:", ", ".join(f"{r.domain} {r.iloc[1]}" for _, r in eps.iterrows()))

    gains = pd.read_csv(results / "targets-gains.csv")
    for data in ("d1", "d1/10"):
        rows = gains[gains.data == data]
        print(f"pre-training gain at {data}:", "; ".join(
            f"{r.domain} {r.arch.removeprefix('tf_efficientnet_')} {r.gain:+.3f} [{r.ci_low:+.3f}, {r.ci_high:+.3f}]"
            for _, r in rows.iterrows()))
    small = gains[gains.data == "d1/10"]
    aucs = pd.concat([small.auc_imagenet, small.auc_random])
    print(f"d1/10 targets at AUC >= 0.70: {int((aucs >= 0.70).sum())} of {len(aucs)} (lowest {aucs.min():.3f})")

    below = beats = total = 0
    for page in FACTOR_PAGES:
        cells = pd.read_csv(results / f"{page}-cells.csv")
        cells = cells[cells.perturbation == "adversarial"]
        total += len(cells)
        below += int((cells.control_diff < 0).sum())
        beats += int(cells.beats_control.astype(bool).sum())
        weak = cells[cells.near_chance.astype(bool)]
        if len(weak):
            print(f"{page}: {len(weak)} cells rest on a model near chance ({', '.join(sorted(set(weak.domain)))})")
    print(f"T3-T5 black-box cells below their shuffled control: {below} of {total} ({below / total:.1%}); "
          f"beyond noise (paired CI): {beats} ({beats / total:.1%})")

    for page in VERDICT_PAGES:
        for _, r in pd.read_csv(results / f"{page}-verdict.csv").iterrows():
            note = f" ({r.note})" if isinstance(r.note, str) and r.note else ""
            print(f"{page} {r.claim} {r.part} {r.domain}: {r.difference:+.1f} [{r.ci_low:+.1f}, {r.ci_high:+.1f}] "
                  f"{r.verdict}{note}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "_build/results"))
