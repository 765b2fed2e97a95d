"""Engine-layer benchmark: output tokens/s of Assay's engine interface against a raw
``vllm.LLM`` call on the same prompts and the same engine instance, and vLLM against
transformers. Prints ratios measured in one run (these machines are noisy).

    python benchmarks/engine.py [--checkpoint DIR] [--prompts 64] [--max-tokens 64]

Without ``--checkpoint`` it uses SmolLM2-135M-Instruct from the store (materialising it
into a temporary folder when the default study has not run yet).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def default_checkpoint(scratch: Path) -> Path:
    from assay.config import load_study
    from assay.models import checkpoint_dir, materialize
    from assay.plan import build_plan

    plan = build_plan(load_study())
    model = plan.models["smollm2-135m-instruct"]
    stored = checkpoint_dir(plan.path(model))
    if (stored / "config.json").is_file():
        return stored
    scratch.mkdir(parents=True, exist_ok=True)  # materialize writes into an existing folder
    materialize(model.spec.source, model.spec.dtype, None, scratch)
    return checkpoint_dir(scratch)


def engine_arguments(doc: str) -> argparse.Namespace:
    """The command line of an engine benchmark: ``--checkpoint DIR``, ``--dtype``."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path)
    parser.add_argument("--dtype", default="auto")
    return parser.parse_args()


@contextmanager
def engine_checkpoint(args: argparse.Namespace) -> Iterator[tuple[Path, str]]:
    """(checkpoint, dtype) of an engine benchmark: ``--checkpoint``, else the default
    study's SmolLM2 (materialised into a temporary folder when the store lacks it), and
    ``--dtype`` resolved for this CPU."""
    from assay.hardware import cpu_has_native_bf16, resolve_engine_dtype

    dtype = resolve_engine_dtype(args.dtype, gpu_study=False)
    with tempfile.TemporaryDirectory() as scratch:
        checkpoint = args.checkpoint or default_checkpoint(Path(scratch))
        print(f"CPU native bf16: {cpu_has_native_bf16()}; dtype {dtype}; checkpoint {checkpoint}")
        yield checkpoint, dtype


def timed(fn):
    started = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--checkpoint", type=Path)
    parser.add_argument("--prompts", type=int, default=64)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--dtype", default="bfloat16")
    args = parser.parse_args()

    from vllm import SamplingParams

    from assay.engine import EngineSpec, SamplingSpec, load_engine
    from assay.tasks import prepare
    from assay.tasks.base import build_prompt

    with tempfile.TemporaryDirectory() as scratch:
        checkpoint = args.checkpoint or default_checkpoint(Path(scratch))
        splits = prepare(
            {
                "name": "arithmetic",
                "train_size": 3,
                "dev_size": 0,
                "test_size": args.prompts,
                "levels": 5,
                "seed": 1,
            }
        )
        shots = splits["train"].to_dict("records")
        prompts = [build_prompt(q, shots, "instruct") for q in splits["test"]["question"]]
        sampling = SamplingSpec(max_tokens=args.max_tokens)

        engine = load_engine(checkpoint, EngineSpec(backend="vllm", dtype=args.dtype))
        engine.generate(prompts[:2], sampling)  # warm-up
        raw_params = SamplingParams(max_tokens=args.max_tokens, temperature=0.0)
        raw, raw_s = timed(lambda: engine.llm.chat(prompts, raw_params, use_tqdm=False))
        ours, ours_s = timed(lambda: engine.generate(prompts, sampling))
        raw_tokens = sum(len(o.outputs[0].token_ids) for o in raw)
        our_tokens = sum(c.token_counts[0] for c in ours)
        engine.close()

        hf = load_engine(checkpoint, EngineSpec(backend="hf", dtype=args.dtype, hf_batch_size=args.prompts))
        hf.generate(prompts[:2], SamplingSpec(max_tokens=4))
        hf_out, hf_s = timed(lambda: hf.generate(prompts, sampling))
        hf_tokens = sum(c.token_counts[0] for c in hf_out)

    rates = {
        "raw vllm.LLM.chat": raw_tokens / raw_s,
        "assay engine (vllm)": our_tokens / ours_s,
        "assay engine (hf)": hf_tokens / hf_s,
    }
    print(f"{args.prompts} prompts x up to {args.max_tokens} tokens, {args.dtype}, {checkpoint}")
    for name, rate in rates.items():
        print(f"  {name:<22} {rate:8.1f} output tok/s")
    print(f"ratio assay/raw vLLM : {rates['assay engine (vllm)'] / rates['raw vllm.LLM.chat']:.2f}")
    print(f"ratio vLLM/HF        : {rates['assay engine (vllm)'] / rates['assay engine (hf)']:.2f}")


if __name__ == "__main__":
    main()
