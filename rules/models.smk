rule materialize_model:
    """A plain safetensors checkpoint (tokenizer, chat template, generation config)."""
    output:
        manifest=artifact_path("models", "manifest.json"),
        config=artifact_path("models", "checkpoint/config.json"),
    params:
        artifact=get_artifact("models"),
    log:
        log_path("models"),
    threads: 2
    resources:
        mem_mb=4000,
    script:
        "../scripts/materialize_model.py"
