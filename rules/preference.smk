rule build_preferences:
    """Preference pairs: the policy's correct vs incorrect train samples, a file or a hub set."""
    input:
        unpack(get_preference_sources),
        model=get_upstream("preferences", "model"),
    output:
        manifest=stored("preferences", "manifest.json"),
        pairs=stored("preferences", "pairs.parquet"),
    log:
        log_path("preferences"),
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=get_resources("preferences", "mem_mb"),
        runtime=get_resources("preferences", "runtime"),
        gpu=get_resources("preferences", "gpu"),
    params:
        artifact=get_artifact("preferences"),
    script:
        "../scripts/build_preferences.py"


rule compute_ches:
    """CHES and length-normalised CHES of every pair under the initial policy; edit similarity."""
    input:
        model=get_upstream("ches", "model"),
        pairs=get_upstream("ches", "pairs", "pairs.parquet"),
    output:
        manifest=stored("ches", "manifest.json"),
        scores=stored("ches", "ches.parquet"),
    log:
        log_path("ches"),
    conda:
        CONDA_ENV
    threads: 2
    resources:
        mem_mb=get_resources("ches", "mem_mb"),
        runtime=get_resources("ches", "runtime"),
        gpu=get_resources("ches", "gpu"),
    params:
        artifact=get_artifact("ches"),
    script:
        "../scripts/compute_ches.py"


rule train_policies:
    """One variant (DPO, IPO, hinge, SimPO, ...) on one subset (all, lowest CHES, ...)."""
    input:
        model=get_upstream("policies", "model"),
        pairs=get_upstream("policies", "pairs", "pairs.parquet"),
        ches=get_upstream("policies", "ches", "ches.parquet"),
    output:
        manifest=stored("policies", "manifest.json"),
        train_log=stored("policies", "train_log.parquet"),
        logprobs=stored("policies", "logprobs.parquet"),
        per_pair=stored("policies", "per_pair.parquet"),
    log:
        log_path("policies"),
    conda:
        CONDA_ENV
    threads: 2
    resources:
        mem_mb=get_resources("policies", "mem_mb"),
        runtime=get_resources("policies", "runtime"),
        gpu=get_resources("policies", "gpu"),
    params:
        artifact=get_artifact("policies"),
    script:
        "../scripts/train_policies.py"


rule measure_displacement:
    """Variant x subset: log-prob changes, share displaced, CHES Spearman, accuracy after."""
    input:
        unpack(get_displacement_inputs),
    output:
        manifest=stored("displacement", "manifest.json"),
        table=stored("displacement", "displacement.parquet"),
        curves=report(
            stored("displacement", "logprob_curves.svg"),
            caption="../report/logprob_curves.rst",
            category="Preference optimisation",
            labels={"figure": "log-prob curves"},
        ),
        scatter=report(
            stored("displacement", "ches_vs_displacement.svg"),
            caption="../report/ches_vs_displacement.rst",
            category="Preference optimisation",
            labels={"figure": "CHES against displacement"},
        ),
    log:
        log_path("displacement"),
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=get_resources("displacement", "mem_mb"),
        runtime=get_resources("displacement", "runtime"),
        gpu=get_resources("displacement", "gpu"),
    params:
        artifact=get_artifact("displacement"),
    script:
        "../scripts/measure_displacement.py"
