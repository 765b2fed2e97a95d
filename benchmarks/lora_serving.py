"""Should LoRA-trained variants be served through their base model's engine (vLLM's
adapter support) instead of each loading its merged checkpoint? On a CPU, measured here:
the base model's engine with and without ``enable_lora``, and an adapter's requests
through it. Each setting runs in a fresh process, generates 64 prompts x 64 tokens
(greedy, the EOS ignored) after a warm-up, and prints tokens/s and the ratios of one run.

    python benchmarks/lora_serving.py [--checkpoint DIR] [--dtype auto|float32|bfloat16]

The adapter is rank 8 on every linear layer (the default study's LoRA), its B matrices
drawn at random (a trained adapter's shape; the speed does not depend on the values).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).parent))
from engine import engine_arguments, engine_checkpoint  # noqa: E402

MAKE_ADAPTER = r"""
import sys, torch
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM
model = AutoModelForCausalLM.from_pretrained(sys.argv[1], dtype=torch.float32)
lora = LoraConfig(r=8, lora_alpha=16, target_modules="all-linear", task_type="CAUSAL_LM")
model = get_peft_model(model, lora)
torch.manual_seed(0)
for name, weight in model.named_parameters():
    if "lora_B" in name:
        weight.data.normal_(0, 0.01)
model.save_pretrained(sys.argv[2])
"""

CHILD = r"""
import json, os, sys, time
os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
os.environ.setdefault("VLLM_CPU_NUM_OF_RESERVED_CPU", "0")
os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
from vllm import LLM, SamplingParams
checkpoint, dtype, mode, adapter = sys.argv[1:5]
kwargs = dict(model=checkpoint, dtype=dtype, seed=0, max_model_len=1024, enforce_eager=True)
if mode != "plain":
    kwargs.update(enable_lora=True, max_lora_rank=8, max_loras=2)
started = time.perf_counter()
llm = LLM(**kwargs)
start_s = time.perf_counter() - started
request = None
if mode == "adapter":
    from vllm.lora.request import LoRARequest
    request = LoRARequest("variant", 1, adapter)
prompts = [f"Question {i}: what is {i} + {3 * i}? Answer:" for i in range(64)]
params = SamplingParams(max_tokens=64, temperature=0.0, ignore_eos=True)
llm.generate(prompts[:4], params, use_tqdm=False, lora_request=request)
started = time.perf_counter()
outputs = llm.generate(prompts, params, use_tqdm=False, lora_request=request)
seconds = time.perf_counter() - started
tokens = sum(len(o.outputs[0].token_ids) for o in outputs)
print("RESULT " + json.dumps({"start_s": start_s, "tok_s": tokens / seconds}))
"""

SETTINGS = {
    "plain": "base model, engine without LoRA (Assay's engine)",
    "enabled": "base model, engine with enable_lora",
    "adapter": "adapter requests through that engine",
}


def run(code: str, *args: str) -> dict:
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=True)
    line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT ")), "RESULT {}")
    return json.loads(line.removeprefix("RESULT "))


def main() -> None:
    args = engine_arguments(__doc__)
    with engine_checkpoint(args) as (checkpoint, dtype), tempfile.TemporaryDirectory() as scratch:
        adapter = Path(scratch) / "adapter"
        run(MAKE_ADAPTER, str(checkpoint), str(adapter))
        results = {}
        for mode, title in SETTINGS.items():
            results[mode] = r = run(CHILD, str(checkpoint), dtype, mode, str(adapter))
            print(f"{title}: engine start {r['start_s']:.1f} s, {r['tok_s']:.0f} output tok/s")
        plain = results["plain"]["tok_s"]
        print(
            f"enable_lora / plain: {results['enabled']['tok_s'] / plain:.2f}x for the base model's requests; "
            f"adapter requests / plain: {results['adapter']['tok_s'] / plain:.2f}x"
        )


if __name__ == "__main__":
    main()
