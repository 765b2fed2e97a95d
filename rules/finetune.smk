rule train_finetuned:
    """SFT (LoRA by default) of the student on one synthetic set; a merged checkpoint."""
    input:
        model=get_upstream("finetuned", "model"),
        synthetic_items=get_upstream("finetuned", "items", "items.parquet"),
    output:
        manifest=stored("finetuned", "manifest.json"),
        train_log=stored("finetuned", "train_log.parquet"),
        config=stored("finetuned", "checkpoint/config.json"),
    log:
        log_path("finetuned"),
    conda:
        CONDA_ENV
    threads: 2
    resources:
        mem_mb=get_resources("finetuned", "mem_mb"),
        runtime=get_resources("finetuned", "runtime"),
        gpu=get_resources("finetuned", "gpu"),
    params:
        artifact=get_artifact("finetuned"),
    script:
        "../scripts/train_finetuned.py"
