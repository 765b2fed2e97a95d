"""Rule judge_samples: a filter / verifier verdict for every sample."""

from pathlib import Path

import pandas as pd

from assay.artifacts import publish
from assay.compound.sampling import judge_samples
from assay.engine import EngineSpec, load_engine
from assay.jobs import artifact_ref, logged
from assay.models import checkpoint_dir


def main(sm) -> None:
    with logged(sm.log[0]):
        ref = artifact_ref(sm.params.artifact, sm.output.manifest)
        samples, test = pd.read_parquet(sm.input.samples), pd.read_parquet(sm.input.test)
        engine_spec = EngineSpec.from_dict(sm.params.engine)
        with (
            publish(ref) as staging,
            load_engine(checkpoint_dir(Path(sm.input.judge).parent), engine_spec) as engine,
        ):
            staging.engine = engine.name
            verdicts = judge_samples(engine, samples, test, ref.spec["judge_kind"], ref.spec["max_tokens"])
            verdicts.to_parquet(staging.dir / "verdicts.parquet", index=False)
            staging.record(verdicts=len(verdicts), accepted=int(verdicts["accepted"].sum()))


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 - injected by Snakemake
