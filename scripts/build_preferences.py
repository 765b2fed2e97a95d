"""Rule build_preferences: hands the job to assay.preference.jobs.build_preferences."""

from assay.jobs import run
from assay.preference.jobs import build_preferences

if __name__ == "__main__":
    run(build_preferences, snakemake)  # noqa: F821 - injected by Snakemake
