"""Rule sample_answers: K_max samples per test query from one generator."""

from pathlib import Path

import pandas as pd

from assay.artifacts import publish
from assay.compound.sampling import SampleSpec, sample_answers
from assay.engine import EngineSpec, load_engine
from assay.jobs import artifact_ref, logged
from assay.models import checkpoint_dir


def main(sm) -> None:
    with logged(sm.log[0]):
        ref = artifact_ref(sm.params.artifact, sm.output.manifest)
        spec = SampleSpec(**{k: v for k, v in ref.spec.items() if k != "engine"})
        train, test = pd.read_parquet(sm.input.train), pd.read_parquet(sm.input.test)
        engine_spec = EngineSpec.from_dict(sm.params.engine)
        with (
            publish(ref) as staging,
            load_engine(checkpoint_dir(Path(sm.input.model).parent), engine_spec) as engine,
        ):
            staging.engine = engine.name
            samples = sample_answers(engine, train, test, spec)
            samples.to_parquet(staging.dir / "samples.parquet", index=False)
            staging.record(
                samples=len(samples),
                queries=int(samples["query_id"].nunique()),
                output_tokens=int(samples["output_tokens"].sum()),
                no_answer=int(samples["answer"].isna().sum()),
            )


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 - injected by Snakemake
