"""What the size of ``generate``'s progress chunks costs vLLM: one engine, the compound
stage's sampling workload (20 test queries of the default study's arithmetic task, 3-shot
chat prompts, n=16 samples of up to 64 tokens at temperature 0.7), generated with chunks
of at least 32 sequences (Assay before: 3 prompts x 16 a chunk) and with chunks that fill
vLLM's batch (the scheduler's ``max_num_seqs``, 256 on the CPU: Assay now), alternately,
twice each, in one process. Prints output tokens/s and the ratio of the two.

    python benchmarks/chunking.py [--checkpoint DIR] [--dtype auto|float32|bfloat16]
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).parent))
from engine import engine_arguments, engine_checkpoint  # noqa: E402

#: Assay's chunk floor before (sequences a chunk held at least).
BEFORE = 32


def workload():
    from assay.tasks import prepare
    from assay.tasks.base import build_prompt, few_shot_examples

    splits = prepare(
        {"name": "arithmetic", "train_size": 200, "dev_size": 0, "test_size": 20, "levels": 5, "seed": 0}
    )
    shots = few_shot_examples(splits["train"], 3)
    return [build_prompt(q, shots, "instruct") for q in splits["test"]["question"]]


def main() -> None:
    from assay.engine import EngineSpec, SamplingSpec, load_engine

    with engine_checkpoint(engine_arguments(__doc__)) as (checkpoint, dtype):
        prompts = workload()
        sampling = SamplingSpec(n=16, temperature=0.7, max_tokens=64)
        with load_engine(checkpoint, EngineSpec(backend="vllm", dtype=dtype)) as engine:
            settings = {
                f"chunks of >= {BEFORE} sequences (before)": BEFORE,
                "chunks that fill vLLM's batch (now)": engine.min_chunk,
            }
            rates: dict[str, list[float]] = {name: [] for name in settings}
            for _ in range(2):
                for name, floor in settings.items():
                    engine.min_chunk = floor
                    started = time.perf_counter()
                    out = engine.generate(prompts, sampling)
                    seconds = time.perf_counter() - started
                    tokens = sum(sum(c.token_counts) for c in out)
                    rates[name].append(tokens / seconds)
                    print(
                        f"{name}: {tokens} output tokens in {seconds:.1f} s, {tokens / seconds:.0f} tok/s",
                        flush=True,
                    )
        before, now = (sum(r) / len(r) for r in rates.values())
        print(f"output tok/s, now / before: {now / before:.2f}x ({now:.0f} against {before:.0f})")


if __name__ == "__main__":
    main()
