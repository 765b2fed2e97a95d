rule evaluate:
    """Each model answers the test split: per-item results and accuracy by difficulty."""
    input:
        model=get_model_checkpoint,
        train=get_task_split("train"),
        test=get_task_split("test"),
    output:
        manifest=artifact_path("evaluate", "manifest.json"),
        results=artifact_path("evaluate", "results.parquet"),
        accuracy=artifact_path("evaluate", "accuracy.json"),
    params:
        artifact=get_artifact("evaluate"),
        engine=config["engine"],
    log:
        log_path("evaluate"),
    threads: 2
    resources:
        mem_mb=6000,
    script:
        "../scripts/evaluate.py"
