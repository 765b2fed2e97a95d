"""Loading a study outside Snakemake (for the ``assay`` command): the default config,
deep-merged with study files as Snakemake's ``--configfile`` does, then validated against
``config/schema.yaml`` with its defaults filled in, as ``snakemake.utils.validate`` does.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from assay.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = REPO_ROOT / "config" / "config.yaml"
SCHEMA = REPO_ROOT / "config" / "schema.yaml"


def deep_merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """Snakemake's rule: dicts merge key by key, anything else (lists too) is replaced."""
    merged = copy.deepcopy(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _with_defaults(validator_class):
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, subschema in properties.items():
                if "default" in subschema:
                    instance.setdefault(name, copy.deepcopy(subschema["default"]))
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


def validate(config: dict[str, Any], schema_path: Path = SCHEMA) -> dict[str, Any]:
    """Fill defaults and validate; ConfigError names the field (e.g. ``evaluate.limit``)."""
    schema = yaml.safe_load(schema_path.read_text())
    validator = _with_defaults(jsonschema.Draft202012Validator)(schema)
    config = copy.deepcopy(config)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
    if errors:
        error = errors[0]
        where = ".".join(str(p) for p in error.absolute_path) or "(top level)"
        raise ConfigError(f"{where}: {error.message}")
    return config


def load_study(study_files: Iterable[str | Path] = ()) -> dict[str, Any]:
    config = yaml.safe_load(DEFAULT_CONFIG.read_text())
    for path in study_files:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"study file {path} does not exist")
        config = deep_merge(config, yaml.safe_load(path.read_text()) or {})
    return validate(config)


if __name__ == "__main__":  # `python -m assay.config [STUDY.yaml]` prints the study's name
    import sys

    print(load_study(sys.argv[1:])["study"])
