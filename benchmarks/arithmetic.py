"""Arithmetic benchmark: how close the default study's kernels run to this CPU's matrix
arithmetic. Prints, measured in one run:

* the matmul rate (GFLOP/s) of torch at a square 1024 product and at the study's shapes
  (SmolLM2's 576 x 1536 MLP under 128 decode rows and 2048 prefill rows): what the CPU
  can do;
* vLLM on SmolLM2-135M-Instruct: prefill and decode at 1, 8, 32 and 128 sequences, as
  tokens/s, as GFLOP/s (2 FLOPs per weight per token, the LM head for generated tokens,
  attention over the context) and as a share of the matmul rate; at one sequence, the
  weight bytes read per second (a decode step reads every weight once);
* a LoRA training step (forward and backward, 4 rows of 185 tokens, the FLOPs counted by
  ``torch.utils.flop_counter``: its linear layers and LM head; attention's products, 2-5%
  of a forward at these lengths, are not counted on the CPU) as GFLOP/s and share.

The FLOPs per token of the vLLM lines come from the config; on SmolLM2 its weights' share
equals ``torch.utils.flop_counter``'s count of a transformers forward (45.7 GFLOP for 170
tokens with the LM head at every position).

Why: when a study's kernels already run near the matmul rate, its time on another CPU
follows that CPU's matmul rate, and what is left to gain is arithmetic not done, not
arithmetic done faster.

    python benchmarks/arithmetic.py [--checkpoint DIR] [--dtype auto] [--as-avx2]

``--as-avx2`` runs in fp32 with torch, oneDNN, MKL and vLLM's own kernels held to AVX2 (as
``benchmarks/study.py --as-avx2``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

#: (name, rows, inner, columns) of the products timed: a square one, then SmolLM2's MLP
#: up-projection under a decode batch of 128 sequences and under a prefill chunk.
MATMULS = (
    ("1024 x 1024 x 1024", 1024, 1024, 1024),
    ("128 x 576 x 1536", 128, 576, 1536),
    ("2048 x 576 x 1536", 2048, 576, 1536),
)
DECODE_BATCHES = (1, 8, 32, 128)
PROMPT_TOKENS = 170  # about the default study's few-shot prompts
DECODE_TOKENS = 64


def matmul_rate(rows: int, inner: int, columns: int, dtype) -> float:
    """GFLOP/s of ``rows x inner @ inner x columns`` (best of 3 timings of about 0.3 s)."""
    import torch

    a, b = torch.randn(rows, inner, dtype=dtype), torch.randn(inner, columns, dtype=dtype)
    flops = 2 * rows * inner * columns
    reps = max(3, int(3e10 / flops))
    for _ in range(3):
        a @ b
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        for _ in range(reps):
            a @ b
        best = min(best, (time.perf_counter() - started) / reps)
    return flops / best / 1e9


class ModelShape:
    """FLOPs per token of a Llama-like decoder, from its config."""

    def __init__(self, checkpoint: Path) -> None:
        config = json.loads((checkpoint / "config.json").read_text())
        self.layers = config["num_hidden_layers"]
        d, inner = config["hidden_size"], config["intermediate_size"]
        heads, kv_heads = config["num_attention_heads"], config["num_key_value_heads"]
        head_dim = config.get("head_dim") or d // heads
        self.attention_width = heads * head_dim
        self.kv_width = 2 * kv_heads * head_dim  # keys and values a token keeps per layer
        per_layer = d * heads * head_dim + 2 * d * kv_heads * head_dim + heads * head_dim * d + 3 * d * inner
        self.body_weights = self.layers * per_layer
        self.head_weights = config["vocab_size"] * d

    def flops(self, context: float, head: bool) -> float:
        """One token at ``context`` positions: its weights' products, the LM head when the
        token is generated, and attention (scores and values) over the context."""
        weights = self.body_weights + (self.head_weights if head else 0)
        return 2 * weights + 4 * self.layers * self.attention_width * context

    def weight_bytes(self, dtype_bytes: int) -> int:
        return (self.body_weights + self.head_weights) * dtype_bytes

    def kv_cache_gb(self, tokens: int, dtype_bytes: int) -> int:
        """GiB of KV cache that holds ``tokens`` (with a fifth to spare): with too little,
        vLLM runs fewer sequences at once than asked (1 GiB holds 23,296 fp32 tokens of
        SmolLM2; 128 sequences of 236 tokens ran at 0.66x the tokens/s of 2 GiB here)."""
        return max(1, math.ceil(1.2 * tokens * self.layers * self.kv_width * dtype_bytes / 2**30))


def training_rate(checkpoint: Path, precision: str) -> tuple[float, float]:
    """(GFLOP a step, GFLOP/s) of a LoRA step (r 8, all linear layers) on 4 rows of 185
    tokens, forward and backward, best of 3 steps after one warm-up."""
    import torch
    from peft import LoraConfig, get_peft_model
    from torch.utils.flop_counter import FlopCounterMode

    from assay.training import load_trainable

    model, _ = load_trainable(checkpoint, precision)
    model = get_peft_model(
        model, LoraConfig(r=8, lora_alpha=16, target_modules="all-linear", task_type="CAUSAL_LM")
    )
    ids = torch.randint(100, 40000, (4, 185))
    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16")

    def step() -> None:
        with autocast:
            loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        model.zero_grad(set_to_none=True)

    counter = FlopCounterMode(display=False)
    with counter:
        step()
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        step()
        best = min(best, time.perf_counter() - started)
    flops = counter.get_total_flops()
    return flops / 1e9, flops / best / 1e9


def vllm_rates(checkpoint: Path, dtype: str, kv_cache_gb: int) -> dict[str, tuple[float, float]]:
    """tokens/s and seconds of vLLM's prefill (20 fresh prompts) and decode at each batch
    (the time of 2 + DECODE_TOKENS tokens less that of 2, per token), as Assay starts it,
    with a KV cache that holds the largest batch."""
    from vllm import SamplingParams

    from assay.engine.base import EngineSpec
    from assay.engine.vllm_engine import VLLMEngine

    llm = VLLMEngine(checkpoint, EngineSpec(backend="vllm", dtype=dtype, kv_cache_gb=kv_cache_gb)).llm
    fresh = iter(range(1, 10**6))

    def prompts(count: int) -> list[dict]:
        base = next(fresh) * 997
        return [
            {"prompt_token_ids": [100 + (base + i * 31 + j) % 30000 for j in range(PROMPT_TOKENS)]}
            for i in range(count)
        ]

    def run(count: int, tokens: int) -> float:
        params = SamplingParams(max_tokens=tokens, min_tokens=tokens, temperature=0.0, ignore_eos=True)
        batch = prompts(count)
        started = time.perf_counter()
        llm.generate(batch, params, use_tqdm=False)
        return time.perf_counter() - started

    run(8, 4)  # warm-up
    rates = {}
    seconds = min(run(20, 1) for _ in range(2))
    rates["prefill"] = (20 * PROMPT_TOKENS / seconds, seconds)
    for batch in DECODE_BATCHES:
        per_step = (run(batch, 2 + DECODE_TOKENS) - run(batch, 2)) / DECODE_TOKENS
        rates[f"decode {batch}"] = (batch / per_step, per_step)
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path)
    parser.add_argument("--dtype", default="auto", help="auto: bf16 where the CPU has native bf16, else fp32")
    parser.add_argument("--as-avx2", action="store_true", help="as benchmarks/study.py --as-avx2")
    args = parser.parse_args()
    if args.as_avx2:
        from study import run_as_avx2

        run_as_avx2()

    import torch
    from engine import default_checkpoint

    from assay.hardware import _cpuinfo_flags, cpu_has_native_bf16, resolve_engine_dtype

    dtype = resolve_engine_dtype(args.dtype, gpu_study=False)
    precision = "bf16" if dtype == "bfloat16" else "fp32"
    torch_dtype = getattr(torch, dtype)
    flags = sorted(_cpuinfo_flags() & {"avx2", "fma", "avx512f", "avx512_bf16", "amx_bf16"})
    held = " (torch, oneDNN, MKL and vLLM's kernels held to AVX2)" if args.as_avx2 else ""
    threads = torch.get_num_threads()
    print(
        f"CPU flags {' '.join(flags)}; native bf16 {cpu_has_native_bf16()}; {dtype}{held}; {threads} threads"
    )

    rates = {name: matmul_rate(m, k, n, torch_dtype) for name, m, k, n in MATMULS}
    for name, rate in rates.items():
        print(f"matmul {name}: {rate:.0f} GFLOP/s")
    decode_peak, prefill_peak = rates["128 x 576 x 1536"], rates["2048 x 576 x 1536"]

    with tempfile.TemporaryDirectory() as scratch:
        checkpoint = args.checkpoint or default_checkpoint(Path(scratch))
        shape = ModelShape(checkpoint)
        step_gflop, train_rate = training_rate(checkpoint, precision)
        print(
            f"LoRA training step (4 x 185 tokens, forward and backward, {step_gflop:.0f} GFLOP): "
            f"{train_rate:.0f} GFLOP/s, {train_rate / prefill_peak:.2f}x the prefill-shaped matmul"
        )
        tokens = max(DECODE_BATCHES) * (PROMPT_TOKENS + DECODE_TOKENS + 2)
        measured = vllm_rates(checkpoint, dtype, shape.kv_cache_gb(tokens, torch_dtype.itemsize))

    tokens_s, _ = measured["prefill"]
    gflops = tokens_s * shape.flops(PROMPT_TOKENS / 2, head=False) / 1e9
    print(
        f"vLLM prefill ({PROMPT_TOKENS}-token prompts): {tokens_s:.0f} tok/s = {gflops:.0f} GFLOP/s, "
        f"{gflops / prefill_peak:.2f}x the prefill-shaped matmul"
    )
    for batch in DECODE_BATCHES:
        tokens_s, per_step = measured[f"decode {batch}"]
        gflops = tokens_s * shape.flops(PROMPT_TOKENS + DECODE_TOKENS / 2, head=True) / 1e9
        line = (
            f"vLLM decode, {batch:3d} sequences: {tokens_s:5.0f} tok/s, {per_step * 1000:5.1f} ms a step = "
            f"{gflops:4.0f} GFLOP/s, {gflops / decode_peak:.2f}x the decode-shaped matmul"
        )
        if batch == 1:
            read = shape.weight_bytes(torch_dtype.itemsize) / per_step / 1e9
            line += f"; the weights read at {read:.0f} GB/s"
        print(line)


if __name__ == "__main__":
    main()
