"""Log-prob tracking in the default study's settings: a ``policies`` job's ``trainer.train``
with the curves tracked as the default study tracks them, the same without the passes in
between (start and end come from scores the job has anyway), and plain TRL DPO, on the
same pairs, model and steps. Prints each time and their ratios, measured in one run.

    python benchmarks/tracking.py [--pairs PAIRS.parquet] [--precision fp32] [--rounds 2]

Settings: the default study's ``policies`` spec (``assay.plan.default_spec``: its variant,
beta, learning rate, one epoch, batch size, ``track_every``, ``track_pairs``, LoRA). Pairs:
a preferences artifact's ``pairs.parquet`` (the default study's own: ``--pairs
STORE/preferences/KEY/pairs.parquet``), else pairs of the same form built here: the
default study's 3-shot chat prompts of level 1-2 train questions through SmolLM2's chat
template, the real solution chosen, a wrong answer rejected, three pairs a question, four
in five held out (``preference.heldout``: 0.8). Held-out pairs are tracked too, as in the
study; the starting policy's scores (the ches stage's) are computed once, outside the timed
``trainer.train``.

Plain TRL DPO is TRL's ``DPOTrainer`` as a user writes it: LoRA, the reference forward at
every step, every prompt run with each response, in the same precision (fp32 as on a CPU
without native bf16, the default here; ``--precision bf16`` as on one with it). The issue's
target: Assay's training with tracking in at most 1.3x plain TRL's time.

The run uses the jobs' allocator (tcmalloc where installed: ``assay.allocator``; the script
starts itself again with it). Under glibc's malloc plain TRL's times spread widely from one
run to the next (69-95 s and 33-89 s for the same 6 steps here, the vocabulary projection's
large blocks faulted in again at every step); the best of the rounds is printed.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).parent))

from engine import default_checkpoint  # noqa: E402
from training import plain_dpo  # noqa: E402

UNTRACKED = 10**9  # track_every beyond any run: only the start and the end, which are free


def study_like_pairs(tokenizer, heldout: float, seed: int = 0):
    """Pairs in the default study's form (see the module doc), about 105 of them."""
    import pandas as pd

    from assay.preference.preferences import render_prompt
    from assay.tasks.arithmetic import generate_splits
    from assay.tasks.base import build_prompt, few_shot_examples

    train = generate_splits({"train": 200}, levels=5, seed=seed)["train"]
    shots = few_shot_examples(train, 3)
    shot_ids = {shot["id"] for shot in shots}
    queries = train[train["difficulty"].isin([1, 2]) & ~train["id"].isin(shot_ids)].head(35)
    rows = []
    for item in queries.itertuples():
        prompt = render_prompt(tokenizer, build_prompt(item.question, shots, "instruct"))
        for wrong in range(3):
            rows.append(
                {
                    "pair_id": f"{item.id}-{wrong}",
                    "prompt": prompt,
                    "chosen": item.solution,
                    "rejected": item.solution.replace(
                        f"#### {item.answer}", f"#### {int(item.answer) + wrong + 1}"
                    ),
                    "source": "bench",
                    "query_id": item.id,
                }
            )
    pairs = pd.DataFrame(rows)
    held = pairs["query_id"].drop_duplicates().sample(frac=heldout, random_state=seed)
    pairs["split"] = pairs["query_id"].isin(held).map({True: "heldout", False: "train"})
    return pairs


def under_jobs_allocator() -> None:
    """Start this script again with the allocator the workflow's jobs get, unless it has it."""
    from assay.allocator import job_environment

    extra = job_environment()
    if extra:
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, **extra})


def main() -> None:
    under_jobs_allocator()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", type=Path)
    parser.add_argument("--pairs", type=Path, help="a preferences artifact's pairs.parquet")
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    parser.add_argument("--rounds", type=int, default=2)
    options = parser.parse_args()

    import pandas as pd
    from transformers import AutoTokenizer

    from assay.allocator import process_allocator
    from assay.config import load_study
    from assay.plan import default_spec
    from assay.preference.policies import train_policy
    from assay.preference.tracking import sequence_logprobs
    from assay.training import load_trainable

    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        checkpoint = options.checkpoint or default_checkpoint(scratch / "model")
        tokenizer = AutoTokenizer.from_pretrained(checkpoint)
        heldout = load_study()["preference"]["heldout"]
        pairs = pd.read_parquet(options.pairs) if options.pairs else study_like_pairs(tokenizer, heldout)
        train = pairs[pairs["split"] == "train"].reset_index(drop=True)
        spec = default_spec("policies", precision=options.precision, save_dtype="float32")
        untracked = default_spec(
            "policies", precision=options.precision, save_dtype="float32", track_every=UNTRACKED
        )
        model, _ = load_trainable(checkpoint, options.precision)
        before = sequence_logprobs(
            model, tokenizer, pairs, max_length=spec.max_length, precision=options.precision
        )
        del model
        steps = math.ceil(len(train) / spec.batch_size) * spec.epochs
        ids = train["pair_id"].tolist()
        times: dict[str, list[float]] = {"plain TRL DPO": [], "Assay, tracked": [], "Assay, untracked": []}
        for round_ in range(options.rounds):
            seconds, _ = plain_dpo(
                checkpoint,
                train,
                -1,
                scratch / f"plain-{round_}",
                options.precision,
                (spec.lora_r, spec.lora_alpha),
                loss_type=[spec.variant],
                beta=spec.beta,
                learning_rate=spec.learning_rate,
                num_train_epochs=spec.epochs,
                per_device_train_batch_size=spec.batch_size,
                max_length=spec.max_length,
                seed=spec.seed,
            )
            times["plain TRL DPO"].append(seconds)
            for name, run_spec in (("Assay, tracked", spec), ("Assay, untracked", untracked)):
                out = scratch / f"{name.split()[-1]}-{round_}"
                out.mkdir()
                fields = train_policy(checkpoint, pairs, ids, run_spec, out, before)
                times[name].append(fields["train_seconds"])
        best = {name: min(seconds) for name, seconds in times.items()}
        plain, tracked, bare = best.values()

        print(
            f"DPO ({spec.variant}, LoRA, {options.precision}) on {len(train)} train pairs, {steps} steps of "
            f"{spec.batch_size}, {len(pairs) - len(train)} held out; the default study's tracking: "
            f"{min(spec.track_pairs, len(train))} train and {min(spec.track_pairs, len(pairs) - len(train))} "
            f"held-out pairs every {spec.track_every} steps (trainer.train, best of {options.rounds}; "
            f"allocator {process_allocator()}):"
        )
        for name, seconds in best.items():
            spread = ", ".join(f"{s:.1f}" for s in times[name])
            print(f"  {name}: {seconds:.1f} s ({seconds / plain:.2f}x plain TRL DPO; runs {spread})")
        print(f"  the tracking's own cost: tracked / untracked {tracked / bare:.2f}x")


if __name__ == "__main__":
    main()
