"""Rule score_synthscores: hands the job to assay.synthetic.jobs.score_synthscores."""

from assay.jobs import run
from assay.synthetic.jobs import score_synthscores

if __name__ == "__main__":
    run(score_synthscores, snakemake)  # noqa: F821 - injected by Snakemake
