# The paper's tables from the score files, and the diff against the reported numbers.


rule tables:
    input:
        scores=get_score_files(),
    output:
        tables=[paths.table(NAME, t) for t in EXP.tables],
        diff=paths.diff(NAME, "csv"),
        report=paths.diff(NAME, "md"),
        consistency=f"{ROOT}/tables/paper_consistency.csv",
    params:
        settings=tables_settings(),
        out_dir=output_parent("diff"),
    log:
        paths.log(NAME, "tables/tables"),
    conda:
        "../../envs/tables.yaml"
    container:
        CONTAINERS["tables"]
    shell:
        "weakdriven tables --settings {params.settings:q} --scores {input.scores} --out-dir {params.out_dir}"
        " > {log} 2>&1"
