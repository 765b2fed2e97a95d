"""Whether an engine started on one checkpoint can serve another by loading its weights.

Why: a study evaluates every checkpoint it trains (LoRA merged into the base model's
weights, or fully fine-tuned), and each is mostly loaded once, so each cost an engine start
(``import vllm``, the engine's set-up, its KV cache: about 10 s on 2 cores) for about as
long of generation. A trained variant has its base model's architecture, tokenizer and
generation config; only the weights differ. The base model's shared engine
(:mod:`assay.engine.shared`) can load them in place (:meth:`Engine.load_weights`) instead.

``same_model`` decides it from the checkpoint folders alone: every file but the weights
must be equal, the JSON ones after the fields that do not change what an engine computes
are set aside (the dtype the weights were saved in, which the engine's own dtype overrides,
the transformers version, the training-time ``use_cache`` flag and the source path).
Anything else that differs (another vocabulary, chat template, end-of-sequence token, layer
count) gives an engine of its own, as before.
"""

from __future__ import annotations

import json
from pathlib import Path

#: Files that hold weights: the ones a variant may differ in.
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")
WEIGHT_INDEXES = ("model.safetensors.index.json", "pytorch_model.bin.index.json")
#: JSON fields that do not change what an engine computes with a given dtype.
IGNORED_FIELDS = frozenset({"dtype", "torch_dtype", "transformers_version", "use_cache", "_name_or_path"})


def _described(folder: Path) -> dict[str, object]:
    """Every non-weight file of a checkpoint folder: JSON files parsed (ignored fields
    dropped, at the top level and in nested configs), the others as bytes."""
    files: dict[str, object] = {}
    for path in sorted(folder.iterdir()):
        if not path.is_file() or path.suffix in WEIGHT_SUFFIXES or path.name in WEIGHT_INDEXES:
            continue
        if path.suffix == ".json":
            try:
                files[path.name] = _without_ignored(json.loads(path.read_text()))
                continue
            except (ValueError, UnicodeDecodeError):
                pass
        files[path.name] = path.read_bytes()
    return files


def _without_ignored(value):
    if isinstance(value, dict):
        return {k: _without_ignored(v) for k, v in value.items() if k not in IGNORED_FIELDS}
    if isinstance(value, list):
        return [_without_ignored(v) for v in value]
    return value


def same_model(base: Path, variant: Path) -> str | None:
    """None when an engine on ``base`` serves ``variant`` exactly as an engine started on
    ``variant`` would once it loads ``variant``'s weights; else why not, for the log."""
    try:
        mine, theirs = _described(Path(base)), _described(Path(variant))
    except OSError as error:
        return f"its checkpoint cannot be read ({error})"
    if "config.json" not in mine or "config.json" not in theirs:
        return "a checkpoint without config.json"
    differing = sorted(name for name in set(mine) | set(theirs) if mine.get(name) != theirs.get(name))
    if differing:
        return f"its {', '.join(differing)} differ from the base model's"
    return None
