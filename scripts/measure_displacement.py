"""Rule measure_displacement: hands the job to assay.preference.jobs.measure_displacement."""

from assay.jobs import run
from assay.preference.jobs import measure_displacement

if __name__ == "__main__":
    run(measure_displacement, snakemake)  # noqa: F821 - injected by Snakemake
