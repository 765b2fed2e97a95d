"""Rule compute_ches: hands the job to assay.preference.jobs.compute_ches."""

from assay.jobs import run
from assay.preference.jobs import compute_ches

if __name__ == "__main__":
    run(compute_ches, snakemake)  # noqa: F821 - injected by Snakemake
