"""Tracking and CHES measure exactly the token sequences TRL's DPOTrainer trains on: its
EOS, its truncation, one BOS (checked against TRL's own tokenisation and its logged
log-probabilities at the first step)."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from assay.preference.batching import adds_bos, encode_pair, strip_added_bos
from assay.preference.preferences import render_prompt
from assay.preference.tracking import sequence_logprobs

PAIRS = pd.DataFrame(
    {
        "pair_id": ["a", "b", "c"],
        "prompt": ["question : what is 1 + 2 ?", "the answer is", "# # #"],
        "chosen": [" answer : 3", " 42", " 7"],
        "rejected": [" answer : 7 # #", " 1 + 2", " #"],
    }
)


@pytest.fixture(scope="module")
def bos_tokenizer(tiny_checkpoint, tmp_path_factory):
    """A tokenizer that adds a BOS to every text, with a chat template that writes one too
    (as Llama 3's does)."""
    from tokenizers.processors import TemplateProcessing
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_checkpoint)
    bos = tokenizer.bos_token_id
    tokenizer.backend_tokenizer.post_processor = TemplateProcessing(
        single="<s> $A", pair="<s> $A $B", special_tokens=[("<s>", bos)]
    )
    tokenizer.chat_template = "<s>" + tokenizer.chat_template
    folder = tmp_path_factory.mktemp("bos-tokenizer")
    tokenizer.save_pretrained(folder)
    return AutoTokenizer.from_pretrained(folder)


def trl_trainer(checkpoint, tokenizer, pairs, tmp_path, max_length=None):
    from datasets import Dataset
    from transformers import AutoModelForCausalLM
    from trl import DPOConfig, DPOTrainer

    model = AutoModelForCausalLM.from_pretrained(checkpoint, dtype=torch.float32)
    args = DPOConfig(
        output_dir=str(tmp_path),
        per_device_train_batch_size=len(pairs),
        max_steps=1,
        learning_rate=1e-9,
        logging_steps=1,
        report_to=[],
        save_strategy="no",
        use_cpu=True,
        bf16=False,
        max_length=max_length,
    )
    data = Dataset.from_pandas(pairs[["prompt", "chosen", "rejected"]], preserve_index=False)
    return model, DPOTrainer(model=model, args=args, train_dataset=data, processing_class=tokenizer)


@pytest.mark.parametrize("max_length", [None, 9])
def test_our_sequences_are_trls(tiny_checkpoint, tmp_path, max_length):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_checkpoint)
    _, trainer = trl_trainer(tiny_checkpoint, tokenizer, PAIRS, tmp_path, max_length)
    for row, example in zip(PAIRS.itertuples(), trainer.train_dataset):
        chosen, rejected = encode_pair(tokenizer, row.prompt, row.chosen, row.rejected, max_length)
        trl_chosen = (example["prompt_ids"] + example["chosen_ids"])[:max_length]
        trl_rejected = (example["prompt_ids"] + example["rejected_ids"])[:max_length]
        assert chosen.ids == trl_chosen and rejected.ids == trl_rejected
        assert chosen.start == min(len(example["prompt_ids"]), len(trl_chosen))
        assert chosen.ids[-1] == tokenizer.eos_token_id or max_length is not None  # TRL's EOS is in


def test_tracked_logprobs_equal_trls_logged_logprobs_at_the_first_step(tiny_checkpoint, tmp_path):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_checkpoint)
    model, trainer = trl_trainer(tiny_checkpoint, tokenizer, PAIRS, tmp_path)
    ours = sequence_logprobs(model, tokenizer, PAIRS)  # before training: the same weights
    trainer.train()
    logged = next(entry for entry in trainer.state.log_history if "logps/chosen" in entry)
    assert logged["logps/chosen"] == pytest.approx(ours["logp_chosen"].mean(), abs=1e-3)
    assert logged["logps/rejected"] == pytest.approx(ours["logp_rejected"].mean(), abs=1e-3)


def test_a_tokenizer_that_adds_a_bos_gets_one_not_two(tiny_checkpoint, bos_tokenizer, tmp_path):
    assert adds_bos(bos_tokenizer)
    rendered = render_prompt(bos_tokenizer, [{"role": "user", "content": "what is 1 + 2 ?"}])
    assert not rendered.startswith("<s>")  # the template's BOS left out: the tokenizer adds it
    assert strip_added_bos(bos_tokenizer, "<s>x") == "x"
    pairs = PAIRS.assign(prompt=[rendered] * 3)
    chosen, _ = encode_pair(bos_tokenizer, rendered, PAIRS.chosen[0], PAIRS.rejected[0], None)
    assert chosen.ids[0] == bos_tokenizer.bos_token_id and chosen.ids[1] != bos_tokenizer.bos_token_id
    _, trainer = trl_trainer(tiny_checkpoint, bos_tokenizer, pairs, tmp_path)
    example = trainer.train_dataset[0]
    assert chosen.ids == example["prompt_ids"] + example["chosen_ids"]


def test_a_tokenizer_without_its_own_bos_keeps_the_templates(tiny_checkpoint):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_checkpoint)
    assert not adds_bos(tokenizer)
    assert strip_added_bos(tokenizer, "<s>x") == "<s>x"
