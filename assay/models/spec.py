"""The keyed settings of a ``models`` artifact."""

from __future__ import annotations

from dataclasses import dataclass

from assay.nodes import Spec


@dataclass(frozen=True)
class ModelSpec(Spec):
    source: str  # a shipped model's name, a hub id, or a local folder (resolved, absolute)
    kind: str  # base (few-shot completion prompts) or instruct (chats)
    dtype: str  # dtype of the saved checkpoint
    revision: str | None  # hub revision
