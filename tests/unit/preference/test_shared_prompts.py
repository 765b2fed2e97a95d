"""Prompt-shared training (assay.preference.shared_prompts) gives what whole rows give: the
decoder's hidden states and the gradients of a loss over them, on a Llama (SmolLM2's
architecture) and a Gemma 3, fully trained and under LoRA; and TRL's DPO trainer, patched,
logs the losses and ends at the weights it does unpatched."""

import pandas as pd
import pytest
import torch

from assay.preference import shared_prompts
from assay.preference.shared_prompts import PrefixGroup, group_rows, share_prompts
from assay.training import score_responses_only

PROMPT_A = "question : what is 1 + 2 ? answer : 3 # # # question : what is 2 + 2 ? answer :"
PROMPT_B = "the answer is 42 # # # the answer is 7 # # # the answer is 3 # # # the answer is"
#: A DPO batch as TRL's collator lays it out: the chosen rows, then the rejected rows.
CHOSEN = [PROMPT_A + " 4", PROMPT_A + " 4 # # # 4", PROMPT_B + " 42"]
REJECTED = [PROMPT_A + " 3 + 1", PROMPT_A + " 7", PROMPT_B + " 7 + 1 ?"]
ROWS = list(zip(CHOSEN + REJECTED, [PROMPT_A, PROMPT_A, PROMPT_B] * 2))  # (row, its prompt)


def batch(tokenizer, texts):
    encoded = tokenizer(
        texts, padding=True, padding_side="right", return_tensors="pt", add_special_tokens=False
    )
    return encoded["input_ids"], encoded["attention_mask"]


def test_rows_are_grouped_by_the_longest_prefix_they_share():
    ids = torch.tensor(
        [
            [1, 2, 3, 4, 5, 0],
            [1, 2, 3, 4, 6, 7],
            [9, 9, 9, 9, 9, 0],
            [1, 2, 3, 4, 5, 8],
            [1, 2, 8, 8, 8, 8],
        ]
    )
    mask = torch.tensor([[1] * 5 + [0], [1] * 6, [1] * 5 + [0], [1] * 6, [1] * 6])
    groups, alone = group_rows(ids, mask, min_shared=3)
    # rows 1 and 3 share 4 tokens with row 0; row 0's prefix stops one short of its 5 tokens
    assert groups == [PrefixGroup(length=4, rows=[0, 1, 3])]
    assert alone == [2, 4]  # row 4 shares only 2 tokens
    # sharing 2 tokens, row 4 would cut the group's saving from 2 x 4 positions to 3 x 2
    assert group_rows(ids, mask, min_shared=2) == ([PrefixGroup(length=4, rows=[0, 1, 3])], [2, 4])


def test_pairs_of_two_queries_join_where_their_common_prefix_saves_more():
    # two queries' pairs under one few-shot prefix of 6 tokens, each query 2 tokens more
    shots, a, b = [1, 2, 3, 4, 5, 6], [7, 7], [8, 8]
    ids = torch.tensor([shots + a + [10], shots + a + [11], shots + b + [12], shots + b + [13]])
    mask = torch.ones_like(ids)
    # one group sharing 6 saves 3 x 6 positions; two sharing 8 each would save 8 + 8
    assert group_rows(ids, mask, min_shared=3) == ([PrefixGroup(length=6, rows=[0, 1, 2, 3])], [])
    # a common prefix of 2 saves less than each query's own: two groups
    ids[2:, :6] = torch.tensor([1, 2, 9, 9, 9, 9])
    assert group_rows(ids, mask, min_shared=2) == (
        [PrefixGroup(length=8, rows=[0, 1]), PrefixGroup(length=8, rows=[2, 3])],
        [],
    )


@pytest.fixture
def shared_calls(monkeypatch) -> list:
    """The groups of every decoder call that ran shared, in order."""
    calls = []
    real = shared_prompts.shared_prefix_forward

    def spy(forward, input_ids, attention_mask, groups, alone, **kwargs):
        calls.append(groups)
        return real(forward, input_ids, attention_mask, groups, alone, **kwargs)

    monkeypatch.setattr(shared_prompts, "shared_prefix_forward", spy)
    return calls


@pytest.fixture(params=["llama", "gemma3"])
def fresh_model(request, tiny_checkpoint, tiny_fields):
    """A function returning the same random-init model each call (so one can be patched
    and one not), and its tokenizer."""
    from transformers import AutoModelForCausalLM, AutoTokenizer, Gemma3ForCausalLM, Gemma3TextConfig

    tokenizer = AutoTokenizer.from_pretrained(tiny_checkpoint)

    def make():
        if request.param == "llama":
            return AutoModelForCausalLM.from_pretrained(tiny_checkpoint, dtype=torch.float32)
        torch.manual_seed(0)
        config = Gemma3TextConfig(
            num_hidden_layers=3,
            head_dim=8,
            sliding_window=64,  # longer than the rows: a shorter one is run unshared
            layer_types=["sliding_attention", "full_attention", "sliding_attention"],
            **tiny_fields(tokenizer),
        )
        return Gemma3ForCausalLM(config).float()

    return make, tokenizer


def completion_logps(model, ids, mask, prompt_len: int):
    """Summed log-probs of each row's tokens after ``prompt_len``, through the model's own
    forward (which calls the decoder)."""
    logits = model(input_ids=ids, attention_mask=mask, use_cache=False).logits[:, :-1]
    logp = torch.log_softmax(logits.float(), -1).gather(-1, ids[:, 1:, None]).squeeze(-1)
    keep = mask[:, 1:].clone()
    keep[:, : prompt_len - 1] = 0
    return (logp * keep).sum(dim=1)


@pytest.mark.parametrize("lora", [False, True])
def test_hidden_states_and_gradients_equal_whole_rows(fresh_model, lora, shared_calls):
    make, tokenizer = fresh_model
    ids, mask = batch(tokenizer, CHOSEN + REJECTED)
    prompt_len = len(tokenizer(PROMPT_B, add_special_tokens=False)["input_ids"])
    results = []
    for patched in (False, True):
        model = make().train()
        if lora:
            from peft import LoraConfig, get_peft_model

            torch.manual_seed(1)
            model = get_peft_model(
                model, LoraConfig(r=4, target_modules="all-linear", init_lora_weights=False)
            )
        if patched:
            share_prompts(model)
        decoder = (model.get_base_model() if lora else model).get_decoder()
        hidden = decoder(input_ids=ids, attention_mask=mask, use_cache=False).last_hidden_state
        loss = completion_logps(model, ids, mask, prompt_len).sum()
        loss.backward()
        grads = {name: p.grad.clone() for name, p in model.named_parameters() if p.requires_grad}
        results.append((hidden.detach() * mask[..., None], float(loss.detach()), grads))
    # only the patched model's two calls ran shared: two groups (prompt A's four rows, B's two)
    assert [[g.rows for g in groups] for groups in shared_calls] == [[[0, 1, 3, 4], [2, 5]]] * 2
    (hidden_w, loss_w, grads_w), (hidden_s, loss_s, grads_s) = results
    torch.testing.assert_close(hidden_s, hidden_w, atol=1e-5, rtol=1e-4)
    assert loss_s == pytest.approx(loss_w, rel=1e-5)
    assert grads_s.keys() == grads_w.keys() and grads_w
    for name in grads_w:
        torch.testing.assert_close(grads_s[name], grads_w[name], atol=1e-5, rtol=1e-3, msg=name)


def test_calls_it_cannot_serve_run_the_original_forward(fresh_model, monkeypatch):
    make, tokenizer = fresh_model
    model = make().eval()
    share_prompts(model)
    monkeypatch.setattr(shared_prompts, "shared_prefix_forward", lambda *a, **k: pytest.fail("shared"))
    ids, mask = batch(tokenizer, CHOSEN + REJECTED)
    decoder = model.get_decoder()
    decoder(input_ids=ids, attention_mask=mask, use_cache=True)  # a cache: generation
    decoder(input_ids=ids, attention_mask=mask, output_hidden_states=True)
    left = tokenizer(CHOSEN, padding=True, padding_side="left", return_tensors="pt", add_special_tokens=False)
    decoder(input_ids=left["input_ids"], attention_mask=left["attention_mask"], use_cache=False)
    model.gradient_checkpointing_enable()
    model.train()
    decoder(input_ids=ids, attention_mask=mask, use_cache=False)  # no cache under checkpointing
    model.gradient_checkpointing_disable()
    decoder.config.sliding_window = 4  # shorter than the rows
    decoder(input_ids=ids, attention_mask=mask, use_cache=False)


def train_dpo(make, tokenizer, tmp_path, spec_of, patched: bool):
    from datasets import Dataset

    from assay.preference.policies import dpo_config, given_reference_trainer
    from assay.preference.tracking import sequence_logprobs

    model = make()
    prompts = [PROMPT_A, PROMPT_A, PROMPT_B]
    pairs = pd.DataFrame(
        {
            "pair_id": ["a", "b", "c"],
            "prompt": prompts,
            "chosen": [c[len(p) :] for c, p in zip(CHOSEN, prompts)],
            "rejected": [r[len(p) :] for r, p in zip(REJECTED, prompts)],
        }
    )
    reference = sequence_logprobs(model, tokenizer, pairs)
    data = pairs[["prompt", "chosen", "rejected"]].assign(
        ref_chosen_logps=reference["logp_chosen"] + 0.5, ref_rejected_logps=reference["logp_rejected"]
    )
    spec = spec_of(
        "policies", variant="sigmoid", batch_size=3, learning_rate=1e-2, lora=False, precision="fp32"
    )
    trainer = given_reference_trainer()(
        model=model,
        args=dpo_config(spec, tmp_path / str(patched), max_steps=3),
        train_dataset=Dataset.from_pandas(data, preserve_index=False),
        processing_class=tokenizer,
    )
    if patched:
        share_prompts(trainer.model)
        assert score_responses_only()
    trainer.train()
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    return losses, {name: p.detach().clone() for name, p in trainer.model.named_parameters()}


def test_trl_dpo_trains_the_same_with_prompts_shared(fresh_model, tmp_path, spec_of, monkeypatch):
    from trl.trainer import utils

    monkeypatch.setattr(utils, "_use_triton", utils._use_triton)  # put back after the test
    make, tokenizer = fresh_model
    calls = []
    real = shared_prompts.shared_prefix_forward
    monkeypatch.setattr(
        shared_prompts, "shared_prefix_forward", lambda *a, **k: calls.append(1) or real(*a, **k)
    )
    losses_w, weights_w = train_dpo(make, tokenizer, tmp_path, spec_of, patched=False)
    assert not calls
    losses_s, weights_s = train_dpo(make, tokenizer, tmp_path, spec_of, patched=True)
    assert len(calls) == 3  # one forward a step
    assert losses_s == pytest.approx(losses_w, rel=1e-4)
    assert losses_w[0] != pytest.approx(losses_w[-1], rel=1e-3)  # it trained
    for name in weights_w:
        # Adam turns rounding-sized gradients into updates of up to a few 1e-5 (lr 1e-2); the
        # training moved the weights by about 1e-2
        torch.testing.assert_close(weights_s[name], weights_w[name], atol=1e-4, rtol=0, msg=name)
