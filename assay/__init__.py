"""Assay: a Snakemake workflow for studying LLM data and systems end to end.

The package holds all logic; the workflow (``Snakefile``, ``rules/``) only wires stages
together. Import direction is one way: stages use ``engine``, ``tasks`` and
``artifacts``; nothing below imports a stage, and nothing here imports Snakemake.
"""

__version__ = "0.1.0"
