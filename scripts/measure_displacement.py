"""Rule measure_displacement: the variant x subset table and its figures."""

import json
from pathlib import Path

import pandas as pd

from assay.artifacts import publish
from assay.jobs import artifact_ref, logged
from assay.preference.displacement import (
    TrainedRun,
    ches_scatter_figure,
    displacement_table,
    logprob_curves_figure,
)


def accuracy(path):
    return json.loads(Path(path).read_text())["accuracy"] if path else None


def main(sm) -> None:
    with logged(sm.log[0]):
        ref = artifact_ref(sm.params.artifact, sm.output.manifest)
        trained = sm.params.trained
        runs = [
            TrainedRun(
                name=run["name"],
                variant=run["variant"],
                subset=run["subset"],
                per_pair=pd.read_parquet(Path(run["path"]) / "per_pair.parquet"),
                logprobs=pd.read_parquet(Path(run["path"]) / "logprobs.parquet"),
                manifest=json.loads((Path(run["path"]) / "manifest.json").read_text()),
                accuracy_after=accuracy(run["accuracy"]),
            )
            for run in trained["runs"]
        ]
        ches = pd.read_parquet(sm.input.ches)
        with publish(ref) as staging:
            table = displacement_table(runs, ches, accuracy(trained["initial_accuracy"]))
            table.to_parquet(staging.dir / "displacement.parquet", index=False)
            logprob_curves_figure(runs, staging.dir / "logprob_curves")
            ches_scatter_figure(runs, ches, staging.dir / "ches_vs_displacement")
            staging.record(runs=len(runs))


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 - injected by Snakemake
