import pandas as pd
import pytest
import torch

from assay.preference.displacement import displacement_summary
from assay.preference.tracking import DisplacementCallback, sequence_logprobs

PAIRS = pd.DataFrame(
    {
        "pair_id": ["a", "b", "c"],
        "prompt": ["question : what is 1 + 2 ?", "the answer is", "# # #"],
        "chosen": [" answer : 3", " 42", " 7"],
        "rejected": [" answer : 7 # #", " 1 + 2", " #"],
    }
)


def test_sequence_logprobs_match_a_direct_computation(tiny_checkpoint):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_checkpoint, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(tiny_checkpoint)
    scores = sequence_logprobs(model, tokenizer, PAIRS, batch_size=2).set_index("pair_id")
    for row in PAIRS.itertuples():  # TRL's sequence: prompt + response + EOS, tokenised as one
        prompt = tokenizer(row.prompt)["input_ids"]
        ids = tokenizer(row.prompt + row.chosen + tokenizer.eos_token)["input_ids"]
        start = next(i for i, (a, b) in enumerate(zip(prompt + [None], ids)) if a != b)
        with torch.no_grad():
            logp = torch.log_softmax(model(torch.tensor([ids])).logits[0].float(), -1)
        direct = sum(float(logp[i - 1, ids[i]]) for i in range(start, len(ids)))
        assert ids[-1] == tokenizer.eos_token_id
        assert scores.loc[row.pair_id, "logp_chosen"] == pytest.approx(direct, abs=1e-4)


def test_callback_tracks_train_and_heldout_through_dpo_training(tiny_checkpoint, tmp_path, spec_of):
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOTrainer

    from assay.preference.policies import dpo_config

    tokenizer = AutoTokenizer.from_pretrained(tiny_checkpoint)
    model = AutoModelForCausalLM.from_pretrained(tiny_checkpoint)
    callback = DisplacementCallback(tokenizer, PAIRS.head(2), PAIRS.tail(1), every=2)
    spec = spec_of(
        "policies", variant="sigmoid", batch_size=2, learning_rate=5e-2, lora=False, precision="fp32"
    )
    data = Dataset.from_pandas(PAIRS.head(2)[["prompt", "chosen", "rejected"]])
    trainer = DPOTrainer(
        model=model,
        args=dpo_config(spec, tmp_path, max_steps=4),
        train_dataset=data,
        processing_class=tokenizer,
        callbacks=[callback],
    )
    trainer.train()
    log = pd.DataFrame(callback.log)
    assert sorted(log["step"].unique()) == [0, 2, 4] and set(log["split"]) == {"train", "heldout"}
    train = log[log["split"] == "train"].set_index("step")
    assert train.loc[4, "margin"] > train.loc[0, "margin"]  # DPO widens the margin on its pairs
    summary = displacement_summary(callback.per_pair[0], callback.per_pair[4])
    assert summary["pairs"] == 2 and summary["delta_margin"] > 0


def test_displacement_summary_with_ches():
    before = pd.DataFrame({"pair_id": list("abcd"), "logp_chosen": [-5.0] * 4, "logp_rejected": [-6.0] * 4})
    after = before.assign(logp_chosen=[-4.0, -6.0, -7.0, -9.0], logp_rejected=[-8.0, -9.0, -10.0, -12.0])
    ches = pd.DataFrame({"pair_id": list("abcd"), "ln_ches": [0.1, 0.2, 0.3, 0.4]})
    summary = displacement_summary(before, after, ches)
    assert summary["share_chosen_fell"] == 0.75 and summary["delta_logp_chosen"] == pytest.approx(-1.5)
    assert summary["spearman_ches_displacement"] == pytest.approx(1.0)


def _bf16_weight_casts(run) -> int:
    """How many times ``run`` casts a 2-D fp32 tensor (a weight) to bf16."""
    from torch.utils._python_dispatch import TorchDispatchMode

    class Casts(TorchDispatchMode):
        count = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            source = args[0] if args else None
            if (
                func is torch.ops.aten._to_copy.default
                and kwargs.get("dtype") == torch.bfloat16
                and isinstance(source, torch.Tensor)
                and source.dtype == torch.float32
                and source.dim() == 2
            ):
                Casts.count += 1
            return func(*args, **kwargs)

    with Casts():
        run()
    return Casts.count


def test_bf16_scoring_casts_each_frozen_weight_once_with_the_same_numbers(tiny_checkpoint, monkeypatch):
    """A LoRA policy's frozen weights (as in a tracking pass) are cast to bf16 once for the
    whole pass, not at every forward call; the scores are those of casts at every call
    (autocast under inference_mode, as before) to the bit, and the frozen weights stay frozen."""
    import contextlib

    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from assay import training

    tokenizer = AutoTokenizer.from_pretrained(tiny_checkpoint)
    model = AutoModelForCausalLM.from_pretrained(tiny_checkpoint, dtype=torch.float32)
    policy = get_peft_model(model, LoraConfig(r=4, target_modules="all-linear", task_type="CAUSAL_LM"))
    frozen = {name for name, p in policy.named_parameters() if not p.requires_grad}
    linear_weights = sum(1 for name in frozen if "base_layer.weight" in name)
    assert linear_weights

    def score():
        return sequence_logprobs(policy, tokenizer, PAIRS, batch_size=1, precision="bf16")

    kept = _bf16_weight_casts(score)
    assert {name for name, p in policy.named_parameters() if not p.requires_grad} == frozen
    with torch.inference_mode():  # autocast keeps no cast there: every call casts
        before = score()
    pd.testing.assert_frame_equal(score(), before, check_exact=True)
    monkeypatch.setattr(training, "casts_kept", lambda model: contextlib.nullcontext())
    per_call = _bf16_weight_casts(score)
    assert per_call >= 3 * linear_weights  # several forward calls, each casting them all
    assert kept <= linear_weights + per_call // 3
