"""The token sequences preference training sees, shared by CHES and log-prob tracking.

They are built as TRL's DPOTrainer (1.16) builds them for text pairs, so that what Assay
measures is what the trainer trains on: the response gets the tokenizer's EOS appended
(unless it ends with it); prompt + response is tokenised as one text, with the tokenizer's
special tokens; the response starts where that sequence and the prompt tokenised alone stop
agreeing (the smaller of the chosen and the rejected side's agreement); and the sequence is
cut to ``max_length`` tokens from its start (TRL's ``keep_start``), which may shorten the
response. The positions that predict response tokens are ``start - 1`` onwards.

Pairs keep a BOS token in their prompt text only when the tokenizer does not add one itself
(:func:`strip_added_bos`), so that no sequence starts with two.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Encoded:
    """One side of a pair: the sequence's token ids and its response span [start, end)."""

    ids: list[int]
    start: int

    @property
    def end(self) -> int:
        return len(self.ids)


def common_prefix_length(a: Sequence[int], b: Sequence[int]) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def with_eos(tokenizer, response: str) -> str:
    eos = tokenizer.eos_token
    return response if not eos or response.endswith(eos) else response + eos


def encode_pair(
    tokenizer, prompt: str, chosen: str, rejected: str, max_length: int | None
) -> tuple[Encoded, Encoded]:
    """The chosen and rejected sequences of one pair, as the trainer sees them."""
    prompt_ids = tokenizer(prompt)["input_ids"]
    sides = [tokenizer(prompt + with_eos(tokenizer, r))["input_ids"] for r in (chosen, rejected)]
    start = min(common_prefix_length(prompt_ids, ids) for ids in sides)
    if max_length is not None:
        sides = [ids[:max_length] for ids in sides]
    return Encoded(sides[0], min(start, len(sides[0]))), Encoded(sides[1], min(start, len(sides[1])))


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


def adds_bos(tokenizer) -> bool:
    """Whether the tokenizer puts its BOS token in front of every text it encodes."""
    bos = tokenizer.bos_token_id
    ids = tokenizer("x")["input_ids"]
    return bos is not None and len(ids) > 0 and ids[0] == bos


def strip_added_bos(tokenizer, text: str) -> str:
    """``text`` without a leading BOS token string when the tokenizer adds one itself (a
    chat template that writes the BOS, as Llama 3's does, would else give two)."""
    bos = tokenizer.bos_token
    if bos and text.startswith(bos) and adds_bos(tokenizer):
        return text[len(bos) :]
    return text
