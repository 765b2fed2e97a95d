"""Training benchmark: Assay's SFT (``assay.finetune.finetuned``) and preference training
(``assay.preference.policies``, with its log-prob tracking) against a plain TRL script on the
same data, model and settings. Prints training tokens/s and the ratio, measured in one run.

    python benchmarks/training.py [--checkpoint DIR] [--items 32] [--steps 6]

Data: generated arithmetic items (their real solutions) for SFT, and pairs (the real
solution against a wrong one) for DPO, on SmolLM2-135M-Instruct (materialised into a
temporary folder when the default study has not run yet). LoRA r 8, fp32 on the CPU.
Assay's SFT runs twice: with TRL's fused LM head projecting every position (TRL's own
choice on the CPU, as the stage did before) and with the completion positions only (now).
Assay's preference runs include the prompts run once and the compact head
(``benchmarks/prompt_sharing.py`` measures those alone); each also measures log-probs of
the tracked pairs at the start, every ``--track-every`` steps and at the end. They are
two: with TRL's reference forward at every step, as the policies stage did before, and
with the reference log-probs given, as the stage runs now (the starting policy's scores,
which the ches stage computes once for every policy of its pairs; here the run scores them
itself, outside ``trainer.train``).
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


def plain_dpo(
    checkpoint: Path, pairs, steps: int, out: Path, precision: str = "fp32", lora=(8, 16), **config
) -> tuple[float, int]:
    """Seconds of ``trainer.train`` of TRL's DPOTrainer as a user writes it (LoRA ``lora`` =
    (r, alpha), the reference forward at every step), and the steps asked for. ``config``:
    DPOConfig fields replacing this benchmark's (``steps = -1``: the epochs decide)."""
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig, DPOTrainer

    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    # float32 weights, as Assay trains at precision fp32: transformers 5 otherwise loads the
    # checkpoint's own dtype (bf16), which made the earlier baseline a pure-bf16 run.
    model = AutoModelForCausalLM.from_pretrained(checkpoint, dtype=torch.float32)
    fields = {
        "output_dir": str(out),
        "max_steps": steps,
        "per_device_train_batch_size": 4,
        "learning_rate": 5e-4,
        "use_cpu": True,
        "bf16": precision == "bf16",
        "gradient_checkpointing": False,
        "report_to": [],
        "save_strategy": "no",
        "logging_steps": 1,
        "max_length": 512,
    }
    r, alpha = lora
    trainer = DPOTrainer(
        model=model,
        args=DPOConfig(**{**fields, **config}),
        processing_class=tokenizer,
        train_dataset=Dataset.from_pandas(pairs[["prompt", "chosen", "rejected"]], preserve_index=False),
        peft_config=LoraConfig(r=r, lora_alpha=alpha, target_modules="all-linear", task_type="CAUSAL_LM"),
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
        sft_spec = default_spec("finetuned", max_steps=options.steps, precision="fp32", save_dtype="float32")
        rates = {}
        for name, patch in (("every position projected (before)", every_position), ("now", None)):
            out = scratch / f"sft-{len(rates)}"
            out.mkdir()
            with patch() if patch else contextlib.nullcontext():
                rates[name] = finetune(checkpoint, items, sft_spec, out)["tokens_per_second"]
        print(
            f"SFT LoRA, {options.steps} steps of 8 items: plain TRL {plain:.0f} tok/s; Assay "
            + ", ".join(f"{name} {rate:.0f} tok/s (ratio {rate / plain:.2f})" for name, rate in rates.items())
            + "; Assay's time includes nothing but trainer.train"
        )

        with every_position():  # plain TRL as it ships: the wrap above is process-wide
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
        before = None
        timed = {}
        runs = (
            ("TRL's reference forward at every step (before)", trl_reference),
            ("the reference log-probs given (now)", None),
        )
        for name, patch in runs:
            with patch() if patch else contextlib.nullcontext():
                started = time.perf_counter()
                fields = train_policy(
                    checkpoint, pairs, ids, spec, scratch / name.split(" ")[1].strip("'"), before
                )
                timed[name] = (fields["train_seconds"], time.perf_counter() - started)
        print(
            f"DPO LoRA, {steps} steps of 4 pairs out of {len(pairs)}, log-probs of {spec.track_pairs} train "
            f"pairs tracked every {options.track_every} steps: plain TRL trainer.train {seconds:.1f} s "
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
            f"  given reference / TRL's reference forward: trainer.train {new_train / old_train:.2f}x, "
            f"whole {new_whole / old_whole:.2f}x"
        )


@contextlib.contextmanager
def every_position():
    """The finetuned stage before its fused LM head projected the completion positions only
    on the CPU: TRL's own choice there, every position through the vocabulary."""
    from trl.trainer import utils

    from assay.finetune import finetuned

    saved = finetuned.score_responses_only, utils._use_triton
    finetuned.score_responses_only = lambda: False
    utils._use_triton = getattr(saved[1], "__wrapped__", saved[1])
    try:
        yield
    finally:
        finetuned.score_responses_only, utils._use_triton = saved


@contextlib.contextmanager
def trl_reference():
    """The policies stage before the reference log-probs were given: TRL's own DPOTrainer,
    which runs the reference forward (the policy with its adapter disabled) at every step."""
    from trl import DPOTrainer

    from assay.preference import policies

    saved_trainer, saved_config = policies.given_reference_trainer, policies.dpo_config

    def config(*args, **kwargs):
        config = saved_config(*args, **kwargs)
        config.precompute_ref_log_probs = False
        return config

    policies.given_reference_trainer, policies.dpo_config = (lambda: DPOTrainer), config
    try:
        yield
    finally:
        policies.given_reference_trainer, policies.dpo_config = saved_trainer, saved_config


if __name__ == "__main__":
    main()
