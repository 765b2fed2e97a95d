rule draw_samples:
    """K_max samples per query (test split; train split for preference pairs), batched."""
    input:
        model=get_model_checkpoint("samples"),
        train=get_task_split("samples", "train"),
        queries=get_sample_queries,
    output:
        manifest=stored("samples", "manifest.json"),
        samples=stored("samples", "samples.parquet"),
    log:
        log_path("samples"),
    conda:
        CONDA_ENV
    threads: 2
    resources:
        mem_mb=get_resources("samples", "mem_mb"),
        runtime=get_resources("samples", "runtime"),
        gpu=get_resources("samples", "gpu"),
    params:
        artifact=get_artifact("samples"),
    script:
        "../scripts/draw_samples.py"


rule give_verdicts:
    """A filter / verifier verdict ([[correct]] or [[wrong]]) for every sample."""
    input:
        samples=get_upstream("verdicts", "samples", "samples.parquet"),
        judge=get_upstream("verdicts", "judge"),
        test=get_task_split("verdicts", "test"),
    output:
        manifest=stored("verdicts", "manifest.json"),
        verdicts=stored("verdicts", "verdicts.parquet"),
    log:
        log_path("verdicts"),
    conda:
        CONDA_ENV
    threads: 2
    resources:
        mem_mb=get_resources("verdicts", "mem_mb"),
        runtime=get_resources("verdicts", "runtime"),
        gpu=get_resources("verdicts", "gpu"),
    params:
        artifact=get_artifact("verdicts"),
    script:
        "../scripts/give_verdicts.py"


rule fit_scaling:
    """Vote, Filter-Vote and verifier curves over K; the fitted law, the closed form, K*."""
    input:
        samples=get_upstream("scaling", "samples", "samples.parquet"),
        verdicts=get_upstream("scaling", "verdicts", "verdicts.parquet"),
    output:
        manifest=stored("scaling", "manifest.json"),
        curves=stored("scaling", "vote_curves.parquet"),
        predicted=stored("scaling", "predicted_curves.parquet"),
        difficulty=stored("scaling", "difficulty.parquet"),
        summary=stored("scaling", "scaling.json"),
        figure=report(
            stored("scaling", "vote_curves.svg"),
            caption="../report/vote_curves.rst",
            category="Compound inference",
            subcategory=get_artifact_name("scaling"),
            labels=get_report_labels("scaling", "accuracy against K"),
        ),
        histogram=report(
            stored("scaling", "difficulty.svg"),
            caption="../report/difficulty.rst",
            category="Compound inference",
            subcategory=get_artifact_name("scaling"),
            labels=get_report_labels("scaling", "difficulty histogram"),
        ),
    log:
        log_path("scaling"),
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=get_resources("scaling", "mem_mb"),
        runtime=get_resources("scaling", "runtime"),
        gpu=get_resources("scaling", "gpu"),
    params:
        artifact=get_artifact("scaling"),
        name=get_artifact_name("scaling"),
    script:
        "../scripts/fit_scaling.py"


rule check_assembled:
    """The optimised system (K* per method, the verifier's threshold) as system.json, run on fresh test queries."""
    input:
        summary=get_upstream("assembled", "scaling", "scaling.json"),
        predicted=get_upstream("assembled", "scaling", "predicted_curves.parquet"),
        model=get_model_checkpoint("assembled"),
        judge=get_upstream("assembled", "judge"),
        train=get_task_split("assembled", "train"),
        test=get_task_split("assembled", "test"),
    output:
        manifest=stored("assembled", "manifest.json"),
        system=stored("assembled", "system.json"),
        check=stored("assembled", "check.parquet"),
        summary=stored("assembled", "check.json"),
    log:
        log_path("assembled"),
    conda:
        CONDA_ENV
    threads: 2
    resources:
        mem_mb=get_resources("assembled", "mem_mb"),
        runtime=get_resources("assembled", "runtime"),
        gpu=get_resources("assembled", "gpu"),
    params:
        artifact=get_artifact("assembled"),
    script:
        "../scripts/check_assembled.py"


rule run_selection:
    """A model per module of self-refine: LLMSelector against single models and exhaustive search."""
    input:
        models=get_pool_models,
        train=get_task_split("selection", "train"),
        dev=get_task_split("selection", "dev"),
        test=get_task_split("selection", "test"),
    output:
        manifest=stored("selection", "manifest.json"),
        outputs=stored("selection", "system_outputs.parquet"),
        allocations=stored("selection", "allocations.parquet"),
        summary=stored("selection", "selection.json"),
        figure=report(
            stored("selection", "allocations.svg"),
            caption="../report/allocations.rst",
            category="Compound inference",
            subcategory="model per module",
            labels={"figure": "allocations"},
        ),
    log:
        log_path("selection"),
    conda:
        CONDA_ENV
    threads: 2
    resources:
        mem_mb=get_resources("selection", "mem_mb"),
        runtime=get_resources("selection", "runtime"),
        gpu=get_resources("selection", "gpu"),
    params:
        artifact=get_artifact("selection"),
    script:
        "../scripts/run_selection.py"
