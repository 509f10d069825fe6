# The paper's tables (each its own target: a table needs only its own runs), and the diff against the paper.


rule score_table:
    input:
        scores=get_score_files,
    output:
        paths.table(NAME, "{table}"),
    log:
        paths.log(NAME, "tables/{table}"),
    wildcard_constraints:
        table="|".join(EXP.tables) or "no-score-table",
    conda:
        "../../envs/tables.yaml"
    container:
        CONTAINERS["tables"]
    params:
        settings=score_table_settings,
    shell:
        "weakdriven score-table --settings {params.settings:q} --table {wildcards.table} --scores {input.scores}"
        " --out {output} > {log} 2>&1"


rule diff:
    input:
        tables=[paths.table(NAME, t) for t in EXP.tables] + get_built_tables(),
        diagnostics=get_diagnostics_tables(),
    output:
        diff=paths.diff(NAME, "csv"),
        report=paths.diff(NAME, "md"),
        consistency=f"{ROOT}/tables/paper_consistency.csv",
    log:
        paths.log(NAME, "tables/diff"),
    conda:
        "../../envs/tables.yaml"
    container:
        CONTAINERS["tables"]
    params:
        settings=diff_settings(),
        out_dir=output_parent("diff"),
        tables=get_diff_tables,
    shell:
        "weakdriven diff --settings {params.settings:q} --tables {params.tables} --out-dir {params.out_dir}"
        " > {log} 2>&1"


rule trajectory_table:
    input:
        unpack(get_trajectory_inputs),
    output:
        paths.table(NAME, "{table}"),
    log:
        paths.log(NAME, "tables/{table}"),
    wildcard_constraints:
        table="table3|figure4",
    conda:
        "../../envs/tables.yaml"
    container:
        CONTAINERS["tables"]
    params:
        settings=trajectory_settings,
        scores=lambda wildcards, input: " ".join(input.get("scores", [])),
    shell:
        "weakdriven trajectory-table --settings {params.settings:q} --table {wildcards.table}"
        " --snapshots {input.snapshots} --scores {params.scores} --out {output} > {log} 2>&1"


rule figure3:
    input:
        scores=get_figure3_scores,
    output:
        paths.table(NAME, "figure3"),
    log:
        paths.log(NAME, "tables/figure3"),
    conda:
        "../../envs/tables.yaml"
    container:
        CONTAINERS["tables"]
    params:
        settings=figure3_settings,
    shell:
        "weakdriven trajectory-table --settings {params.settings:q} --table figure3 --scores {input.scores}"
        " --out {output} > {log} 2>&1"


rule figure5:
    input:
        unpack(get_figure5_inputs),
    output:
        paths.table(NAME, "figure5"),
    log:
        paths.log(NAME, "tables/figure5"),
    conda:
        "../../envs/tables.yaml"
    container:
        CONTAINERS["tables"]
    params:
        settings=figure5_settings,
    shell:
        "weakdriven trajectory-table --settings {params.settings:q} --table figure5 --gaps {input.gaps}"
        " --scores {input.scores} --out {output} > {log} 2>&1"


rule entropy_gap:
    input:
        unpack(get_gap_entropies),
    output:
        paths.diagnostics(NAME, "{backbone}", "{seed}", "entropy_gap/{weak}.json"),
    log:
        paths.log(NAME, "diagnostics/{backbone}/seed{seed}/entropy_gap_{weak}"),
    wildcard_constraints:
        weak=r"base|ck\d+",
    conda:
        "../../envs/tables.yaml"
    container:
        CONTAINERS["tables"]
    shell:
        "weakdriven entropy-gap --weak {input.weak} --strong {input.strong} --backbone {wildcards.backbone}"
        " --seed {wildcards.seed} --weak-label {wildcards.weak} --out {output} > {log} 2>&1"


rule logit_stats:
    input:
        weak=paths.base_model(NAME, "{backbone}"),
        strong_pre=paths.m1(NAME, "{backbone}", "{seed}"),
        strong_post=paths.final_model(NAME, "{backbone}", "{seed}", METHODS["wmss"].run_name(EXP.wmss.lam)),
        sft=paths.final_model(NAME, "{backbone}", "{seed}", "sft"),
        data=paths.train_data(NAME),
    output:
        table6=paths.diagnostics(NAME, "{backbone}", "{seed}", "table6.csv"),
        table7=paths.diagnostics(NAME, "{backbone}", "{seed}", "table7.csv"),
        stats=paths.diagnostics(NAME, "{backbone}", "{seed}", "logit_stats.json"),
    log:
        paths.log(NAME, "diagnostics/{backbone}/seed{seed}/logit_stats"),
    benchmark:
        paths.timing(NAME, "{backbone}/seed{seed}/logit_stats")
    conda:
        "../../envs/train.yaml"
    container:
        CONTAINERS["train"]
    resources:
        gpu=job_gpus("logit_stats"),
        mem_mb=job_mem_mb("logit_stats"),
        runtime=job_runtime("logit_stats"),
    params:
        settings=diagnostics_settings,
        out_dir=output_parent("stats"),
    shell:
        "weakdriven logit-stats --settings {params.settings:q} --weak {input.weak} --strong-pre {input.strong_pre}"
        " --strong-post {input.strong_post} --sft {input.sft} --data {input.data} --out-dir {params.out_dir}"
        " > {log} 2>&1"
