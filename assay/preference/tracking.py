"""Likelihood displacement, measured by us rather than read from TRL's batch metrics.

``sequence_logprobs``: per pair, log pi(y+|x) and log pi(y-|x), the summed token
log-probabilities of each response given the prompt (right-padded batches).

``DisplacementCallback``: a ``transformers.TrainerCallback`` that, every ``every`` steps
(and at the start and the end), scores the training pairs and held-out pairs with the
current policy and appends rows to ``self.log``: step, split (train/heldout),
logp_chosen, logp_rejected (means over pairs), margin (their difference).

``displacement_summary``: from the per-pair log-probs before and after training and the
CHES scores: mean change of log pi(y+|x) and log pi(y-|x), the share of pairs whose chosen
log-prob fell, and the Spearman correlation between CHES (length-normalised) and the
per-pair fall of the chosen log-prob.
"""

from __future__ import annotations

import pandas as pd

from assay.preference.batching import encode_pairs


def sequence_logprobs(model, tokenizer, pairs: pd.DataFrame, batch_size: int = 16) -> pd.DataFrame:
    import torch

    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    rows = []
    for start in range(0, len(pairs), batch_size):
        batch = pairs.iloc[start : start + batch_size]
        values = {}
        for side in ("chosen", "rejected"):
            ids, mask, prompt_ids, response_ids = encode_pairs(tokenizer, batch["prompt"], batch[side])
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


def _callback_base():
    from transformers import TrainerCallback

    return TrainerCallback


class DisplacementCallback(_callback_base()):
    """Scores train and held-out pairs every ``every`` optimizer steps (see module doc)."""

    def __init__(self, tokenizer, train_pairs: pd.DataFrame, heldout_pairs: pd.DataFrame, every: int = 5):
        self.tokenizer, self.every = tokenizer, every
        self.pairs = {"train": train_pairs, "heldout": heldout_pairs}
        self.log: list[dict] = []
        self.per_pair: dict[int, pd.DataFrame] = {}

    def _measure(self, model, step: int) -> None:
        for split, pairs in self.pairs.items():
            if pairs.empty:
                continue
            scores = sequence_logprobs(model, self.tokenizer, pairs)
            if split == "train":
                self.per_pair[step] = scores
            self.log.append(
                {
                    "step": step,
                    "split": split,
                    "logp_chosen": float(scores["logp_chosen"].mean()),
                    "logp_rejected": float(scores["logp_rejected"].mean()),
                    "margin": float((scores["logp_chosen"] - scores["logp_rejected"]).mean()),
                }
            )

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        self._measure(model, 0)

    def on_step_end(self, args, state, control, model=None, **kwargs):
        if state.global_step % self.every == 0 and state.global_step < state.max_steps:
            self._measure(model, state.global_step)

    def on_train_end(self, args, state, control, model=None, **kwargs):
        if not self.log or self.log[-1]["step"] != state.global_step:
            self._measure(model, state.global_step)


def displacement_summary(before: pd.DataFrame, after: pd.DataFrame, ches: pd.DataFrame | None = None) -> dict:
    """Changes from start to end of training (see module doc)."""
    from scipy.stats import spearmanr

    joined = before.merge(after, on="pair_id", suffixes=("_before", "_after"))
    delta_chosen = joined["logp_chosen_after"] - joined["logp_chosen_before"]
    delta_rejected = joined["logp_rejected_after"] - joined["logp_rejected_before"]
    summary = {
        "pairs": len(joined),
        "delta_logp_chosen": float(delta_chosen.mean()),
        "delta_logp_rejected": float(delta_rejected.mean()),
        "delta_margin": float((delta_chosen - delta_rejected).mean()),
        "share_chosen_fell": float((delta_chosen < 0).mean()),
        "spearman_ches_displacement": None,
    }
    if ches is not None and len(joined) > 2:
        scored = joined.assign(fall=-delta_chosen).merge(ches[["pair_id", "ln_ches"]], on="pair_id")
        rho = spearmanr(scored["ln_ches"], scored["fall"]).statistic
        summary["spearman_ches_displacement"] = None if pd.isna(rho) else float(rho)
    return summary
