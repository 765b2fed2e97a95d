"""The models stage's GGUF conversion, three ways alternately in one process: transformers
alone, which parses the file for each of the tokenizer, the config and the weights (Assay
at first); the file parsed once for all three (:func:`assay.models.checkpoints.gguf_read_once`)
through gguf's numpy memmap; and parsed once through a plain array view of the map (what
Assay does). Prints each conversion's seconds and the ratios of the means.

    python benchmarks/gguf_conversion.py [--model gemma3-270m] [--rounds 1]

Gemma 3's GGUF carries a vocabulary of 262,144 tokens, which the reader parses field by
field in Python; SmolLM2's (49,152 tokens) gains less.
"""

from __future__ import annotations

import argparse
import functools
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="gemma3-270m")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--dtype", default="float32")
    args = parser.parse_args()

    from assay.hardware import cpu_has_native_bf16
    from assay.models.checkpoints import _convert_gguf, convert_gguf, locate_shipped_gguf

    runs = {
        "parsed per read": _convert_gguf,
        "parsed once, memmap": functools.partial(convert_gguf, plain_maps=False),
        "parsed once, plain (now)": convert_gguf,
    }
    seconds: dict[str, list[float]] = {name: [] for name in runs}
    print(f"CPU native bf16: {cpu_has_native_bf16()}; {args.model} to {args.dtype}")
    with tempfile.TemporaryDirectory() as scratch:
        gguf_path = locate_shipped_gguf(args.model, Path(scratch))
        for round_ in range(args.rounds):
            for name, convert in runs.items():
                started = time.perf_counter()
                out = Path(scratch) / f"{round_}-{list(runs).index(name)}"
                convert(gguf_path, out, args.dtype)
                seconds[name].append(time.perf_counter() - started)
                print(f"  {name:25s} round {round_ + 1}: {seconds[name][-1]:6.1f} s")
    first, memmap, now = (sum(v) / len(v) for v in seconds.values())
    print(
        f"conversion (means of {args.rounds}): parsed per read {first:.1f} s, parsed once {memmap:.1f} s, "
        f"through plain maps {now:.1f} s: {now / memmap:.2f}x the time of parsed once, {now / first:.2f}x of "
        "parsed per read"
    )


if __name__ == "__main__":
    main()
