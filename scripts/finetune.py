"""Rule finetune: SFT of the student on one synthetic set."""

import pandas as pd

from assay.artifacts import publish
from assay.gpus import gpu_lease
from assay.jobs import artifact_ref, logged, upstream_checkpoint
from assay.synthetic.finetune import FinetuneSpec, finetune


def main(sm) -> None:
    with logged(sm.log[0]):
        ref = artifact_ref(sm.params.artifact, sm.output.manifest)
        spec = FinetuneSpec(**{k: v for k, v in ref.spec.items() if k != "save_dtype"})
        items = pd.read_parquet(sm.input.synthetic_items)
        with publish(ref) as staging, gpu_lease(1):
            staging.record(
                **finetune(
                    upstream_checkpoint(sm.input.model), items, spec, staging.dir, ref.spec["save_dtype"]
                )
            )


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 - injected by Snakemake
