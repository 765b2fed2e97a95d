"""GPU smoke checks: the transformers engine in bf16 on CUDA. Skipped where no GPU is
present (CI has none); run on a GPU machine with ``python -m pytest tests/gpu``."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def test_hf_engine_runs_in_bf16_on_cuda(tiny_checkpoint):
    from assay.engine import EngineSpec, SamplingSpec, load_engine

    engine = load_engine(tiny_checkpoint, EngineSpec(backend="hf", dtype="bfloat16", hf_batch_size=8))
    assert engine.device == "cuda"
    parameter = next(engine.model.parameters())
    assert parameter.is_cuda and parameter.dtype == torch.bfloat16
    prompts = ["the answer is", [{"role": "user", "content": "what is 1 + 2 ?"}]] * 6
    sampled = engine.generate(prompts, SamplingSpec(n=4, temperature=1.0, max_tokens=8, logprobs=True))
    assert len(sampled) == 12
    for completion in sampled:
        assert len(completion.texts) == 4 and all(1 <= t <= 8 for t in completion.token_counts)
        assert all(math.isfinite(lp) and lp <= 0 for lp in completion.logprobs)
    greedy = SamplingSpec(max_tokens=8)
    first, second = engine.generate(prompts, greedy), engine.generate(prompts, greedy)
    assert [c.texts for c in first] == [c.texts for c in second]


def test_greedy_bf16_cuda_mostly_agrees_with_float32_cpu(tiny_checkpoint):
    from assay.engine import EngineSpec, SamplingSpec, load_engine
    from assay.engine.hf_engine import HFEngine

    gpu = load_engine(tiny_checkpoint, EngineSpec(backend="hf", dtype="bfloat16"))
    cpu = HFEngine.__new__(HFEngine)
    cpu.__dict__.update(gpu.__dict__)
    cpu.device = "cpu"
    cpu.model = type(gpu.model).from_pretrained(tiny_checkpoint, dtype=torch.float32)
    prompts = ["the answer is", "question : what is", "1 + 2", "# # #"]
    greedy = SamplingSpec(max_tokens=1)
    first_gpu = [c.texts[0] for c in gpu.generate(prompts, greedy)]
    first_cpu = [c.texts[0] for c in cpu.generate(prompts, greedy)]
    assert sum(a == b for a, b in zip(first_gpu, first_cpu)) >= 3


def test_evaluation_runs_on_cuda(tiny_checkpoint):
    from assay.engine import EngineSpec, load_engine
    from assay.evaluate.evaluation import accuracy_summary, evaluate
    from assay.plan import default_spec
    from assay.tasks import prepare

    task = {"name": "arithmetic", "train_size": 6, "dev_size": 0, "test_size": 10, "levels": 5, "seed": 0}
    splits = prepare(task)
    engine = load_engine(tiny_checkpoint, EngineSpec(backend="hf", dtype="bfloat16"))
    results = evaluate(
        engine,
        splits["train"],
        splits["test"],
        default_spec("evaluate", model_kind="instruct", max_tokens=6, limit=None),
    )
    summary = accuracy_summary(results)
    assert summary["n"] == 10 and sum(c["n"] for c in summary["by_difficulty"].values()) == 10


def test_sft_and_dpo_train_in_bf16_on_cuda(tiny_checkpoint, tmp_path):
    """Both training paths pick bf16 on a GPU (precision auto) and write merged checkpoints."""
    import pandas as pd

    pytest.importorskip("trl")
    from assay.finetune.finetuned import finetune
    from assay.plan import default_spec
    from assay.preference.policies import train_policy
    from assay.training import resolve_precision, trainer_flags

    assert resolve_precision("auto") == "bf16" and trainer_flags("auto")["use_cpu"] is False
    items = pd.DataFrame({"question": ["what is 1 + 2 ?"] * 8, "solution": ["the answer is 42"] * 8})
    fields = finetune(
        tiny_checkpoint,
        items,
        default_spec(
            "finetuned", epochs=2, batch_size=4, max_steps=None, precision="auto", save_dtype="bfloat16"
        ),
        tmp_path / "sft",
    )
    assert fields["steps"] == 4 and (tmp_path / "sft" / "checkpoint" / "config.json").is_file()
    pairs = pd.DataFrame(
        {
            "pair_id": [f"p{i}" for i in range(6)],
            "prompt": ["question : what is 1 + 2 ? answer :"] * 6,
            "chosen": [" 3"] * 6,
            "rejected": [" 7"] * 6,
            "split": ["train"] * 4 + ["heldout"] * 2,
        }
    )
    spec = default_spec(
        "policies",
        variant="sigmoid",
        learning_rate=1e-2,
        batch_size=2,
        epochs=2,
        max_steps=None,
        precision="auto",
        track_every=1,
        save_dtype="bfloat16",
    )
    fields = train_policy(tiny_checkpoint, pairs, ["p0", "p1", "p2", "p3"], spec, tmp_path / "dpo")
    logprobs = pd.read_parquet(tmp_path / "dpo" / "logprobs.parquet")
    train = logprobs[logprobs["split"] == "train"]
    assert fields["steps"] == 4 and train["margin"].iloc[-1] > train["margin"].iloc[0]
