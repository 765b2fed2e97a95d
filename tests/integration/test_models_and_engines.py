"""The shipped models as materialised by the workflow: exact conversion, engine parity."""

from __future__ import annotations

import json

import pytest
import torch

from assay.engine import EngineSpec, SamplingSpec, load_engine
from assay.models import SHIPPED_MODELS, materialize, shipped_package_dir
from assay.tasks import prepare
from assay.tasks.base import build_prompt

pytestmark = pytest.mark.integration


def _checkpoint(workdir, model):
    index = json.loads((workdir / "results" / "smoke" / "index.json").read_text())
    return workdir / index["stages"]["models"][model]["path"] / "checkpoint"


def test_saved_checkpoint_gives_the_gguf_models_logits(smoke_run):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    shipped = SHIPPED_MODELS["smollm2-135m-instruct"]
    folder = shipped_package_dir("smollm2-135m-instruct")
    gguf = AutoModelForCausalLM.from_pretrained(folder, gguf_file=shipped.gguf_file, dtype=torch.float32)
    saved = AutoModelForCausalLM.from_pretrained(
        _checkpoint(smoke_run, "smollm2-135m-instruct"), dtype=torch.float32
    )
    tokenizer = AutoTokenizer.from_pretrained(_checkpoint(smoke_run, "smollm2-135m-instruct"))
    ids = tokenizer("Ana has 3 apples and gets 4 more.", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        assert torch.equal(gguf(ids).logits, saved(ids).logits)


def test_vllm_and_transformers_agree_greedily(smoke_run):
    checkpoint = _checkpoint(smoke_run, "smollm2-135m-instruct")
    splits = prepare(
        {"name": "arithmetic", "train_size": 3, "dev_size": 0, "test_size": 8, "levels": 5, "seed": 7}
    )
    shots = splits["train"].to_dict("records")
    prompts = [build_prompt(q, shots, "instruct") for q in splits["test"]["question"]]
    prompts += ["Question: What is 2 + 2?\nAnswer:"]
    sampling = SamplingSpec(max_tokens=32)
    texts = {}
    for backend in ("vllm", "hf"):
        with load_engine(checkpoint, EngineSpec(backend=backend, dtype="float32")) as engine:
            texts[backend] = [c.texts[0] for c in engine.generate(prompts, sampling)]
            if backend == "vllm":  # KV blocks of 32 on the CPU: the shots' cached blocks are reused
                assert engine.llm.llm_engine.vllm_config.cache_config.block_size == 32
                # a progress chunk fills vLLM's batch: as many sequences as it schedules at once
                assert engine.min_chunk == engine.llm.llm_engine.vllm_config.scheduler_config.max_num_seqs
    assert texts["vllm"] == texts["hf"]


def test_both_engines_give_the_same_verdict_token_log_probs(smoke_run):
    """The judge's confidence: vLLM forces each candidate token and reports its raw
    log-prob; transformers reads the next-token distribution. They must agree."""
    from assay.compound.verdicts import VERDICT_CHOICES, VERDICT_PREFIX

    checkpoint = _checkpoint(smoke_run, "smollm2-135m-instruct")
    prompts = [
        [{"role": "user", "content": "Is 3 + 4 = 7? End with [[correct]] or [[wrong]]."}],
        "Review: 2 + 2 = 5 is",
    ]
    prefixes = ["It adds up." + VERDICT_PREFIX, " off by one." + VERDICT_PREFIX]
    scores = {}
    for backend in ("vllm", "hf"):
        with load_engine(checkpoint, EngineSpec(backend=backend, dtype="float32")) as engine:
            scores[backend] = engine.token_logprobs(prompts, prefixes, VERDICT_CHOICES)
    for vllm_row, hf_row in zip(scores["vllm"], scores["hf"]):
        assert vllm_row == pytest.approx(hf_row, abs=2e-3)


def test_trained_checkpoints_load_in_both_engines(smoke_run):
    """A fine-tuned (SFT) and a preference-trained (DPO) checkpoint, LoRA merged, serve in
    vLLM and transformers alike; greedy outputs agree in float32."""
    import json

    index = json.loads((smoke_run / "results" / "smoke" / "index.json").read_text())
    trained = [
        smoke_run / next(iter(index["stages"][stage].values()))["path"] / "checkpoint"
        for stage in ("finetuned", "policies")
    ]
    prompts = [[{"role": "user", "content": "What is 2 + 3? End with '#### <number>'."}]]
    for checkpoint in trained:
        assert not (checkpoint / "adapter_config.json").exists()
        texts = {}
        for backend in ("vllm", "hf"):
            with load_engine(checkpoint, EngineSpec(backend=backend, dtype="float32")) as engine:
                texts[backend] = engine.generate(prompts, SamplingSpec(max_tokens=24))[0].texts[0]
        assert texts["vllm"] == texts["hf"] and texts["hf"].strip()


def test_unknown_local_folder_is_not_a_checkpoint(tmp_path):
    from assay.errors import ModelError

    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError, match="no config.json"):
        materialize(str(tmp_path / "empty"), "float32", None, tmp_path)
