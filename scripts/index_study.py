"""Rule index_study: hands the job to assay.report.jobs.index_study."""

from assay.jobs import run
from assay.report.jobs import index_study

if __name__ == "__main__":
    run(index_study, snakemake)  # noqa: F821 - injected by Snakemake
