"""Rule generate_synthetic: N items by one method in one batched engine call."""

import pandas as pd

from assay.jobs import engine_job, logged
from assay.synthetic.generate import (
    SynthSpec,
    assemble,
    base_drafts,
    choose_examples,
    instruct_drafts,
    refine,
)


def main(sm) -> None:
    with logged(sm.log[0]):
        train = pd.read_parquet(sm.input.train)
        with engine_job(sm.params.artifact, sm.output.manifest, sm.input.model, sm.params.engine) as job:
            ref, staging, engine = job
            spec = SynthSpec(**{k: v for k, v in ref.spec.items() if k != "engine"})
            examples = choose_examples(train, spec.shots, spec.seed)
            if spec.method == "base_fewshot":
                outputs = base_drafts(engine, examples, spec)
            elif spec.method == "instruct_fewshot":
                outputs = instruct_drafts(engine, examples, spec)
            else:
                outputs = refine(engine, examples, pd.read_parquet(sm.input.base_drafts), spec)
            items, rejects, counts = assemble(outputs, spec, generator=sm.params.generator)
            outputs[["draft_index", "raw", "output_tokens"]].to_parquet(
                staging.dir / "drafts.parquet", index=False
            )
            items.to_parquet(staging.dir / "items.parquet", index=False)
            rejects.to_parquet(staging.dir / "rejects.parquet", index=False)
            staging.record(
                counts=counts,
                examples=[e["id"] for e in examples],
                output_tokens=int(outputs["output_tokens"].sum()),
            )


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 - injected by Snakemake
