"""Rule run_selection: hands the job to assay.compound.jobs.run_selection."""

from assay.compound.jobs import run_selection
from assay.jobs import run

if __name__ == "__main__":
    run(run_selection, snakemake)  # noqa: F821 - injected by Snakemake
