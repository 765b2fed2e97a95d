"""Rule evaluate: hands the job to assay.evaluate.jobs.evaluate."""

from assay.evaluate.jobs import evaluate
from assay.jobs import run

if __name__ == "__main__":
    run(evaluate, snakemake)  # noqa: F821 - injected by Snakemake
