"""Likelihood displacement, measured by us rather than read from TRL's batch metrics.

``sequence_logprobs``: per pair, log pi(y+|x) and log pi(y-|x), the summed token
log-probabilities of each response given the prompt (right-padded batches).

``DisplacementCallback``: a ``transformers.TrainerCallback`` that, every ``every`` steps
(and at the start and the end), scores the training pairs and held-out pairs with the
current policy and appends rows to ``self.log``: step, split (train/heldout),
logp_chosen, logp_rejected (means over pairs), margin (their difference).

What the log-probs before and after training add up to is
:func:`assay.preference.displacement.displacement_summary` (kept apart: the displacement job
reads tables and should not import the trainer's libraries).
"""

from __future__ import annotations

import pandas as pd

from assay.preference.batching import encode_pair

#: Pairs per scoring pass (both sides: twice as many responses). The logits of a pass were the
#: job's memory peak when whole sequences ran: 64 pairs of about 300 tokens with SmolLM2 peaked
#: at 5.7 GB with 16 pairs a pass, 3.4 GB with 8, in about the same time (77 s against 81 s,
#: one run, 2 cores); with prompts run once (:mod:`assay.preference.prefix`) a pass's logits
#: cover only responses.
SCORING_PAIRS = 8


def sequence_logprobs(
    model,
    tokenizer,
    pairs: pd.DataFrame,
    batch_size: int = SCORING_PAIRS,
    max_length: int | None = None,
    precision: str = "fp32",
) -> pd.DataFrame:
    """Summed log-probabilities of every pair's chosen and rejected response, over exactly
    the tokens the trainer sees (:mod:`assay.preference.batching`: its EOS included, cut at
    ``max_length``): TRL's ``logps/chosen`` at step 0 is their batch mean.

    Cheap enough to run every few training steps: each distinct prompt runs once and the
    responses after its cached keys and values (:mod:`assay.preference.prefix`), up to
    ``2 * batch_size`` of them in one no-grad pass, the vocabulary projection only over the
    responses, and each token's log-probability is its logit minus the log-sum-exp over the
    vocabulary (no full log-softmax tensor).

    ``precision``: the (resolved) training precision; under bf16 the passes run in the
    trainer's autocast (:func:`assay.training.scoring_precision`), so the scores before,
    during and after training are computed alike."""
    from assay.preference.prefix import response_passes, response_span
    from assay.training import scoring_precision

    was_training = model.training
    model.eval()
    device_type = next(model.parameters()).device.type
    encoded_pairs = [
        encode_pair(tokenizer, p, c, r, max_length)
        for p, c, r in zip(pairs["prompt"], pairs["chosen"], pairs["rejected"])
    ]
    encoded = [pair[0] for pair in encoded_pairs] + [pair[1] for pair in encoded_pairs]
    sums = [0.0] * len(encoded)
    with scoring_precision(precision, device_type, model):
        for chunk, ids, logits in response_passes(model, tokenizer, encoded, 2 * batch_size):
            logits = logits[:, :-1].float()  # suffix position j predicts suffix token j + 1
            targets = ids[:, 1:].to(logits.device).unsqueeze(-1)
            token_logp = (logits.gather(-1, targets).squeeze(-1) - logits.logsumexp(-1)).cpu()
            for row, same in enumerate(chunk):
                total = float(token_logp[row, response_span(encoded[same[0]])].sum())
                for i in same:
                    sums[i] = total
    if was_training:
        model.train()
    half = len(pairs)
    return pd.DataFrame(
        {"pair_id": list(pairs["pair_id"]), "logp_chosen": sums[:half], "logp_rejected": sums[half:]}
    )


def _callback_base():
    from transformers import TrainerCallback

    return TrainerCallback


class DisplacementCallback(_callback_base()):
    """Scores train and held-out pairs every ``every`` optimizer steps (see module doc).

    ``initial``: scores of (at least) these pairs with the starting policy, which the
    caller measured anyway; step 0 is then taken from them instead of measured again.
    ``final_by_caller``: the caller records the last step with :meth:`record` from its own
    measurement after training, instead of the callback measuring the same model twice."""

    def __init__(
        self,
        tokenizer,
        train_pairs: pd.DataFrame,
        heldout_pairs: pd.DataFrame,
        every: int = 5,
        initial: pd.DataFrame | None = None,
        final_by_caller: bool = False,
        max_length: int | None = None,
        precision: str = "fp32",
    ):
        self.tokenizer, self.every, self.precision = tokenizer, every, precision
        self.pairs = {"train": train_pairs, "heldout": heldout_pairs}
        self.initial, self.final_by_caller, self.max_length = initial, final_by_caller, max_length
        self.log: list[dict] = []
        self.per_pair: dict[int, pd.DataFrame] = {}

    def record(self, step: int, scores: pd.DataFrame) -> None:
        """Log the tracked pairs' rows of ``scores`` (any superset of them) as ``step``."""
        for split, pairs in self.pairs.items():
            if pairs.empty:
                continue
            part = scores[scores["pair_id"].isin(pairs["pair_id"])]
            if split == "train":
                self.per_pair[step] = part.reset_index(drop=True)
            self.log.append(
                {
                    "step": step,
                    "split": split,
                    "logp_chosen": float(part["logp_chosen"].mean()),
                    "logp_rejected": float(part["logp_rejected"].mean()),
                    "margin": float((part["logp_chosen"] - part["logp_rejected"]).mean()),
                }
            )

    def _measure(self, model, step: int) -> None:
        tracked = pd.concat([p for p in self.pairs.values() if not p.empty], ignore_index=True)
        if not tracked.empty:
            scores = sequence_logprobs(
                model, self.tokenizer, tracked, max_length=self.max_length, precision=self.precision
            )
            self.record(step, scores)

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        if self.initial is not None:
            self.record(0, self.initial)
        else:
            self._measure(model, 0)

    def on_step_end(self, args, state, control, model=None, **kwargs):
        if state.global_step % self.every == 0 and state.global_step < state.max_steps:
            self._measure(model, state.global_step)

    def on_train_end(self, args, state, control, model=None, **kwargs):
        if self.final_by_caller:
            return
        if not self.log or self.log[-1]["step"] != state.global_step:
            self._measure(model, state.global_step)
