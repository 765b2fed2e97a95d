"""Rule give_verdicts: hands the job to assay.compound.jobs.give_verdicts."""

from assay.compound.jobs import give_verdicts
from assay.jobs import run

if __name__ == "__main__":
    run(give_verdicts, snakemake)  # noqa: F821 - injected by Snakemake
