"""Which number format the hardware runs fast, decided once, when the study is planned.

bf16 is the fast format on GPUs and on CPUs with native bf16 instructions (AVX-512 BF16
or AMX on x86, the BF16 extension on Arm). On a CPU without them torch emulates bf16:
a 1024x1024 matmul ran at 0.9 GFLOP/s in bf16 against 129 GFLOP/s in fp32 on an AVX2
EPYC, and vLLM generated 4x fewer tokens per second (shared/FACTS.md). So ``auto``
(the default of ``engine.dtype`` and of every training ``precision``) resolves to bf16
on GPU studies and on CPUs that have it, and to fp32 elsewhere. The resolved value is
what goes into specs and keys: an fp32 artifact is another artifact than a bf16 one.

``ASSAY_CPU_BF16=1|0`` sets what the planner assumes of the CPU. The workflow sets it from
the machine it starts on, so that jobs (which plan again, on a cluster node perhaps) resolve
``auto`` as the submitting machine did and find the same keys; a job then compares it with
its own CPU (``check_job_hardware``). Tests set it to stub the CPU.
"""

from __future__ import annotations

import functools
import logging
import os
import platform
from pathlib import Path

log = logging.getLogger(__name__)

#: /proc/cpuinfo flags of native bf16 arithmetic (x86: AVX-512 BF16, AMX; Arm: BF16).
BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16", "bf16"})
#: How much slower bf16 ran than fp32 on a CPU without it (matmul, shared/FACTS.md).
EMULATED_BF16_SLOWDOWN = "about 100x slower matrix products, 4x slower generation"


@functools.cache
def _cpuinfo_flags(path: str = "/proc/cpuinfo") -> frozenset[str]:
    try:
        text = Path(path).read_text()
    except OSError:
        return frozenset()
    flags: set[str] = set()
    for line in text.splitlines():
        name, _, value = line.partition(":")
        if name.strip() in ("flags", "Features"):
            flags.update(value.split())
    return frozenset(flags)


def detect_cpu_bf16() -> bool:
    """True when this machine's CPU computes bf16 natively."""
    if platform.system() == "Darwin" and platform.machine() == "arm64":
        return True  # Apple M2 and later; torch's MPS/Accelerate paths handle bf16
    return bool(BF16_FLAGS & _cpuinfo_flags())


def cpu_has_native_bf16() -> bool:
    """What planning assumes: ``ASSAY_CPU_BF16`` when set, else this CPU's own answer."""
    forced = os.environ.get("ASSAY_CPU_BF16")
    if forced is not None:
        return forced.strip().lower() in ("1", "true", "yes")
    return detect_cpu_bf16()


def bf16_is_fast(gpu_study: bool) -> bool:
    return gpu_study or cpu_has_native_bf16()


def resolve_engine_dtype(dtype: str, gpu_study: bool) -> str:
    """``auto`` -> ``bfloat16`` where bf16 is fast, else ``float32``; others unchanged."""
    if dtype != "auto":
        return dtype
    return "bfloat16" if bf16_is_fast(gpu_study) else "float32"


def resolve_precision(precision: str, gpu_study: bool) -> str:
    """Training precision: ``auto`` -> ``bf16`` where bf16 is fast, else ``fp32``."""
    if precision != "auto":
        return precision
    return "bf16" if bf16_is_fast(gpu_study) else "fp32"


def slow_bf16_warning(field_name: str, value: str) -> str | None:
    """The planning warning for a study that forces bf16 on a CPU without native bf16."""
    if value not in ("bfloat16", "bf16") or cpu_has_native_bf16():
        return None
    return (
        f"{field_name}: {value} on a CPU without native bf16 (no avx512_bf16/amx_bf16 flag) is "
        f"emulated: {EMULATED_BF16_SLOWDOWN} than float32; set it to auto (float32 here) "
        "unless you mean to compare"
    )


def check_job_hardware(uses_bf16: bool, on_gpu: bool) -> None:
    """Log a warning when a bf16 job lands on a CPU without native bf16 (a cluster node
    unlike the machine the study was planned on, for instance)."""
    if uses_bf16 and not on_gpu and not detect_cpu_bf16():
        log.warning(
            "this job computes in bf16 on a CPU without native bf16 (%s than fp32); it was "
            "planned for hardware that has it. Plan the study on the machine that runs it, or "
            "set the dtype to auto",
            EMULATED_BF16_SLOWDOWN,
        )


def hardware_record() -> dict[str, object]:
    """What every manifest says of the machine that made the artifact."""
    return {"machine": platform.machine(), "cpu_native_bf16": detect_cpu_bf16()}
