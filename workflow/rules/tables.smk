# The paper's tables from the score files, and the diff against the reported numbers.


rule tables:
    input:
        scores=get_score_files(),
        diagnostics=get_diagnostics_tables(),
    output:
        tables=[paths.table(NAME, t) for t in EXP.tables],
        diff=paths.diff(NAME, "csv"),
        report=paths.diff(NAME, "md"),
        consistency=f"{ROOT}/tables/paper_consistency.csv",
    log:
        paths.log(NAME, "tables/tables"),
    conda:
        "../../envs/tables.yaml"
    container:
        CONTAINERS["tables"]
    params:
        settings=tables_settings(),
        out_dir=output_parent("diff"),
        diagnostics=get_diff_diagnostics,
    shell:
        "weakdriven tables --settings {params.settings:q} --scores {input.scores}"
        " --diagnostics {params.diagnostics} --out-dir {params.out_dir} > {log} 2>&1"


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
    params:
        settings=diagnostics_settings(),
        out_dir=output_parent("stats"),
    shell:
        "weakdriven logit-stats --settings {params.settings:q} --weak {input.weak} --strong-pre {input.strong_pre}"
        " --strong-post {input.strong_post} --sft {input.sft} --data {input.data} --out-dir {params.out_dir}"
        " > {log} 2>&1"
