rule generate_synthetic:
    """N items by one method: base few-shot, instruct few-shot, or BARE (instruct refines drafts)."""
    input:
        unpack(get_synthetic_drafts),
        model=get_upstream("synthetic", "model"),
        train=get_task_split("synthetic", "train"),
    output:
        manifest=stored("synthetic", "manifest.json"),
        synthetic_items=stored("synthetic", "items.parquet"),
        drafts=stored("synthetic", "drafts.parquet"),
        rejects=stored("synthetic", "rejects.parquet"),
    log:
        log_path("synthetic"),
    conda:
        CONDA_ENV
    threads: 2
    resources:
        mem_mb=get_resources("synthetic", "mem_mb"),
        runtime=get_resources("synthetic", "runtime"),
        gpu=get_resources("synthetic", "gpu"),
    params:
        artifact=get_artifact("synthetic"),
        generator=get_synthetic_generator,
    script:
        "../scripts/generate_synthetic.py"


rule score_synthscores:
    """Diversity (embedding cosine, distinct-2, Vendi), indistinguishability, validity."""
    input:
        synthetic_items=get_upstream("synthscores", "items", "items.parquet"),
        judge=get_upstream("synthscores", "judge"),
        train=get_task_split("synthscores", "train"),
    output:
        manifest=stored("synthscores", "manifest.json"),
        scores=stored("synthscores", "scores.json"),
        trials=stored("synthscores", "ir_trials.parquet"),
    log:
        log_path("synthscores"),
    conda:
        CONDA_ENV
    threads: 2
    resources:
        mem_mb=get_resources("synthscores", "mem_mb"),
        runtime=get_resources("synthscores", "runtime"),
        gpu=get_resources("synthscores", "gpu"),
    params:
        artifact=get_artifact("synthscores"),
    script:
        "../scripts/score_synthscores.py"
