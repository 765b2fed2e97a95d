"""Stage ``finetuned`` (rule ``train_finetuned``): supervised fine-tuning of a student
on one synthetic set (TRL's SFTTrainer, PEFT LoRA by default: the BARE paper's r 8, alpha
16, lr 1e-3, 4 epochs).

Each item becomes a conversational prompt/completion pair: the prompt is the task's
instruction and the question as one user turn (no few-shot examples: the student learns
the format from the data), the completion is the worked solution. With prompt/completion
data TRL puts the loss on the completion only (SmolLM2's template does not support
``assistant_only_loss``, shared/FACTS.md), and its fused LM head projects only the
completion positions through the vocabulary, on the CPU too
(:func:`assay.training.score_responses_only`).

Files: ``checkpoint/`` (LoRA merged, readable by both engines), ``train_log.parquet``
(TRL's per-step log: step, loss, learning_rate, grad_norm, mean_token_accuracy, ...).
"""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path
from typing import Any

import pandas as pd

from assay.finetune.spec import FinetunedSpec
from assay.tasks.base import INSTRUCTION
from assay.training import (
    load_trainable,
    log_history_table,
    run_summary,
    save_trained,
    score_responses_only,
    trainer_flags,
)

log = logging.getLogger(__name__)


#: The trainer's seed. Not in the spec (keys made before it would move); fixed.
SFT_SEED = 0


def sft_records(items: pd.DataFrame) -> list[dict[str, Any]]:
    return [
        {
            "prompt": [{"role": "user", "content": f"{INSTRUCTION}\n\nProblem: {q}"}],
            "completion": [{"role": "assistant", "content": s}],
        }
        for q, s in zip(items["question"], items["solution"])
    ]


def sft_config(spec: FinetunedSpec, output_dir: str | Path):
    from trl import SFTConfig

    return SFTConfig(
        output_dir=str(output_dir),
        learning_rate=spec.learning_rate,
        num_train_epochs=spec.epochs,
        max_steps=spec.max_steps or -1,
        per_device_train_batch_size=spec.batch_size,
        max_length=spec.max_length,
        completion_only_loss=True,
        logging_steps=1,
        save_strategy="no",
        report_to=[],
        seed=SFT_SEED,
        **trainer_flags(spec.precision),
    )


def finetune(
    checkpoint: str | Path, items: pd.DataFrame, spec: FinetunedSpec, out_dir: str | Path
) -> dict[str, Any]:
    """Train, save the merged checkpoint and the log; returns the manifest fields.

    A method whose set kept no item (every draft rejected) is a result, not a failure of
    the study: the student is saved untrained (evaluated like the others, it scores as
    before), the manifest says ``trained: false`` and why, and a warning is logged."""
    from datasets import Dataset
    from peft import LoraConfig
    from trl import SFTTrainer

    out_dir = Path(out_dir)
    model, tokenizer = load_trainable(checkpoint, spec.precision)
    if items.empty:
        log.warning("finetune: the synthetic set kept no item; the student is saved untrained")
        pd.DataFrame(columns=["step", "loss"]).to_parquet(out_dir / "train_log.parquet", index=False)
        save_trained(model, tokenizer, out_dir / "checkpoint", spec.save_dtype)
        return {"items": 0, "steps": 0, "trained": False, "untrained_reason": "the set kept no item"}
    peft_config = (
        LoraConfig(
            r=spec.lora_r, lora_alpha=spec.lora_alpha, target_modules="all-linear", task_type="CAUSAL_LM"
        )
        if spec.lora
        else None
    )
    trainer = SFTTrainer(
        model=model,
        args=sft_config(spec, out_dir / "trainer-scratch"),
        train_dataset=Dataset.from_list(sft_records(items)),
        processing_class=tokenizer,
        peft_config=peft_config,
    )
    score_responses_only()
    started = time.time()
    trainer.train()
    seconds = time.time() - started
    history = trainer.state.log_history
    table = log_history_table(history)
    table.to_parquet(out_dir / "train_log.parquet", index=False)
    save_trained(trainer.model, tokenizer, out_dir / "checkpoint", spec.save_dtype)
    shutil.rmtree(out_dir / "trainer-scratch", ignore_errors=True)
    tokens = int(table["num_tokens"].max()) if "num_tokens" in table else None
    return {
        "items": len(items),
        "trained": True,
        "steps": int(trainer.state.global_step),
        "train_seconds": round(seconds, 1),
        "train_tokens": tokens,
        "tokens_per_second": round(tokens / seconds, 1) if tokens else None,
        "first_loss": float(table["loss"].iloc[0]) if len(table) else None,
        "last_loss": float(table["loss"].iloc[-1]) if len(table) else None,
        **{f"trl_{k}": v for k, v in run_summary(history).items()},
    }
