"""SFT with LoRA on a tiny model: the loss falls, the merged checkpoint loads and generates."""

import pathlib

import pandas as pd

from assay.engine import EngineSpec, SamplingSpec, load_engine
from assay.finetune.finetuned import finetune, sft_records


def test_records_are_conversational_prompt_completion_pairs():
    [record] = sft_records(pd.DataFrame({"question": ["Q?"], "solution": ["1 + 1 = 2\n#### 2"]}))
    assert record["prompt"][0]["role"] == "user" and record["prompt"][0]["content"].endswith("Problem: Q?")
    assert record["completion"] == [{"role": "assistant", "content": "1 + 1 = 2\n#### 2"}]


def test_lora_sft_lowers_the_loss_and_saves_a_merged_checkpoint(tiny_checkpoint, tmp_path, spec_of):
    items = pd.DataFrame({"question": ["what is 1 + 2 ?"] * 8, "solution": ["the answer is 42"] * 8})
    spec = spec_of(
        "finetuned",
        learning_rate=5e-2,
        epochs=6,
        batch_size=4,
        precision="fp32",
        max_length=64,
        max_steps=None,
        save_dtype="float32",
    )
    fields = finetune(tiny_checkpoint, items, spec, tmp_path)
    log = pd.read_parquet(tmp_path / "train_log.parquet")
    assert fields["steps"] == 12 == len(log)
    assert fields["last_loss"] < 0.9 * fields["first_loss"]
    checkpoint = tmp_path / "checkpoint"
    assert not (checkpoint / "adapter_config.json").exists() and not (tmp_path / "trainer-scratch").exists()
    with load_engine(checkpoint, EngineSpec(backend="hf", dtype="float32")) as engine:
        [completion] = engine.generate(
            [[{"role": "user", "content": "what is 1 + 2 ?"}]], SamplingSpec(max_tokens=4)
        )
    assert completion.token_counts[0] > 0


def test_an_empty_set_saves_the_student_untrained_and_says_so(tiny_checkpoint, tmp_path, spec_of, caplog):
    from safetensors.torch import load_file

    out = finetune(
        tiny_checkpoint, pd.DataFrame(columns=["question", "solution"]), spec_of("finetuned"), tmp_path
    )
    assert out == {"items": 0, "steps": 0, "trained": False, "untrained_reason": "the set kept no item"}
    assert "saved untrained" in caplog.text
    saved = load_file(tmp_path / "checkpoint" / "model.safetensors")
    initial = load_file(pathlib.Path(tiny_checkpoint) / "model.safetensors")
    assert saved.keys() == initial.keys()
    for name, weight in saved.items():  # the initial weights, in the saved dtype
        assert (weight == initial[name].to(weight.dtype)).all(), name
