# weakdriven: reproduce "Weak-Driven Learning" (WMSS, arXiv:2602.08222v2) from data to paper tables.
#   snakemake -n                                             dry-run of the paper's full experiment
#   snakemake --profile profiles/local --configfile config/embedded.yaml    the embedded CPU preset, end to end
#   snakemake --profile slurm results/paper/tables/table1.csv              one table on a SLURM cluster
from snakemake.utils import min_version

from weakdriven import jobserver

min_version("9.0")


# A --configfile replaces the paper config instead of being merged into it.
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/eval.smk"
include: "workflow/rules/tables.smk"
include: "workflow/rules/report.smk"


report: "workflow/report/workflow.rst"


# The jobs of a run on this machine start from one warm interpreter (src/weakdriven/jobserver.py: most of a tiny
# job is importing torch); a cluster's jobs, and jobs in conda environments or containers, start their own.
onstart:
    if workflow.local_exec and not workflow.deployment_settings.deployment_method:
        jobserver.start()


onsuccess:
    jobserver.stop()


onerror:
    jobserver.stop()


rule all:
    default_target: True
    input:
        get_table_outputs(),
