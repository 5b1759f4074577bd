"""What produced a page: its parameters, package versions, device and git commit (shown at the end of every page)."""
from __future__ import annotations

import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

PACKAGES = ("medadv", "torch", "torchvision", "timm", "numpy", "pandas", "scikit-learn", "scikit-image", "papermill")


def git_commit(root: Path = Path(__file__).resolve().parent.parent) -> str:
    try:
        commit = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=root, capture_output=True, text=True,
                                timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{commit}{' (modified)' if dirty else ''}" if commit else "unknown"


def device_name(device: str) -> str:
    import torch

    if device.startswith("cuda") and torch.cuda.is_available():
        return f"{device} ({torch.cuda.get_device_name(0)})"
    return f"{device} ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def provenance(parameters: dict[str, Any], device: str) -> pd.DataFrame:
    """One table, two columns (item, value): parameters first, then environment."""
    rows = [("parameter: " + k, repr(v)) for k, v in parameters.items()]
    for package in PACKAGES:
        try:
            rows.append((f"package: {package}", metadata.version(package)))
        except metadata.PackageNotFoundError:
            rows.append((f"package: {package}", "not installed"))
    rows += [("python", platform.python_version()), ("device", device_name(device)), ("git commit", git_commit())]
    return pd.DataFrame(rows, columns=["item", "value"])
