rule prepare_task:
    """The task's train, dev and test splits as Parquet."""
    output:
        manifest=artifact_path("tasks", "manifest.json"),
        train=artifact_path("tasks", "train.parquet"),
        dev=artifact_path("tasks", "dev.parquet"),
        test=artifact_path("tasks", "test.parquet"),
    params:
        artifact=get_artifact("tasks"),
    log:
        log_path("tasks"),
    threads: 1
    resources:
        mem_mb=1000,
    script:
        "../scripts/prepare_task.py"
