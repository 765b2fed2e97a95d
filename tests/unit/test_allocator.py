"""The jobs' allocator (assay/allocator.py): tcmalloc preloaded where the machine has it,
nothing changed where it has not, and each manifest says which one a job ran with."""

from __future__ import annotations

import subprocess
import sys

import pytest

from assay.allocator import find_tcmalloc, job_environment, process_allocator
from assay.errors import ConfigError


@pytest.fixture
def library(tmp_path):
    path = tmp_path / "libtcmalloc_minimal.so.4"
    path.write_bytes(b"")
    return str(path)


def test_the_library_goes_first_in_ld_preload_once(library, tmp_path):
    missing = str(tmp_path / "nowhere.so")
    env = job_environment({}, (missing, library))
    assert env["LD_PRELOAD"] == library and "TCMALLOC_LARGE_ALLOC_REPORT_THRESHOLD" in env
    kept = job_environment({"LD_PRELOAD": "/opt/other.so"}, (library,))
    assert kept["LD_PRELOAD"] == f"{library} /opt/other.so"
    assert job_environment({"LD_PRELOAD": f"{library} /opt/other.so"}, (library,)) == {}


def test_system_turns_it_off_and_a_missing_library_changes_nothing(library, tmp_path):
    assert job_environment({"ASSAY_ALLOCATOR": "system"}, (library,)) == {}
    assert job_environment({}, (str(tmp_path / "nowhere.so"),)) == {}


def test_asking_for_tcmalloc_without_it_or_for_another_allocator_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="apt-get install libtcmalloc-minimal4"):
        job_environment({"ASSAY_ALLOCATOR": "tcmalloc"}, (str(tmp_path / "nowhere.so"),))
    with pytest.raises(ConfigError, match="ASSAY_ALLOCATOR must be auto, tcmalloc or system"):
        job_environment({"ASSAY_ALLOCATOR": "mimalloc"})


def test_process_allocator_reads_the_mapped_libraries(tmp_path):
    maps = tmp_path / "maps"
    maps.write_text("7f00-7f01 r-xp 0 08:01 1 /usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4.5.10\n")
    assert process_allocator(maps) == "tcmalloc"
    maps.write_text("7f00-7f01 r-xp 0 08:01 1 /usr/lib/x86_64-linux-gnu/libc.so.6\n")
    assert process_allocator(maps) == "system"
    assert process_allocator(tmp_path / "absent") == "unknown"


@pytest.mark.skipif(find_tcmalloc() is None, reason="libtcmalloc-minimal4 is not installed")
def test_a_process_started_with_the_job_environment_runs_tcmalloc():
    import os

    code = "from assay.allocator import process_allocator; print(process_allocator())"
    env = {**os.environ, **job_environment({k: v for k, v in os.environ.items() if k != "ASSAY_ALLOCATOR"})}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "tcmalloc" and "tcmalloc: large alloc" not in out.stderr
