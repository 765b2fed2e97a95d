"""Rule prepare_task: the task's splits as Parquet."""

from assay import tasks
from assay.artifacts import publish
from assay.jobs import artifact_ref, logged


def main(sm) -> None:
    with logged(sm.log[0]):
        ref = artifact_ref(sm.params.artifact, sm.output.manifest)
        with publish(ref) as staging:
            counts = tasks.write_splits(tasks.prepare(ref.spec), staging.dir)
            staging.record(rows=counts)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 - injected by Snakemake
