"""Compare two builds' results tables (``_build/results/*.csv``) to the digit the book prints.

Why: a refactor or a storage change must leave the book's numbers alone. Pages print perc_clean and its CI with one
decimal and AUCs with two, so "unchanged" means every such value rounds the same in both builds, and every text
column (verdicts, marks, notes) is equal. The records of measured runs (build timings, sweeps) are skipped: they are
data a commit adds to, not results of the build.

Usage: python scripts/compare_builds.py BEFORE/_build/results AFTER/_build/results
Prints one line per table and the largest absolute difference of each numeric column that differs; exits 1 if any
table differs to the printed digit (or is missing from one build).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

SKIPPED = ("reproduce-timings", "reproduce-sweeps")


def printed_digits(column: str) -> int:
    """Decimals the book prints a column with: AUCs two, everything else (perc_clean, differences, eps) one."""
    return 2 if "auc" in column.lower() else 1


def compare(before: pd.DataFrame, after: pd.DataFrame) -> tuple[bool, list[str]]:
    """Whether two versions of one table differ to the printed digit, and their differences as lines (numeric ones
    below the printed digit included, for information)."""
    if list(before.columns) != list(after.columns) or len(before) != len(after):
        return True, [f"shape or columns differ: {before.shape} {list(before.columns)} vs {after.shape} "
                      f"{list(after.columns)}"]
    differs, lines = False, []
    for column in before.columns:
        a, b = before[column], after[column]
        if pd.api.types.is_numeric_dtype(a) and pd.api.types.is_numeric_dtype(b):
            x, y = a.to_numpy(float), b.to_numpy(float)
            both_nan = np.isnan(x) & np.isnan(y)
            diff = np.where(both_nan, 0.0, np.abs(x - y))
            if np.any(np.isnan(diff)):
                differs = True
                lines.append(f"{column}: NaN in one build only")
                continue
            digits = printed_digits(column)
            moved = (np.round(x, digits) != np.round(y, digits)) & ~both_nan
            differs |= bool(moved.any())
            if diff.max(initial=0.0) > 0:
                lines.append(f"{column}: max |diff| {diff.max():.2e}"
                             + (f", {int(moved.sum())} value(s) change at {digits} decimals" if moved.any() else ""))
        elif not a.fillna("").astype(str).equals(b.fillna("").astype(str)):
            differs = True
            changed = (a.fillna("").astype(str) != b.fillna("").astype(str)).sum()
            lines.append(f"{column}: {changed} text value(s) differ")
    return differs, lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    args = parser.parse_args(argv)
    names = sorted({p.stem for p in args.before.glob("*.csv")} | {p.stem for p in args.after.glob("*.csv")})
    failed = False
    for name in names:
        if name.startswith(SKIPPED):
            continue
        paths = [folder / f"{name}.csv" for folder in (args.before, args.after)]
        if not all(p.exists() for p in paths):
            print(f"{name}: only in {'before' if paths[0].exists() else 'after'}")
            failed = True
            continue
        changed, lines = compare(*(pd.read_csv(p) for p in paths))
        failed |= changed
        print(f"{name}: {'DIFFERS' if changed else 'same to the printed digit'}")
        for line in lines:
            print(f"    {line}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
