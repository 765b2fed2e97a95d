"""Rule score_synthetic: diversity, indistinguishability and validity of one set."""

import json

import pandas as pd

from assay.jobs import engine_job, logged
from assay.synthetic.metrics import (
    distinct_n,
    embed,
    indistinguishability,
    ir_trials,
    item_texts,
    judge_ir,
    mean_pairwise_cosine,
    validity,
    vendi_score,
)


def main(sm) -> None:
    with logged(sm.log[0]):
        items, train = pd.read_parquet(sm.input.synthetic_items), pd.read_parquet(sm.input.train)
        with engine_job(sm.params.artifact, sm.output.manifest, sm.input.judge, sm.params.engine) as job:
            ref, staging, engine = job
            spec = ref.spec
            texts = item_texts(items)
            embeddings = embed(texts) if len(texts) else None
            trials = ir_trials(items, train, spec["trials"], spec["seed"])
            judged = judge_ir(engine, trials, spec["judge_kind"], spec["max_tokens"])
            share_valid, how = validity(items, spec["answer_format"])
            scores = {
                "items": len(items),
                "cosine_similarity": mean_pairwise_cosine(embeddings) if embeddings is not None else None,
                "distinct_2": distinct_n(texts, 2),
                "vendi": vendi_score(embeddings) if embeddings is not None else None,
                **indistinguishability(judged),
                "validity": share_valid,
                "validity_check": how,
            }
            (staging.dir / "scores.json").write_text(json.dumps(scores, indent=2) + "\n")
            judged.to_parquet(staging.dir / "ir_trials.parquet", index=False)
            staging.record(**{k: v for k, v in scores.items() if k != "validity_check"})


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 - injected by Snakemake
