"""The preference stages' rules: ``build_preferences``, ``compute_ches``,
``train_policies``, ``measure_displacement``. File columns are documented in the stage
modules (preferences, ches, policies, displacement)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from assay.jobs import Job
from assay.preference.spec import ChesSpec, PoliciesSpec, PreferencesSpec

PAIRS = "pairs.parquet"
CHES = "ches.parquet"
STARTING_LOGPROBS = ("logp_chosen", "logp_rejected")  # ches.parquet's columns of the initial policy
PER_PAIR, LOGPROBS = "per_pair.parquet", "logprobs.parquet"
DISPLACEMENT, CURVES_FIGURE, SCATTER_FIGURE = "displacement.parquet", "logprob_curves", "ches_vs_displacement"


def _json(path: str | Path) -> dict:
    return json.loads(Path(path).read_text())


def build_preferences(job: Job) -> None:
    """The pairs table of one policy: from its declared train samples (whose manifest says
    how they were prompted), a file, or a hub dataset."""
    from transformers import AutoTokenizer

    from assay.preference.preferences import build_preferences as build

    spec = PreferencesSpec.from_dict(job.spec)
    tokenizer = AutoTokenizer.from_pretrained(job.checkpoint("model"))
    samples = train = samples_spec = None
    if spec.source.kind == "samples":
        samples, train = job.table("samples"), job.table("train")
        samples_spec = _json(job.inputs["samples_manifest"])["spec"]
    with job.publish() as staging:
        pairs, counts = build(spec.source, tokenizer, spec.heldout, spec.seed, samples, train, samples_spec)
        pairs.to_parquet(staging.dir / PAIRS, index=False)
        staging.record(counts=counts)


def compute_ches(job: Job) -> None:
    """CHES, LN-CHES and edit similarity of every pair under the initial policy, and its
    log-probs of both responses in the training precision (every policies job of the pairs
    starts from them instead of scoring the same model again)."""
    from assay.preference.ches import ches_scores
    from assay.training import load_trainable, on_gpu, resolve_precision

    spec = ChesSpec.from_dict(job.spec)
    pairs = job.table("pairs")
    device = "cuda" if on_gpu() else "cpu"
    with job.training() as staging:
        # imported here, as load_trainable imports transformers: the job's work, not its start
        from assay.preference.tracking import sequence_logprobs

        model, tokenizer = load_trainable(job.checkpoint("model"), "fp32")
        model.to(device).eval()
        scores = ches_scores(model, tokenizer, pairs, spec.batch_size, spec.max_length)
        # the policy as the policies jobs load it: bf16 weights on a GPU under bf16, else
        # the fp32 weights already loaded
        precision = resolve_precision(spec.precision)
        policy = model
        if on_gpu() and precision == "bf16":
            policy = load_trainable(job.checkpoint("model"), precision)[0].to(device)
        before = sequence_logprobs(policy, tokenizer, pairs, max_length=spec.max_length, precision=precision)
        scores = scores.merge(before, on="pair_id", validate="one_to_one")
        scores.to_parquet(staging.dir / CHES, index=False)
        staging.record(pairs=len(scores), mean_ln_ches=float(scores["ln_ches"].mean()))


def train_policies(job: Job) -> None:
    """One variant on one CHES subset of the train pairs, log-probs tracked."""
    from assay.preference.ches import select_subset
    from assay.preference.policies import train_policy

    spec = PoliciesSpec.from_dict(job.spec)
    pairs, ches = job.table("pairs"), job.table("ches")
    train_scores = ches[ches["pair_id"].isin(pairs.loc[pairs["split"] == "train", "pair_id"])]
    train_ids = select_subset(train_scores, spec.subset, spec.share or 1.0, spec.seed)
    before = ches[["pair_id", *STARTING_LOGPROBS]]  # scored in this precision: planning
    with job.training() as staging:
        staging.record(**train_policy(job.checkpoint("model"), pairs, train_ids, spec, staging.dir, before))


def measure_displacement(job: Job) -> None:
    """The variant x subset table and its figures, from every trained policy's declared
    tables and manifest (its spec names the run) and, when evaluated, its accuracy."""
    from assay.preference.displacement import (
        TrainedRun,
        ches_scatter_figure,
        displacement_table,
        logprob_curves_figure,
    )

    def as_list(name: str) -> list[str]:
        value = job.inputs.get(name, [])
        return [value] if isinstance(value, str) else list(value)

    manifests = as_list("policy_manifests")
    accuracies = as_list("accuracy") or [None] * len(manifests)
    runs = []
    for manifest_path, per_pair, logprobs, accuracy in zip(
        manifests, as_list("per_pair"), as_list("logprobs"), accuracies, strict=True
    ):
        manifest = _json(manifest_path)
        runs.append(
            TrainedRun(
                name=manifest["spec"]["label"],
                variant=manifest["spec"]["variant"],
                subset=manifest["spec"]["subset"],
                per_pair=pd.read_parquet(per_pair),
                logprobs=pd.read_parquet(logprobs),
                manifest=manifest,
                accuracy_after=_json(accuracy)["accuracy"] if accuracy else None,
            )
        )
    initial = job.inputs.get("initial_accuracy")
    ches = job.table("ches")
    with job.publish() as staging:
        table = displacement_table(runs, ches, _json(initial)["accuracy"] if initial else None)
        table.to_parquet(staging.dir / DISPLACEMENT, index=False)
        logprob_curves_figure(runs, staging.dir / CURVES_FIGURE)
        ches_scatter_figure(runs, ches, staging.dir / SCATTER_FIGURE)
        staging.record(runs=len(runs))
