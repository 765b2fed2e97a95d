"""How we configure TRL, checked on its first logged loss with policy equal to reference."""

import math

import pytest

from assay.preference.policies import dpo_config, given_reference_trainer

PROMPT, CHOSEN, REJECTED = "question : what is 1 + 2 ?", " answer : 3", " answer : 7"


def first_step(spec_of, tiny_checkpoint, tmp_path, variant, beta=0.1, shift=(0.0, 0.0)):
    """TRL's first logged entry, trained as the policies stage trains: the reference
    log-probs given (Assay's scores of the starting policy, plus ``shift`` nats on the
    chosen and the rejected side), not computed by TRL."""
    import pandas as pd
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from assay.preference.tracking import sequence_logprobs

    tokenizer = AutoTokenizer.from_pretrained(tiny_checkpoint)
    model = AutoModelForCausalLM.from_pretrained(tiny_checkpoint)
    pairs = pd.DataFrame({"pair_id": ["a"], "prompt": [PROMPT], "chosen": [CHOSEN], "rejected": [REJECTED]})
    reference = sequence_logprobs(model, tokenizer, pairs)
    row = {
        "prompt": PROMPT,
        "chosen": CHOSEN,
        "rejected": REJECTED,
        "ref_chosen_logps": float(reference["logp_chosen"][0]) + shift[0],
        "ref_rejected_logps": float(reference["logp_rejected"][0]) + shift[1],
    }
    spec = spec_of(
        "policies", variant=variant, beta=beta, batch_size=2, learning_rate=1e-6, lora=False, precision="fp32"
    )
    trainer = given_reference_trainer()(
        model=model,
        args=dpo_config(spec, tmp_path, max_steps=1),
        train_dataset=Dataset.from_list([row] * 4),
        processing_class=tokenizer,
    )
    assert trainer.ref_model is None  # no reference copy: the reference is given
    trainer.train()
    return next(entry for entry in trainer.state.log_history if "loss" in entry)


def first_step_loss(spec_of, tiny_checkpoint, tmp_path, variant, beta=0.1):
    return first_step(spec_of, tiny_checkpoint, tmp_path, variant, beta)["loss"]


@pytest.mark.parametrize(
    "variant, expected",
    [("sigmoid", math.log(2)), ("ipo", 1 / (4 * 0.1**2)), ("hinge", 1.0)],
)
def test_first_step_loss_with_policy_equal_to_reference(
    spec_of, tiny_checkpoint, tmp_path, variant, expected
):
    assert first_step_loss(spec_of, tiny_checkpoint, tmp_path, variant) == pytest.approx(expected, rel=1e-3)


def test_the_loss_follows_the_given_reference_logprobs(spec_of, tiny_checkpoint, tmp_path):
    """With the reference given 1 nat above the policy on the chosen side and 2 below on
    the rejected side, DPO's first loss is -log sigmoid(beta * (-1 - 2)): TRL used the given
    values, not a reference forward of its own (which would give ln 2)."""
    beta = 0.5
    logged = first_step(spec_of, tiny_checkpoint, tmp_path, "sigmoid", beta, shift=(1.0, -2.0))
    assert logged["loss"] == pytest.approx(math.log1p(math.exp(3 * beta)), rel=1e-3)


def test_a_dataset_without_reference_logprobs_is_refused(spec_of, tiny_checkpoint, tmp_path):
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_checkpoint)
    spec = spec_of("policies", variant="sigmoid", batch_size=2, lora=False, precision="fp32")
    with pytest.raises(ValueError, match="no reference log-probs"):
        given_reference_trainer()(
            model=AutoModelForCausalLM.from_pretrained(tiny_checkpoint),
            args=dpo_config(spec, tmp_path, max_steps=1),
            train_dataset=Dataset.from_list([{"prompt": PROMPT, "chosen": CHOSEN, "rejected": REJECTED}] * 2),
            processing_class=tokenizer,
        )


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


def test_a_merged_lora_policy_scores_as_its_adapters_do(tiny_checkpoint):
    """The policies stage scores the trained policy after merging its adapters (what it
    saves): the same log-probs as with the adapters beside every layer."""
    import pandas as pd
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from assay.preference.tracking import sequence_logprobs
    from assay.training import merged

    tokenizer = AutoTokenizer.from_pretrained(tiny_checkpoint)
    base = AutoModelForCausalLM.from_pretrained(tiny_checkpoint, dtype=torch.float32)
    assert merged(base) is base  # nothing to merge in a fully trained model
    pairs = pd.DataFrame(
        {"pair_id": ["a", "b"], "prompt": ["what is 1 + 2 ?", "the answer"], "chosen": [" 3", " 42"]}
    ).assign(rejected=[" 4", " 7 # #"])
    before = sequence_logprobs(base, tokenizer, pairs)
    torch.manual_seed(0)
    policy = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules="all-linear"))
    for name, parameter in policy.named_parameters():
        if "lora_B" in name:  # trained adapters, not the zeros they start at
            torch.nn.init.normal_(parameter, std=0.5)
    with_adapters = sequence_logprobs(policy, tokenizer, pairs)
    plain = merged(policy)
    assert not any("lora" in name for name, _ in plain.named_parameters())
    with_merged = sequence_logprobs(plain, tokenizer, pairs)
    columns = ["logp_chosen", "logp_rejected"]
    assert (with_adapters[columns] - before[columns]).abs().max().max() > 0.1  # the adapters count
    assert (with_adapters[columns] - with_merged[columns]).abs().max().max() < 1e-4
