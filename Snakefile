from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/models.smk"
include: "rules/tasks.smk"
include: "rules/evaluate.smk"
include: "rules/synth.smk"
include: "rules/finetune.smk"
include: "rules/compound.smk"
include: "rules/preference.smk"
include: "rules/report.smk"


rule all:
    default_target: True
    input:
        get_final_outputs(),
