"""The memory allocator of the workflow's jobs: tcmalloc where the machine has it.

Why: a CPU training step allocates and frees its activations and gradients (hundreds of
MB) over and over. glibc's malloc serves blocks that large with fresh ``mmap``s and hands
them back with ``munmap`` when freed, so every step faults all of that memory in again,
page by page: a 6-step DPO run on SmolLM2 took 3.8 million page faults in 23 s on 2 cores.
tcmalloc keeps freed memory for the next allocation: 0.4 million faults, the same run in
0.85x the time as on AVX2 and 0.83x with AVX-512 (one run each, shared/FACTS.md's
machine); vLLM on the CPU asks for it in its own start-up warnings (generation 1.03x).

How: the workflow (``rules/common.smk``) puts Debian's ``libtcmalloc_minimal`` (which
``make setup`` installs where apt-get can) in ``LD_PRELOAD`` for every job it starts, and
the engine servers those jobs start; a SLURM job inherits it with the rest of the
environment. Nothing changes where the library is absent, and ``ASSAY_ALLOCATOR=system``
turns it off. Outputs do not depend on the allocator: it is not in any key, and each
manifest names the allocator its job ran with (:func:`process_allocator`).
"""

from __future__ import annotations

import os
from pathlib import Path

from assay.errors import ConfigError

#: Where Debian's libtcmalloc-minimal4 (and other distributions' builds) put the library.
TCMALLOC_CANDIDATES = (
    "/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4",
    "/usr/lib/aarch64-linux-gnu/libtcmalloc_minimal.so.4",
    "/usr/lib64/libtcmalloc_minimal.so.4",
    "/usr/lib/libtcmalloc_minimal.so.4",
)
#: tcmalloc reports every allocation above 1 GiB on stderr by default; model loads make
#: several, and the rule logs need none of those lines.
QUIET = {"TCMALLOC_LARGE_ALLOC_REPORT_THRESHOLD": str(1 << 40)}


def find_tcmalloc(candidates: tuple[str, ...] = TCMALLOC_CANDIDATES) -> str | None:
    return next((path for path in candidates if Path(path).is_file()), None)


def job_environment(
    environ: dict[str, str] | None = None, candidates: tuple[str, ...] = TCMALLOC_CANDIDATES
) -> dict[str, str]:
    """The variables to set for the jobs (an empty dict: nothing to change). ``LD_PRELOAD``
    keeps what was in it; the allocator is not preloaded twice."""
    environ = dict(os.environ if environ is None else environ)
    choice = environ.get("ASSAY_ALLOCATOR", "auto").strip().lower()
    if choice not in ("auto", "tcmalloc", "system"):
        raise ConfigError(f"ASSAY_ALLOCATOR must be auto, tcmalloc or system, not {choice!r}")
    if choice == "system":
        return {}
    library = find_tcmalloc(candidates)
    if library is None:
        if choice == "tcmalloc":
            raise ConfigError(
                "ASSAY_ALLOCATOR=tcmalloc but no libtcmalloc_minimal.so.4 is installed "
                "(Debian: apt-get install libtcmalloc-minimal4)"
            )
        return {}
    preloaded = environ.get("LD_PRELOAD", "").split()
    if library in preloaded:
        return {}
    return {"LD_PRELOAD": " ".join([library, *preloaded]), **QUIET}


def process_allocator(maps: Path = Path("/proc/self/maps")) -> str:
    """The allocator this process runs with: ``tcmalloc``, ``jemalloc`` or ``system``."""
    try:
        text = maps.read_text()
    except OSError:
        return "unknown"
    for name in ("tcmalloc", "jemalloc"):
        if f"lib{name}" in text:
            return name
    return "system"
