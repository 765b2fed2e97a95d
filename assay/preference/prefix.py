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

Distinct prompts share a long head too: under a study's fixed few-shot exemplars and chat
template, the default study's 35 prompts agree on their first 131 of about 162 tokens and
differ only in the question. That head, the longest prefix every prompt of a call shares,
runs once for the call; each prompt then runs only its own tail after the head's cached keys
and values, and its responses after the tail's: on 102 pairs of the default study's shape,
log-probs 0.57x and CHES 0.66x the time of each prompt run whole, on an AVX2 CPU in fp32
(``benchmarks/scoring.py``, one run; the same numbers within 5e-5 nats).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Sequence

from assay.preference.batching import Encoded, common_prefix_length, pad_right


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


def common_head(prefixes: Sequence[Sequence[int]]) -> tuple[int, ...]:
    """The longest token prefix that every one of ``prefixes`` starts with; empty for fewer
    than two (one prompt gains nothing from running its head apart)."""
    if len(prefixes) < 2:
        return ()
    first = prefixes[0]
    return tuple(first[: min(common_prefix_length(first, p) for p in prefixes[1:])])


def _extend(run, device, tokens: Sequence[int], cache, logits: bool):
    """The cache after ``tokens`` (one row) ran after ``cache`` (None: from the start); the
    given cache is left as it was."""
    import torch

    head = {"logits_to_keep": 1} if logits else {}
    kwargs = {"past_key_values": copy.deepcopy(cache)} if cache is not None else {}
    ids = torch.tensor([list(tokens)], dtype=torch.long, device=device)
    return run(input_ids=ids, use_cache=True, **head, **kwargs).past_key_values


def response_passes(
    model,
    tokenizer,
    encoded: Sequence[Encoded],
    per_pass: int,
    decoder_only: bool = False,
    share_head: bool = True,
) -> Iterator[tuple[list[list[int]], object, object]]:
    """Run every distinct sequence's suffix after its prompt's cached keys and values,
    ``per_pass`` suffixes at a time; yields (per row, the indices of the sequences it is;
    suffix ids (n, width) right-padded; output (n, width, .)): the logits, or with
    ``decoder_only`` the decoder's last hidden states (no vocabulary projection). The
    prompts' common head runs once and each prompt's tail after it (``share_head``; off,
    each prompt runs whole: what ``benchmarks/scoring.py`` compares against). The caller
    sets the precision (autocast) and ``eval()``."""
    import torch

    device = next(model.parameters()).device
    run = model.get_decoder() if decoder_only else model
    groups = group_by_prefix(encoded)
    with torch.no_grad():  # not inference_mode, where autocast casts weights at every call
        head = common_head([p for p in groups if p]) if share_head else ()
        head_cache = _extend(run, device, head, None, not decoder_only) if head else None
        for prefix, members in groups.items():
            cache = None
            if prefix:  # after the head's cache where there is one, else from the start
                tail = prefix[len(head) :]
                cache = _extend(run, device, tail, head_cache, not decoder_only) if tail else head_cache
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
