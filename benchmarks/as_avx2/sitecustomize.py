"""The benchmarks' stand-in for a CPU without AVX-512 (``--as-avx2``), for vLLM's own
kernels: torch reports no AVX-512 and no AMX, so vLLM loads its AVX2 build
(``vllm._C_AVX2``: attention, rotary embedding, its oneDNN wrappers) as it does on such a
CPU, instead of the AVX-512 build this CPU would get. torch, oneDNN and MKL are held to AVX2
by environment variables (``benchmarks/study.py``'s ``AS_AVX2``); vLLM picks its build from
``torch.cpu._is_avx512_supported()``, which reads the CPU itself.

On ``PYTHONPATH`` only under ``--as-avx2``. It patches ``torch.cpu`` when that module is
first imported, so a process that never imports torch (Snakemake itself) pays nothing.
"""

import importlib.abc
import importlib.machinery
import sys

#: What torch.cpu answers False to here: the ISA probes vLLM consults.
PROBES = (
    "_is_avx512_supported",
    "_is_avx512_vnni_supported",
    "_is_avx512_bf16_supported",
    "_is_amx_tile_supported",
    "_is_amx_fp16_supported",
)


def _no(*args, **kwargs) -> bool:
    return False


class _HoldToAvx2(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name != "torch.cpu":
            return None
        sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return spec
        load = spec.loader.exec_module

        def exec_module(module) -> None:
            load(module)
            for probe in PROBES:
                if hasattr(module, probe):
                    setattr(module, probe, _no)

        spec.loader.exec_module = exec_module
        return spec


sys.meta_path.insert(0, _HoldToAvx2())
