"""Rule prepare_tasks: hands the job to assay.tasks.jobs.prepare_tasks."""

from assay.jobs import run
from assay.tasks.jobs import prepare_tasks

if __name__ == "__main__":
    run(prepare_tasks, snakemake)  # noqa: F821 - injected by Snakemake
