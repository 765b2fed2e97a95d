"""Scoring benchmark: the preference stages' no-grad passes over pairs (the policies stage's
log-probs before, during and after training; the ches stage's hidden states) in three ways,
in one run: whole sequences (Assay at first), each distinct prompt run once with its
responses after it, and the prompts' common head run once with each prompt's tail after it
(:mod:`assay.preference.prefix`, what Assay does). Prints seconds, the ratios and the
largest difference from whole sequences. Then a LoRA-trained policy's log-probs with its
adapters beside the layers against merged into the weights (what the policies stage scores
after training). Then, in bf16 (``--parts casts``), log-probs with autocast casting the
weights at every forward call (Assay before: passes under ``inference_mode``) against each
weight cast once a pass (:func:`assay.training.casts_kept`), for a policy in LoRA training
(a tracking pass) and for the merged one.

    python benchmarks/scoring.py [--checkpoint DIR] [--queries 34] [--pairs-per-query 3]
        [--precision auto] [--as-avx2] [--parts logprobs,ches,lora,casts]

Pairs are shaped like the default study's: a 3-shot chat prompt (about 160 tokens) per
arithmetic query, several pairs per query (the real solution against wrong ones, each
wrong answer in one pair and the solution in all), on SmolLM2-135M-Instruct.
``--as-avx2`` holds torch's kernels to AVX2 (as ``benchmarks/study.py --as-avx2``).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).parent))


def make_pairs(tokenizer, queries: int, per_query: int):
    import pandas as pd

    from assay.tasks.arithmetic import generate_splits

    items = generate_splits({"train": queries + 3}, levels=3, seed=0)["train"]
    shots, items = items.head(3), items.iloc[3:]
    rows = []
    for item in items.itertuples():
        messages = []
        for shot in shots.itertuples():
            messages += [
                {"role": "user", "content": f"Solve the problem.\n\nProblem: {shot.question}"},
                {"role": "assistant", "content": shot.solution},
            ]
        messages.append({"role": "user", "content": f"Solve the problem.\n\nProblem: {item.question}"})
        prompt = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        for k in range(per_query):
            rows.append(
                {
                    "pair_id": f"{item.id}-{k}",
                    "prompt": prompt,
                    "chosen": item.solution,
                    "rejected": item.solution.replace("####", f"#### {k + 1}"),
                }
            )
    return pd.DataFrame(rows)


def whole_sequence_logprobs(model, tokenizer, pairs, precision: str, batch_size: int = 8):
    """The scoring before prompts were shared: both sides of ``batch_size`` pairs per pass,
    sequences sorted by length, logits from the shortest prompt's end on."""
    import pandas as pd
    import torch

    from assay.preference.batching import encode_pair, pad_right
    from assay.training import scoring_precision

    encoded_pairs = [
        encode_pair(tokenizer, p, c, r, None) for p, c, r in zip(pairs.prompt, pairs.chosen, pairs.rejected)
    ]
    encoded = [pair[0] for pair in encoded_pairs] + [pair[1] for pair in encoded_pairs]
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i].ids))
    sums = [0.0] * len(encoded)
    for start in range(0, len(order), 2 * batch_size):
        batch = order[start : start + 2 * batch_size]
        ids, mask = pad_right(tokenizer, [encoded[i].ids for i in batch])
        first = min(encoded[i].start for i in batch) - 1
        with torch.inference_mode(), scoring_precision(precision, "cpu"):
            logits = model(input_ids=ids, attention_mask=mask, logits_to_keep=ids.shape[1] - first).logits
            logits = logits[:, :-1].float()
            token_logp = logits.gather(-1, ids[:, first + 1 :].unsqueeze(-1)).squeeze(-1) - logits.logsumexp(
                -1
            )
        for row, i in enumerate(batch):
            sums[i] = float(token_logp[row, encoded[i].start - 1 - first : encoded[i].end - 1 - first].sum())
    half = len(pairs)
    return pd.DataFrame(
        {"pair_id": list(pairs.pair_id), "logp_chosen": sums[:half], "logp_rejected": sums[half:]}
    )


def whole_sequence_ches(model, tokenizer, pairs, batch_size: int = 16):
    """CHES before prompts were shared: the decoder over whole sequences."""
    import pandas as pd
    import torch

    from assay.preference.batching import encode_pair, pad_right
    from assay.preference.ches import ches_from_hidden

    values = []
    for start in range(0, len(pairs), batch_size):
        batch = pairs.iloc[start : start + batch_size]
        encoded = [
            encode_pair(tokenizer, p, c, r, None)
            for p, c, r in zip(batch.prompt, batch.chosen, batch.rejected)
        ]
        sides = []
        for side in (0, 1):
            ids, mask = pad_right(tokenizer, [e[side].ids for e in encoded])
            with torch.inference_mode():
                last = model.get_decoder()(
                    input_ids=ids, attention_mask=mask, use_cache=False
                ).last_hidden_state
            sides.append(
                [last[i, e[side].start - 1 : e[side].end - 1].float() for i, e in enumerate(encoded)]
            )
        values += [ches_from_hidden(h_plus, h_minus)[1] for h_plus, h_minus in zip(*sides)]
    return pd.DataFrame({"pair_id": list(pairs.pair_id), "ln_ches": values})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path)
    parser.add_argument("--queries", type=int, default=34)
    parser.add_argument("--pairs-per-query", type=int, default=3)
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--as-avx2", action="store_true")
    parser.add_argument("--parts", default="logprobs,ches,lora,casts", help="comparisons, comma-separated")
    args = parser.parse_args()
    if args.as_avx2:
        from study import run_as_avx2

        run_as_avx2()

    import tempfile

    import torch
    from engine import default_checkpoint
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from assay.hardware import cpu_has_native_bf16
    from assay.training import resolve_precision

    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as scratch:
        checkpoint = args.checkpoint or default_checkpoint(Path(scratch))
        tokenizer = AutoTokenizer.from_pretrained(checkpoint)
        model = AutoModelForCausalLM.from_pretrained(checkpoint, dtype=torch.float32).eval()
    precision = resolve_precision(args.precision)
    pairs = make_pairs(tokenizer, args.queries, args.pairs_per_query)
    tokens = sum(len(tokenizer(p + c)["input_ids"]) for p, c in zip(pairs.prompt, pairs.chosen))
    print(
        f"CPU native bf16: {cpu_has_native_bf16()}; "
        f"torch kernels: {os.environ.get('ATEN_CPU_CAPABILITY', 'best')}; "
        f"{len(pairs)} pairs, {pairs.prompt.nunique()} prompts, "
        f"about {tokens // len(pairs)} tokens a sequence; "
        f"log-probs in {precision}, CHES in fp32"
    )

    parts = {"logprobs": logprob_ways, "ches": ches_ways, "lora": lora_policy_logprobs, "casts": bf16_casts}
    for part in args.parts.split(","):
        parts[part](model, tokenizer, pairs, precision)


def logprob_ways(model, tokenizer, pairs, precision: str) -> None:
    from engine import timed

    from assay.preference.tracking import sequence_logprobs

    def logprobs() -> object:
        return sequence_logprobs(model, tokenizer, pairs, precision=precision)

    columns = ["logp_chosen", "logp_rejected"]
    whole, whole_s = timed(lambda: whole_sequence_logprobs(model, tokenizer, pairs, precision))
    with prompts_whole():
        prompts, prompts_s = timed(logprobs)
    head, head_s = timed(logprobs)
    gaps = [(frame[columns] - whole[columns]).abs().max().max() for frame in (prompts, head)]
    print(
        f"log-probs:  whole sequences {whole_s:6.1f} s, prompts once {prompts_s:6.1f} s "
        f"({prompts_s / whole_s:.2f}x), head once {head_s:6.1f} s ({head_s / whole_s:.2f}x; "
        f"{head_s / prompts_s:.2f}x prompts once); largest difference {max(gaps):.2g} nats"
    )


def ches_ways(model, tokenizer, pairs, precision: str) -> None:
    """CHES (in fp32 whatever ``precision``: the ches stage's hidden states)."""
    from engine import timed

    from assay.preference.ches import ches_scores

    def ches() -> object:
        return ches_scores(model, tokenizer, pairs)

    whole, whole_s = timed(lambda: whole_sequence_ches(model, tokenizer, pairs))
    with prompts_whole():
        prompts, prompts_s = timed(ches)
    head, head_s = timed(ches)
    scale = whole["ln_ches"].abs().max()
    gap = max((frame["ln_ches"] - whole["ln_ches"]).abs().max() / scale for frame in (prompts, head))
    print(
        f"CHES:       whole sequences {whole_s:6.1f} s, prompts once {prompts_s:6.1f} s "
        f"({prompts_s / whole_s:.2f}x), head once {head_s:6.1f} s ({head_s / whole_s:.2f}x; "
        f"{head_s / prompts_s:.2f}x prompts once); largest difference {gap:.2g} of the largest |LN-CHES|"
    )


def lora_policy_logprobs(model, tokenizer, pairs, precision: str) -> None:
    """A LoRA-trained policy's log-probs (the policies stage's pass after training) with its
    adapters beside every linear layer, as TRL leaves the model, and merged into the weights
    (what Assay scores and saves)."""
    import torch
    from engine import timed
    from peft import LoraConfig, get_peft_model

    from assay.preference.tracking import sequence_logprobs
    from assay.training import merged

    lora = LoraConfig(r=8, lora_alpha=16, target_modules="all-linear", task_type="CAUSAL_LM")
    policy = get_peft_model(model, lora)
    for name, parameter in policy.named_parameters():
        if "lora_B" in name:  # trained adapters: not the zero they start at
            torch.nn.init.normal_(parameter, std=0.02)
    adapters, adapters_s = timed(lambda: sequence_logprobs(policy, tokenizer, pairs, precision=precision))
    plain = merged(policy)
    merged_scores, merged_s = timed(lambda: sequence_logprobs(plain, tokenizer, pairs, precision=precision))
    columns = ["logp_chosen", "logp_rejected"]
    gap = (adapters[columns] - merged_scores[columns]).abs().max().max()
    print(
        f"LoRA policy: adapters beside the layers {adapters_s:6.1f} s, merged {merged_s:6.1f} s: "
        f"{merged_s / adapters_s:.2f}x the time; largest difference {gap:.2g} nats"
    )


def bf16_casts(model, tokenizer, pairs, precision: str) -> None:
    """bf16 log-probs (whatever ``precision``) with the weights cast at every forward call,
    as under ``inference_mode`` (where autocast keeps no cast), against cast once a pass:
    a LoRA policy in training (frozen base weights, trained adapters) and merged."""
    import torch
    from engine import timed
    from peft import LoraConfig, get_peft_model

    from assay.preference.tracking import sequence_logprobs
    from assay.training import merged

    lora = LoraConfig(r=8, lora_alpha=16, target_modules="all-linear", task_type="CAUSAL_LM")
    policy = get_peft_model(model, lora)
    for name, parameter in policy.named_parameters():
        if "lora_B" in name:
            torch.nn.init.normal_(parameter, std=0.02)
    columns = ["logp_chosen", "logp_rejected"]
    for name, scored in (("LoRA policy in training", policy), ("merged policy", None)):
        scored = scored if scored is not None else merged(policy)

        def score(scored=scored) -> object:
            return sequence_logprobs(scored, tokenizer, pairs, precision="bf16")

        def every_call(score=score) -> object:
            with torch.inference_mode():
                return score()

        before, before_s = timed(every_call)
        now, now_s = timed(score)
        gap = (before[columns] - now[columns]).abs().max().max()
        print(
            f"bf16 casts, {name}: at every call {before_s:6.1f} s, once a pass {now_s:6.1f} s "
            f"({now_s / before_s:.2f}x); largest difference {gap:.2g} nats"
        )


@contextlib.contextmanager
def prompts_whole():
    """Within it, the scorers run each distinct prompt whole (no common head): Assay before
    the head was shared."""
    from unittest import mock

    from assay.preference import ches, prefix

    whole = functools.partial(prefix.response_passes, share_head=False)
    with (
        mock.patch.object(prefix, "response_passes", whole),
        mock.patch.object(ches, "response_passes", whole),
    ):
        yield


if __name__ == "__main__":
    main()
