"""Rule draw_samples: hands the job to assay.compound.jobs.draw_samples."""

from assay.compound.jobs import draw_samples
from assay.jobs import run

if __name__ == "__main__":
    run(draw_samples, snakemake)  # noqa: F821 - injected by Snakemake
