"""What every rule's script does around its one call into the package: send all output,
including that of engine worker processes, to the rule's log file, and turn an
:class:`~assay.errors.AssayError` into a one-line message on the console and a non-zero exit.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from assay.artifacts import AlreadyPublished
from assay.errors import AssayError


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


@contextmanager
def engine_job(
    params_artifact: dict, manifest_path: str | Path, model_manifest: str | Path, engine_params: dict
):
    """Publish one artifact computed with one engine on one model: yields (ref, staging,
    engine); the engine's name goes into the manifest."""
    from assay.artifacts import publish
    from assay.engine import EngineSpec, load_engine
    from assay.gpus import gpu_lease
    from assay.models import checkpoint_dir

    ref = artifact_ref(params_artifact, manifest_path)
    checkpoint = checkpoint_dir(Path(model_manifest).parent)
    spec = EngineSpec.from_dict(engine_params)
    with (
        publish(ref) as staging,
        gpu_lease(spec.tensor_parallel_size),
        load_engine(checkpoint, spec) as engine,
    ):
        staging.engine = engine.name
        staging.record(engine_start_s=round(engine.start_seconds, 1))
        yield ref, staging, engine


def upstream_checkpoint(model_manifest: str | Path) -> Path:
    """The checkpoint folder beside an upstream model (or trained policy) manifest."""
    from assay.models import checkpoint_dir

    return checkpoint_dir(Path(model_manifest).parent)
