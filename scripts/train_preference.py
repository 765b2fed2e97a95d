"""Rule train_preference: one variant on one CHES subset of the pairs."""

import pandas as pd

from assay.artifacts import publish
from assay.gpus import gpu_lease
from assay.jobs import artifact_ref, logged, upstream_checkpoint
from assay.preference.ches import select_subset
from assay.preference.run import train_preference
from assay.preference.training import PreferenceSpec


def main(sm) -> None:
    with logged(sm.log[0]):
        ref = artifact_ref(sm.params.artifact, sm.output.manifest)
        spec = ref.spec
        pairs, ches = pd.read_parquet(sm.input.pairs), pd.read_parquet(sm.input.ches)
        train_scores = ches[ches["pair_id"].isin(pairs.loc[pairs["split"] == "train", "pair_id"])]
        train_ids = select_subset(train_scores, spec["subset"], spec["share"] or 1.0, spec["seed"])
        preference = PreferenceSpec(
            variant=spec["variant"],
            beta=spec["beta"],
            learning_rate=spec["learning_rate"],
            epochs=spec["epochs"],
            batch_size=spec["batch_size"],
            max_length=spec["max_length"],
            lora=spec["lora"],
            lora_r=spec["lora_r"],
            lora_alpha=spec["lora_alpha"],
            simpo_gamma=spec["simpo_gamma"] or 0.5,
            max_steps=spec["max_steps"],
            precision=spec["precision"],
            seed=spec["seed"],
        )
        with publish(ref) as staging, gpu_lease(1):
            staging.record(
                **train_preference(
                    upstream_checkpoint(sm.input.model),
                    pairs,
                    train_ids,
                    preference,
                    staging.dir,
                    spec["track_every"],
                    spec["save_dtype"],
                )
            )


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 - injected by Snakemake
