"""Rule index_study: results/{study}/ (index.json, the key tables, summary.md)."""

from pathlib import Path

from assay.jobs import logged
from assay.study import write_plan_marker, write_study_index


def main(sm) -> None:
    with logged(sm.log[0]):
        write_study_index(sm.params.index, Path(sm.output.index).parent)
        write_plan_marker(sm.params.index, Path(sm.output.plan))


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 - injected by Snakemake
