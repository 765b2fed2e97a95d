"""Rule train_finetuned: hands the job to assay.finetune.jobs.train_finetuned."""

from assay.finetune.jobs import train_finetuned
from assay.jobs import run

if __name__ == "__main__":
    run(train_finetuned, snakemake)  # noqa: F821 - injected by Snakemake
