"""Rule materialize_models: hands the job to assay.models.jobs.materialize_models."""

from assay.jobs import run
from assay.models.jobs import materialize_models

if __name__ == "__main__":
    run(materialize_models, snakemake)  # noqa: F821 - injected by Snakemake
