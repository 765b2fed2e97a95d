"""Prompt-shared scoring (assay.preference.prefix) gives what whole sequences give: log-probs
and CHES hidden states on pairs that share prompts, on a Llama (SmolLM2's architecture) and
on a Gemma 3 whose sliding window is shorter than the prompts (Gemma-3-270M's architecture,
whose cache keeps only the window for most layers)."""

import pandas as pd
import pytest
import torch

from assay.preference.batching import Encoded, encode_pair
from assay.preference.ches import ches_scores, response_hidden_states
from assay.preference.prefix import common_head, group_by_prefix, response_passes
from assay.preference.tracking import sequence_logprobs

PROMPTS = ["question : what is 1 + 2 ? answer : 3 # # # question : what is 2 + 2 ?", "the answer is"]
#: Three pairs under the first prompt (its chosen answer in two of them), one under the second.
PAIRS = pd.DataFrame(
    {
        "pair_id": ["a", "b", "c", "d"],
        "prompt": [PROMPTS[0], PROMPTS[0], PROMPTS[0], PROMPTS[1]],
        "chosen": [" answer : 4", " answer : 4", " 4 # # # 4", " 42"],
        "rejected": [" answer : 3", " answer : 7 # #", " 1 + 2", " 1 + 2"],
    }
)

#: Prompts under one few-shot head, as a study's are: they differ only in their question.
HEAD = "question : what is 1 + 2 ? answer : 3 # # # question : what is 2 + 5 ? answer : 7 # # # "
HEADED = pd.DataFrame(
    {
        "pair_id": ["e", "f", "g", "h"],
        "prompt": [HEAD + "question : what is 2 + 2 ?"] * 2 + [HEAD + "question : 4 + 4 ?", HEAD + "what ?"],
        "chosen": [" answer : 4", " answer : 4", " 8", " 42 # #"],
        "rejected": [" answer : 3", " 1 + 2", " answer : 7 # #", " 1"],
    }
)


@pytest.fixture(scope="module", params=["llama", "gemma3"])
def model_and_tokenizer(request, tiny_checkpoint, tiny_fields):
    from transformers import AutoModelForCausalLM, AutoTokenizer, Gemma3ForCausalLM, Gemma3TextConfig

    tokenizer = AutoTokenizer.from_pretrained(tiny_checkpoint)
    if request.param == "llama":
        model = AutoModelForCausalLM.from_pretrained(tiny_checkpoint, dtype=torch.float32)
    else:
        torch.manual_seed(0)
        config = Gemma3TextConfig(
            num_hidden_layers=3,
            head_dim=8,
            sliding_window=4,  # the prompts are longer
            layer_types=["sliding_attention", "full_attention", "sliding_attention"],
            **tiny_fields(tokenizer),
        )
        model = Gemma3ForCausalLM(config).float()
    return model.eval(), tokenizer


def whole_sequence(model, ids: list[int]):
    with torch.no_grad():
        out = model(torch.tensor([ids]), output_hidden_states=True)
    return torch.log_softmax(out.logits[0].float(), -1), out.hidden_states[-1][0].float()


def test_sequences_are_grouped_by_prompt_and_deduplicated():
    seqs = [Encoded([1, 2, 3, 9], 3), Encoded([1, 2, 3, 8], 3), Encoded([1, 2, 3, 9], 3), Encoded([5, 9], 1)]
    assert group_by_prefix(seqs) == {(1, 2): [[0, 2], [1]], (): [[3]]}


def test_the_common_head_is_the_longest_prefix_all_prompts_share():
    assert common_head([(1, 2, 3, 4), (1, 2, 3, 5, 6), (1, 2, 7)]) == (1, 2)
    assert common_head([(1, 2, 3), (1, 2, 3, 4)]) == (1, 2, 3)  # one prompt is the head itself
    assert common_head([(1, 2, 3), (4, 2, 3)]) == ()
    assert common_head([(1, 2, 3)]) == ()  # one prompt: nothing to share


@pytest.mark.parametrize("pairs", [PAIRS, HEADED], ids=["prompts", "under-one-head"])
def test_logprobs_with_prompts_run_once_equal_whole_sequences(model_and_tokenizer, pairs):
    model, tokenizer = model_and_tokenizer
    scores = sequence_logprobs(model, tokenizer, pairs, batch_size=1).set_index("pair_id")
    for row in pairs.itertuples():
        chosen, rejected = encode_pair(tokenizer, row.prompt, row.chosen, row.rejected, None)
        for side, column in ((chosen, "logp_chosen"), (rejected, "logp_rejected")):
            logp, _ = whole_sequence(model, side.ids)
            direct = sum(float(logp[i - 1, side.ids[i]]) for i in range(side.start, side.end))
            assert scores.loc[row.pair_id, column] == pytest.approx(direct, abs=1e-4)


@pytest.mark.parametrize("pairs", [PAIRS, HEADED], ids=["prompts", "under-one-head"])
def test_ches_hidden_states_with_prompts_run_once_equal_whole_sequences(model_and_tokenizer, pairs):
    model, tokenizer = model_and_tokenizer
    encoded = [
        side
        for row in pairs.itertuples()
        for side in encode_pair(tokenizer, row.prompt, row.chosen, row.rejected, None)
    ]
    shared = response_hidden_states(model, tokenizer, encoded, per_pass=2)
    for side, states in zip(encoded, shared, strict=True):
        _, hidden = whole_sequence(model, side.ids)
        torch.testing.assert_close(states, hidden[side.start - 1 : side.end - 1], atol=1e-5, rtol=1e-4)
    scores = ches_scores(model, tokenizer, pairs, batch_size=1)
    assert scores["chosen_tokens"].tolist() == [s.end - s.start for s in encoded[0::2]]


def test_the_head_runs_once_and_each_prompt_only_its_tail(model_and_tokenizer):
    """What the decoder is given: the prompts' shared head once, then each prompt's tail
    (not its whole prefix), then its responses."""
    model, tokenizer = model_and_tokenizer
    encoded = [
        side
        for row in HEADED.itertuples()
        for side in encode_pair(tokenizer, row.prompt, row.chosen, row.rejected, None)
    ]
    prefixes = list(group_by_prefix(encoded))
    head = common_head(prefixes)
    assert len(head) > 10 and len(prefixes) == 3
    lengths = []
    decoder = model.get_decoder()
    handle = decoder.register_forward_pre_hook(
        lambda module, args, kwargs: lengths.append(kwargs["input_ids"].shape[1]), with_kwargs=True
    )
    try:
        list(response_passes(model, tokenizer, encoded, per_pass=8))
    finally:
        handle.remove()
    tails = [len(p) - len(head) for p in prefixes]
    assert lengths[0] == len(head)
    assert sorted(lengths[1::2]) == sorted(tails)  # each prompt's tail, then its responses
