"""Prompt-shared preference training: the policies stage's DPO runs with each batch's shared
prompts run once (:mod:`assay.preference.shared_prompts`, what Assay does) against whole
rows (what it did before), alternately, in one process. Prints ``trainer.train`` seconds
(the log-prob tracking included, as the stage runs it), the ratio, and the largest
difference between the two runs' logged losses.

    python benchmarks/prompt_sharing.py [--checkpoint DIR] [--queries 34] [--train-pairs 20]
        [--rounds 2] [--precision auto] [--as-avx2] [--attribute]

Pairs are shaped like the default study's (``benchmarks/scoring.py``: a 3-shot chat prompt
per arithmetic query, 3 pairs a query), the spec is the default study's
DPO variant (LoRA, batches of 4 pairs, one epoch over ``--train-pairs`` pairs, log-probs
tracked every 2 steps), on SmolLM2-135M-Instruct. ``--as-avx2`` holds torch's kernels to
AVX2 (as ``benchmarks/study.py --as-avx2``).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).parent))


@contextlib.contextmanager
def stage(share: bool, compact: bool):
    """The policies stage with prompt sharing (``share``) and TRL's fused head projecting
    only the scored positions (``compact``) each on or off; both off is the stage before
    prompts were shared in training (whole rows through the decoder, every position
    projected on the CPU, TRL's own choice there)."""
    from trl.trainer import utils

    from assay.preference import policies

    saved = policies.share_prompts, policies.score_responses_only, utils._use_triton
    if not share:
        policies.share_prompts = lambda model: None
    if not compact:
        policies.score_responses_only = lambda: False
        utils._use_triton = getattr(saved[2], "__wrapped__", saved[2])
    try:
        yield
    finally:
        policies.share_prompts, policies.score_responses_only, utils._use_triton = saved


#: The runs compared: name -> (prompts run once, fused head over the scored positions only).
MODES = {"whole rows": (False, False), "prompts once": (True, True)}
#: With ``--attribute``: each change alone.
PARTS = {"prompts once, head over all": (True, False), "whole rows, head compact": (False, True)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path)
    parser.add_argument("--queries", type=int, default=34)
    parser.add_argument("--train-pairs", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--as-avx2", action="store_true")
    parser.add_argument("--attribute", action="store_true", help="also run each change alone")
    args = parser.parse_args()
    if args.as_avx2:
        from study import run_as_avx2

        run_as_avx2()

    import pandas as pd
    from engine import default_checkpoint
    from scoring import make_pairs
    from transformers import AutoTokenizer

    from assay.hardware import cpu_has_native_bf16
    from assay.plan import default_spec
    from assay.preference.policies import train_policy
    from assay.preference.tracking import sequence_logprobs
    from assay.training import load_trainable, resolve_precision

    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        checkpoint = args.checkpoint or default_checkpoint(scratch)
        tokenizer = AutoTokenizer.from_pretrained(checkpoint)
        pairs = make_pairs(tokenizer, args.queries, 3)
        heldout = len(pairs) - args.train_pairs
        pairs = pairs.assign(split=["train"] * args.train_pairs + ["heldout"] * heldout)
        train_ids = pairs["pair_id"].head(args.train_pairs).tolist()
        spec = default_spec("policies", precision=args.precision, save_dtype="float32")
        precision = resolve_precision(spec.precision)
        model, _ = load_trainable(checkpoint, spec.precision)
        before = sequence_logprobs(model, tokenizer, pairs, max_length=spec.max_length, precision=precision)
        del model
        tokens = sum(len(tokenizer(p + c)["input_ids"]) for p, c in zip(pairs.prompt, pairs.chosen))
        print(
            f"CPU native bf16: {cpu_has_native_bf16()}; torch kernels: "
            f"{os.environ.get('ATEN_CPU_CAPABILITY', 'best')}; training in {precision}; "
            f"{args.train_pairs} train pairs of {len(pairs)} ({pairs.prompt.nunique()} prompts, about "
            f"{tokens // len(pairs)} tokens a sequence), {spec.variant}, batches of {spec.batch_size}, "
            f"{'LoRA' if spec.lora else 'full'}, tracked every {spec.track_every} steps"
        )
        modes = {**MODES, **(PARTS if args.attribute else {})}
        seconds: dict[str, list[float]] = {name: [] for name in modes}
        losses: dict[str, pd.Series] = {}
        for round_ in range(args.rounds):
            for name in seconds:
                out = scratch / f"{name.replace(' ', '-')}-{round_}"
                out.mkdir()
                started = time.perf_counter()
                with stage(*modes[name]):
                    fields = train_policy(checkpoint, pairs, train_ids, spec, out, before)
                seconds[name].append(fields["train_seconds"])
                losses[name] = pd.read_parquet(out / "train_log.parquet")["loss"]
                print(
                    f"  {name:28s} round {round_ + 1}: trainer.train {fields['train_seconds']:6.1f} s "
                    f"({fields['steps']} steps), whole run {time.perf_counter() - started:6.1f} s"
                )
    mean = {name: sum(v) / len(v) for name, v in seconds.items()}
    whole, shared = mean["whole rows"], mean["prompts once"]
    for name in PARTS if args.attribute else ():
        print(f"  {name}: {mean[name]:.1f} s, {mean[name] / whole:.2f}x whole rows")
    gap = (losses["prompts once"] - losses["whole rows"]).abs()
    print(
        f"trainer.train: whole rows {whole:.1f} s, prompts once {shared:.1f} s (means of {args.rounds}): "
        f"{shared / whole:.2f}x the time; logged losses differ by {gap.iloc[0]:.2g} at the first step "
        f"(the same weights), by at most {gap.max():.2g} over the run"
    )


if __name__ == "__main__":
    main()
