"""Integration fixtures: Snakemake runs in temporary working folders, one smoke run per session."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")


#: Set by `make test` when CI runs the suite against a local SLURM (tests/cluster/local-slurm.sh):
#: the smoke study then runs through this profile, every rule a SLURM job.
SMOKE_PROFILE = os.environ.get("ASSAY_TEST_PROFILE")
#: On CI's one 2-CPU node: a CPU per job, so that two jobs run at once while SLURM's status
#: checks (which space out as a job runs) lag behind, and a short first check.
CI_CLUSTER_ARGS = ["--max-threads", "1", "--slurm-init-seconds-before-status-checks", "5"]


def snakemake(
    workdir: Path,
    *args: str,
    configfiles: tuple[Path, ...] = (),
    timeout: int = 1500,
    profile: str | None = None,
):
    """Run the workflow in ``workdir``; returns the CompletedProcess (output in .stdout).
    On timeout the run is killed with SIGKILL (a hung SLURM run ignores SIGTERM)."""
    command = [SNAKEMAKE, "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir)]
    command += ["--profile", str(REPO / profile), *CI_CLUSTER_ARGS] if profile else ["--cores", "2"]
    if configfiles:
        command += ["--configfile", *map(str, configfiles)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    return subprocess.run(
        [*command, *args], capture_output=True, text=True, timeout=timeout, env=env, stdin=subprocess.DEVNULL
    )


def dry_run_jobs(workdir: Path, configfiles: tuple[Path, ...] = ()) -> dict[str, int]:
    """The job list of a dry run: rule name -> count (empty when nothing is to be done)."""
    result = snakemake(workdir, "-n", "--quiet", "rules", configfiles=configfiles)
    assert result.returncode == 0, result.stdout + result.stderr
    jobs: dict[str, int] = {}
    in_table = False
    for line in (result.stdout + result.stderr).splitlines():
        parts = line.split()
        if parts[:2] == ["job", "count"]:
            in_table = True
            continue
        if in_table and len(parts) == 2 and parts[1].isdigit() and parts[0] != "total":
            jobs[parts[0]] = int(parts[1])
    return jobs


@pytest.fixture(scope="session")
def smoke_study() -> Path:
    return REPO / "config" / "studies" / "smoke.yaml"


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory, smoke_study):
    """The smoke study run once through Snakemake; later tests read its store."""
    workdir = tmp_path_factory.mktemp("smoke")
    result = snakemake(workdir, configfiles=(smoke_study,), profile=SMOKE_PROFILE, timeout=2400)
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-5000:]
    (workdir / "snakemake-output.txt").write_text(result.stdout + result.stderr)
    return workdir


@pytest.fixture(scope="session")
def run_workflow():
    return snakemake


@pytest.fixture(scope="session")
def dry_run():
    return dry_run_jobs


@pytest.fixture(scope="session")
def snakemake_bin() -> str:
    """The snakemake executable of this environment (for runs started by hand)."""
    return SNAKEMAKE


@pytest.fixture(scope="session")
def smoke_profile() -> str | None:
    return SMOKE_PROFILE
