rule materialize_models:
    """A plain safetensors checkpoint (tokenizer, chat template, generation config)."""
    output:
        manifest=stored("models", "manifest.json"),
        config=stored("models", "checkpoint/config.json"),
    log:
        log_path("models"),
    conda:
        CONDA_ENV
    # one: a conversion is Python and numpy on one core, so the models convert side by side
    # (benchmarks/models_stage.py)
    threads: 1
    resources:
        mem_mb=get_resources("models", "mem_mb"),
        runtime=get_resources("models", "runtime"),
        gpu=get_resources("models", "gpu"),
    params:
        artifact=get_artifact("models"),
    script:
        "../scripts/materialize_models.py"
