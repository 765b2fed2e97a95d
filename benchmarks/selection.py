"""What batching the self-refine tree's branches saves: the selection stage's workload (the
default study's 8 dev + 12 test arithmetic queries, 3-shot prompts, greedy, up to 48
tokens a call) run through the tree with one engine call per branch (Assay before: 14 calls
of 20 prompts on a pool of two) and with one call per model and module (Assay now: 6
calls), in one process on one vLLM engine. Prints seconds, the ratio and whether the two
tables' texts are the same.

    python benchmarks/selection.py [--checkpoint DIR] [--dtype auto|float32|bfloat16]

The pool is SmolLM2 twice, once prompted as an instruct model and once as a base model
(the study's second model is Gemma-3-270M; one engine keeps the benchmark to one start).
"""

from __future__ import annotations

import itertools
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).parent))
from engine import engine_arguments, engine_checkpoint, timed  # noqa: E402

MAX_TOKENS = 48


def per_branch_tree(pool, items, shots) -> dict[str, list[str]]:
    """The tree as Assay ran it before: one engine call per branch and module."""
    from assay.compound.systems import _call, _critique_prompt, _refine_prompt
    from assay.tasks.base import build_prompt

    names, questions = list(pool), items["question"].tolist()
    drafts = {
        m: _call(pool[m], [build_prompt(q, shots, pool[m].kind, "number") for q in questions], MAX_TOKENS)
        for m in names
    }
    critiques = {}
    for m1, m2 in itertools.product(names, repeat=2):
        asked = [_critique_prompt(q, d, pool[m2].kind) for q, d in zip(questions, drafts[m1])]
        critiques[m1, m2] = _call(pool[m2], asked, MAX_TOKENS)
    return {
        f"{m1}|{m2}|{m3}": _call(
            pool[m3],
            [
                _refine_prompt(q, d, c, pool[m3].kind, shots)
                for q, d, c in zip(questions, drafts[m1], critiques[m1, m2])
            ],
            MAX_TOKENS,
        )
        for m1, m2, m3 in itertools.product(names, repeat=3)
    }


def main() -> None:
    import pandas as pd

    from assay.compound.systems import PoolModel, self_refine_tree
    from assay.engine import EngineSpec, load_engine
    from assay.tasks import prepare
    from assay.tasks.base import few_shot_examples

    splits = prepare(
        {"name": "arithmetic", "train_size": 200, "dev_size": 40, "test_size": 200, "levels": 5, "seed": 0}
    )
    items = pd.concat([splits["dev"].head(8), splits["test"].head(12)], ignore_index=True)
    shots = few_shot_examples(splits["train"], 3)
    with engine_checkpoint(engine_arguments(__doc__)) as (checkpoint, dtype):
        with load_engine(checkpoint, EngineSpec(backend="vllm", dtype=dtype)) as engine:
            pool = {"instruct": PoolModel(engine, "instruct"), "base": PoolModel(engine, "base")}
            self_refine_tree(pool, items.head(2), shots, MAX_TOKENS)  # warm-up: kernels, caches
            engine.llm.reset_prefix_cache()
            before, before_s = timed(lambda: per_branch_tree(pool, items, shots))
            engine.llm.reset_prefix_cache()
            (table, _), now_s = timed(lambda: self_refine_tree(pool, items, shots, MAX_TOKENS))
    same = all(
        table.loc[table["allocation"] == allocation, "text"].tolist() == texts
        for allocation, texts in before.items()
    )
    print(
        f"self-refine tree, {len(items)} queries, 8 allocations: one call per branch (before) "
        f"{before_s:.1f} s, one call per model and module (now) {now_s:.1f} s: {now_s / before_s:.2f}x the "
        f"time; same texts: {same}"
    )


if __name__ == "__main__":
    main()
