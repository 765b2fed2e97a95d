"""Rule fit_scaling: hands the job to assay.compound.jobs.fit_scaling."""

from assay.compound.jobs import fit_scaling
from assay.jobs import run

if __name__ == "__main__":
    run(fit_scaling, snakemake)  # noqa: F821 - injected by Snakemake
