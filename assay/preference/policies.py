"""Stage ``policies`` (rule ``train_policies``): one variant on one subset of the pairs,
with displacement tracked by our own measurement (:mod:`assay.preference.tracking`).

Files written into the artifact:

* ``checkpoint/``: the trained policy (LoRA merged), readable by both engines;
* ``train_log.parquet``: TRL's per-step log (step, loss, rewards_chosen, rewards_rejected,
  rewards_margins, logps_chosen, logps_rejected, learning_rate, ... as TRL names them,
  ``/`` replaced by ``_``);
* ``logprobs.parquet``: step, split (train / heldout), logp_chosen, logp_rejected, margin:
  means over the pairs (a fixed seeded sample of ``track_pairs`` of the subset's train
  pairs, and one of the held-out pairs), measured with the current policy every
  ``track_every`` steps and at the start and the end;
* ``per_pair.parquet``: pair_id, split, logp_chosen_before, logp_rejected_before,
  logp_chosen_after, logp_rejected_after (every pair of the table, trained or not).

Every log-prob (before, tracked, after) is scored in the training precision (the ches stage
scores the starting policy once for all the policies of its pairs): under bf16,
in the autocast the trainer trains in (:func:`assay.training.scoring_precision`).

How variants map onto TRL (the configuration half; the training loop is TRL's):
a ``PoliciesSpec`` is one variant's whole behaviour: its loss, beta, learning rate, epochs,
LoRA or full. ``dpo_config`` turns it into a ``trl.DPOConfig`` with the CPU facts of
shared/FACTS.md applied: TRL defaults to bf16 and gradient checkpointing, which on a CPU
raise unless ``use_cpu=True``; ``loss_type`` is a list in TRL 1.16; ``max_length`` (not
``max_seq_length``). SimPO lives in TRL's CPO trainer (``trl.experimental.cpo``), since
``loss_type="simpo"`` in DPOTrainer fails at the first step. The DPO family trains in TRL's
precomputed-reference mode with the starting policy's log-probs given, not scored again
(:func:`given_reference_trainer`). Each batch runs a prompt its rows share once, with
gradients (:mod:`assay.preference.shared_prompts`): the same loss and gradients up to
rounding, and TRL's fused LM head projects only the response positions on the CPU too:
training 0.35x the time in fp32 as on AVX2, 0.42x in bf16 (``benchmarks/prompt_sharing.py``).

A check of this configuration (tests/unit/preference/test_training.py): with the policy
equal to the reference, the first logged loss is ln 2 for DPO, 1 / (4 beta^2) for IPO
(D = 0), and 1 for hinge.

IPO as TRL 1.16 computes it, and so as Assay trains it, is the length-averaged form: with
r = log pi(y|x) - log pi_ref(y|x) summed over the response tokens (its EOS included),
loss = (r+ / |y+| - r- / |y-| - 1 / (2 beta))^2, not METHODS' sequence-level
(r+ - r- - 1 / (2 beta))^2; the two agree only at D = 0. A test checks TRL's logged loss
against the averaged form at a policy unlike the reference.
"""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path
from typing import Any

import pandas as pd

from assay.preference.shared_prompts import share_prompts
from assay.preference.spec import PoliciesSpec
from assay.preference.tracking import DisplacementCallback, sequence_logprobs
from assay.training import (
    load_trainable,
    log_history_table,
    merged,
    resolve_precision,
    run_summary,
    save_trained,
    score_responses_only,
    trainer_flags,
)

log = logging.getLogger(__name__)


def _common_args(spec: PoliciesSpec, output_dir: str | Path, max_steps: int | None) -> dict:
    steps = max_steps if max_steps is not None else spec.max_steps
    return {
        "output_dir": str(output_dir),
        "beta": spec.beta,
        "learning_rate": spec.learning_rate,
        "num_train_epochs": spec.epochs,
        "max_steps": steps if steps else -1,
        "per_device_train_batch_size": spec.batch_size,
        "max_length": spec.max_length,
        "logging_steps": 1,
        "save_strategy": "no",
        "report_to": [],
        "seed": spec.seed,
        **trainer_flags(spec.precision),
    }


def dpo_config(spec: PoliciesSpec, output_dir: str | Path, max_steps: int | None = None):
    """A TRL DPOConfig for a DPO-family variant (not SimPO)."""
    from trl import DPOConfig

    if spec.variant == "simpo":
        raise ValueError("SimPO is trained with TRL's CPO trainer: use cpo_config")
    return DPOConfig(
        loss_type=[spec.variant], precompute_ref_log_probs=True, **_common_args(spec, output_dir, max_steps)
    )


def cpo_config(spec: PoliciesSpec, output_dir: str | Path, max_steps: int | None = None):
    """SimPO as TRL's CPO trainer runs it: reference-free, length-normalised, margin gamma,
    no behaviour-cloning term (cpo_alpha 0)."""
    from trl.experimental.cpo import CPOConfig

    return CPOConfig(
        loss_type="simpo",
        simpo_gamma=spec.simpo_gamma,
        cpo_alpha=0.0,
        **_common_args(spec, output_dir, max_steps),
    )


def lora_config(spec: PoliciesSpec):
    from peft import LoraConfig

    return LoraConfig(
        r=spec.lora_r, lora_alpha=spec.lora_alpha, target_modules="all-linear", task_type="CAUSAL_LM"
    )


#: The dataset columns DPOTrainer reads its reference log-probabilities from.
REFERENCE_COLUMNS = {"logp_chosen": "ref_chosen_logps", "logp_rejected": "ref_rejected_logps"}


def given_reference_trainer():
    """TRL's DPOTrainer with the reference log-probabilities given in the dataset.

    The reference of every DPO-family variant is the starting policy, whose summed
    log-probabilities of every pair the ches stage has scored already, in the training
    precision, on exactly TRL's token sequences (:func:`sequence_logprobs`). TRL would run
    the reference forward again at every step (about a quarter of a DPO step) or, with
    ``precompute_ref_log_probs``, in a pass of its own before training. This trainer runs in
    TRL's precomputed mode (no reference forward in the steps, no reference copy in memory
    for full fine-tuning) and takes the values from the dataset's ``ref_chosen_logps`` and
    ``ref_rejected_logps`` columns instead of computing them (a test checks that the loss
    follows the given values)."""
    from trl import DPOTrainer

    class GivenReferenceDPOTrainer(DPOTrainer):
        def _precompute_ref_logps(self, dataset, name, batch_size):
            missing = set(REFERENCE_COLUMNS.values()) - set(dataset.column_names)
            if missing:
                raise ValueError(f"the {name} dataset has no reference log-probs: {sorted(missing)} missing")
            return dataset

    return GivenReferenceDPOTrainer


def _trainer(spec: PoliciesSpec, model, tokenizer, data, scratch: Path, callback):
    if spec.variant == "simpo":
        from trl.experimental.cpo import CPOTrainer

        cls, args = CPOTrainer, cpo_config(spec, scratch)
    else:
        cls, args = given_reference_trainer(), dpo_config(spec, scratch)
    trainer = cls(
        model=model,
        args=args,
        train_dataset=data,
        processing_class=tokenizer,
        peft_config=lora_config(spec) if spec.lora else None,
        callbacks=[callback],
    )
    share_prompts(trainer.model)
    score_responses_only()
    return trainer


def train_policy(
    checkpoint: str | Path,
    pairs: pd.DataFrame,
    train_ids: list[str],
    spec: PoliciesSpec,
    out_dir: str | Path,
    before: pd.DataFrame | None = None,
) -> dict[str, Any]:
    """Train on the pairs in ``train_ids``; the curves follow a fixed sample of
    ``track_pairs`` of them and of the held-out pairs (scoring every held-out pair at every
    tracking step cost more than the training); per-pair log-probs before and after cover
    every pair. ``before``: the starting policy's log-probs of every pair in the training
    precision (pair_id, logp_chosen, logp_rejected: the ches stage scores them once for
    all the policies of the pairs); scored here when not given. Returns the manifest fields."""
    from datasets import Dataset

    out_dir = Path(out_dir)
    model, tokenizer = load_trainable(checkpoint, spec.precision)
    train = pairs[pairs["pair_id"].isin(train_ids) & (pairs["split"] == "train")].reset_index(drop=True)
    heldout = pairs[pairs["split"] == "heldout"].reset_index(drop=True)
    log.info("training %s on %d pairs (%d held out)", spec.variant, len(train), len(heldout))
    precision = resolve_precision(spec.precision)
    if before is None:
        before = sequence_logprobs(model, tokenizer, pairs, max_length=spec.max_length, precision=precision)
    elif set(before["pair_id"]) != set(pairs["pair_id"]):
        raise ValueError("the starting log-probs do not cover the pairs: they belong to other pairs")
    tracked = {
        split: frame.sample(n=min(spec.track_pairs, len(frame)), random_state=spec.seed).sort_index()
        for split, frame in (("train", train), ("heldout", heldout))
    }
    callback = DisplacementCallback(
        tokenizer,
        tracked["train"],
        tracked["heldout"],
        every=spec.track_every,
        initial=before,
        final_by_caller=True,
        max_length=spec.max_length,
        precision=precision,
    )
    reference = train[["pair_id"]].merge(before, on="pair_id", how="left", validate="one_to_one")
    data = Dataset.from_pandas(
        train[["prompt", "chosen", "rejected"]].assign(
            **{column: reference[name].to_numpy() for name, column in REFERENCE_COLUMNS.items()}
        ),
        preserve_index=False,
    )
    trainer = _trainer(spec, model, tokenizer, data, out_dir / "trainer-scratch", callback)
    started = time.time()
    trainer.train()
    seconds = time.time() - started
    policy = merged(trainer.model)  # the saved policy, scored without adapters beside every layer
    after = sequence_logprobs(policy, tokenizer, pairs, max_length=spec.max_length, precision=precision)
    if not callback.log or callback.log[-1]["step"] != trainer.state.global_step:
        callback.record(int(trainer.state.global_step), after)
    per_pair = (
        pairs[["pair_id", "split"]]
        .merge(before, on="pair_id")
        .merge(after, on="pair_id", suffixes=("_before", "_after"))
    )
    per_pair.to_parquet(out_dir / "per_pair.parquet", index=False)
    pd.DataFrame(callback.log).to_parquet(out_dir / "logprobs.parquet", index=False)
    history = trainer.state.log_history
    log_history_table(history).to_parquet(out_dir / "train_log.parquet", index=False)
    save_trained(policy, tokenizer, out_dir / "checkpoint", spec.save_dtype)
    shutil.rmtree(out_dir / "trainer-scratch", ignore_errors=True)
    tokens = int(
        sum(
            len(tokenizer(p + c)["input_ids"]) + len(tokenizer(p + r)["input_ids"])
            for p, c, r in zip(train["prompt"], train["chosen"], train["rejected"])
        )
    )
    steps = int(trainer.state.global_step)
    return {
        "train_pairs": len(train),
        "trained_pair_ids": train["pair_id"].tolist(),
        "heldout_pairs": len(heldout),
        "tracked_pairs": {split: len(frame) for split, frame in tracked.items()},
        "steps": steps,
        "train_seconds": round(seconds, 1),
        "train_tokens_per_epoch": tokens,
        **{f"trl_{k}": v for k, v in run_summary(history).items()},
    }
