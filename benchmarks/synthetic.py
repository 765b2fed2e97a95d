"""Synthetic-data benchmark: items per second of generation for each method (BARE, instruct
few-shot, base few-shot) on the shipped models, engine start excluded, measured in one run;
BARE's time includes the base drafts it refines. Prints the ratios to instruct few-shot.

    python benchmarks/synthetic.py [--n 32] [--backend vllm|hf]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def checkpoint(name: str, scratch: Path) -> Path:
    """The model's checkpoint from the default study's store, else materialised here."""
    from assay.config import load_study
    from assay.models import checkpoint_dir, materialize
    from assay.plan import build_plan

    model = build_plan(load_study()).models[name]
    stored = checkpoint_dir(Path(load_study()["store"]) / "models" / model.key)
    if (stored / "config.json").is_file():
        return stored
    materialize(model.spec.source, model.spec.dtype, None, scratch / name)
    return checkpoint_dir(scratch / name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=32)
    parser.add_argument("--backend", default="vllm", choices=["vllm", "hf"])
    options = parser.parse_args()

    from assay.engine import EngineSpec, load_engine
    from assay.plan import default_spec
    from assay.synthetic.generate import (
        assemble,
        base_drafts,
        choose_examples,
        instruct_drafts,
        refine,
    )
    from assay.tasks.arithmetic import generate_splits

    def SynthSpec(method: str, n: int):  # noqa: N802 - reads like the spec it builds
        return default_spec("synthetic", method, n=n)

    train = generate_splits({"train": 50}, levels=5, seed=0)["train"]
    examples = choose_examples(train, 3, 0)
    engine_spec = EngineSpec(backend=options.backend, dtype="bfloat16")
    seconds, kept = {}, {}
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        with load_engine(checkpoint("gemma3-270m", scratch), engine_spec) as base:
            started = time.perf_counter()
            drafts = base_drafts(base, examples, SynthSpec("base_fewshot", options.n))
            seconds["base_fewshot"] = time.perf_counter() - started
        kept["base_fewshot"] = assemble(drafts, SynthSpec("base_fewshot", options.n), "base")[2]["kept"]
        with load_engine(checkpoint("smollm2-135m-instruct", scratch), engine_spec) as instruct:
            started = time.perf_counter()
            written = instruct_drafts(instruct, examples, SynthSpec("instruct_fewshot", options.n))
            seconds["instruct_fewshot"] = time.perf_counter() - started
            started = time.perf_counter()
            refined = refine(instruct, examples, drafts, SynthSpec("bare", options.n))
            seconds["bare"] = time.perf_counter() - started + seconds["base_fewshot"]
        kept["instruct_fewshot"] = assemble(written, SynthSpec("instruct_fewshot", options.n), "i")[2]["kept"]
        kept["bare"] = assemble(refined, SynthSpec("bare", options.n), "b")[2]["kept"]
    reference = options.n / seconds["instruct_fewshot"]
    for method in ("bare", "instruct_fewshot", "base_fewshot"):
        rate = options.n / seconds[method]
        print(
            f"{method:17s} {rate:6.2f} items/s requested ({kept[method]}/{options.n} kept, "
            f"{kept[method] / seconds[method]:.2f} kept/s); ratio to instruct_fewshot {rate / reference:.2f}"
        )


if __name__ == "__main__":
    main()
