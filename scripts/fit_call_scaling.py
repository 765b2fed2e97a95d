"""Rule fit_call_scaling: curves over K, the fitted law and closed form, K*, figures."""

import json

import pandas as pd

from assay.artifacts import publish
from assay.compound.analysis import call_scaling
from assay.compound.figures import difficulty_figure, vote_curves_figure
from assay.jobs import artifact_ref, logged


def main(sm) -> None:
    with logged(sm.log[0]):
        ref = artifact_ref(sm.params.artifact, sm.output.manifest)
        samples, verdicts = pd.read_parquet(sm.input.samples), pd.read_parquet(sm.input.verdicts)
        with publish(ref) as staging:
            out = call_scaling(samples, verdicts, ref.spec["fit_samples"], ref.spec["predict_k_max"])
            out["curves"].to_parquet(staging.dir / "vote_curves.parquet", index=False)
            out["predicted"].to_parquet(staging.dir / "predicted_curves.parquet", index=False)
            out["difficulty"].to_parquet(staging.dir / "difficulty.parquet", index=False)
            (staging.dir / "scaling.json").write_text(json.dumps(out["summary"], indent=2) + "\n")
            pool = out["summary"]["pool_size"]
            title = f"{sm.params.name}: {len(out['difficulty'])} queries, pool of {pool}"
            vote_curves_figure(out["curves"], out["predicted"], title, staging.dir / "vote_curves")
            difficulty_figure(out["difficulty"], sm.params.name, staging.dir / "difficulty")
            staging.record(summary=out["summary"])


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 - injected by Snakemake
