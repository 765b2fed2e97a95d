"""Study benchmark: run a study from an empty store through Snakemake and print, per stage,
the jobs, engine starts, seconds starting engines, seconds of job start-up (the job's
process before its work: Python, imports, Snakemake's preamble), seconds working, and the
share of the study's time spent starting engines and starting jobs (read from the
manifests: ``engine_start_s``, ``engines_started``, ``job_startup_s``, ``wall_time_s``),
the peak RSS of any one process and of all of them together (the workflow, its jobs and
the shared engine servers, sampled every second), and the time of a no-op rerun.

    python benchmarks/study.py [--study config/studies/smoke.yaml] [--cores 2]
        [--compare-sharing | --compare-engine-core] [--keep FOLDER] [--memory-gb 8] [--as-avx2]

``--compare-sharing`` runs the study twice from empty stores, first with an engine per job
(``engine.share: false``, Assay before shared engines), then with shared engines (the
default), and prints the ratios of the two runs. ``--compare-engine-core`` does the same
for vLLM's engine core in a child process against in the job's process. ``--memory-gb``
runs the study in a memory control group of that size (as a container or a small machine
would; needs write access to the cgroup tree, root here): a job that overruns it is killed
and the study fails. ``--as-avx2`` runs it as on a CPU without AVX-512: the planner is told
the CPU has no native bf16 (``auto`` resolves to fp32), torch's kernels, oneDNN and MKL
are held to AVX2, and vLLM loads its AVX2 build of its own kernels (``as_avx2/``). The
caches, clocks and memory are still this machine's: a stand-in, not an AVX2 CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
#: A CPU without AVX-512 (and so without native bf16), as far as environment variables go:
#: the planner told so, torch, oneDNN and MKL held to AVX2, and vLLM's own kernels too
#: (``as_avx2/sitecustomize.py``: torch reports no AVX-512, so vLLM loads its AVX2 build).
AS_AVX2 = {
    "ASSAY_CPU_BF16": "0",
    "ATEN_CPU_CAPABILITY": "avx2",
    "ONEDNN_MAX_CPU_ISA": "AVX2",
    "MKL_ENABLE_INSTRUCTIONS": "AVX2",
    "PYTHONPATH": os.pathsep.join(
        filter(None, [str(REPO / "benchmarks" / "as_avx2"), os.environ.get("PYTHONPATH")])
    ),
}
SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")


def run_as_avx2() -> None:
    """Start the calling script again as on a CPU without AVX-512 (``AS_AVX2``), unless it
    already runs so: the variables must be set before torch and vLLM are imported."""
    if os.environ.get("ATEN_CPU_CAPABILITY") != "avx2":
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, **AS_AVX2})


def process_label(cmdline: list[str]) -> str:
    """What a process of the run is: an engine server, a rule's job (its script is
    ``.snakemake/scripts/tmpXXXX.<script>.py``) or Snakemake itself."""
    line = " ".join(cmdline)
    if "assay.engine.shared" in line:
        return "engine server"
    for part in cmdline:
        if "/.snakemake/scripts/" in part:
            return Path(part).name.split(".", 1)[-1].removesuffix(".py")
    if "snakemake" in line:
        return "snakemake"
    return Path(cmdline[0]).name if cmdline else "?"


class MemorySampler(threading.Thread):
    """Peak RSS, summed over this user's processes that belong to the run: the workflow and
    its jobs (descendants of the snakemake process) and the shared engine servers (which
    leave the process tree on purpose), sampled every second; what made up that peak, and
    the largest single process by what it was."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak_gb, self.done = pid, 0.0, threading.Event()
        self.at_peak: dict[str, float] = {}
        self.largest: tuple[float, str] = (0.0, "")

    def run(self) -> None:
        try:
            import psutil
        except ImportError:
            return
        while not self.done.wait(1.0):
            try:
                processes = psutil.Process(self.pid).children(recursive=True) + [psutil.Process(self.pid)]
            except psutil.NoSuchProcess:
                continue
            processes += [
                p
                for p in psutil.process_iter(["cmdline"])
                if "assay.engine.shared" in " ".join(p.info["cmdline"] or [])
            ]
            total, parts = 0, defaultdict(float)
            for process in {p.pid: p for p in processes}.values():
                try:
                    rss, label = process.memory_info().rss, process_label(process.cmdline())
                except psutil.Error:
                    continue
                total += rss
                parts[label] += rss / 1024**3
                self.largest = max(self.largest, (rss / 1024**3, label))
            if total / 1024**3 > self.peak_gb:
                self.peak_gb, self.at_peak = total / 1024**3, dict(parts)

    def describe(self) -> str:
        ordered = sorted(self.at_peak.items(), key=lambda item: -item[1])
        parts = ", ".join(f"{label} {gb:.1f}" for label, gb in ordered)
        gb, label = self.largest
        return f"at that peak (GB): {parts}; the largest one process: {label} {gb:.1f} GB"


def memory_group(limit_gb: float) -> Path:
    """A new memory control group (v1 or v2) below this process's own, limited to
    ``limit_gb``; processes started in it (see ``run_study``) and their children stay in it."""
    lines = [line.split(":", 2) for line in Path("/proc/self/cgroup").read_text().splitlines()]
    v1 = [path for _, controllers, path in lines if "memory" in controllers.split(",")]
    if v1:
        group, limit_file = Path("/sys/fs/cgroup/memory") / v1[0].lstrip("/"), "memory.limit_in_bytes"
    else:
        v2 = [path for hierarchy, _, path in lines if hierarchy == "0"]
        group, limit_file = Path("/sys/fs/cgroup") / v2[0].lstrip("/"), "memory.max"
    group = group / f"assay-study-{os.getpid()}"
    try:
        group.mkdir(exist_ok=True)
        (group / limit_file).write_text(str(int(limit_gb * 1024**3)))
    except OSError as error:
        sys.exit(f"--memory-gb: cannot make a memory control group at {group}: {error}")
    return group


def run_study(
    study: Path | None,
    cores: int,
    workdir: Path,
    env: dict[str, str],
    extra: list[Path],
    group: Path | None = None,
    snakemake_args: Sequence[str] = (),
) -> tuple[float, MemorySampler]:
    """Seconds of one ``snakemake`` run of the study in ``workdir`` (its store inside it),
    and its memory sampler (the peak RSS of the run's processes together).
    ``snakemake_args``: more of Snakemake's options (``--until RULE``, ``--set-threads``)."""
    command = [SNAKEMAKE, "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir)]
    command += ["--cores", str(cores), *snakemake_args]
    for configfile in ([study] if study else []) + extra:
        command += ["--configfile", str(configfile)]
    command += ["--config", f"store={workdir / 'artifacts'}"]
    started = time.perf_counter()
    with open(workdir / "snakemake.log", "a") as output:
        enter = (lambda: (group / "cgroup.procs").write_text(str(os.getpid()))) if group else None
        process = subprocess.Popen(
            command,
            stdout=output,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, **env},
            preexec_fn=enter,
        )
        memory = MemorySampler(process.pid)
        memory.start()
        process.wait()
        memory.done.set()
    seconds = time.perf_counter() - started
    if process.returncode != 0:
        tail = (workdir / "snakemake.log").read_text()[-3000:]
        sys.exit(f"the study failed (the log: {workdir / 'snakemake.log'}):\n{tail}")
    return seconds, memory


def stage_table(store: Path) -> dict[str, dict[str, float]]:
    stages: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for manifest_path in sorted(store.glob("*/*/manifest.json")):
        manifest = json.loads(manifest_path.read_text())
        row = stages[manifest["stage"]]
        engine = float(manifest.get("engine_start_s") or 0.0)
        row["jobs"] += 1
        row["engine_starts"] += manifest.get("engines_started", 1 if "engine_start_s" in manifest else 0)
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
    at_once = max(1.0, job_seconds / wall)  # jobs running at once, on average
    print(
        f"engine starts: {100 * totals['engine_start_s'] / job_seconds:.0f}% of job time; engine starts and "
        f"job start-up together: {100 * overhead / job_seconds:.0f}% of job time, {overhead / at_once:.0f} s "
        f"= {100 * overhead / at_once / wall:.1f}% of the {wall:.0f} s wall time ({at_once:.1f} jobs at once "
        f"on average)"
    )
    return {**totals, "wall": wall, "job_seconds": job_seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--study", type=Path, help="a study file (default: the default study)")
    parser.add_argument("--cores", type=int, default=2)
    compare = parser.add_mutually_exclusive_group()
    compare.add_argument("--compare-sharing", action="store_true")
    compare.add_argument("--compare-engine-core", action="store_true")
    parser.add_argument(
        "--keep", type=Path, help="run in this (empty) folder and keep it: results/ and the store for a tour"
    )
    parser.add_argument("--memory-gb", type=float, help="run the study in a memory control group this size")
    parser.add_argument(
        "--as-avx2", action="store_true", help="fp32 and AVX2 kernels, as on a CPU without AVX-512"
    )
    options = parser.parse_args()
    group = memory_group(options.memory_gb) if options.memory_gb else None
    from assay.hardware import cpu_has_native_bf16

    print(f"CPU native bf16: {cpu_has_native_bf16()}; study {options.study or 'config/config.yaml'}")
    if options.as_avx2:
        print("as on a CPU without AVX-512: " + " ".join(f"{k}={v}" for k, v in AS_AVX2.items()))
    if group:
        print(f"in a memory control group of {options.memory_gb:g} GB: {group}")
    runs: list[tuple[str, dict[str, str], str]] = [("shared engines (now)", {}, "")]
    if options.compare_engine_core:
        runs = [
            ("engine core in a child process (before)", {"VLLM_ENABLE_V1_MULTIPROCESSING": "1"}, ""),
            ("engine core in the job's process (now)", {}, ""),
        ]
    if options.compare_sharing:
        runs.insert(0, ("an engine per job (before)", {}, "engine:\n  share: false\n"))
    totals = []
    for title, env, override in runs:
        with tempfile.TemporaryDirectory() as scratch:
            workdir = Path(scratch)
            extra = []
            if override:
                extra = [Path(scratch) / "override.yaml"]
                extra[0].write_text(override)
            if options.keep and len(runs) == 1:
                workdir = options.keep
                workdir.mkdir(parents=True, exist_ok=True)
                if any(workdir.iterdir()):
                    sys.exit(f"--keep {workdir}: the folder is not empty")
            env = {
                **env,
                **(AS_AVX2 if options.as_avx2 else {}),
                "ASSAY_ENGINE_DIR": str(Path(scratch) / "engines"),
            }
            wall, memory = run_study(options.study, options.cores, workdir, env, extra, group)
            peak_gb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024**2
            rerun, _ = run_study(options.study, options.cores, workdir, env, extra, group)
            totals.append(report(stage_table(workdir / "artifacts"), wall, options.cores, title))
            print(
                f"peak RSS of one process {peak_gb:.1f} GB, of the run's processes together "
                f"{memory.peak_gb:.1f} GB; a no-op rerun {rerun:.1f} s"
            )
            print(memory.describe())
    for _ in range(30 if group else 0):  # empty once the run's servers have ended too
        try:
            group.rmdir()
            break
        except OSError:
            time.sleep(1)
    if len(totals) == 2:
        before, after = totals
        print(
            f"\nnow / before: wall time {after['wall'] / before['wall']:.2f}x, seconds starting engines "
            f"{after['engine_start_s'] / max(before['engine_start_s'], 1e-9):.2f}x, job time "
            f"{after['job_seconds'] / before['job_seconds']:.2f}x"
        )


if __name__ == "__main__":
    main()
