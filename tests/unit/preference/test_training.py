"""How we configure TRL, checked on its first logged loss with policy equal to reference."""

import math

import pytest

from assay.preference.policies import dpo_config


def first_step_loss(spec_of, tiny_checkpoint, tmp_path, variant, beta=0.1):
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOTrainer

    tokenizer = AutoTokenizer.from_pretrained(tiny_checkpoint)
    model = AutoModelForCausalLM.from_pretrained(tiny_checkpoint)
    data = Dataset.from_list(
        [{"prompt": "question : what is 1 + 2 ?", "chosen": " answer : 3", "rejected": " answer : 7"}] * 4
    )
    spec = spec_of(
        "policies", variant=variant, beta=beta, batch_size=2, learning_rate=1e-6, lora=False, precision="fp32"
    )
    trainer = DPOTrainer(
        model=model,
        args=dpo_config(spec, tmp_path, max_steps=1),
        train_dataset=data,
        processing_class=tokenizer,
    )
    trainer.train()
    return next(entry["loss"] for entry in trainer.state.log_history if "loss" in entry)


@pytest.mark.parametrize(
    "variant, expected",
    [("sigmoid", math.log(2)), ("ipo", 1 / (4 * 0.1**2)), ("hinge", 1.0)],
)
def test_first_step_loss_with_policy_equal_to_reference(
    spec_of, tiny_checkpoint, tmp_path, variant, expected
):
    assert first_step_loss(spec_of, tiny_checkpoint, tmp_path, variant) == pytest.approx(expected, rel=1e-3)


def test_unknown_variant_and_simpo_routing(spec_of, tmp_path):
    with pytest.raises(ValueError, match="variant 'dpo2'"):
        spec_of("policies", variant="dpo2")
    with pytest.raises(ValueError, match="CPO trainer"):
        dpo_config(spec_of("policies", variant="simpo", simpo_gamma=0.5), tmp_path)


def test_ipo_is_trls_length_averaged_form_at_a_nonzero_difference(spec_of, tiny_checkpoint, tmp_path):
    """TRL 1.16's IPO divides each side's log-ratio by its completion length (EOS included)
    before the square: loss = ((r+ / |y+| - r- / |y-|) - 1 / (2 beta))^2, r = log pi - log
    pi_ref. METHODS states the sequence-level form; this checks which one TRL computes, at a
    policy that differs from the reference (at D = 0 both give 1 / (4 beta^2))."""
    import pandas as pd
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOTrainer

    from assay.preference.batching import encode_pair
    from assay.preference.tracking import sequence_logprobs

    tokenizer = AutoTokenizer.from_pretrained(tiny_checkpoint)
    reference = AutoModelForCausalLM.from_pretrained(tiny_checkpoint, dtype=torch.float32)
    policy = AutoModelForCausalLM.from_pretrained(tiny_checkpoint, dtype=torch.float32)
    torch.manual_seed(1)
    with torch.no_grad():
        for parameter in policy.parameters():
            parameter.add_(0.05 * torch.randn_like(parameter))
    pairs = pd.DataFrame(
        {
            "pair_id": ["a", "b"],
            "prompt": ["question : what is 1 + 2 ?", "the answer is"],
            "chosen": [" answer : 3", " 42 # #"],
            "rejected": [" answer : 7 # # #", " 1"],
        }
    )
    beta = 0.5
    ours_policy = sequence_logprobs(policy, tokenizer, pairs)
    ours_reference = sequence_logprobs(reference, tokenizer, pairs)
    sides = [
        encode_pair(tokenizer, p, c, r, None) for p, c, r in zip(pairs.prompt, pairs.chosen, pairs.rejected)
    ]
    chosen_len = torch.tensor([float(c.end - c.start) for c, _ in sides])
    rejected_len = torch.tensor([float(r.end - r.start) for _, r in sides])
    r_plus = torch.tensor((ours_policy["logp_chosen"] - ours_reference["logp_chosen"]).to_numpy())
    r_minus = torch.tensor((ours_policy["logp_rejected"] - ours_reference["logp_rejected"]).to_numpy())
    delta = r_plus / chosen_len - r_minus / rejected_len
    assert delta.abs().max() > 0.01  # D != 0
    expected = float(((delta - 1 / (2 * beta)) ** 2).mean())
    sequence_level = float((((r_plus - r_minus) - 1 / (2 * beta)) ** 2).mean())
    spec = spec_of(
        "policies", variant="ipo", beta=beta, batch_size=2, learning_rate=1e-9, lora=False, precision="fp32"
    )
    trainer = DPOTrainer(
        model=policy,
        ref_model=reference,
        args=dpo_config(spec, tmp_path, max_steps=1),
        train_dataset=Dataset.from_pandas(pairs[["prompt", "chosen", "rejected"]], preserve_index=False),
        processing_class=tokenizer,
    )
    trainer.train()
    logged = next(entry["loss"] for entry in trainer.state.log_history if "loss" in entry)
    assert logged == pytest.approx(expected, rel=1e-3)
    assert abs(logged - sequence_level) > 1e-2  # and not the sequence-level form
