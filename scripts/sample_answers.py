"""Rule sample_answers: K_max samples per test query from one generator."""

import pandas as pd

from assay.compound.sampling import SampleSpec, sample_answers
from assay.jobs import engine_job, logged


def main(sm) -> None:
    with logged(sm.log[0]):
        train, queries = pd.read_parquet(sm.input.train), pd.read_parquet(sm.input.queries)
        with engine_job(sm.params.artifact, sm.output.manifest, sm.input.model, sm.params.engine) as job:
            ref, staging, engine = job
            spec = SampleSpec(**{k: v for k, v in ref.spec.items() if k != "engine"})
            samples = sample_answers(engine, train, queries, spec)
            samples.to_parquet(staging.dir / "samples.parquet", index=False)
            staging.record(
                samples=len(samples),
                queries=int(samples["query_id"].nunique()),
                output_tokens=int(samples["output_tokens"].sum()),
                no_answer=int(samples["answer"].isna().sum()),
            )


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 - injected by Snakemake
