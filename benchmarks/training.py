"""Training benchmark: Assay's SFT (``assay.synthetic.finetune``) and preference training
(``assay.preference.run``, with its log-prob tracking) against a plain TRL script on the
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
    from assay.synthetic.finetune import sft_records
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    model = AutoModelForCausalLM.from_pretrained(checkpoint)
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
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig, DPOTrainer

    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    model = AutoModelForCausalLM.from_pretrained(checkpoint)
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
        fields = train_policy(checkpoint, pairs, pairs["pair_id"].tolist(), spec, scratch / "dpo")
        plain_rate, ours_rate = tokens / seconds, tokens / fields["train_seconds"]
        print(
            f"DPO LoRA, {steps} steps of 4 pairs: plain TRL {plain_rate:.0f} tok/s, Assay with tracking of "
            f"{len(pairs)} pairs every {options.track_every} steps {ours_rate:.0f} tok/s "
            f"(ratio {ours_rate / plain_rate:.2f})"
        )


if __name__ == "__main__":
    main()
