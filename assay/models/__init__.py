"""Stage ``models``: each configured model as a local safetensors checkpoint.

``checkpoints`` holds the logic (shipped GGUF, local folder, hub id), ``spec`` the keyed
settings, ``planning`` the nodes, ``jobs`` the rule ``materialize_models``.
"""

from assay.models.checkpoints import (
    CHECKPOINT_DIR,
    DTYPES,
    SHIPPED_MODELS,
    ShippedModel,
    checkpoint_dir,
    materialize,
    shipped_package_dir,
    source_kind,
)

__all__ = [
    "CHECKPOINT_DIR",
    "DTYPES",
    "SHIPPED_MODELS",
    "ShippedModel",
    "checkpoint_dir",
    "materialize",
    "shipped_package_dir",
    "source_kind",
]
