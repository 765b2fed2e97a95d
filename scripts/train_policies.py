"""Rule train_policies: hands the job to assay.preference.jobs.train_policies."""

from assay.jobs import run
from assay.preference.jobs import train_policies

if __name__ == "__main__":
    run(train_policies, snakemake)  # noqa: F821 - injected by Snakemake
