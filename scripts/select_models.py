"""Rule select_models: self-refine outputs for every allocation, then LLMSelector."""

import json
from pathlib import Path

import pandas as pd

from assay.artifacts import publish
from assay.compound.analysis import select
from assay.compound.figures import allocation_figure
from assay.compound.systems import PoolModel, debate_outputs, self_refine_tree
from assay.engine import load_engine, pool_engine_spec
from assay.evaluate import few_shot_examples
from assay.jobs import artifact_ref, logged
from assay.models import checkpoint_dir


def main(sm) -> None:
    with logged(sm.log[0]):
        ref = artifact_ref(sm.params.artifact, sm.output.manifest)
        spec = ref.spec
        engine_spec = pool_engine_spec(sm.params.engine, spec["engine"]["backend"], len(spec["models"]))
        keys = {role.split(":", 1)[1]: key for role, key in ref.upstream.items() if role.startswith("model:")}
        folders = {Path(m).parent.name: Path(m).parent for m in sm.input.models}
        pool = {
            name: PoolModel(load_engine(checkpoint_dir(folders[keys[name]]), engine_spec), kind)
            for name, kind in spec["models"].items()
        }
        train = pd.read_parquet(sm.input.train)
        dev = pd.read_parquet(sm.input.dev).head(spec["train_queries"])
        test = pd.read_parquet(sm.input.test).head(spec["test_queries"])
        with publish(ref) as staging:
            staging.engine = engine_spec.backend
            items = pd.concat([dev.assign(split="train"), test.assign(split="test")], ignore_index=True)
            shots = few_shot_examples(train, spec["shots"])
            if spec["system"] == "debate":
                agents = len(spec["modules"])
                outputs, calls = debate_outputs(
                    pool, items, shots, spec["max_tokens"], agents, spec["rounds"], spec["answer_format"]
                )
            else:
                outputs, calls = self_refine_tree(
                    pool, items, shots, spec["max_tokens"], spec["answer_format"]
                )
            outputs = outputs.merge(items[["id", "split"]], left_on="query_id", right_on="id").drop(
                columns="id"
            )
            outputs.to_parquet(staging.dir / "system_outputs.parquet", index=False)
            result = select(
                outputs, dev["id"].tolist(), test["id"].tolist(), len(spec["modules"]), spec["budget"]
            )
            result["allocations"].to_parquet(staging.dir / "allocations.parquet", index=False)
            summary = {**result["summary"], "table_calls": calls}
            (staging.dir / "selection.json").write_text(json.dumps(summary, indent=2) + "\n")
            allocation_figure(result["allocations"], staging.dir / "allocations", tuple(spec["modules"]))
            staging.record(summary=summary)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 - injected by Snakemake
