"""Right-padded batches of prompt + response, shared by CHES and log-prob tracking.

The prompt is tokenised alone (with the tokenizer's special tokens) and the response
without them, so that the response starts at ``len(prompt_ids)`` in the joined sequence;
the positions that predict response tokens are ``len(prompt_ids) - 1`` onwards.
"""

from __future__ import annotations

from collections.abc import Sequence


def encode_pairs(tokenizer, prompts: Sequence[str], responses: Sequence[str]):
    """(ids, attention_mask, prompt_ids, response_ids), padded on the right."""
    prompt_ids = [tokenizer(p)["input_ids"] for p in prompts]
    response_ids = [tokenizer(r, add_special_tokens=False)["input_ids"] for r in responses]
    ids, mask = pad_right(tokenizer, [p + r for p, r in zip(prompt_ids, response_ids)])
    return ids, mask, prompt_ids, response_ids


def pad_right(tokenizer, sequences: Sequence[Sequence[int]]):
    """(ids, attention_mask) of token sequences, padded on the right."""
    import torch

    width = max(len(s) for s in sequences)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    ids = torch.full((len(sequences), width), pad, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for i, s in enumerate(sequences):
        ids[i, : len(s)] = torch.tensor(list(s), dtype=torch.long)
        mask[i, : len(s)] = 1
    return ids, mask
