"""The models stage from an empty store through Snakemake, its jobs at the threads the rule
declares (one: the default study's two conversions run side by side) against two threads
each (one conversion after the other on 2 cores, Assay before), alternately. Prints each
run's seconds, the ratio of the means, and whether both ways wrote the same weights.

    python benchmarks/models_stage.py [--cores 2] [--rounds 2] [--study STUDY]

A GGUF conversion (parse, de-quantise, write safetensors) spends its time in Python and
numpy on one core: with two threads a job, the second core idled through the stage.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from study import run_study  # noqa: E402

WAYS = {"2 threads a job (before)": ["--set-threads", "materialize_models=2"], "as declared (now)": []}


def weights(store: Path) -> dict[str, str]:
    """Each checkpoint's safetensors files and their SHA-256."""
    return {
        str(path.relative_to(store)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(store.glob("models/*/checkpoint/*.safetensors"))
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--study", type=Path, help="a study file (default: the default study)")
    args = parser.parse_args()

    from assay.hardware import cpu_has_native_bf16

    print(f"CPU native bf16: {cpu_has_native_bf16()}; {args.cores} cores; study {args.study or 'default'}")
    seconds: dict[str, list[float]] = {way: [] for way in WAYS}
    written: dict[str, dict[str, str]] = {}
    for round_ in range(args.rounds):
        for way, extra in WAYS.items():
            with tempfile.TemporaryDirectory(prefix="assay-models-") as folder:
                until = ["--until", "materialize_models", *extra]
                env = {"HF_HUB_OFFLINE": "1"}
                seconds[way].append(
                    run_study(args.study, args.cores, Path(folder), env, [], snakemake_args=until)[0]
                )
                written[way] = weights(Path(folder) / "artifacts")
            print(f"  {way:25s} round {round_ + 1}: {seconds[way][-1]:6.1f} s")
    before, now = (sum(values) / len(values) for values in seconds.values())
    same = len({tuple(sorted(w.items())) for w in written.values()}) == 1
    print(f"models stage: {before:.1f} s -> {now:.1f} s ({now / before:.2f}x); same weights: {same}")


if __name__ == "__main__":
    main()
