# The paper's tables: one generic rule builds any registered table (weakdriven.tables) from exactly the inputs it
# declares, so a table needs only its own runs; each table has its own diff target, and `diff` collects them all.


rule table:
    input:
        unpack(table_inputs),
    output:
        table=paths.table(NAME, "{table}"),
        cells=paths.table_cells(NAME, "{table}"),
    log:
        paths.log(NAME, "tables/{table}"),
    wildcard_constraints:
        table=one_of(TABLE_NAMES) or "no-table",
    conda:
        CONDA_ENVS["tables"]
    container:
        CONTAINERS["tables"]
    params:
        settings=lambda wildcards: stages.TableStage.build(EXP, TABLES[wildcards.table]).to_json(),
        inputs=table_args,
    shell:
        "weakdriven table --settings {params.settings:q} {params.inputs} --out {output.table}" " > {log} 2>&1"


rule table_diff:
    input:
        table=paths.table(NAME, "{table}"),
        cells=paths.table_cells(NAME, "{table}"),
    output:
        paths.table_diff(NAME, "{table}"),
    log:
        paths.log(NAME, "tables/{table}.diff"),
    wildcard_constraints:
        table=one_of(TABLE_NAMES) or "no-table",
    conda:
        CONDA_ENVS["tables"]
    container:
        CONTAINERS["tables"]
    params:
        settings=stages.DiffStage.build(EXP).to_json(),
    shell:
        "weakdriven table-diff --settings {params.settings:q} --table {input.table} --out {output} > {log} 2>&1"


rule diff:
    input:
        tables=[paths.table(NAME, t) for t in TABLE_NAMES],
        cells=[paths.table_cells(NAME, t) for t in TABLE_NAMES],
    output:
        diff=paths.diff(NAME, "csv"),
        gains=f"{ROOT}/tables/gains.csv",
        models=f"{ROOT}/tables/models.csv",
        report=paths.diff(NAME, "md"),
        consistency=f"{ROOT}/tables/paper_consistency.csv",
    log:
        paths.log(NAME, "tables/diff"),
    conda:
        CONDA_ENVS["tables"]
    container:
        CONTAINERS["tables"]
    params:
        settings=stages.DiffStage.build(EXP).to_json(),
        out_dir=output_parent("diff"),
    shell:
        "weakdriven diff --settings {params.settings:q} --tables {input.tables} --out-dir {params.out_dir}"
        " > {log} 2>&1"


rule entropy_gap:
    input:
        unpack(get_gap_entropies),
    output:
        paths.diagnostics(NAME, "{backbone}", "{domain}", "{seed}", "entropy_gap/{weak}.json"),
    log:
        paths.log(NAME, "diagnostics/{backbone}/{domain}/seed{seed}/entropy_gap_{weak}"),
    wildcard_constraints:
        weak=r"base|ck\d+",
    conda:
        CONDA_ENVS["tables"]
    container:
        CONTAINERS["tables"]
    shell:
        "weakdriven entropy-gap --weak {input.weak} --strong {input.strong} --backbone {wildcards.backbone}"
        " --seed {wildcards.seed} --weak-label {wildcards.weak} --out {output} > {log} 2>&1"


rule logit_stats:
    input:
        weak=paths.base_model(NAME, "{backbone}"),
        strong_pre=paths.m1(NAME, "{backbone}", "{domain}", "{seed}"),
        strong_post=paths.final_model(NAME, "{backbone}", "{domain}", "{seed}", DIAGNOSTICS_RUNS[1]),
        wmss=paths.final_model(NAME, "{backbone}", "{domain}", "{seed}", DIAGNOSTICS_RUNS[0]),
        sft=paths.final_model(NAME, "{backbone}", "{domain}", "{seed}", "sft"),
        data=paths.train_data(NAME, "{domain}"),
    output:
        table6=paths.diagnostics(NAME, "{backbone}", "{domain}", "{seed}", "table6.csv"),
        table7=paths.diagnostics(NAME, "{backbone}", "{domain}", "{seed}", "table7.csv"),
        stats=paths.diagnostics(NAME, "{backbone}", "{domain}", "{seed}", "logit_stats.json"),
        examples=paths.diagnostics(NAME, "{backbone}", "{domain}", "{seed}", "logit_examples.csv"),
    log:
        paths.log(NAME, "diagnostics/{backbone}/{domain}/seed{seed}/logit_stats"),
    benchmark:
        paths.timing(NAME, "{backbone}/{domain}/seed{seed}/logit_stats")
    conda:
        CONDA_ENVS["train"]
    container:
        CONTAINERS["train"]
    resources:
        gpu=job_gpus(EXP, "logit_stats"),
        mem_mb=job_mem_mb("logit_stats"),
        runtime=job_runtime("logit_stats"),
    params:
        settings=settings(stages.DiagnosticsStage.build, "backbone", "domain"),
        out_dir=output_parent("stats"),
    shell:
        "weakdriven logit-stats --settings {params.settings:q} --weak {input.weak} --strong-pre {input.strong_pre}"
        " --strong-post {input.strong_post} --wmss {input.wmss} --sft {input.sft} --data {input.data}"
        " --out-dir {params.out_dir}"
        " > {log} 2>&1"
