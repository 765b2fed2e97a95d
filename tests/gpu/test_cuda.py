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
    from assay.evaluate import EvalSpec, accuracy_summary, evaluate
    from assay.tasks import prepare

    task = {"name": "arithmetic", "train_size": 6, "dev_size": 0, "test_size": 10, "levels": 5, "seed": 0}
    splits = prepare(task)
    engine = load_engine(tiny_checkpoint, EngineSpec(backend="hf", dtype="bfloat16"))
    results = evaluate(engine, splits["train"], splits["test"], EvalSpec(model_kind="instruct", max_tokens=6))
    summary = accuracy_summary(results)
    assert summary["n"] == 10 and sum(c["n"] for c in summary["by_difficulty"].values()) == 10
