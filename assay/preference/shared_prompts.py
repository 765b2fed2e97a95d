"""Preference training that runs each prompt once per batch, with gradients.

TRL's DPO (and CPO) trainer feeds the model a batch of 2B rows, the chosen sequences then
the rejected ones, each prompt + response, right-padded, in one forward pass. Both rows of
a pair start with the same prompt token for token, and so do the pairs of one query
(``pairs_per_query``); in the default study a prompt is about 162 of a sequence's 185
tokens, so most of a training step's arithmetic (forward and backward) runs the same
prompt twice or more. Under a causal mask a position's hidden state depends only on the
tokens up to it, so the rows' states over a shared prefix are equal; here the prefix runs
once, its keys and values are kept (with their gradients), and only each row's rest runs
after them. The decoder's output is the same (up to floating-point rounding) and the
gradients flow back through the shared prefix to the weights as they would from each row.
This is the training counterpart of :mod:`assay.preference.prefix` (the no-grad scoring).

It is installed on the decoder (the model's backbone, what TRL's fused LM head and the
model's own forward call), not on the trainer, so TRL's loss code runs unchanged:
:func:`share_prompts` patches the decoder's ``forward`` on the instance. A call it cannot
serve exactly (a cache, embeddings instead of ids, outputs beyond the last hidden state,
sequences longer than a sliding window) runs the original forward, as does a batch in
which no two rows share a prefix of ``min_shared`` tokens.

Padding: the returned hidden states at padded positions (attention mask 0) are zeros,
where the whole-row pass computes values no loss reads (TRL masks them out of every
log-prob and metric).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

#: Rows that share fewer tokens than this run in one ordinary pass: a separate prefix pass
#: for a short prefix costs more in call overhead than it saves.
MIN_SHARED = 16


@dataclass(frozen=True)
class PrefixGroup:
    """Rows of a batch that share their first ``length`` tokens (ids and attention mask)."""

    length: int
    rows: list[int]


def group_rows(
    input_ids, attention_mask, min_shared: int = MIN_SHARED
) -> tuple[list[PrefixGroup], list[int]]:
    """The batch's rows grouped by a shared token prefix, and the rows that share none.

    Rows are right-padded; a row's real tokens are where its attention mask is 1. A group
    of ``n`` rows sharing ``p`` tokens saves ``(n - 1) * p`` token positions, and a group's
    prefix is the shortest it shares with any member (kept one token short of its shortest
    member, so that every row has a suffix to run). Each row, in order, joins the group
    whose saving grows most by it, sharing at least ``min_shared`` tokens with that group's
    first row; a row that would shrink every group's saving (say, two queries' pairs that
    share only a system prompt) starts a group of its own."""
    import torch

    lengths = attention_mask.sum(dim=1).tolist()
    leaders: list[int] = []
    members: dict[int, list[int]] = {}
    shared: dict[int, int] = {}
    alone: list[int] = []
    for row in range(input_ids.shape[0]):
        best, best_len, best_gain = None, 0, 0
        if leaders:
            lead = torch.tensor(leaders)
            same = (input_ids[lead] == input_ids[row]) & (attention_mask[lead] == attention_mask[row])
            same &= attention_mask[row].bool()
            common = same.long().cumprod(dim=1).sum(dim=1).tolist()
            for leader, length in zip(leaders, common):
                length = min(length, lengths[row] - 1, lengths[leader] - 1)
                if length < min_shared:
                    continue
                size, prefix = len(members[leader]), shared[leader]
                gain = size * min(prefix, length) - (size - 1) * prefix
                if gain > best_gain:
                    best, best_len, best_gain = leader, length, gain
        if best is None:
            leaders.append(row)
            members[row] = [row]
            shared[row] = lengths[row] - 1
        else:
            members[best].append(row)
            shared[best] = min(shared[best], best_len)
    groups = []
    for leader in leaders:
        if len(members[leader]) > 1:
            groups.append(PrefixGroup(shared[leader], members[leader]))
        else:
            alone.append(leader)
    return groups, alone


def _servable(decoder, input_ids, attention_mask, kwargs) -> bool:
    """Whether a decoder call is one this module computes exactly: right-padded ids, no
    cache, nothing asked for but the last hidden state, no gradient checkpointing."""
    if input_ids is None or input_ids.dim() != 2 or kwargs.get("inputs_embeds") is not None:
        return False
    if attention_mask is not None and (
        attention_mask.dim() != 2 or (attention_mask[:, 1:] > attention_mask[:, :-1]).any()
    ):
        return False
    if kwargs.get("use_cache") or kwargs.get("past_key_values") is not None:
        return False
    if (
        kwargs.get("output_hidden_states")
        or kwargs.get("output_attentions")
        or kwargs.get("output_router_logits")
    ):
        return False
    if any(kwargs.get(name) is not None for name in ("position_ids", "cache_position", "token_type_ids")):
        return False
    if getattr(decoder, "gradient_checkpointing", False) and decoder.training:
        return False  # transformers turns the cache off under it: no prefix keys to keep
    window = getattr(decoder.config, "sliding_window", None)
    return not (window and input_ids.shape[1] > window)


def shared_prefix_forward(
    forward, input_ids, attention_mask, groups: list[PrefixGroup], alone: list[int], **kwargs
):
    """The decoder's last hidden states (batch, width, hidden) of right-padded rows, each
    group's prefix run once (with gradients) and its rows' rest after the prefix's cached
    keys and values; rows in no group run together as usual."""
    import torch

    batch, width = input_ids.shape
    pieces: list[tuple[list[int], torch.Tensor]] = []
    if alone:
        out = forward(
            input_ids=input_ids[alone], attention_mask=attention_mask[alone], use_cache=False, **kwargs
        )
        pieces.append((alone, out.last_hidden_state))
    for group in groups:
        rows, p = group.rows, group.length
        lead = rows[0]
        prefix_mask = attention_mask[lead : lead + 1, :p]
        head = forward(
            input_ids=input_ids[lead : lead + 1, :p], attention_mask=prefix_mask, use_cache=True, **kwargs
        )
        cache = head.past_key_values
        cache.batch_repeat_interleave(len(rows))  # out of place: the prefix's graph is kept
        end = int(attention_mask[rows].sum(dim=1).max())  # trailing columns are padding in every row
        suffix_mask = torch.cat([prefix_mask.expand(len(rows), p), attention_mask[rows, p:end]], dim=1)
        tail = forward(
            input_ids=input_ids[rows, p:end],
            attention_mask=suffix_mask,
            past_key_values=cache,
            use_cache=True,
            **kwargs,
        )
        hidden = torch.cat([head.last_hidden_state.expand(len(rows), -1, -1), tail.last_hidden_state], dim=1)
        if end < width:
            hidden = torch.nn.functional.pad(hidden, (0, 0, 0, width - end))
        pieces.append((rows, hidden))
    order = [row for rows, _ in pieces for row in rows]
    stacked = torch.cat([hidden for _, hidden in pieces], dim=0)
    inverse = torch.empty(batch, dtype=torch.long, device=stacked.device)
    inverse[torch.tensor(order, device=stacked.device)] = torch.arange(batch, device=stacked.device)
    stacked = stacked.index_select(0, inverse)
    return stacked * attention_mask.unsqueeze(-1).to(stacked.dtype)


def share_prompts(model, min_shared: int = MIN_SHARED):
    """Patch the decoder of ``model`` (a transformers causal LM, or a PEFT model around
    one) so that its whole-batch calls run shared prefixes once. Returns the decoder."""
    from transformers.modeling_outputs import BaseModelOutputWithPast

    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    decoder = inner.get_decoder()
    if getattr(decoder, "_assay_shares_prompts", False):
        return decoder
    original = decoder.forward

    @functools.wraps(original)
    def forward(input_ids=None, attention_mask=None, **kwargs):
        if not _servable(decoder, input_ids, attention_mask, kwargs):
            return original(input_ids=input_ids, attention_mask=attention_mask, **kwargs)
        import torch

        mask = attention_mask if attention_mask is not None else torch.ones_like(input_ids)
        groups, alone = group_rows(input_ids, mask, min_shared)
        if not groups:
            return original(input_ids=input_ids, attention_mask=attention_mask, **kwargs)
        for name in ("use_cache", "past_key_values"):  # no cache asked for (_servable)
            kwargs.pop(name, None)
        hidden = shared_prefix_forward(original, input_ids, mask, groups, alone, **kwargs)
        return BaseModelOutputWithPast(last_hidden_state=hidden)

    decoder.forward = forward
    decoder._assay_shares_prompts = True
    return decoder
