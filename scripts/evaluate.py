"""Rule evaluate: one model answers the test split."""

from pathlib import Path

import pandas as pd

from assay.artifacts import ArtifactRef, publish
from assay.engine import EngineSpec, load_engine
from assay.evaluate import EvalSpec, evaluate, write_evaluation
from assay.jobs import logged
from assay.models import checkpoint_dir


def main(sm) -> None:
    with logged(sm.log[0]):
        ref = ArtifactRef.from_params(sm.params.artifact, Path(sm.output.manifest).parent)
        engine_spec = EngineSpec.from_dict(sm.params.engine)
        checkpoint = checkpoint_dir(Path(sm.input.model).parent)
        train, test = pd.read_parquet(sm.input.train), pd.read_parquet(sm.input.test)
        with publish(ref) as staging, load_engine(checkpoint, engine_spec) as engine:
            staging.engine = engine.name
            summary = write_evaluation(
                evaluate(engine, train, test, EvalSpec.from_dict(ref.spec)), staging.dir
            )
            staging.record(accuracy=summary["accuracy"], n=summary["n"], engine_start_s=engine.start_seconds)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 - injected by Snakemake
