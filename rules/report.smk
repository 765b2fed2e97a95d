rule index_study:
    """results/{study}/: which artifact holds each stage's output, the key tables, summary.md."""
    input:
        manifests=get_stage_manifests(),
    output:
        index=f"{RESULTS}/index.json",
        plan=f"{RESULTS}/plan-{policy.plan_digest(PLAN)}.txt",
        accuracy=report(
            f"{RESULTS}/accuracy_by_difficulty.csv",
            caption="../report/accuracy_table.rst",
            category="Tables",
            labels={"table": "accuracy by difficulty"},
        ),
        summary=f"{RESULTS}/summary.md",
        tables=get_study_tables(),
        figures=get_study_figures(),
        figure=report(
            f"{RESULTS}/accuracy_by_difficulty.svg",
            caption="../report/accuracy.rst",
            category="Evaluation",
        ),
    log:
        f"{LOGS}/index_study.log",
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=500,
    params:
        index=PLAN.index(),
    script:
        "../scripts/index_study.py"
