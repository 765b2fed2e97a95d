"""How we configure TRL, checked on its first logged loss with policy equal to reference."""

import math

import pytest

from assay.preference.training import PreferenceSpec, dpo_config


def first_step_loss(tiny_checkpoint, tmp_path, variant, beta=0.1):
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOTrainer

    tokenizer = AutoTokenizer.from_pretrained(tiny_checkpoint)
    model = AutoModelForCausalLM.from_pretrained(tiny_checkpoint)
    data = Dataset.from_list(
        [{"prompt": "question : what is 1 + 2 ?", "chosen": " answer : 3", "rejected": " answer : 7"}] * 4
    )
    spec = PreferenceSpec(variant=variant, beta=beta, batch_size=2, learning_rate=1e-6, lora=False)
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
def test_first_step_loss_with_policy_equal_to_reference(tiny_checkpoint, tmp_path, variant, expected):
    assert first_step_loss(tiny_checkpoint, tmp_path, variant) == pytest.approx(expected, rel=1e-3)


def test_unknown_variant_and_simpo_routing(tmp_path):
    with pytest.raises(ValueError, match="variant 'dpo2'"):
        PreferenceSpec(variant="dpo2")
    with pytest.raises(ValueError, match="CPO trainer"):
        dpo_config(PreferenceSpec(variant="simpo"), tmp_path)
