rule prepare_tasks:
    """The task's train, dev and test splits as Parquet."""
    output:
        manifest=stored("tasks", "manifest.json"),
        train=stored("tasks", "train.parquet"),
        dev=stored("tasks", "dev.parquet"),
        test=stored("tasks", "test.parquet"),
    log:
        log_path("tasks"),
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=get_resources("tasks", "mem_mb"),
        runtime=get_resources("tasks", "runtime"),
        gpu=get_resources("tasks", "gpu"),
    params:
        artifact=get_artifact("tasks"),
    script:
        "../scripts/prepare_tasks.py"
