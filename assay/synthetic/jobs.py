"""The synthetic stages' rules: ``generate_synthetic`` and ``score_synthscores``. File
columns are documented in :mod:`assay.synthetic.generate` and
:mod:`assay.synthetic.synthscores`."""

from __future__ import annotations

import json

from assay.jobs import Job
from assay.synthetic.spec import SyntheticSpec, SynthscoresSpec

ITEMS, DRAFTS, REJECTS = "items.parquet", "drafts.parquet", "rejects.parquet"
SCORES, IR_TRIALS = "scores.json", "ir_trials.parquet"


def generate_synthetic(job: Job) -> None:
    """N items by one method in one batched engine call (BARE: the declared base drafts,
    refined)."""
    from assay.synthetic.generate import assemble, base_drafts, choose_examples, instruct_drafts, refine

    spec = SyntheticSpec.from_dict(job.spec)
    train = job.table("train")
    with job.with_engine("model") as (staging, engine):
        examples = choose_examples(train, spec.shots, spec.seed)
        if spec.method == "base_fewshot":
            outputs = base_drafts(engine, examples, spec)
        elif spec.method == "instruct_fewshot":
            outputs = instruct_drafts(engine, examples, spec)
        else:
            outputs = refine(engine, examples, job.table("base_drafts"), spec)
        items, rejects, counts = assemble(outputs, spec, generator=job.params["generator"])
        outputs[["draft_index", "raw", "output_tokens"]].to_parquet(staging.dir / DRAFTS, index=False)
        items.to_parquet(staging.dir / ITEMS, index=False)
        rejects.to_parquet(staging.dir / REJECTS, index=False)
        staging.record(
            counts=counts,
            examples=[e["id"] for e in examples],
            output_tokens=int(outputs["output_tokens"].sum()),
        )


def score_synthscores(job: Job) -> None:
    """Diversity, indistinguishability and validity of one set."""
    from assay.synthetic import synthscores as metrics

    spec = SynthscoresSpec.from_dict(job.spec)
    items, train = job.table("synthetic_items"), job.table("train")
    with job.with_engine("judge") as (staging, engine):
        texts = metrics.item_texts(items)
        embeddings = metrics.embed(texts) if len(texts) else None
        trials = metrics.ir_trials(items, train, spec.trials, spec.seed)
        judged = metrics.judge_ir(engine, trials, spec.judge_kind, spec.max_tokens)
        share_valid, how = metrics.validity(items, spec.answer_format)
        scores = {
            "items": len(items),
            "duplicates": int(items["duplicate"].sum()) if "duplicate" in items else 0,
            "embedder": spec.embedder,
            **metrics.diversity(embeddings, texts, spec.diversity_n, spec.diversity_draws, spec.seed),
            **metrics.indistinguishability(judged),
            "validity": share_valid,
            "validity_check": how,
        }
        (staging.dir / SCORES).write_text(json.dumps(scores, indent=2) + "\n")
        judged.to_parquet(staging.dir / IR_TRIALS, index=False)
        staging.record(**{k: v for k, v in scores.items() if k not in ("validity_check", "embedder")})
