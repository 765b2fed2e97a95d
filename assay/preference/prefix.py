"""Forward passes over preference sequences that run each prompt once.

The sequences of a pair share their prompt token for token, and so do all pairs of one
query (``pairs_per_query``); the prompt is most of every sequence. In the default study a
prompt is about 162 tokens and a response about 22, and 204 sequences have 34 distinct
prompts, so a pass over whole sequences spends most of its arithmetic on prompts it has
already seen. Here each distinct prompt prefix runs once, its keys and values are kept, and
only the responses run against them: the same numbers (up to floating-point rounding) on
about a quarter of the tokens. A sequence that occurs more than once (a chosen answer paired
with two rejected ones) runs once: 139 of those 204 are distinct.

What is shared is a sequence's ``ids[:start - 1]``, the tokens before the first position
that predicts a response token (:mod:`assay.preference.batching`); the rest, ``ids[start -
1:]``, is its *suffix*, whose position j predicts suffix token j + 1. Sequences whose
response starts at the first token have no prefix and run whole.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Sequence

from assay.preference.batching import Encoded, pad_right


def suffix_start(encoded: Encoded) -> int:
    """Where a sequence's suffix starts: the first position that predicts a response token."""
    return max(encoded.start - 1, 0)


def response_span(encoded: Encoded) -> slice:
    """The suffix positions that predict the sequence's response tokens (``start`` ..
    ``end - 1``), as a slice of a pass's output row."""
    offset = suffix_start(encoded)
    return slice(max(encoded.start, 1) - 1 - offset, encoded.end - 1 - offset)


def group_by_prefix(encoded: Sequence[Encoded]) -> dict[tuple[int, ...], list[list[int]]]:
    """The sequences grouped by the exact token prefix they share, and within a group by
    their whole ids: {prefix: [[indices of one distinct sequence], ...]}, first seen first."""
    groups: dict[tuple[int, ...], dict[tuple[int, ...], list[int]]] = {}
    for i, e in enumerate(encoded):
        groups.setdefault(tuple(e.ids[: suffix_start(e)]), {}).setdefault(tuple(e.ids), []).append(i)
    return {prefix: list(same.values()) for prefix, same in groups.items()}


def response_passes(
    model, tokenizer, encoded: Sequence[Encoded], per_pass: int, decoder_only: bool = False
) -> Iterator[tuple[list[list[int]], object, object]]:
    """Run every distinct sequence's suffix after its prompt's cached keys and values,
    ``per_pass`` suffixes at a time; yields (per row, the indices of the sequences it is;
    suffix ids (n, width) right-padded; output (n, width, .)): the logits, or with
    ``decoder_only`` the decoder's last hidden states (no vocabulary projection). The
    caller sets the precision (autocast) and ``eval()``."""
    import torch

    device = next(model.parameters()).device
    run = model.get_decoder() if decoder_only else model
    with torch.inference_mode():
        for prefix, members in group_by_prefix(encoded).items():
            cache = None
            if prefix:
                head = {} if decoder_only else {"logits_to_keep": 1}
                ids = torch.tensor([prefix], dtype=torch.long, device=device)
                cache = run(input_ids=ids, use_cache=True, **head).past_key_values
            for first in range(0, len(members), per_pass):
                chunk = members[first : first + per_pass]
                suffixes = [encoded[same[0]].ids[suffix_start(encoded[same[0]]) :] for same in chunk]
                ids, mask = pad_right(tokenizer, suffixes)
                kwargs = {}
                if cache is not None:
                    chunk_cache = copy.deepcopy(cache)  # the pass appends the suffixes to it
                    chunk_cache.batch_repeat_interleave(len(chunk))
                    mask = torch.cat([torch.ones(len(chunk), len(prefix), dtype=mask.dtype), mask], dim=1)
                    kwargs["past_key_values"] = chunk_cache
                out = run(input_ids=ids.to(device), attention_mask=mask.to(device), use_cache=True, **kwargs)
                yield chunk, ids, out.last_hidden_state if decoder_only else out.logits
