"""What SFT and preference training share: loading a checkpoint to train, the device and
precision flags TRL needs, and writing the trained model as a plain checkpoint.

Precision: plans resolve ``auto`` for the hardware (:mod:`assay.hardware`): bf16 on GPUs
and on CPUs with native bf16 (about 25% faster per step there), fp32 on other CPUs, where
emulated bf16 is several times slower. TRL's configs default to ``bf16=True`` and gradient
checkpointing, which on a CPU raise unless ``use_cpu=True``; ``trainer_flags`` sets all three explicitly.

A trained artifact holds ``checkpoint/`` exactly like a ``models`` artifact (LoRA merged
into the weights), so ``evaluate`` and both engines read it like any model.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from assay.errors import ConfigError

log = logging.getLogger(__name__)

PRECISIONS = ("auto", "fp32", "bf16")


def on_gpu() -> bool:
    import torch

    return torch.cuda.is_available()


def resolve_precision(precision: str) -> str:
    """The precision a job trains in. Plans resolve ``auto`` already (:mod:`assay.hardware`);
    here it is resolved for the machine the job runs on."""
    from assay import hardware

    if precision not in PRECISIONS:
        raise ConfigError(f"training precision {precision!r} is not one of {PRECISIONS}")
    return hardware.resolve_precision(precision, on_gpu())


def trainer_flags(precision: str) -> dict[str, Any]:
    """The TrainingArguments fields that pick the device and the precision."""
    from assay.hardware import check_job_hardware

    precision = resolve_precision(precision)
    check_job_hardware(precision == "bf16", on_gpu())
    return {"use_cpu": not on_gpu(), "bf16": precision == "bf16", "gradient_checkpointing": False}


@contextlib.contextmanager
def scoring_precision(precision: str, device_type: str, model=None) -> Iterator[None]:
    """The context a no-grad scoring pass runs in so that its numbers are the trainer's:
    under bf16 the trainer (Accelerate) runs every forward pass in ``torch.autocast`` to
    bf16, weights held in fp32, and keeps patching the model's forward after training; a
    pass without it would score the starting policy in fp32 and the trained one in bf16,
    and their difference would hold the precision change as well as the training (and take
    twice as long on a CPU with native bf16).

    ``model``: cast its weights to bf16 once for the whole context rather than at every
    forward call (:func:`casts_kept`). The caller runs its passes under ``torch.no_grad()``,
    not ``inference_mode``, where autocast keeps no casts."""
    if precision != "bf16":
        yield
        return
    import torch

    with torch.autocast(device_type=device_type, dtype=torch.bfloat16), casts_kept(model):
        yield


@contextlib.contextmanager
def casts_kept(model) -> Iterator[None]:
    """Autocast casts every weight of a linear layer to bf16 at every call, and keeps a cast
    for the rest of the autocast context only for a leaf tensor that requires grad (and
    outside ``inference_mode``): the frozen weights of a LoRA model, or of a merged one, were
    cast again at every forward call. A scoring pass makes many small calls (each prompt's
    tail, then its responses), and on a CPU with native bf16 the casts took 60% of a
    tracking pass, which ran slower than the same pass in fp32. Marking the frozen weights
    as requiring grad for the pass (no graph is built under ``no_grad``) makes autocast cast
    each once: the same casts, so the same numbers to the bit."""
    frozen = (
        []
        if model is None
        else [p for p in model.parameters() if p.is_floating_point() and not p.requires_grad]
    )
    for parameter in frozen:
        parameter.requires_grad_(True)
    try:
        yield
    finally:
        for parameter in frozen:
            parameter.requires_grad_(False)


def load_trainable(checkpoint: str | Path, precision: str = "auto"):
    """(model, tokenizer) from a checkpoint folder, weights in float32 (mixed precision
    comes from the trainer's bf16 flag), with a pad token."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    dtype = torch.bfloat16 if resolve_precision(precision) == "bf16" and on_gpu() else torch.float32
    model = AutoModelForCausalLM.from_pretrained(checkpoint, dtype=dtype)
    return model, tokenizer


def merged(model):
    """The trained model with its LoRA adapters (if any) merged into its weights: what the
    saved checkpoint holds, and cheaper to run than adapters beside every linear layer (two
    extra small products and an addition each): the policies stage's log-probs of 102
    pairs after training 0.75x the time on an AVX2 CPU in fp32 (``benchmarks/scoring.py
    --parts lora``, one run; 1e-4 nats apart)."""
    return model.merge_and_unload() if hasattr(model, "merge_and_unload") else model


def save_trained(model, tokenizer, out_dir: str | Path, dtype: str = "bfloat16") -> Path:
    """Merge LoRA adapters if any, cast and save a plain safetensors checkpoint."""
    import torch

    model = merged(model)
    out_dir = Path(out_dir)
    model = model.to(getattr(torch, dtype))
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)
    return out_dir


def log_history_table(history: list[dict[str, Any]]) -> pd.DataFrame:
    """TRL's per-step log (``trainer.state.log_history``) as a table, one row per logged
    step; the final summary row (train_runtime, ...) is kept apart by the caller."""
    rows = [dict(entry) for entry in history if "loss" in entry]
    frame = pd.DataFrame(rows)
    if not frame.empty:
        frame = frame.rename(columns=lambda c: c.replace("/", "_"))
    return frame


def run_summary(history: list[dict[str, Any]]) -> dict[str, Any]:
    """Runtime fields of TRL's last log entry (train_runtime, train_loss, ...)."""
    last = next((entry for entry in reversed(history) if "train_runtime" in entry), {})
    return {k: float(v) for k, v in last.items() if isinstance(v, int | float)}


def score_responses_only() -> bool:
    """Have TRL's fused LM head project only the positions it scores, on the CPU too.

    TRL's SFT and DPO trainers call the model with ``fused_lm_head=True``: it projects the
    hidden states through the vocabulary only where a label is not -100 (the responses) on
    Triton devices; on others it projects every position, prompts included, and zeroes the
    rest afterwards, so as not to recompile per batch shape on compiling backends (its
    comment names Neuron). The CPU compiles nothing, and there the projection of prompt
    positions is most of the head's cost (in the default study's DPO, a 49k-token
    vocabulary over about 185 positions a sequence, of which about 22 are scored). TRL
    picks the path with ``trl.trainer.utils._use_triton``, which it also uses for nothing
    else in that module (its kernels read their own); this wraps it to answer yes on the
    CPU. The values are the same: each position's log-prob is computed
    alone. Returns whether the wrap is in place (False when TRL no longer has the hook)."""
    from trl.trainer import utils

    original = getattr(utils, "_use_triton", None)
    if original is None:
        log.warning(
            "TRL has no trainer.utils._use_triton: its fused LM head projects every position on the CPU"
        )
        return False
    if getattr(original, "assay_wrapped", False):
        return True

    def compact(device) -> bool:
        return device.type == "cpu" or original(device)

    compact.assay_wrapped = True
    compact.__wrapped__ = original  # what a caller restores to undo it
    utils._use_triton = compact
    return True
