"""KV-cache block size benchmark: the compound stages' engine work with vLLM's KV blocks of
128 tokens (vLLM-CPU's default) against 32 (Assay's default on the CPU, ``engine.block_size``),
each in a fresh process, measured in one run. Prints seconds, ratios, and whether the
greedy texts are the same.

    python benchmarks/kv_blocks.py [--checkpoint DIR] [--dtype auto] [--queries 20] [--as-avx2]

The work is the verdicts stage's (``assay.compound.verdicts.judge_samples``: one greedy
review per sample, then both verdict tokens scored after it) on 16 answers per query (the
real solution and wrong ones, so no sampling is needed to make them), and the samples
stage's (each query's prompt sampled n=16 times, 64 tokens). Prefix caching reuses whole
blocks only: the 16 reviews of one query share their instruction and problem (under 128
tokens), and each verdict's context is scored once per candidate.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).parent))


def workload(checkpoint: Path, dtype: str, block_size: int, queries: int) -> dict:
    import hashlib

    import pandas as pd

    from assay.compound.verdicts import judge_samples
    from assay.engine import EngineSpec, SamplingSpec, load_engine
    from assay.tasks import prepare
    from assay.tasks.base import build_prompt

    splits = prepare(
        {"name": "arithmetic", "train_size": 3, "dev_size": 0, "test_size": queries, "levels": 5, "seed": 1}
    )
    test = splits["test"]
    samples = pd.DataFrame(
        [
            {"query_id": q, "sample_index": k, "text": s if k == 0 else s.replace("####", f"#### {k}")}
            for q, s in zip(test["id"], test["solution"])
            for k in range(16)
        ]
    )
    engine = load_engine(checkpoint, EngineSpec(backend="vllm", dtype=dtype, block_size=block_size))
    kind = "instruct" if engine.tokenizer.chat_template else "base"
    started = time.perf_counter()
    verdicts = judge_samples(engine, samples, test, kind, max_tokens=24)
    judge_s = time.perf_counter() - started
    shots = splits["train"].to_dict("records")
    prompts = [build_prompt(q, shots, kind) for q in test["question"]]
    started = time.perf_counter()
    engine.generate(prompts, SamplingSpec(n=16, temperature=0.7, max_tokens=64))
    sample_s = time.perf_counter() - started
    digest = hashlib.sha256("\x00".join(verdicts["verdict"]).encode()).hexdigest()[:12]
    return {"judge_s": judge_s, "sample_s": sample_s, "verdicts": digest}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path)
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--queries", type=int, default=20)
    parser.add_argument("--as-avx2", action="store_true", help="as benchmarks/study.py --as-avx2")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # a child: one block size
    args = parser.parse_args()
    if args.one:
        print(json.dumps(workload(args.checkpoint, args.dtype, args.one, args.queries)))
        return

    from engine import default_checkpoint
    from study import AS_AVX2

    from assay.hardware import cpu_has_native_bf16

    env = {**os.environ, **(AS_AVX2 if args.as_avx2 else {})}
    with tempfile.TemporaryDirectory() as scratch:
        checkpoint = args.checkpoint or default_checkpoint(Path(scratch))
        native = cpu_has_native_bf16() and not args.as_avx2
        dtype = args.dtype if args.dtype != "auto" else ("bfloat16" if native else "float32")
        runs = {}
        for block in (128, 32):
            command = [sys.executable, __file__, "--one", str(block), "--checkpoint", str(checkpoint)]
            command += ["--dtype", dtype, "--queries", str(args.queries)]
            out = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout
            runs[block] = json.loads(out.strip().splitlines()[-1])
    print(f"{checkpoint}, {dtype}, CPU native bf16: {native}{' (held to AVX2)' if args.as_avx2 else ''}")
    for block, run in runs.items():
        print(
            f"  blocks of {block:>3}: {args.queries * 16} judge reviews + verdict scores "
            f"{run['judge_s']:6.1f} s, "
            f"{args.queries} prompts x n=16 sampled {run['sample_s']:6.1f} s"
        )
    print(
        f"ratio 32/128: judging {runs[32]['judge_s'] / runs[128]['judge_s']:.2f}, "
        f"sampling {runs[32]['sample_s'] / runs[128]['sample_s']:.2f}; "
        f"greedy reviews {'the same' if runs[32]['verdicts'] == runs[128]['verdicts'] else 'differ'}"
    )


if __name__ == "__main__":
    main()
