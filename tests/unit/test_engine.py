import pytest

from assay.engine import Completion, EngineSpec, SamplingSpec, load_engine, resolve_backend, truncate_at_stop
from assay.engine.base import Engine
from assay.errors import ConfigError


def test_truncate_at_first_stop_string():
    assert truncate_at_stop("a b\nQuestion: c\n\n\nd", ("\n\n\n", "\nQuestion:")) == "a b"
    assert truncate_at_stop("no stop", ("X",)) == "no stop"


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"n": 0}, "n"),
        ({"temperature": -1}, "temperature"),
        ({"top_p": 0}, "top_p"),
        ({"max_tokens": 0}, "max_tokens"),
    ],
)
def test_sampling_spec_rejects_bad_values(kwargs, field):
    with pytest.raises(ConfigError, match=f"sampling.{field}"):
        SamplingSpec(**kwargs)


def test_engine_spec_keeps_only_result_fields_for_keys():
    spec = EngineSpec(gpu_memory_utilization=0.5, tensor_parallel_size=4)
    assert spec.result_fields() == {"backend": "auto", "dtype": "bfloat16", "seed": 0}
    with pytest.raises(ConfigError, match="engine.backend"):
        EngineSpec(backend="tgi")


@pytest.mark.parametrize("size", [8, 20, 0])
def test_engine_spec_refuses_a_block_size_vllm_cannot_use(size):
    with pytest.raises(ConfigError, match="engine.block_size"):
        EngineSpec(block_size=size)


def test_study_refuses_a_block_size_below_16(tmp_path):
    from assay.config import load_study

    study = tmp_path / "study.yaml"
    study.write_text("engine:\n  block_size: 8\n")
    with pytest.raises(ConfigError, match="block_size"):
        load_study([study])


def test_auto_backend_prefers_vllm_when_installed(monkeypatch):
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    assert resolve_backend("auto") == "hf"
    assert resolve_backend("vllm") == "vllm"


@pytest.fixture(scope="module")
def hf_engine(tiny_checkpoint):
    return load_engine(tiny_checkpoint, EngineSpec(backend="hf", dtype="float32", hf_batch_size=4))


def test_hf_engine_returns_n_samples_per_prompt_in_order(hf_engine):
    prompts = ["the answer is", [{"role": "user", "content": "what is 1 + 2 ?"}], "question :"]
    out = hf_engine.generate(prompts, SamplingSpec(n=3, temperature=1.0, max_tokens=5, logprobs=True))
    assert len(out) == 3
    for completion in out:
        assert len(completion.texts) == len(completion.token_counts) == len(completion.logprobs) == 3
        assert all(1 <= t <= 5 for t in completion.token_counts)
        assert all(lp <= 0 for lp in completion.logprobs)


def test_hf_engine_greedy_is_deterministic_and_batch_independent(hf_engine):
    prompts = ["the answer is", "question : what is", "# # # #", "1 + 2"]
    greedy = SamplingSpec(max_tokens=6)
    together = hf_engine.generate(prompts, greedy)
    alone = [hf_engine.generate([p], greedy)[0] for p in prompts]
    assert [c.texts for c in together] == [c.texts for c in alone]


def test_hf_engine_cuts_text_at_stop_strings(hf_engine):
    full = hf_engine.generate(["the answer is"], SamplingSpec(max_tokens=8))[0]
    free = full.texts[0]
    words = free.split()
    assert len(words) >= 3, free
    stop = words[2]
    cut = hf_engine.generate(["the answer is"], SamplingSpec(max_tokens=8, stop=(stop,)))[0]
    assert stop not in cut.texts[0] and free.startswith(cut.texts[0].rstrip())
    assert cut.token_counts[0] < full.token_counts[0]  # generation stopped at the stop string


def test_generate_logs_progress_with_rate_and_eta(hf_engine, caplog, monkeypatch):
    monkeypatch.setattr(hf_engine, "min_chunk", 2)
    monkeypatch.setattr(hf_engine, "progress_chunks", 3)
    with caplog.at_level("INFO", logger="assay.engine.base"):
        out = hf_engine.generate(["the answer is"] * 6, SamplingSpec(max_tokens=3))
    assert len(out) == 6
    lines = [r.getMessage() for r in caplog.records if "prompts" in r.getMessage()]
    assert lines[0].endswith("generating for 6 prompts x n=1, up to 3 tokens each")
    assert len(lines) == 4 and "6/6 prompts (100%)" in lines[-1] and "tok/s, ETA" in lines[1]


class ChunkRecorder(Engine):
    """An engine that records the chunks ``generate`` hands it."""

    name = "recorder"

    def __init__(self, min_chunk: int) -> None:
        self.min_chunk, self.chunks = min_chunk, []

    def _generate(self, prompts, sampling):
        self.chunks.append(len(prompts))
        return [Completion(texts=["x"] * sampling.n, token_counts=[1] * sampling.n) for _ in prompts]


@pytest.mark.parametrize(("min_chunk", "chunks"), [(32, [3, 3, 3, 3, 3, 3, 2]), (256, [16, 4]), (512, [20])])
def test_chunks_hold_at_least_min_chunk_sequences(min_chunk, chunks):
    engine = ChunkRecorder(min_chunk)
    out = engine.generate(["q"] * 20, SamplingSpec(n=16, max_tokens=4))
    assert engine.chunks == chunks and len(out) == 20 and all(len(c.texts) == 16 for c in out)


def test_generation_stops_when_its_caller_has_gone(hf_engine, monkeypatch):
    from assay.errors import EngineError

    monkeypatch.setattr(hf_engine, "min_chunk", 2)
    monkeypatch.setattr(hf_engine, "progress_chunks", 3)
    monkeypatch.setattr(hf_engine, "abandoned", lambda: True)
    with pytest.raises(EngineError, match="stopped after 2 of 6 prompts"):
        hf_engine.generate(["the answer is"] * 6, SamplingSpec(max_tokens=3))


def test_pool_engines_share_the_gpu_memory():
    from assay.engine import pool_engine_spec

    spec = pool_engine_spec({"gpu_memory_utilization": 0.9, "kv_cache_gb": 4, "dtype": "float32"}, "vllm", 3)
    assert spec.backend == "vllm" and spec.dtype == "float32"
    assert spec.gpu_memory_utilization == pytest.approx(0.3) and spec.kv_cache_gb == 1


def test_token_logprobs_are_the_next_token_log_probs_of_each_candidate(hf_engine):
    import torch

    prompts = [
        "Is 2 + 2 = 4? Verdict:",
        [{"role": "user", "content": "2 + 2 = 4?"}],
        "Is 2 + 2 = 4? Verdict:",
    ]
    prefixes = [" [[", "Verdict: [[", " [["]
    scores = hf_engine.token_logprobs(prompts, prefixes, ["correct]]", "wrong]]"])
    assert len(scores) == 3 and all(len(row) == 2 for row in scores)
    assert scores[0] == scores[2]  # one forward per distinct context
    tokenizer, model = hf_engine.tokenizer, hf_engine.model
    for prompt, prefix, row in zip(prompts, prefixes, scores):
        special = isinstance(prompt, str)
        context = hf_engine.render(prompt) + prefix
        head = tokenizer(context, add_special_tokens=special)["input_ids"]
        for candidate, score in zip(["correct]]", "wrong]]"], row):
            ids = tokenizer(context + candidate, add_special_tokens=special)["input_ids"]
            start = next((i for i, (a, b) in enumerate(zip(head, ids)) if a != b), len(head))
            with torch.no_grad():
                logits = model(torch.tensor([ids[:start]])).logits[0, -1].float().log_softmax(-1)
            assert score == pytest.approx(float(logits[ids[start]]), abs=1e-4) and score < 0
