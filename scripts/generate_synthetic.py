"""Rule generate_synthetic: hands the job to assay.synthetic.jobs.generate_synthetic."""

from assay.jobs import run
from assay.synthetic.jobs import generate_synthetic

if __name__ == "__main__":
    run(generate_synthetic, snakemake)  # noqa: F821 - injected by Snakemake
