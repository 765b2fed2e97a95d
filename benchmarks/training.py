"""Training benchmark: Assay's SFT (``assay.finetune.finetuned``) and preference training
(``assay.preference.policies``, with its log-prob tracking) against a plain TRL script on the
same data, model and settings. Prints training tokens/s and the ratio, measured in one run.

    python benchmarks/training.py [--checkpoint DIR] [--items 32] [--steps 6]

Data: generated arithmetic items (their real solutions) for SFT, and pairs (the real
solution against a wrong one) for DPO, on SmolLM2-135M-Instruct (materialised into a
temporary folder when the default study has not run yet). LoRA r 8, fp32 on the CPU.
Assay's preference run also measures log-probs of every pair at the start, every
``--track-every`` steps and at the end: the ratio shows what that measurement costs.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).parent))

from engine import default_checkpoint  # noqa: E402


def data(items: int):
    import pandas as pd

    from assay.tasks.arithmetic import generate_splits

    train = generate_splits({"train": items}, levels=3, seed=0)["train"]
    pairs = pd.DataFrame(
        {
            "pair_id": [f"pair-{i}" for i in range(len(train))],
            "prompt": [f"Problem: {q}\nAnswer: " for q in train["question"]],
            "chosen": train["solution"].tolist(),
            "rejected": [s.replace("####", "#### 1") for s in train["solution"]],
            "source": "bench",
            "query_id": train["id"],
            "split": "train",
        }
    )
    return train, pairs


def plain_sft(checkpoint: Path, items, steps: int, out: Path) -> float:
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    from assay.finetune.finetuned import sft_records

    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    # float32 weights, as Assay trains at precision fp32: transformers 5 otherwise loads the
    # checkpoint's own dtype (bf16), which made the earlier baseline a pure-bf16 run.
    model = AutoModelForCausalLM.from_pretrained(checkpoint, dtype=torch.float32)
    args = SFTConfig(
        output_dir=str(out),
        max_steps=steps,
        per_device_train_batch_size=8,
        learning_rate=1e-3,
        use_cpu=True,
        bf16=False,
        gradient_checkpointing=False,
        report_to=[],
        save_strategy="no",
        logging_steps=1,
    )
    trainer = SFTTrainer(
        model=model,
        args=args,
        train_dataset=Dataset.from_list(sft_records(items)),
        processing_class=tokenizer,
        peft_config=LoraConfig(r=8, lora_alpha=16, target_modules="all-linear", task_type="CAUSAL_LM"),
    )
    started = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - started
    tokens = max(e.get("num_tokens", 0) for e in trainer.state.log_history)
    return tokens / seconds


def plain_dpo(checkpoint: Path, pairs, steps: int, out: Path) -> tuple[float, int]:
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig, DPOTrainer

    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    # float32 weights, as Assay trains at precision fp32: transformers 5 otherwise loads the
    # checkpoint's own dtype (bf16), which made the earlier baseline a pure-bf16 run.
    model = AutoModelForCausalLM.from_pretrained(checkpoint, dtype=torch.float32)
    args = DPOConfig(
        output_dir=str(out),
        max_steps=steps,
        per_device_train_batch_size=4,
        learning_rate=5e-4,
        use_cpu=True,
        bf16=False,
        gradient_checkpointing=False,
        report_to=[],
        save_strategy="no",
        logging_steps=1,
        max_length=512,
    )
    trainer = DPOTrainer(
        model=model,
        args=args,
        processing_class=tokenizer,
        train_dataset=Dataset.from_pandas(pairs[["prompt", "chosen", "rejected"]], preserve_index=False),
        peft_config=LoraConfig(r=8, lora_alpha=16, target_modules="all-linear", task_type="CAUSAL_LM"),
    )
    started = time.perf_counter()
    trainer.train()
    return time.perf_counter() - started, steps


def pair_tokens(tokenizer, pairs, batches: int, batch_size: int) -> int:
    used = pairs.head(batches * batch_size) if batches * batch_size <= len(pairs) else pairs
    return sum(
        len(tokenizer(p + c)["input_ids"]) + len(tokenizer(p + r)["input_ids"])
        for p, c, r in zip(used["prompt"], used["chosen"], used["rejected"])
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", type=Path)
    parser.add_argument("--items", type=int, default=32)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--track-every", type=int, default=3)
    options = parser.parse_args()

    from transformers import AutoTokenizer

    from assay.finetune.finetuned import finetune
    from assay.plan import default_spec
    from assay.preference.policies import train_policy

    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        checkpoint = options.checkpoint or default_checkpoint(scratch / "model")
        items, pairs = data(options.items)
        tokenizer = AutoTokenizer.from_pretrained(checkpoint)

        plain = plain_sft(checkpoint, items, options.steps, scratch / "plain-sft")
        ours = finetune(
            checkpoint,
            items,
            default_spec("finetuned", max_steps=options.steps, precision="fp32", save_dtype="float32"),
            scratch / "sft",
        )
        print(
            f"SFT LoRA, {options.steps} steps of 8 items: plain TRL {plain:.0f} tok/s, "
            f"Assay {ours['tokens_per_second']:.0f} tok/s (ratio {ours['tokens_per_second'] / plain:.2f}; "
            "Assay's time includes nothing but trainer.train)"
        )

        seconds, steps = plain_dpo(checkpoint, pairs, options.steps, scratch / "plain-dpo")
        tokens = pair_tokens(tokenizer, pairs, steps, 4)
        spec = default_spec(
            "policies",
            variant="sigmoid",
            learning_rate=5e-4,
            batch_size=4,
            max_steps=options.steps,
            max_length=512,
            precision="fp32",
            track_every=options.track_every,
            save_dtype="float32",
        )
        ids = pairs["pair_id"].tolist()
        timed = {}
        runs = (
            (
                "earlier tracking (every pair)",
                legacy_tracking,
                dataclasses.replace(spec, track_pairs=len(pairs)),
            ),
            (f"tracking now ({spec.track_pairs} train pairs)", None, spec),
        )
        for name, patch, run_spec in runs:
            with patch() if patch else contextlib.nullcontext():
                started = time.perf_counter()
                fields = train_policy(
                    checkpoint, pairs, ids, run_spec, scratch / name.split(" (")[0].replace(" ", "-")
                )
                timed[name] = (fields["train_seconds"], time.perf_counter() - started)
        print(
            f"DPO LoRA, {steps} steps of 4 pairs out of {len(pairs)}, log-probs tracked every "
            f"{options.track_every} steps: plain TRL trainer.train {seconds:.1f} s "
            f"({tokens / seconds:.0f} tok/s)"
        )
        for name, (train_s, whole_s) in timed.items():
            print(
                f"  Assay, {name}: trainer.train {train_s:.1f} s ({train_s / seconds:.2f}x plain TRL); "
                f"whole run with per-pair log-probs before and after and saving {whole_s:.1f} s "
                f"({whole_s / seconds:.2f}x)"
            )
        (old_train, old_whole), (new_train, new_whole) = timed.values()
        print(
            f"  tracking now / earlier: trainer.train {new_train / old_train:.2f}x, "
            f"whole {new_whole / old_whole:.2f}x"
        )


def legacy_sequence_logprobs(
    model, tokenizer, pairs, batch_size: int = 16, max_length=None, precision="fp32"
):
    """Log-prob tracking as it was before this benchmark's change (kept here to measure it):
    one forward per side, a full log-softmax tensor, no autocast (the benchmark trains in
    fp32)."""
    import pandas as pd
    import torch

    from assay.preference.batching import pad_right

    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    rows = []
    for start in range(0, len(pairs), batch_size):
        batch = pairs.iloc[start : start + batch_size]
        values = {}
        for side in ("chosen", "rejected"):
            prompt_ids = [tokenizer(p)["input_ids"] for p in batch["prompt"]]
            response_ids = [tokenizer(r, add_special_tokens=False)["input_ids"] for r in batch[side]]
            ids, mask = pad_right(tokenizer, [p + r for p, r in zip(prompt_ids, response_ids)])
            with torch.no_grad():
                logits = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits.float()
            logp = torch.log_softmax(logits[:, :-1], dim=-1)
            token_logp = logp.gather(-1, ids[:, 1:].to(device).unsqueeze(-1)).squeeze(-1).cpu()
            values[side] = [
                float(token_logp[i, len(p) - 1 : len(p) - 1 + len(r)].sum())
                for i, (p, r) in enumerate(zip(prompt_ids, response_ids))
            ]
        for pair_id, chosen, rejected in zip(batch["pair_id"], values["chosen"], values["rejected"]):
            rows.append({"pair_id": pair_id, "logp_chosen": chosen, "logp_rejected": rejected})
    if was_training:
        model.train()
    return pd.DataFrame(rows)


@contextlib.contextmanager
def legacy_tracking():
    """The earlier tracking: its scoring, and the callback measuring the start and the end
    again inside trainer.train."""
    from assay.preference import policies, tracking

    class LegacyCallback(tracking.DisplacementCallback):
        def __init__(
            self,
            tokenizer,
            train,
            heldout,
            every=5,
            initial=None,
            final_by_caller=False,
            max_length=None,
            precision="fp32",
        ):
            super().__init__(tokenizer, train, heldout, every)

        def _measure(self, model, step):
            import pandas as pd

            parts = [
                legacy_sequence_logprobs(model, self.tokenizer, p) for p in self.pairs.values() if len(p)
            ]
            if parts:
                self.record(step, pd.concat(parts, ignore_index=True))

    saved = policies.DisplacementCallback, policies.sequence_logprobs
    policies.DisplacementCallback, policies.sequence_logprobs = LegacyCallback, legacy_sequence_logprobs
    try:
        yield
    finally:
        policies.DisplacementCallback, policies.sequence_logprobs = saved


if __name__ == "__main__":
    main()
