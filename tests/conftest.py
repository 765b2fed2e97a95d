"""Shared fixtures: offline hub, a tiny random-init model, the repository root."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


def tiny_fields(tokenizer) -> dict:
    """The sizes and special tokens of the tests' tiny models, for a config of any architecture."""
    return {
        "vocab_size": len(tokenizer),
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "max_position_embeddings": 256,
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
    }


@pytest.fixture(scope="session", name="tiny_fields")
def tiny_fields_fixture():
    return tiny_fields


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """A random-init Llama with SmolLM2's tokenizer layout, saved as a checkpoint folder.

    Its tokenizer is a small word-level one trained here, so nothing leaves the machine.
    """
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    folder = tmp_path_factory.mktemp("tiny-model")
    corpus = ["the answer is 42", "question : what is 1 + 2 ? answer : 3", "#### 7"] * 10
    tok = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(
        corpus, trainers.WordLevelTrainer(special_tokens=["<unk>", "<s>", "</s>", "<pad>"])
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="<unk>", bos_token="<s>", eos_token="</s>", pad_token="<pad>"
    )
    tokenizer.chat_template = (
        "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
        "{% if add_generation_prompt %}assistant:{% endif %}"
    )
    torch.manual_seed(0)
    config = LlamaConfig(num_hidden_layers=2, **tiny_fields(tokenizer))
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def spec_of():
    """A stage's spec as the default study plans it, with some fields replaced: specs have
    no defaults of their own (the schema is the one place defaults live), so tests start
    from the default study's."""
    from assay.plan import default_spec

    def spec_of(stage: str, name: str | None = None, **fields):
        saved = os.environ.get("ASSAY_CPU_BF16")
        os.environ["ASSAY_CPU_BF16"] = "0"  # fp32 everywhere: what tiny CPU tests want
        try:
            return default_spec(stage, name, **fields)
        finally:
            if saved is None:
                os.environ.pop("ASSAY_CPU_BF16")
            else:
                os.environ["ASSAY_CPU_BF16"] = saved

    return spec_of
