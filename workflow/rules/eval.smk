# Generation (vLLM on GPUs, transformers on CPU), one job per (model, protocol) over every benchmark the configured
# tables read of that model (weakdriven.tables.generation_plan: the model, and vLLM, load once); grading one job per
# benchmark. The protocol (a name of evaluation.protocols) is evaluation.protocol unless a table names its own
# (Table 10: passk).


rule generate:
    input:
        unpack(gemma_base_input),
        model=get_eval_model,
        benchmarks=get_generation_benchmark_files,
    output:
        directory(paths.generations_dir(NAME, "{backbone}", "{domain}", "{seed}", "{run}", "{protocol}")),
    log:
        paths.log(NAME, "eval/{backbone}/{domain}/seed{seed}/{run}/{protocol}/generate"),
    benchmark:
        paths.timing(NAME, "{backbone}/{domain}/seed{seed}/{run}/{protocol}/generate")
    priority: generation_priority  # many samples per problem (pass@k): long, so early, beside training
    conda:
        CONDA_ENVS["eval"]
    container:
        CONTAINERS["eval"]
    resources:
        gpu=job_gpus(EXP, "generate"),
        mem_mb=job_mem_mb("generate"),
        runtime=job_runtime("generate"),
    params:
        settings=generate_settings,
    shell:
        "weakdriven generate --settings {params.settings:q} --model {input.model}"
        " --benchmark-files {input.benchmarks} --seed {wildcards.seed} --out-dir {output} > {log} 2>&1"


rule score:
    input:
        generations=paths.generations_dir(NAME, "{backbone}", "{domain}", "{seed}", "{run}", "{protocol}"),
        bench=paths.benchmark(NAME, "{benchmark}"),
    output:
        paths.scores(NAME, "{backbone}", "{domain}", "{seed}", "{run}", "{benchmark}", "{protocol}"),
    log:
        paths.log(NAME, "eval/{backbone}/{domain}/seed{seed}/{run}/{protocol}/{benchmark}.score"),
    wildcard_constraints:
        benchmark=OTHER_BENCHMARKS,
    conda:
        CONDA_ENVS["eval"]
    container:
        CONTAINERS["eval"]
    params:
        settings=settings(stages.EvalStage.build, "backbone", "benchmark", "protocol"),
        generations=lambda wildcards, input: f"{input.generations}/{paths.generations_name(wildcards.benchmark)}",
    shell:
        "weakdriven score --settings {params.settings:q} --generations {params.generations:q}"
        " --benchmark {wildcards.benchmark} --benchmark-file {input.bench} --backbone {wildcards.backbone}"
        " --seed {wildcards.seed} --run {wildcards.run} --out {output} > {log} 2>&1"


# Code benchmarks: every sample runs its benchmark's judge (evalplus, bigcodebench, the LiveCodeBench judge) in the
# sandbox, inside the code container that holds the task libraries.
use rule score as score_code with:
    wildcard_constraints:
        benchmark=CODE_BENCHMARKS,
    conda:
        CONDA_ENVS["code"]
    container:
        CONTAINERS["code"]
    resources:
        mem_mb=score_code_memory_mb(EXP.evaluation.code.workers, EXP.evaluation.code.memory_mb),


rule eval_snapshots:
    input:
        unpack(gemma_base_input),
        snapshots=paths.snapshots(NAME, "{backbone}", "{domain}", "{seed}", "{run}"),
        final=paths.scores(NAME, "{backbone}", "{domain}", "{seed}", "{run}", "{benchmark}", PROTOCOL),
        bench=paths.benchmark(NAME, "{benchmark}"),
    output:
        paths.snapshot_scores(NAME, "{backbone}", "{domain}", "{seed}", "{run}", "{benchmark}"),
    log:
        paths.log(NAME, "eval/{backbone}/{domain}/seed{seed}/{run}/snapshots/{benchmark}"),
    benchmark:
        paths.timing(NAME, "{backbone}/{domain}/seed{seed}/{run}/snapshots/{benchmark}")
    priority: 1  # several models in one job: before single generations
    conda:
        CONDA_ENVS["eval"]
    container:
        CONTAINERS["eval"]
    resources:
        gpu=job_gpus(EXP, "eval_snapshots"),
        mem_mb=job_mem_mb("eval_snapshots"),
        runtime=job_runtime("eval_snapshots"),
    params:
        settings=settings(stages.EvalStage.build, "backbone", "benchmark"),
    shell:
        "weakdriven eval-snapshots --settings {params.settings:q} --snapshots {input.snapshots}"
        " --final-scores {input.final} --benchmark {wildcards.benchmark} --benchmark-file {input.bench}"
        " --backbone {wildcards.backbone} --seed {wildcards.seed} --run {wildcards.run} --out {output}"
        " > {log} 2>&1"
