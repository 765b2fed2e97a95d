"""Study benchmark: run a study from an empty store through Snakemake and print, per stage,
the jobs, engine starts, seconds starting engines, seconds of job start-up (the job's
process before its work: Python, imports, Snakemake's preamble), seconds working, and the
share of the study's time spent starting engines and starting jobs (read from the
manifests: ``engine_start_s``, ``job_startup_s``, ``wall_time_s``), the peak RSS of any one
process, and the time of a no-op rerun.

    python benchmarks/study.py [--study config/studies/smoke.yaml] [--cores 2]
        [--compare-engine-core] [--keep FOLDER]

``--compare-engine-core`` runs the study twice from empty stores, first with vLLM's engine
core in a child process (vLLM's default, Assay's before this change), then in the job's
process (Assay's CPU default now), and prints the ratios of the two runs.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")


def run_study(study: Path | None, cores: int, workdir: Path, env: dict[str, str]) -> float:
    """Seconds of one ``snakemake`` run of the study in ``workdir`` (its store inside it)."""
    command = [SNAKEMAKE, "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir)]
    command += ["--cores", str(cores), "--config", f"store={workdir / 'artifacts'}"]
    if study:
        command[-2:-2] = ["--configfile", str(study)]
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, env={**os.environ, **env})
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"the study failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return seconds


def stage_table(store: Path) -> dict[str, dict[str, float]]:
    stages: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for manifest_path in sorted(store.glob("*/*/manifest.json")):
        manifest = json.loads(manifest_path.read_text())
        row = stages[manifest["stage"]]
        engine = float(manifest.get("engine_start_s") or 0.0)
        row["jobs"] += 1
        row["engine_starts"] += 1 if "engine_start_s" in manifest else 0
        row["engine_start_s"] += engine
        row["job_startup_s"] += float(manifest.get("job_startup_s") or 0.0)
        row["working_s"] += float(manifest["wall_time_s"]) - engine
    return stages


def report(stages: dict[str, dict[str, float]], wall: float, cores: int, title: str) -> dict[str, float]:
    print(f"\n{title}: wall time {wall:.0f} s on {cores} cores")
    header = f"{'stage':<13}{'jobs':>5}{'engines':>8}{'start s':>9}{'job start s':>12}{'working s':>10}"
    print(header)
    totals: dict[str, float] = defaultdict(float)
    for stage, row in stages.items():
        print(
            f"{stage:<13}{row['jobs']:>5.0f}{row['engine_starts']:>8.0f}{row['engine_start_s']:>9.1f}"
            f"{row['job_startup_s']:>12.1f}{row['working_s']:>10.1f}"
        )
        for field, value in row.items():
            totals[field] += value
    job_seconds = totals["engine_start_s"] + totals["job_startup_s"] + totals["working_s"]
    print(
        f"{'all':<13}{totals['jobs']:>5.0f}{totals['engine_starts']:>8.0f}{totals['engine_start_s']:>9.1f}"
        f"{totals['job_startup_s']:>12.1f}{totals['working_s']:>10.1f}"
    )
    overhead = totals["engine_start_s"] + totals["job_startup_s"]
    print(
        f"engine starts: {100 * totals['engine_start_s'] / job_seconds:.0f}% of job time; engine starts and "
        f"job start-up together: {100 * overhead / job_seconds:.0f}% of job time "
        f"({overhead / cores:.0f} s of the {wall:.0f} s wall time at {cores} jobs at once)"
    )
    return {**totals, "wall": wall, "job_seconds": job_seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--study", type=Path, help="a study file (default: the default study)")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--compare-engine-core", action="store_true")
    parser.add_argument(
        "--keep", type=Path, help="run in this (empty) folder and keep it: results/ and the store for a tour"
    )
    options = parser.parse_args()
    from assay.hardware import cpu_has_native_bf16

    print(f"CPU native bf16: {cpu_has_native_bf16()}; study {options.study or 'config/config.yaml'}")
    runs = [("engine core in the job's process (now)", {})]
    if options.compare_engine_core:
        runs.insert(0, ("engine core in a child process (before)", {"VLLM_ENABLE_V1_MULTIPROCESSING": "1"}))
    totals = []
    for title, env in runs:
        with tempfile.TemporaryDirectory() as scratch:
            workdir = Path(scratch)
            if options.keep and len(runs) == 1:
                workdir = options.keep
                workdir.mkdir(parents=True, exist_ok=True)
                if any(workdir.iterdir()):
                    sys.exit(f"--keep {workdir}: the folder is not empty")
            wall = run_study(options.study, options.cores, workdir, env)
            peak_gb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024**2
            rerun = run_study(options.study, options.cores, workdir, env)
            totals.append(report(stage_table(workdir / "artifacts"), wall, options.cores, title))
            print(f"peak RSS of one process {peak_gb:.1f} GB; a no-op rerun {rerun:.1f} s")
    if len(totals) == 2:
        before, after = totals
        print(
            f"\nnow / before: wall time {after['wall'] / before['wall']:.2f}x, seconds starting engines "
            f"{after['engine_start_s'] / max(before['engine_start_s'], 1e-9):.2f}x, job time "
            f"{after['job_seconds'] / before['job_seconds']:.2f}x"
        )


if __name__ == "__main__":
    main()
