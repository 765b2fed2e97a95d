"""Rule prepare_task: the task's splits as Parquet."""

from pathlib import Path

from assay import tasks
from assay.artifacts import ArtifactRef, publish
from assay.jobs import logged


def main(sm) -> None:
    with logged(sm.log[0]):
        ref = ArtifactRef.from_params(sm.params.artifact, Path(sm.output.manifest).parent)
        with publish(ref) as staging:
            counts = tasks.write_splits(tasks.prepare(ref.spec), staging.dir)
            staging.record(rows=counts)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 - injected by Snakemake
