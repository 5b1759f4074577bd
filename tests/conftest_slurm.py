"""A real single-node Slurm for the tests (import ``slurm_cluster`` into a test module to use it).

The session fixture starts a private cluster with scripts/slurm/start.sh in a fresh temporary directory (own
munge key, ports, accounting database), points SLURM_CONF at it, and always stops it with stop.sh at the end.
Without Slurm installed (scripts/slurm/install.sh) or without root the tests are skipped, unless
MEDADV_REQUIRE_SLURM=1, when they fail instead (for CI jobs that must exercise Slurm).
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Iterator

import pytest

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts" / "slurm"
PROGRAMS = ("munged", "mungekey", "mariadbd", "mariadb-install-db", "slurmdbd", "slurmctld", "slurmd", "sbatch",
            "srun", "sacct", "sinfo")
TEST_PORT = os.environ.get("MEDADV_SLURM_TEST_PORT", "6917")  # away from a cluster started by hand (6817)


def slurm_unavailable() -> str | None:
    """Why a test cluster cannot be started here, or None."""
    missing = [p for p in PROGRAMS if shutil.which(p) is None and not Path("/usr/sbin", p).exists()]
    if missing:
        return f"Slurm is not installed ({', '.join(missing)} not found): run scripts/slurm/install.sh as root"
    if os.geteuid() != 0:
        return "the test Slurm cluster runs its daemons and jobs as root"
    return None


def _skip_or_fail(reason: str) -> None:
    if os.environ.get("MEDADV_REQUIRE_SLURM") == "1":
        pytest.fail(f"{reason} (and MEDADV_REQUIRE_SLURM=1)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The running cluster's directory (config, logs); SLURM_CONF points at it while the session lasts."""
    reason = slurm_unavailable()
    if reason:
        _skip_or_fail(reason)
    directory = tmp_path_factory.mktemp("slurm")
    env = {**os.environ, "MEDADV_SLURM_PORT": TEST_PORT}
    old_conf = os.environ.get("SLURM_CONF")
    try:
        started = subprocess.run([str(SCRIPTS / "start.sh"), str(directory)], env=env, capture_output=True,
                                 text=True, timeout=240)
        if started.returncode != 0:
            pytest.fail(f"scripts/slurm/start.sh failed:\n{started.stderr}")
        exports = [line for line in started.stdout.splitlines() if line.startswith("export SLURM_CONF=")]
        os.environ["SLURM_CONF"] = exports[-1].split("=", 1)[1]
        yield directory
    finally:
        subprocess.run([str(SCRIPTS / "stop.sh"), str(directory)], env=env, capture_output=True, timeout=120)
        shutil.rmtree(directory / "mysql", ignore_errors=True)  # the accounting database (~100 MB); logs stay
        if old_conf is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = old_conf
