"""What a vLLM engine start costs on this machine, and what the in-process engine core
saves: each setting starts ``VLLMEngine`` in a fresh process (as a rule's job does), then
generates 32 chat prompts x 32 tokens. Prints seconds and the ratios of one run.

    python benchmarks/engine_start.py [--checkpoint DIR] [--dtype auto|float32|bfloat16]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).parent))
from engine import engine_arguments, engine_checkpoint  # noqa: E402

CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
from assay.engine import EngineSpec, SamplingSpec, load_engine
imported = time.perf_counter() - t0
engine = load_engine(sys.argv[1], EngineSpec(backend="vllm", dtype=sys.argv[2]))
prompts = [[{"role": "user", "content": f"What is {i} + {i + 3}?"}] for i in range(32)]
t1 = time.perf_counter()
out = engine.generate(prompts, SamplingSpec(max_tokens=32))
gen = time.perf_counter() - t1
tokens = sum(sum(c.token_counts) for c in out)
engine.close()
print("RESULT " + json.dumps({"import_s": imported, "start_s": engine.start_seconds,
      "tok_s": tokens / gen, "process_s": time.perf_counter() - t0}))
"""


def run(checkpoint: Path, dtype: str, env: dict[str, str]) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(checkpoint), dtype],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    line = next(x for x in proc.stdout.splitlines() if x.startswith("RESULT "))
    return json.loads(line.removeprefix("RESULT "))


def main() -> None:
    with engine_checkpoint(engine_arguments(__doc__)) as (checkpoint, dtype):
        settings = {
            "engine core in a child process (vLLM's default)": {"VLLM_ENABLE_V1_MULTIPROCESSING": "1"},
            "engine core in the job's process (Assay's CPU default)": {"VLLM_ENABLE_V1_MULTIPROCESSING": "0"},
        }
        results = {}
        for name, env in settings.items():
            results[name] = r = run(checkpoint, dtype, env)
            print(
                f"{name}: import {r['import_s']:.1f} s, engine start {r['start_s']:.1f} s, "
                f"{r['tok_s']:.0f} output tok/s, whole process {r['process_s']:.1f} s"
            )
        child, inproc = results.values()
        print(
            f"start: in-process / child {inproc['start_s'] / child['start_s']:.2f}x; "
            f"throughput ratio {inproc['tok_s'] / child['tok_s']:.2f}x"
        )


if __name__ == "__main__":
    main()
