"""The small family of exceptions Assay raises where a fact is known.

Each message names the config field, the data row or the model at fault, so that a
person reading a failed job's log knows what to change.
"""


class AssayError(Exception):
    """Base class: anything Assay reports on purpose rather than by crashing."""


class ConfigError(AssayError):
    """A study's configuration is invalid; the message names the field."""


class DataError(AssayError):
    """A data file or table is malformed; the message names the file, column or row."""


class ModelError(AssayError):
    """A model cannot be located or materialised; the message names the model."""


class EngineError(AssayError):
    """An inference engine cannot be started or used."""
