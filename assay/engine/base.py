"""The one inference interface every stage uses.

A stage builds an :class:`EngineSpec` (how to run) and a :class:`SamplingSpec` (what to
sample), loads an engine for one checkpoint, and calls ``generate`` once with all its
prompts: engine start dominates small jobs, so a rule batches everything for one model.

A prompt is either a raw string (completion, for base models) or a list of chat messages
``[{"role": ..., "content": ...}]`` (rendered with the checkpoint's chat template).
"""

from __future__ import annotations

import abc
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from assay.errors import ConfigError, EngineError

log = logging.getLogger(__name__)

Message = dict[str, str]
Prompt = str | list[Message]
BACKENDS = ("auto", "vllm", "hf")


@dataclass(frozen=True)
class SamplingSpec:
    """What to sample for every prompt; mirrors vLLM's SamplingParams."""

    n: int = 1
    temperature: float = 0.0
    top_p: float = 1.0
    max_tokens: int = 256
    stop: tuple[str, ...] = ()
    seed: int | None = None
    logprobs: bool = False

    def __post_init__(self) -> None:
        if self.n < 1:
            raise ConfigError(f"sampling.n must be >= 1, got {self.n}")
        if self.temperature < 0:
            raise ConfigError(f"sampling.temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ConfigError(f"sampling.top_p must be in (0, 1], got {self.top_p}")
        if self.max_tokens < 1:
            raise ConfigError(f"sampling.max_tokens must be >= 1, got {self.max_tokens}")
        object.__setattr__(self, "stop", tuple(self.stop))

    @property
    def greedy(self) -> bool:
        return self.temperature == 0


@dataclass(frozen=True)
class EngineSpec:
    """How to run a model. Only ``backend``, ``dtype`` and ``seed`` change results; the
    rest are performance settings and stay out of artifact keys."""

    backend: str = "auto"
    dtype: str = "bfloat16"
    seed: int = 0
    max_model_len: int = 2048
    tensor_parallel_size: int = 1
    gpu_memory_utilization: float = 0.9
    enforce_eager: bool = True
    hf_batch_size: int = 32
    kv_cache_gb: int = 1
    block_size: int | None = None
    share: str | bool = "auto"
    share_idle_s: float = 1800.0

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ConfigError(f"engine.backend must be one of {BACKENDS}, got {self.backend!r}")
        if self.share not in ("auto", True, False):
            raise ConfigError(f"engine.share must be auto, true or false, got {self.share!r}")
        if self.share_idle_s <= 0:
            raise ConfigError(f"engine.share_idle_s must be > 0, got {self.share_idle_s}")
        if self.block_size is not None and (self.block_size < 16 or self.block_size % 16):
            raise ConfigError(f"engine.block_size must be a multiple of 16, got {self.block_size}")

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> EngineSpec:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in values.items() if k in known})

    def result_fields(self) -> dict[str, Any]:
        """The settings that change outputs, for artifact specs."""
        return {"backend": self.backend, "dtype": self.dtype, "seed": self.seed}

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Completion:
    """The n samples for one prompt: texts, output token counts, optional cumulative
    log-probabilities (one float per sample)."""

    texts: list[str]
    token_counts: list[int]
    logprobs: list[float] | None = field(default=None)


class Engine(abc.ABC):
    """A loaded model that turns prompts into completions.

    ``generate`` sends the prompts in a few large chunks so that the rule log shows progress
    with rate and ETA, one line per chunk, rather than a bar per item. A chunk holds at
    least ``min_chunk`` sequences (prompts x n): for vLLM the most sequences its scheduler
    runs at once, so that chunking never starves its continuous batching. Chunks of 48
    sequences (3 prompts x n=16, what ``min_chunk`` 32 gave) generated at 0.70x the rate of
    chunks that fill vLLM's batch on an AVX2 CPU (80 against 115 output tok/s, SmolLM2, 20
    prompts x 16 samples; benchmarks/chunking.py).
    """

    name: str = "engine"
    #: Whether this job started the engine (a shared one may have been running), and
    #: whether it is a shared engine.
    started: bool = True
    shared: bool = False
    #: Asked between chunks: has the caller gone? A shared engine's server sets it, so that
    #: a job killed mid-call does not keep the engine busy for the rest of its prompts.
    abandoned: Callable[[], bool] | None = None
    progress_chunks: int = 8
    #: Sequences (prompts x n) a chunk holds at least (an engine that knows its batch sets it).
    min_chunk: int = 32
    #: Whether :meth:`load_weights` is implemented.
    loads_weights: bool = False

    def generate(self, prompts: Sequence[Prompt], sampling: SamplingSpec) -> list[Completion]:
        """One Completion per prompt, in order."""
        # chunks of at least ``min_chunk`` sequences (prompts x n), about progress_chunks of them
        size = max(math.ceil(self.min_chunk / sampling.n), math.ceil(len(prompts) / self.progress_chunks))
        self._start(sampling)
        log.info(
            "%s: generating for %d prompts x n=%d, up to %d tokens each",
            self.name,
            len(prompts),
            sampling.n,
            sampling.max_tokens,
        )
        started, tokens, done = time.time(), 0, []
        for start in range(0, len(prompts), size):
            if start and self.abandoned is not None and self.abandoned():
                raise EngineError(f"the caller has gone: stopped after {len(done)} of {len(prompts)} prompts")
            done += self._generate(prompts[start : start + size], sampling)
            tokens += sum(sum(c.token_counts) for c in done[-len(prompts[start : start + size]) :])
            elapsed = time.time() - started
            if len(prompts) > size:
                eta = elapsed / len(done) * (len(prompts) - len(done))
                log.info(
                    "%s: %d/%d prompts (%.0f%%), %.0f output tok/s, ETA %.0f s",
                    self.name,
                    len(done),
                    len(prompts),
                    100 * len(done) / len(prompts),
                    tokens / max(elapsed, 1e-9),
                    eta,
                )
        return done

    def token_logprobs(
        self, prompts: Sequence[Prompt], prefixes: Sequence[str], candidates: Sequence[str]
    ) -> list[list[float]]:
        """log p(first token of each candidate | prompt rendered as for ``generate``, then
        prefix), per prompt and candidate: a verdict's probability from one forward pass at
        the verdict's position. The candidate's first token is where the tokenisation of
        context + candidate stops agreeing with that of the context alone."""
        wanted: dict[tuple[int, ...], list[int]] = {}  # context -> tokens scored after it
        where: list[list[tuple[tuple[int, ...], int]]] = []
        for prompt, prefix in zip(prompts, prefixes, strict=True):
            context = self.render(prompt) + prefix
            special = isinstance(prompt, str)  # chat templates already write the BOS token
            head = self.tokenize(context, special)
            row = []
            for candidate in candidates:
                ids = self.tokenize(context + candidate, special)
                start = next((i for i, (a, b) in enumerate(zip(head, ids)) if a != b), len(head))
                if start >= len(ids):
                    raise EngineError(f"candidate {candidate!r} adds no token to its context")
                key = tuple(ids[:start])
                wanted.setdefault(key, [])
                if ids[start] not in wanted[key]:
                    wanted[key].append(ids[start])
                row.append((key, ids[start]))
            where.append(row)
        keys = list(wanted)
        scores = self._next_token_logprobs([list(k) for k in keys], [wanted[k] for k in keys])
        found = {(k, t): score for k, row in zip(keys, scores) for t, score in zip(wanted[k], row)}
        return [[found[place] for place in row] for row in where]

    def render(self, prompt: Prompt) -> str:
        """The text the model sees: chat messages through the checkpoint's chat template."""
        if isinstance(prompt, str):
            return prompt
        tokenizer = self.tokenizer
        if not tokenizer.chat_template:
            raise EngineError("this checkpoint has no chat template: give raw prompts instead")
        return tokenizer.apply_chat_template(prompt, add_generation_prompt=True, tokenize=False)

    def tokenize(self, text: str, special: bool) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=special)["input_ids"])

    def _next_token_logprobs(self, contexts: list[list[int]], tokens: list[list[int]]) -> list[list[float]]:
        """log p(token | context) for each context and each of its tokens."""
        raise NotImplementedError(f"the {self.name} engine does not score tokens")

    def _start(self, sampling: SamplingSpec) -> None:  # noqa: B027 - optional hook
        """Called once per ``generate`` before the first chunk (seeding, for instance)."""

    @abc.abstractmethod
    def _generate(self, prompts: Sequence[Prompt], sampling: SamplingSpec) -> list[Completion]:
        """One Completion per prompt, in order (one batch)."""

    def load_weights(self, checkpoint: Path) -> None:
        """Serve another checkpoint of the same model from now on: its weights loaded in
        place of the current ones (a trained variant of the base model this engine started
        on, whose config, tokenizer and generation config are the base's:
        :func:`assay.engine.variants.same_model`), without a new engine start. Outputs are
        then those of an engine started on ``checkpoint``."""
        raise EngineError(f"the {self.name} engine cannot load other weights in place")

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the model; engines that hold processes override it."""

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def truncate_at_stop(text: str, stop: Sequence[str]) -> str:
    """Cut ``text`` at the first occurrence of any stop string (the stop string excluded),
    as vLLM does, so that both engines return the same text."""
    cut = len(text)
    for s in stop:
        at = text.find(s)
        if at != -1:
            cut = min(cut, at)
    return text[:cut]
