"""Artifact keys are a promise to users: a store made by an earlier version of Assay is
reused in full. This test pins every key of the default study and of each example study;
a key may change only with its stage's version bump (``STAGE_VERSIONS``), after which the
pinned file is re-recorded with ``python tests/unit/test_keys.py``.

The keys were recorded with the planner told that the CPU has native bf16 (``auto`` dtypes
then resolve as the studies' explicit bf16 did before ``auto`` existed).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

PINNED = Path(__file__).with_name("artifact_keys.json")
REPO = Path(__file__).resolve().parents[2]


def current_keys() -> dict:
    from assay.config import load_study
    from assay.plan import STAGE_VERSIONS, build_plan

    studies: dict[str, dict[str, str]] = {}
    for study in [None, *sorted((REPO / "config" / "studies").glob("*.yaml"))]:
        plan = build_plan(load_study([study] if study else []))
        name = study.name if study else "config.yaml"
        studies[name] = {f"{a.stage}/{a.name}": a.key for a in plan.all()}
    return {"stage_versions": dict(STAGE_VERSIONS), "studies": studies}


def test_artifact_keys_do_not_move(monkeypatch):
    monkeypatch.setenv("ASSAY_CPU_BF16", "1")
    pinned, now = json.loads(PINNED.read_text()), current_keys()
    bumped = {s for s, v in now["stage_versions"].items() if pinned["stage_versions"].get(s) != v}
    assert not bumped, (
        f"stage versions changed for {sorted(bumped)}: re-record the pinned keys with "
        "`python tests/unit/test_keys.py` in the same commit as the bump"
    )
    assert set(now["studies"]) == set(pinned["studies"]), "a study was added or removed: re-record"
    moved = [
        f"{study}: {node} {pinned['studies'][study].get(node)} -> {key}"
        for study, nodes in now["studies"].items()
        for node, key in nodes.items()
        if pinned["studies"][study].get(node) != key
    ]
    gone = [
        f"{study}: {node}"
        for study, nodes in pinned["studies"].items()
        for node in nodes
        if node not in now["studies"][study]
    ]
    assert not moved and not gone, (
        "artifact keys moved without a stage version bump (a store made before would be "
        "recomputed); a key changes only with its stage's version bump in STAGE_VERSIONS:\n"
        + "\n".join(moved + [f"missing {g}" for g in gone])
    )


if __name__ == "__main__":
    os.environ["ASSAY_CPU_BF16"] = "1"
    sys.path.insert(0, str(REPO))
    PINNED.write_text(json.dumps(current_keys(), indent=1, sort_keys=True) + "\n")
    print(f"recorded {PINNED}")
