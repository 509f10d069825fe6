# Snakemake's own report (`snakemake --report report.html` after a run): every built table as HTML coloured by its
# verdicts, the plotting tables' figures with the paper's points overlaid, and the measured-vs-reported scatter.


rule report_table:
    input:
        table=paths.table(NAME, "{table}"),
        diff=paths.table_diff(NAME, "{table}"),
    output:
        report(
            paths.report_part(NAME, "{table}.html"),
            caption="../report/table.rst",
            category="Tables",
            labels={"table": "{table}"},
        ),
    log:
        paths.log(NAME, "report/{table}"),
    wildcard_constraints:
        table=one_of(TABLE_NAMES) or "no-table",
    conda:
        CONDA_ENVS["tables"]
    container:
        CONTAINERS["tables"]
    shell:
        "weakdriven report-table --table {input.table} --diff {input.diff} --out {output} > {log} 2>&1"


rule report_plot:
    input:
        paths.table(NAME, "{table}"),
    output:
        report(
            paths.report_part(NAME, "{table}.svg"),
            caption="../report/plot.rst",
            category="Figures",
            labels={"figure": "{table}"},
        ),
    log:
        paths.log(NAME, "report/{table}.plot"),
    wildcard_constraints:
        table=one_of(PLOT_NAMES) or "no-plot",
    conda:
        CONDA_ENVS["tables"]
    container:
        CONTAINERS["tables"]
    shell:
        "weakdriven report-plot --table {input} --out {output} > {log} 2>&1"


rule report_scatter:
    input:
        paths.diff(NAME, "csv"),
    output:
        report(
            paths.report_part(NAME, "scatter.svg"),
            caption="../report/scatter.rst",
            category="Verdicts",
            labels={"figure": "measured vs reported"},
        ),
    log:
        paths.log(NAME, "report/scatter"),
    conda:
        CONDA_ENVS["tables"]
    container:
        CONTAINERS["tables"]
    shell:
        "weakdriven report-scatter --diff {input} --out {output} > {log} 2>&1"
