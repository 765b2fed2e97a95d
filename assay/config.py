"""Loading a study outside Snakemake (for the ``assay`` command): the default config,
deep-merged with study files as Snakemake's ``--configfile`` does, then validated against
``config/schema.yaml`` with its defaults filled in, as ``snakemake.utils.validate`` does.
"""

from __future__ import annotations

import copy
import difflib
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
    """Fill defaults and validate; ConfigError is one line that names the field (e.g.
    ``evaluate.limit``) and what is wrong with it."""
    schema = yaml.safe_load(schema_path.read_text())
    validator = _with_defaults(jsonschema.Draft202012Validator)(schema)
    config = copy.deepcopy(config)
    errors = sorted(validator.iter_errors(config), key=lambda e: (list(map(str, e.absolute_path)), e.message))
    if errors:
        raise ConfigError(describe(errors[0], schema))
    return config


def _field(path: Iterable[Any]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else f".{part}" if out else str(part)
    return out


def describe(error: jsonschema.ValidationError, schema: dict[str, Any] | None = None) -> str:
    """One line for one schema error: the field, then what is wrong with it."""
    where = list(error.absolute_path)
    branch, condition = _condition(error, schema or {})
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        known = sorted(error.schema.get("properties", {}))
        unknown = [name for name in error.instance if name not in known]
        if unknown:
            name = unknown[0]
            close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
            hint = f"did you mean {close[0]}?" if close else f"the known fields are {', '.join(known)}"
            return f"{_field([*where, name])}: unknown field; {hint}"
    if branch == "else":
        return f"{_field(where)}: only used when {condition}; remove it (or set that)"
    when = f" when {condition}" if branch == "then" else ""
    if error.validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        return f"{_field([*where, missing])}: required{when}"
    if when and error.instance is None:
        return f"{_field(where)}: must be set{when}"
    return f"{_field(where) or '(top level)'}: {error.message}{when}"


def _condition(error: jsonschema.ValidationError, schema: dict[str, Any]) -> tuple[str, str]:
    """For an error raised in the ``then`` or ``else`` of an ``if`` on sibling fields'
    values (options that only some variants have, expressed in the schema): the branch
    and the condition in words (``kind is file``); else two empty strings."""
    path = list(error.schema_path)
    branches = [i for i, part in enumerate(path) if part in ("then", "else")]
    if not branches:
        return "", ""
    node: Any = schema
    for part in path[: branches[-1]]:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return "", ""
    condition = node.get("if", {}).get("properties", {}) if isinstance(node, dict) else {}
    parts = [f"{name} is {spec['const']}" for name, spec in condition.items() if "const" in spec]
    return (path[branches[-1]], " and ".join(parts)) if parts else ("", "")


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
