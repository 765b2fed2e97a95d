"""Allocator benchmark: the same plain TRL DPO run (benchmarks/training.py's: SmolLM2, LoRA,
fp32, 6 steps of 4 pairs) in fresh processes with glibc's malloc and with tcmalloc preloaded as the workflow
preloads it (``assay.allocator.job_environment``), in turn; prints seconds of
``trainer.train`` and page faults, and the ratios, measured in one run.

    python benchmarks/allocator.py [--checkpoint DIR] [--steps 6] [--rounds 2] [--as-avx2]
        [--beside-gb 7]

``--beside-gb`` also runs each allocator beside an idle process that holds that much
memory (as idle engine servers hold their models; an earlier session measured a training
job 1.29x slower beside two idle servers). One run here (``--as-avx2 --beside-gb 7``):
tcmalloc 0.84x the time of glibc's malloc with 0.16x the page faults; beside 7 GB held
0.95x (glibc) and 0.98x (tcmalloc) of the time alone, so no slowdown from the memory held.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from study import AS_AVX2  # noqa: E402

#: One run in a fresh process: benchmarks/training.py's plain TRL DPO (its seconds are
#: those of trainer.train; the page faults count the whole call, the model's load too).
RUN = """
import resource, sys, tempfile
sys.path.insert(0, {benchmarks!r})
from pathlib import Path
from training import data, plain_dpo
from assay.allocator import process_allocator
_, pairs = data(32)
with tempfile.TemporaryDirectory() as out:
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    seconds, _ = plain_dpo(Path({checkpoint!r}), pairs, {steps}, Path(out))
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
print(f"RESULT {{process_allocator()}} {{seconds:.2f}} {{faults}}")
"""

#: An idle process holding that many GB, touched (as an idle engine server holds its model).
BALLAST = (
    "import numpy, sys, time; a = numpy.ones(int(float(sys.argv[1]) * 2**30 / 8)); "
    "print('ok', flush=True); time.sleep(1e6)"
)


def one_run(checkpoint: Path, steps: int, env: dict[str, str]) -> tuple[str, float, int]:
    code = RUN.format(benchmarks=str(Path(__file__).parent), checkpoint=str(checkpoint), steps=steps)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False)
    match = re.search(r"RESULT (\S+) (\S+) (\d+)", out.stdout)
    if not match:
        sys.exit(f"the run failed:\n{out.stderr[-3000:]}")
    return match.group(1), float(match.group(2)), int(match.group(3))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", type=Path)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--as-avx2", action="store_true", help="torch, oneDNN and MKL held to AVX2")
    parser.add_argument("--beside-gb", type=float, help="also run beside an idle process holding this")
    options = parser.parse_args()

    from engine import default_checkpoint

    from assay.allocator import find_tcmalloc, job_environment

    if find_tcmalloc() is None:  # nothing to compare (make bench goes on)
        print(
            "allocator benchmark skipped: no libtcmalloc_minimal.so.4 here "
            "(make setup installs it where apt-get can)"
        )
        return
    base = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "ASSAY_ALLOCATOR")}
    base.update(HF_HUB_OFFLINE="1", TQDM_DISABLE="1", **(AS_AVX2 if options.as_avx2 else {}))
    envs = {"glibc malloc": base, "tcmalloc": {**base, **job_environment(base)}}
    with tempfile.TemporaryDirectory() as scratch:
        checkpoint = options.checkpoint or default_checkpoint(Path(scratch) / "model")
        settings = [(name, None) for name in envs]
        if options.beside_gb:
            settings += [(name, options.beside_gb) for name in envs]
        results: dict[tuple[str, float | None], list[tuple[float, int]]] = {s: [] for s in settings}
        for _ in range(options.rounds):  # in turn, so that drift of the machine hits both alike
            for name, beside in settings:
                ballast = None
                if beside:
                    ballast = subprocess.Popen(
                        [sys.executable, "-c", BALLAST, str(beside)], stdout=subprocess.PIPE
                    )
                    ballast.stdout.readline()
                    time.sleep(2)
                try:
                    allocator, seconds, faults = one_run(checkpoint, options.steps, envs[name])
                finally:
                    if ballast:
                        ballast.kill()
                        ballast.wait()
                expected = "tcmalloc" if name == "tcmalloc" else "system"
                assert allocator == expected, f"{name}: the run's process used {allocator}"
                results[(name, beside)].append((seconds, faults))
    print(
        f"plain TRL DPO, {options.steps} LoRA steps, fp32{' as on AVX2' if options.as_avx2 else ''}, "
        f"best of {options.rounds} runs:"
    )
    best = {s: min(r) for s, r in results.items()}
    for (name, beside), (seconds, faults) in best.items():
        where = f" beside {beside:g} GB held" if beside else ""
        print(f"  {name}{where}: trainer.train {seconds:.1f} s, {faults / 1e6:.2f} M page faults")
    ratio = best[("tcmalloc", None)][0] / best[("glibc malloc", None)][0]
    print(f"  tcmalloc / glibc malloc: {ratio:.2f}x the time")
    if options.beside_gb:
        for name in envs:
            slower = best[(name, options.beside_gb)][0] / best[(name, None)][0]
            print(f"  {name} beside {options.beside_gb:g} GB held / alone: {slower:.2f}x")


if __name__ == "__main__":
    main()
