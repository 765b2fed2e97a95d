"""What envs/*.post-deploy.sh does in a new environment, for real: an editable install of
the workflow's root makes the project importable there (conda itself cannot run here, so a
bare venv stands in for the new environment)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_the_post_deploy_install_makes_assay_importable(tmp_path):
    venv = tmp_path / "env"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    install = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "--quiet", "--no-deps", "-e", str(REPO)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert install.returncode == 0, install.stderr[-2000:]
    probe = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import assay.nodes, assay.errors; print(assay.nodes.__file__)"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.strip().startswith(str(REPO))
