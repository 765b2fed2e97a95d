"""Rule evaluate: one model answers the test split."""

import pandas as pd

from assay.evaluate import EvalSpec, evaluate, write_evaluation
from assay.jobs import engine_job, logged


def main(sm) -> None:
    with logged(sm.log[0]):
        train, test = pd.read_parquet(sm.input.train), pd.read_parquet(sm.input.test)
        with engine_job(sm.params.artifact, sm.output.manifest, sm.input.model, sm.params.engine) as job:
            ref, staging, engine = job
            results = evaluate(engine, train, test, EvalSpec.from_dict(ref.spec))
            summary = write_evaluation(results, staging.dir)
            staging.record(accuracy=summary["accuracy"], n=summary["n"])


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 - injected by Snakemake
