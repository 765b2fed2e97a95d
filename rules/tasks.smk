rule prepare_task:
    """The task's train, dev and test splits as Parquet."""
    output:
        manifest=artifact_path("tasks", "manifest.json"),
        train=artifact_path("tasks", "train.parquet"),
        dev=artifact_path("tasks", "dev.parquet"),
        test=artifact_path("tasks", "test.parquet"),
    log:
        log_path("tasks"),
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=1000,
    params:
        artifact=get_artifact("tasks"),
    script:
        "../scripts/prepare_task.py"
