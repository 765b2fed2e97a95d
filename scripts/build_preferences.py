"""Rule build_preferences: the pairs table of one policy."""

import pandas as pd

from assay.artifacts import publish
from assay.jobs import artifact_ref, logged, upstream_checkpoint
from assay.preference.build import SourceSpec, build_preferences


def main(sm) -> None:
    with logged(sm.log[0]):
        from transformers import AutoTokenizer

        ref = artifact_ref(sm.params.artifact, sm.output.manifest)
        tokenizer = AutoTokenizer.from_pretrained(upstream_checkpoint(sm.input.model))
        source = SourceSpec(**{k: v for k, v in ref.spec["source"].items() if k != "sha256"})
        samples = pd.read_parquet(sm.input.samples) if "samples" in sm.input.keys() else None
        train = pd.read_parquet(sm.input.train) if "train" in sm.input.keys() else None
        with publish(ref) as staging:
            pairs, counts = build_preferences(
                source,
                tokenizer,
                ref.spec["heldout"],
                ref.spec["seed"],
                samples,
                train,
                sm.params.samples_spec,
            )
            pairs.to_parquet(staging.dir / "pairs.parquet", index=False)
            staging.record(counts=counts)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 - injected by Snakemake
