rule index_study:
    """results/{study}/: which artifact holds each stage's output, and the key tables."""
    input:
        manifests=get_stage_manifests(),
    output:
        index=f"{RESULTS}/index.json",
        accuracy=f"{RESULTS}/accuracy_by_difficulty.csv",
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
