"""What every job gets from its rule: named inputs, outputs and params as plain values, the
artifact's spec and unkeyed settings; what every manifest records of the job's process."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from snakemake.iocontainers import Namedlist

from assay.artifacts import read_manifest
from assay.jobs import Job, process_age_s, run


def inputs() -> Namedlist:
    """Named inputs as Snakemake builds them: a list-valued input spans several items."""
    named = Namedlist()
    named.append("p.parquet")
    named._set_name("pairs", 0)
    named.extend(["m1.json", "m2.json"])
    named._set_name("policy_manifests", 1, 3)
    return named


def fake_snakemake(tmp_path: Path) -> SimpleNamespace:
    manifest = tmp_path / "store" / "ches" / ("a" * 16) / "manifest.json"
    return SimpleNamespace(
        input=inputs(),
        output=Namedlist(
            fromdict={"manifest": str(manifest), "scores": str(manifest.with_name("ches.parquet"))}
        ),
        params=Namedlist(
            fromdict={
                "artifact": {
                    "stage": "ches",
                    "key": "a" * 16,
                    "spec": {"batch_size": 4},
                    "upstream": {"pairs": "b" * 16},
                    "settings": {"engine": {"max_model_len": 512}},
                },
                "name": "smollm2",
            }
        ),
        log=[str(tmp_path / "logs" / "job.log")],
        resources=SimpleNamespace(mem_mb=6540, runtime=30),
    )


def test_a_job_gets_declared_inputs_and_its_artifact(tmp_path):
    job = Job.from_snakemake(fake_snakemake(tmp_path))
    assert job.inputs == {"pairs": "p.parquet", "policy_manifests": ["m1.json", "m2.json"]}
    assert job.spec == {"batch_size": 4} and job.params == {"name": "smollm2"}
    assert job.settings == {"engine": {"max_model_len": 512}}
    assert job.ref.path == tmp_path / "store" / "ches" / ("a" * 16)
    assert job.memory_mb == 6540  # the rule's mem_mb: what make_room asks for


def test_run_publishes_with_the_process_start_up_in_the_manifest(tmp_path):
    seen = []

    def job_function(job: Job) -> None:
        seen.append(job.params["name"])
        with job.publish() as staging:
            (staging.dir / "ches.parquet").write_text("x")

    run(job_function, fake_snakemake(tmp_path))
    manifest = read_manifest(tmp_path / "store" / "ches" / ("a" * 16))
    assert seen == ["smollm2"] and manifest["spec"] == {"batch_size": 4}
    assert 0 <= manifest["job_startup_s"] <= process_age_s() + 0.01  # recorded rounded to 0.01 s


THREADS_PROBE = """
import json, os, sys
from assay.jobs import use_threads
if sys.argv[1] == "before":
    import torch
use_threads(1)
import torch
import subprocess
child = subprocess.run([sys.executable, "-c", "import os; print(os.environ['OMP_NUM_THREADS'])"],
                       capture_output=True, text=True).stdout.strip()
print(json.dumps({"torch": torch.get_num_threads(), "child": child,
                  "mkl": os.environ["MKL_NUM_THREADS"], "openblas": os.environ["OPENBLAS_NUM_THREADS"]}))
"""


def test_a_job_computes_on_the_threads_snakemake_gave_it():
    """Torch would start a thread per core in every job side by side: a 1-thread job uses
    one, whether the script imported torch before or after, and so do the processes it
    starts (engine servers)."""
    import json
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    for when in ("before", "after"):
        probe = subprocess.run(
            [sys.executable, "-c", THREADS_PROBE, when], capture_output=True, text=True, env=env, check=True
        )
        assert json.loads(probe.stdout.splitlines()[-1]) == {
            "torch": 1,
            "child": "1",
            "mkl": "1",
            "openblas": "1",
        }
    if (os.cpu_count() or 1) > 1:  # what a job got before: a thread per core
        untouched = subprocess.run(
            [sys.executable, "-c", "import torch; print(torch.get_num_threads())"],
            capture_output=True,
            text=True,
            env=env,
        )
        assert int(untouched.stdout) > 1
