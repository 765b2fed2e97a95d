rule evaluate:
    """Each model answers the test split: per-item results and accuracy by difficulty."""
    input:
        model=get_model_checkpoint("evaluate"),
        train=get_task_split("evaluate", "train"),
        test=get_task_split("evaluate", "test"),
    output:
        manifest=stored("evaluate", "manifest.json"),
        results=stored("evaluate", "results.parquet"),
        accuracy=stored("evaluate", "accuracy.json"),
    log:
        log_path("evaluate"),
    conda:
        CONDA_ENV
    threads: 2
    resources:
        mem_mb=get_resources("evaluate", "mem_mb"),
        runtime=get_resources("evaluate", "runtime"),
        gpu=get_resources("evaluate", "gpu"),
    params:
        artifact=get_artifact("evaluate"),
    script:
        "../scripts/evaluate.py"
