"""Rule ches_scores: CHES / LN-CHES / edit similarity of every pair under the initial policy."""

import pandas as pd

from assay.artifacts import publish
from assay.gpus import gpu_lease
from assay.jobs import artifact_ref, logged, upstream_checkpoint
from assay.preference.ches import ches_scores
from assay.training import load_trainable, on_gpu


def main(sm) -> None:
    with logged(sm.log[0]):
        ref = artifact_ref(sm.params.artifact, sm.output.manifest)
        pairs = pd.read_parquet(sm.input.pairs)
        with publish(ref) as staging, gpu_lease(1):
            model, tokenizer = load_trainable(upstream_checkpoint(sm.input.model), "fp32")
            model.to("cuda" if on_gpu() else "cpu").eval()
            scores = ches_scores(model, tokenizer, pairs, ref.spec["batch_size"])
            scores.to_parquet(staging.dir / "ches.parquet", index=False)
            staging.record(pairs=len(scores), mean_ln_ches=float(scores["ln_ches"].mean()))


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 - injected by Snakemake
