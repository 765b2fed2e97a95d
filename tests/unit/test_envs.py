"""conda cannot run here, so check that the conda environments list what pyproject does."""

import tomllib

import pytest
import yaml


def _pip_list(path):
    env = yaml.safe_load(path.read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    return {line.replace(" ", "") for line in pip}


def _pyproject(repo):
    return tomllib.loads((repo / "pyproject.toml").read_text())["project"]


@pytest.mark.parametrize("extra", ["cpu", "gpu"])
def test_conda_env_matches_pyproject(repo, extra):
    project = _pyproject(repo)
    expected = set(project["dependencies"]) | set(project["optional-dependencies"][extra])
    expected |= set(project["optional-dependencies"]["models"])
    assert _pip_list(repo / "envs" / f"{extra}.yaml") == {d.replace(" ", "") for d in expected}
