"""Rule judge_samples: a filter / verifier verdict for every sample."""

import pandas as pd

from assay.compound.sampling import judge_samples
from assay.jobs import engine_job, logged


def main(sm) -> None:
    with logged(sm.log[0]):
        samples, test = pd.read_parquet(sm.input.samples), pd.read_parquet(sm.input.test)
        with engine_job(sm.params.artifact, sm.output.manifest, sm.input.judge, sm.params.engine) as job:
            ref, staging, engine = job
            verdicts = judge_samples(engine, samples, test, ref.spec["judge_kind"], ref.spec["max_tokens"])
            verdicts.to_parquet(staging.dir / "verdicts.parquet", index=False)
            staging.record(verdicts=len(verdicts), accepted=int(verdicts["accepted"].sum()))


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 - injected by Snakemake
