import os

from snakemake.utils import min_version

min_version("9.0")


# The default study, found beside this Snakefile whatever the working directory
# (--directory); a study file given with --configfile is merged over it.
configfile: os.path.join(workflow.basedir, "config", "config.yaml")


report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/models.smk"
include: "rules/tasks.smk"
include: "rules/evaluate.smk"
include: "rules/synthetic.smk"
include: "rules/finetune.smk"
include: "rules/compound.smk"
include: "rules/preference.smk"
include: "rules/report.smk"


rule all:
    default_target: True
    input:
        get_final_outputs(),
