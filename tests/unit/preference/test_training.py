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
