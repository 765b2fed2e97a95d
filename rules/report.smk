rule index_study:
    """results/{study}/: which artifact holds each stage's output, the key tables, summary.md."""
    input:
        manifests=get_stage_manifests(),
    output:
        index=f"{RESULTS}/index.json",
        accuracy=f"{RESULTS}/accuracy_by_difficulty.csv",
        summary=f"{RESULTS}/summary.md",
        tables=get_study_tables(),
        figure=report(
            f"{RESULTS}/accuracy_by_difficulty.svg",
            caption="../report/accuracy.rst",
            category="Evaluation",
        ),
    params:
        index=PLAN.index(),
        results=RESULTS,
    log:
        f"{LOGS}/index_study.log",
    threads: 1
    resources:
        mem_mb=500,
    conda:
        CONDA_ENV
    script:
        "../scripts/index_study.py"
