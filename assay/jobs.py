"""What every rule's script does around its one call into the package: send all output,
including that of engine worker processes, to the rule's log file, and turn an
:class:`~assay.errors.AssayError` into a one-line message on the console and a non-zero exit.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assay.artifacts import AlreadyPublished, ArtifactRef
from assay.errors import AssayError

if TYPE_CHECKING:
    import pandas as pd


@contextmanager
def logged(log_path: str | Path) -> Iterator[None]:
    """Redirect file descriptors 1 and 2 to ``log_path`` (child processes inherit them)."""
    log_path = Path(log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    console = os.dup(2)
    sys.stdout.flush()
    sys.stderr.flush()
    with open(log_path, "a", buffering=1) as log_file:
        saved = os.dup(1), os.dup(2)
        os.dup2(log_file.fileno(), 1)
        os.dup2(log_file.fileno(), 2)
        logging.basicConfig(
            level=logging.INFO,
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
            stream=sys.stderr,
            force=True,
        )
        try:
            yield
        except AlreadyPublished as reused:
            logging.getLogger("assay").info("%s", reused)
        except AssayError as error:
            logging.getLogger("assay").error("%s: %s", type(error).__name__, error)
            os.write(console, f"{type(error).__name__}: {error}\n".encode())
            raise SystemExit(1) from error
        except Exception:
            logging.getLogger("assay").exception("the job failed")
            raise
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(console)


def artifact_ref(params_artifact: dict, manifest_path: str | Path):
    """The ArtifactRef of a rule's output, from ``params.artifact`` and ``output.manifest``."""
    from assay.artifacts import ArtifactRef

    return ArtifactRef.from_params(params_artifact, Path(manifest_path).parent)


def _paths(value: Any) -> str | list[str]:
    return value if isinstance(value, str) else [str(v) for v in value]


@dataclass
class Job:
    """What a stage's job function gets: its artifact's identity (spec as a plain dict,
    settings that stay out of the key), its declared inputs and outputs by name, and the
    rule's other params. Every file a job reads is one of ``inputs``."""

    ref: ArtifactRef | None
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    params: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    memory_mb: int | None = None  # the rule's mem_mb: what the job may need (make_room)

    @classmethod
    def from_snakemake(cls, sm) -> Job:
        params = {name: getattr(sm.params, name) for name in sm.params.keys()}
        artifact = params.pop("artifact", None)
        outputs = {name: _paths(getattr(sm.output, name)) for name in sm.output.keys()}
        return cls(
            ref=artifact_ref(artifact, outputs["manifest"]) if artifact else None,
            inputs={name: _paths(getattr(sm.input, name)) for name in sm.input.keys()},
            outputs=outputs,
            params=params,
            settings=dict(artifact.get("settings") or {}) if artifact else {},
            memory_mb=getattr(sm.resources, "mem_mb", None),
        )

    @property
    def spec(self) -> dict[str, Any]:
        assert self.ref is not None, "this job makes no artifact"
        return self.ref.spec

    def table(self, name: str) -> pd.DataFrame:
        """A declared Parquet input."""
        import pandas as pd

        return pd.read_parquet(self.inputs[name])

    def checkpoint(self, name: str = "model") -> Path:
        """The checkpoint folder beside a declared model (or trained model) manifest."""
        from assay.models import checkpoint_dir

        return checkpoint_dir(Path(self.inputs[name]).parent)

    @contextmanager
    def publish(self):
        """The staging folder of this job's artifact (published when the block ends). The
        manifest records how long the job's process ran before its work began (Python,
        imports, Snakemake's preamble: benchmarks/study.py reads it) and the memory
        allocator it ran with (:mod:`assay.allocator`)."""
        from assay.allocator import process_allocator
        from assay.artifacts import publish

        assert self.ref is not None, "this job makes no artifact"
        startup = process_age_s()
        with publish(self.ref) as staging:
            if startup is not None:
                staging.record(job_startup_s=round(startup, 2))
            staging.record(allocator=process_allocator())
            yield staging

    def engine_spec(self):
        """The full engine settings: the spec's keyed fields over the unkeyed settings."""
        from assay.engine import EngineSpec

        return EngineSpec.from_dict({**self.settings.get("engine", {}), **self.spec["engine"]})

    def open_engine(self, manifest: str | Path, spec=None):
        """The engine on the checkpoint beside a declared model manifest. Base models (the
        models stage) get the machine's shared engine where sharing is on: most engine jobs
        of a study load them. A trained checkpoint is mostly loaded once: a job that holds
        only it is served by its base model's shared engine with the trained weights loaded
        in place (:func:`trained_from`); in a pool of engines (:meth:`open_pool`) it gets
        an engine of its own."""
        from assay.engine import open_engine
        from assay.models import checkpoint_dir

        folder = Path(manifest).parent
        base = trained_from(folder)
        return open_engine(
            checkpoint_dir(folder),
            spec or self.engine_spec(),
            folder.parent.name == "models" or base is not None,
            1,
            self.memory_mb,
            base,
        )

    def open_pool(self, manifests: list[str], spec=None) -> list:
        """The engines on the checkpoints beside several declared model manifests, held at
        once (the selector's pool): base models shared (their servers started together),
        trained checkpoints each an engine of its own (see :meth:`open_engine`)."""
        from assay.engine import open_pool
        from assay.models import checkpoint_dir

        folders = [Path(manifest).parent for manifest in manifests]
        members = [(checkpoint_dir(folder), folder.parent.name == "models") for folder in folders]
        return open_pool(members, spec or self.engine_spec(), self.memory_mb)

    @contextmanager
    def with_engine(self, model: str = "model"):
        """Publish one artifact computed with one engine on the declared ``model``: yields
        (staging, engine); the engine's name and start time go into the manifest."""
        from assay.gpus import gpu_lease

        spec = self.engine_spec()
        with (
            self.publish() as staging,
            gpu_lease(spec.tensor_parallel_size),
            self.open_engine(self.inputs[model], spec) as engine,
        ):
            staging.engine = engine.name
            yield staging, engine
            record_engines(staging, [engine])

    @contextmanager
    def training(self):
        """Publish one artifact computed by training on one device (a GPU lease on GPUs),
        after idle engine servers ended if the memory the job may need is not available."""
        from assay.gpus import gpu_lease
        from assay.memory import make_room

        make_room(self.memory_mb)
        with self.publish() as staging, gpu_lease(1):
            yield staging


def trained_from(folder: Path) -> Path | None:
    """The checkpoint of the base model (a ``models`` artifact of the same store) that the
    trained artifact in ``folder`` was trained from (its manifest's upstream ``model``), or
    None: a base model itself, or one whose base is not in the store."""
    from assay.models import checkpoint_dir

    if folder.parent.name == "models":
        return None
    try:
        key = json.loads((folder / "manifest.json").read_text())["upstream"]["model"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    base = folder.parent.parent / "models" / str(key)
    return checkpoint_dir(base) if (base / "manifest.json").is_file() else None


def record_engines(staging, engines: list) -> None:
    """What the manifest says of a job's engines (read by benchmarks/study.py): seconds
    spent starting them or waiting for a shared one, how many this job started, how many
    it used from a shared server."""
    staging.record(
        engine_start_s=round(sum(e.start_seconds for e in engines), 1),
        engines_started=sum(e.started for e in engines),
        engines_shared=sum(e.shared for e in engines),
    )


def process_age_s() -> float | None:
    """Seconds since this process started (Linux: from /proc), else None."""
    try:
        stat = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return uptime - int(stat[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


#: The thread pools of the job's math libraries (torch's OpenMP, MKL, OpenBLAS), read when
#: each library loads, in this process and in the processes it starts.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def use_threads(threads: int | None) -> None:
    """Compute on as many cores as Snakemake gave the job (the rule's ``threads``, scaled
    down to ``--cores``; under SLURM its CPUs), not on every core of the machine.

    Why: Snakemake runs jobs side by side until their threads fill ``--cores``, and torch
    starts one thread per core in each of them, so on a machine of 16 cores eight 2-thread
    jobs ran 128 threads, spinning against each other. Snakemake sets these variables for
    ``shell:`` rules only; a ``script:`` job sets them here, before it loads the libraries
    (and torch's own pool where a script imported torch already). ``--set-threads
    RULE=N`` changes a rule's share."""
    if not threads or threads < 1:
        return
    for name in THREAD_VARIABLES:
        os.environ[name] = str(threads)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(threads)


def run(job_function: Callable[[Job], None], sm) -> None:
    """What every rule's script does: hand the Snakemake object's inputs, outputs, params
    and log to the stage's job function, logged to the rule's log file, on the job's
    threads (:func:`use_threads`)."""
    use_threads(getattr(sm, "threads", None))
    with logged(sm.log[0]):
        job_function(Job.from_snakemake(sm))
