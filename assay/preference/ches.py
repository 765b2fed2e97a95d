"""CHES scores of preference pairs (arXiv 2410.08847; shared/METHODS.md section 5).

For a pair (x, y+, y-) let h be the policy's last-layer hidden states at the positions
that *predict* the response tokens (for a response starting at position p of the joined
sequence, positions p-1 .. end-1), S+ the sum of h over y+ and S- over y-:

    CHES    = <S+, S-> - ||S+||^2
    LN-CHES = <S+, S-> / (|y+| |y-|) - ||S+||^2 / |y+|^2

Higher means more likelihood displacement is expected from training on the pair. The
length-normalised form is the default (the raw sums grow with length). ``ches_scores``
adds the edit-distance similarity of the two responses as a baseline measure.

Output table (``ches.parquet``): pair_id, ches, ln_ches, chosen_tokens, rejected_tokens,
edit_similarity.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from assay.preference.batching import encode_pairs
from assay.preference.pairs import similarity

SUBSETS = ("all", "lowest", "highest", "random")


def ches_from_hidden(chosen_hidden, rejected_hidden) -> tuple[float, float]:
    """(CHES, LN-CHES) from the hidden states of the two responses, shape (tokens, dim)."""
    s_plus = chosen_hidden.double().sum(0)
    s_minus = rejected_hidden.double().sum(0)
    inner, norm = float(s_plus @ s_minus), float(s_plus @ s_plus)
    n_plus, n_minus = chosen_hidden.shape[0], rejected_hidden.shape[0]
    return inner - norm, inner / (n_plus * n_minus) - norm / n_plus**2


def response_hidden_states(model, tokenizer, prompts: Sequence[str], responses: Sequence[str]) -> list:
    """Per (prompt, response): last-layer hidden states at the positions predicting the
    response tokens. Right-padded batch; the prompt is tokenised alone to find where the
    response starts."""
    import torch

    ids, mask, prompt_ids, response_ids = encode_pairs(tokenizer, prompts, responses)
    device = next(model.parameters()).device
    with torch.no_grad():
        out = model(input_ids=ids.to(device), attention_mask=mask.to(device), output_hidden_states=True)
    last = out.hidden_states[-1]
    states = []
    for i, (p, r) in enumerate(zip(prompt_ids, response_ids)):
        start = len(p) - 1
        states.append(last[i, start : start + len(r)].float().cpu())
    return states


def ches_scores(model, tokenizer, pairs: pd.DataFrame, batch_size: int = 16) -> pd.DataFrame:
    """CHES, LN-CHES and edit similarity for every pair, with the given (initial) policy."""
    rows = []
    for start in range(0, len(pairs), batch_size):
        batch = pairs.iloc[start : start + batch_size]
        prompts = batch["prompt"].tolist()
        chosen = response_hidden_states(model, tokenizer, prompts, batch["chosen"].tolist())
        rejected = response_hidden_states(model, tokenizer, prompts, batch["rejected"].tolist())
        for row, h_plus, h_minus in zip(batch.itertuples(), chosen, rejected):
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
