# Training data and benchmark test sets; what they download comes from `prefetch`, a local rule (the submit host
# has internet, compute nodes usually not: jobs read the shared HF cache offline).


if PREFETCH:

    localrules:
        prefetch,

    rule prefetch:
        output:
            paths.prefetched(NAME),
        log:
            paths.log(NAME, "data/prefetch"),
        params:
            pins=json.dumps(PREFETCH, sort_keys=True),  # reruns when a pin changes
        run:
            prefetch_to(EXP, output[0], log[0])  # on the submit host, in Snakemake's own environment


if EXP.train_data.source == "embedded":

    rule make_embedded_data:
        output:
            train=paths.train_data(NAME, "math"),
            summary=paths.data_summary(NAME, "math"),
            corpus=paths.pretrain_corpus(NAME),
            benchmarks=expand(paths.benchmark(NAME, "{b}"), b=SYNTH_BENCHMARKS),
            code_rows=paths.embedded_code_rows(NAME),
            logic_raw=directory(paths.embedded_logic_raw(NAME)),
            teacher_rows=paths.embedded_teacher_data(NAME),
        log:
            paths.log(NAME, "data/make_embedded_data"),
        conda:
            CONDA_ENVS["train"]
        container:
            CONTAINERS["train"]
        params:
            settings=stages.DataStage.build(EXP).to_json(),
            root=results_root,
        shell:
            "weakdriven make-embedded --settings {params.settings:q} --out-root {params.root} > {log} 2>&1"

else:

    rule prepare_train_data:
        input:
            unpack(prefetch_input),
        output:
            train=paths.train_data(NAME, "math"),
            summary=paths.data_summary(NAME, "math"),
        log:
            paths.log(NAME, "data/prepare_train_data"),
        conda:
            CONDA_ENVS["eval"]
        container:
            CONTAINERS["eval"]
        resources:
            mem_mb=64000 if EXP.train_data.source == "hub" else 4000,  # the 1.4M hub rows pass through memory
        params:
            settings=stages.DataStage.build(EXP).to_json(),
        shell:
            "weakdriven prepare-train --settings {params.settings:q} --out {output.train} --summary {output.summary}"
            " > {log} 2>&1"


rule prepare_benchmark:
    input:
        unpack(prefetch_input),
    output:
        paths.benchmark(NAME, "{benchmark}"),
    log:
        paths.log(NAME, "data/prepare_benchmark_{benchmark}"),
    wildcard_constraints:
        benchmark=one_of(PAPER_BENCHMARKS),
    conda:  # the code container: evalplus computes the canonical outputs of HumanEval+/MBPP+ here
        CONDA_ENVS["code"]
    container:
        CONTAINERS["code"]
    params:
        benchmark_dir=config["benchmark_dir"],
        verify="" if config["benchmark_checksums"] else "--no-verify",
    shell:
        "weakdriven prepare-benchmark --benchmark {wildcards.benchmark} --benchmark-dir {params.benchmark_dir}"
        " {params.verify} --out {output} > {log} 2>&1"


# ---- the code training set (App. E.2): candidates, one sandboxed verification job per shard, merge -----------------
if EXP.code_data:
    CODE_SHARDS = EXP.code_data.shards

    rule code_candidates:
        input:
            unpack(code_rows_input),
        output:
            candidates=paths.domain_data(NAME, "code", "candidates.jsonl"),
            summary=paths.domain_data(NAME, "code", "candidates.jsonl.summary.json"),
        log:
            paths.log(NAME, "data/code_candidates"),
        priority: 4  # a domain's training set unblocks its SFT and runs: first among ready jobs
        conda:
            CONDA_ENVS["eval"]
        container:
            CONTAINERS["eval"]
        resources:
            mem_mb=16000 if EXP.train_data.source == "hub" else 2000,  # the 1.4M rows stream; candidates are kept
        params:
            settings=settings(stages.CodeDataStage.build),
        shell:
            "weakdriven code-candidates --settings {params.settings:q} --out {output.candidates} > {log} 2>&1"

    rule code_verify:
        input:
            paths.domain_data(NAME, "code", "candidates.jsonl"),
        output:
            rows=paths.domain_data(NAME, "code", "verified.shard{shard}-of-{shards}.jsonl"),
            summary=paths.domain_data(NAME, "code", "verified.shard{shard}-of-{shards}.jsonl.summary.json"),
        log:
            paths.log(NAME, "data/code_verify_{shard}-of-{shards}"),
        priority: 4  # a domain's training set unblocks its SFT and runs: first among ready jobs
        conda:  # the sandbox of the code benchmarks' judges
            CONDA_ENVS["code"]
        container:
            CONTAINERS["code"]
        threads: EXP.code_data.workers
        resources:
            mem_mb=EXP.code_data.workers * EXP.code_data.memory_mb,
        params:
            settings=settings(stages.CodeDataStage.build),
        shell:
            "weakdriven code-verify --settings {params.settings:q} --candidates {input} --shard {wildcards.shard}"
            " --shards {wildcards.shards} --out {output.rows} > {log} 2>&1"

    rule code_merge:
        input:
            candidates=paths.domain_data(NAME, "code", "candidates.jsonl"),
            shards=[
                paths.domain_data(NAME, "code", f"verified.shard{i}-of-{CODE_SHARDS}.jsonl")
                for i in range(CODE_SHARDS)
            ],
        output:
            train=paths.domain_data(NAME, "code", "train.jsonl"),
            summary=paths.data_summary(NAME, "code"),
        log:
            paths.log(NAME, "data/code_merge"),
        priority: 4  # a domain's training set unblocks its SFT and runs: first among ready jobs
        conda:
            CONDA_ENVS["eval"]
        container:
            CONTAINERS["eval"]
        params:
            settings=settings(stages.CodeDataStage.build),
        shell:
            "weakdriven code-merge --settings {params.settings:q} --candidates {input.candidates}"
            " --shard-files {input.shards} --out {output.train} --summary {output.summary} > {log} 2>&1"


# ---- the logic training set (App. E.3): candidates, the teacher's answers per shard, merge ------------------------
if EXP.logic_data:
    LOGIC_SHARDS = EXP.logic_data.shards

    rule logic_candidates:
        input:
            unpack(logic_raw_input),
        output:
            candidates=paths.domain_data(NAME, "logic", "candidates.jsonl"),
            summary=paths.domain_data(NAME, "logic", "candidates.jsonl.summary.json"),
        log:
            paths.log(NAME, "data/logic_candidates"),
        priority: 4  # a domain's training set unblocks its SFT and runs: first among ready jobs
        conda:
            CONDA_ENVS["eval"]
        container:
            CONTAINERS["eval"]
        params:
            settings=settings(stages.LogicDataStage.build),
            evaluation=lambda wildcards, input: " ".join(input.get("evaluation", [])),
        shell:
            "weakdriven logic-candidates --settings {params.settings:q} --evaluation-files {params.evaluation}"
            " --out {output.candidates} > {log} 2>&1"

    if EXP.logic_data.teacher.model.startswith("embedded:"):

        rule logic_teacher:
            input:
                base=paths.base_model(NAME, "{backbone}"),
                data=paths.embedded_teacher_data(NAME),
            output:
                directory(paths.logic_teacher(NAME, "{backbone}")),
            log:
                paths.log(NAME, "train/{backbone}/logic_teacher"),
            benchmark:
                paths.timing(NAME, "{backbone}/logic_teacher")
            priority: 4  # a domain's training set unblocks its SFT and runs: first among ready jobs
            conda:
                CONDA_ENVS["train"]
            container:
                CONTAINERS["train"]
            resources:
                mem_mb=job_mem_mb("sft"),
            params:
                settings=settings(stages.SftStage.logic_teacher, "backbone"),
            shell:
                "weakdriven train-sft --settings {params.settings:q} --base {input.base} --data {input.data}"
                " --out {output} > {log} 2>&1"

    rule logic_distill:
        input:
            unpack(logic_teacher_input),
            candidates=paths.domain_data(NAME, "logic", "candidates.jsonl"),
        output:
            paths.domain_data(NAME, "logic", "teacher.shard{shard}-of-{shards}.jsonl"),
        log:
            paths.log(NAME, "data/logic_distill_{shard}-of-{shards}"),
        priority: 4  # a domain's training set unblocks its SFT and runs: first among ready jobs
        conda:
            CONDA_ENVS["eval"]
        container:
            CONTAINERS["eval"]
        resources:
            gpu=job_gpus(EXP, "logic_distill"),
            mem_mb=job_memory_mb("logic_distill", EXP.logic_data.teacher.params_b),
            runtime=lambda wildcards, attempt: job_runtime_minutes(EXP, "logic_distill", {}, attempt),
        params:
            settings=settings(stages.LogicDataStage.build),
            teacher=logic_teacher_arg,
        shell:
            "weakdriven logic-distill --settings {params.settings:q} --teacher {params.teacher:q}"
            " --candidates {input.candidates} --shard {wildcards.shard} --shards {wildcards.shards}"
            " --out {output} > {log} 2>&1"

    rule logic_merge:
        input:
            candidates=paths.domain_data(NAME, "logic", "candidates.jsonl"),
            shards=[
                paths.domain_data(NAME, "logic", f"teacher.shard{i}-of-{LOGIC_SHARDS}.jsonl")
                for i in range(LOGIC_SHARDS)
            ],
        output:
            train=paths.domain_data(NAME, "logic", "train.jsonl"),
            summary=paths.data_summary(NAME, "logic"),
        log:
            paths.log(NAME, "data/logic_merge"),
        priority: 4  # a domain's training set unblocks its SFT and runs: first among ready jobs
        conda:
            CONDA_ENVS["eval"]
        container:
            CONTAINERS["eval"]
        params:
            settings=settings(stages.LogicDataStage.build),
        shell:
            "weakdriven logic-merge --settings {params.settings:q} --candidates {input.candidates}"
            " --shard-files {input.shards} --out {output.train} --summary {output.summary} > {log} 2>&1"


# ---- the mixture (train_domains: mixture): the three sets as one, each row with its domain ------------------------
if EXP.train_domains == "mixture":

    rule mix_data:
        input:
            math=paths.train_data(NAME, "math"),
            code=paths.train_data(NAME, "code"),
            logic=paths.train_data(NAME, "logic"),
        output:
            train=paths.train_data(NAME, MIX),
            summary=paths.data_summary(NAME, MIX),
        log:
            paths.log(NAME, "data/mix_data"),
        conda:
            CONDA_ENVS["train"]
        container:
            CONTAINERS["train"]
        shell:
            "weakdriven mix-data --sets math={input.math} code={input.code} logic={input.logic}"
            " --out {output.train} --summary {output.summary} > {log} 2>&1"
