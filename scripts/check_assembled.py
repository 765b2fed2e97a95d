"""Rule check_assembled: hands the job to assay.compound.jobs.check_assembled."""

from assay.compound.jobs import check_assembled
from assay.jobs import run

if __name__ == "__main__":
    run(check_assembled, snakemake)  # noqa: F821 - injected by Snakemake
