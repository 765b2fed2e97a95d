"""CHES scores of preference pairs (arXiv 2410.08847; shared/METHODS.md section 5).

For a pair (x, y+, y-) let h be the policy's last-layer hidden states at the positions
that *predict* the response tokens (for a response starting at position p of the joined
sequence, positions p-1 .. end-1), S+ the sum of h over y+ and S- over y-. The sequences
are those the trainer sees (:mod:`assay.preference.batching`: the EOS it appends counts as
a response token, ``max_length`` cuts them):

    CHES    = <S+, S-> - ||S+||^2
    LN-CHES = <S+, S-> / (|y+| |y-|) - ||S+||^2 / |y+|^2

Higher means more likelihood displacement is expected from training on the pair. The
length-normalised form is the default (the raw sums grow with length). ``ches_scores``
adds the edit-distance similarity of the two responses as a baseline measure.

Output table (``ches.parquet``): pair_id, ches, ln_ches, chosen_tokens, rejected_tokens,
edit_similarity, and the initial policy's logp_chosen, logp_rejected (summed log-probs of
each response, :func:`assay.preference.tracking.sequence_logprobs`) in the training
precision: every policies job of these pairs starts from them instead of scoring the same
model again (the stage runs the model anyway; CHES itself is computed in fp32).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from assay.preference.batching import Encoded, encode_pair
from assay.preference.pairs import similarity
from assay.preference.prefix import response_passes, response_span

SUBSETS = ("all", "lowest", "highest", "random")


def ches_from_hidden(chosen_hidden, rejected_hidden) -> tuple[float, float]:
    """(CHES, LN-CHES) from the hidden states of the two responses, shape (tokens, dim);
    NaN when a response has no token left (its prompt fills max_length: TRL drops the pair)."""
    if chosen_hidden.shape[0] == 0 or rejected_hidden.shape[0] == 0:
        return float("nan"), float("nan")
    s_plus = chosen_hidden.double().sum(0)
    s_minus = rejected_hidden.double().sum(0)
    inner, norm = float(s_plus @ s_minus), float(s_plus @ s_plus)
    n_plus, n_minus = chosen_hidden.shape[0], rejected_hidden.shape[0]
    return inner - norm, inner / (n_plus * n_minus) - norm / n_plus**2


def response_hidden_states(model, tokenizer, encoded: Sequence[Encoded], per_pass: int = 32) -> list:
    """Per encoded sequence (:mod:`assay.preference.batching`: the tokens the trainer sees):
    last-layer hidden states at the positions predicting its response tokens.

    Only the decoder runs (its ``last_hidden_state`` is the causal LM's last entry of
    ``hidden_states``): no vocabulary projection, whose logits CHES never reads, and no
    hidden states of the other layers kept; each distinct prompt runs once, the responses
    after its cached keys and values (:mod:`assay.preference.prefix`)."""
    hidden: list = [None] * len(encoded)
    for chunk, _, last in response_passes(model, tokenizer, encoded, per_pass, decoder_only=True):
        for row, same in enumerate(chunk):
            states = last[row, response_span(encoded[same[0]])].float().cpu()
            for i in same:
                hidden[i] = states
    return hidden


def ches_scores(
    model, tokenizer, pairs: pd.DataFrame, batch_size: int = 16, max_length: int | None = None
) -> pd.DataFrame:
    """CHES, LN-CHES and edit similarity for every pair, with the given (initial) policy, on
    the token sequences the trainer sees (EOS, ``max_length`` truncation); ``batch_size``
    pairs (both their sides) in one pass."""
    encoded = [
        encode_pair(tokenizer, p, c, r, max_length)
        for p, c, r in zip(pairs["prompt"], pairs["chosen"], pairs["rejected"])
    ]
    sides = [side for pair in encoded for side in pair]  # chosen, rejected of each pair in turn
    hidden = response_hidden_states(model, tokenizer, sides, 2 * batch_size)
    rows = []
    for n, row in enumerate(pairs.itertuples()):
        h_plus, h_minus = hidden[2 * n], hidden[2 * n + 1]
        ches, ln_ches = ches_from_hidden(h_plus, h_minus)
        rows.append(
            {
                "pair_id": row.pair_id,
                "ches": ches,
                "ln_ches": ln_ches,
                "chosen_tokens": int(h_plus.shape[0]),
                "rejected_tokens": int(h_minus.shape[0]),
                "edit_similarity": similarity(row.chosen, row.rejected),
            }
        )
    return pd.DataFrame(rows)


def select_subset(
    scores: pd.DataFrame, subset: str, share: float, seed: int = 0, column: str = "ln_ches"
) -> list[str]:
    """pair_ids of a filtering subset: all, the lowest- or highest-scoring share, or a
    random share of the same size (the control)."""
    if subset not in SUBSETS:
        raise ValueError(f"subset {subset!r} is not one of {SUBSETS}")
    if not 0 < share <= 1:
        raise ValueError(f"share must be in (0, 1], got {share}")
    if subset == "all":
        return scores["pair_id"].tolist()
    size = max(1, int(round(share * len(scores))))
    if subset == "random":
        rng = np.random.default_rng(seed)
        return scores["pair_id"].iloc[np.sort(rng.choice(len(scores), size=size, replace=False))].tolist()
    ordered = scores.sort_values([column, "pair_id"], ascending=subset == "lowest", kind="stable")
    return ordered["pair_id"].head(size).tolist()
