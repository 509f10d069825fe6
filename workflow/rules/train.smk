# M0, SFT (M1 = its epoch-1 checkpoint), WD-DS entropies and selection, and one generic `train` rule for every other
# method: the method plug-in says which models it starts from and what it trains on. Training rules also keep the
# relative checkpoints the tables ask for.


rule init_backbone:
    input:
        unpack(backbone_inputs),
    output:
        directory(paths.base_model(NAME, "{backbone}")),
    log:
        paths.log(NAME, "train/{backbone}/init_backbone"),
    benchmark:
        paths.timing(NAME, "{backbone}/init_backbone")
    priority: 5  # before the code and logic sets' jobs (4): only the SFTs after M0 need them
    conda:
        CONDA_ENVS["train"]
    container:
        CONTAINERS["train"]
    # The embedded M0's pre-training runs alone (every model job needs M0): two threads (1.6x faster on a 2-core
    # AMD EPYC), here for every executor, since its bytes depend on the thread count on some CPUs (Intel Xeons): a
    # local and a SLURM run stay byte-identical. A hub or local checkpoint is only copied.
    threads: 2
    resources:
        mem_mb=job_mem_mb("init_backbone"),
    params:
        settings=settings(stages.BackboneStage.build, "backbone"),
        extra=backbone_extra_args,
    shell:
        "weakdriven init-backbone --settings {params.settings:q} --out {output} {params.extra} > {log} 2>&1"


if EXP.training.m1_from == "sft_epoch1":

    rule sft:
        input:
            base=paths.base_model(NAME, "{backbone}"),
            data=paths.train_data(NAME, "{domain}"),
        output:
            m1=directory(paths.m1(NAME, "{backbone}", "{domain}", "{seed}")),
            final=directory(paths.final_model(NAME, "{backbone}", "{domain}", "{seed}", "sft")),
            snapshots=directory(paths.snapshots(NAME, "{backbone}", "{domain}", "{seed}", "sft")),
        log:
            paths.log(NAME, "train/{backbone}/{domain}/seed{seed}/sft"),
        benchmark:
            paths.sft_timing(NAME, "{backbone}", "{domain}", "{seed}")
        priority: 4  # it unblocks every run of its domain: first among ready jobs
        conda:
            CONDA_ENVS["train"]
        container:
            CONTAINERS["train"]
        resources:
            gpu=job_gpus(EXP, "sft"),
            mem_mb=job_mem_mb("sft"),
            nodes=train_nodes(EXP, "sft"),
            runtime=job_runtime("sft"),
        params:
            launch=launcher(EXP, "sft"),
            settings=settings(
                stages.SftStage.build, "backbone", "domain", "seed", rule="sft", epochs=EXP.training.sft_epochs
            ),
        shell:
            "{params.launch} train-sft --settings {params.settings:q} --base {input.base} --data {input.data}"
            " --m1-out {output.m1} --out {output.final} --snapshots-out {output.snapshots} > {log} 2>&1"

else:

    rule sft:
        input:
            base=paths.base_model(NAME, "{backbone}"),
            data=paths.train_data(NAME, "{domain}"),
        output:
            directory(paths.final_model(NAME, "{backbone}", "{domain}", "{seed}", "sft")),
        log:
            paths.log(NAME, "train/{backbone}/{domain}/seed{seed}/sft"),
        benchmark:
            paths.sft_timing(NAME, "{backbone}", "{domain}", "{seed}")
        priority: 4  # it unblocks every run of its domain: first among ready jobs
        conda:
            CONDA_ENVS["train"]
        container:
            CONTAINERS["train"]
        resources:
            gpu=job_gpus(EXP, "sft"),
            mem_mb=job_mem_mb("sft"),
            nodes=train_nodes(EXP, "sft"),
            runtime=job_runtime("sft"),
        params:
            launch=launcher(EXP, "sft"),
            settings=settings(
                stages.SftStage.build, "backbone", "domain", "seed", rule="sft", epochs=EXP.training.sft_epochs
            ),
        shell:
            "{params.launch} train-sft --settings {params.settings:q} --base {input.base} --data {input.data}"
            " --out {output} > {log} 2>&1"

    rule sft_m1:
        input:
            base=paths.base_model(NAME, "{backbone}"),
            data=paths.train_data(NAME, "{domain}"),
        output:
            m1=directory(paths.m1(NAME, "{backbone}", "{domain}", "{seed}")),
            snapshots=directory(paths.snapshots(NAME, "{backbone}", "{domain}", "{seed}", "sft")),
        log:
            paths.log(NAME, "train/{backbone}/{domain}/seed{seed}/sft_m1"),
        benchmark:
            paths.timing(NAME, "{backbone}/{domain}/seed{seed}/sft_m1")
        priority: 4  # it unblocks every run of its domain: first among ready jobs
        conda:
            CONDA_ENVS["train"]
        container:
            CONTAINERS["train"]
        resources:
            gpu=job_gpus(EXP, "sft_m1"),
            mem_mb=job_mem_mb("sft_m1"),
            nodes=train_nodes(EXP, "sft_m1"),
            runtime=job_runtime("sft_m1"),
        params:
            launch=launcher(EXP, "sft_m1"),
            settings=settings(stages.SftStage.build, "backbone", "domain", "seed", rule="sft_m1", epochs=1),
        shell:
            "{params.launch} train-sft --settings {params.settings:q} --base {input.base} --data {input.data}"
            " --out {output.m1} --snapshots-out {output.snapshots} > {log} 2>&1"


rule entropy_shard:
    input:
        model=get_entropy_model,
        data=paths.train_data(NAME, "{domain}"),
    output:
        paths.entropy_shard(NAME, "{backbone}", "{domain}", "{which}", "{shard}", "{shards}"),
    log:
        paths.log(NAME, "train/{backbone}/{domain}/entropy_{which}.shard{shard}-of-{shards}"),
    benchmark:
        paths.entropy_timing(NAME, "{backbone}", "{domain}", "{which}", "{shard}", "{shards}")
    priority: 3  # WD-DS unblocks the next training run: first among ready jobs
    conda:
        CONDA_ENVS["train"]
    container:
        CONTAINERS["train"]
    resources:
        gpu=job_gpus(EXP, "entropy_shard"),
        mem_mb=job_mem_mb("entropy_shard"),
        runtime=job_runtime("entropy_shard"),
    params:
        settings=settings(stages.EntropyStage.build, "backbone", "domain"),
        model=get_entropy_model_path,
    shell:
        "weakdriven entropy --settings {params.settings:q} --model {params.model} --data {input.data}"
        " --shard {wildcards.shard} --shards {wildcards.shards} --out {output} > {log} 2>&1"


rule merge_entropy:
    input:
        shards=get_entropy_shards,
        data=paths.train_data(NAME, "{domain}"),
    output:
        paths.entropy(NAME, "{backbone}", "{domain}", "{which}"),
    log:
        paths.log(NAME, "train/{backbone}/{domain}/merge_entropy_{which}"),
    priority: 3  # as entropy_shard
    conda:
        CONDA_ENVS["train"]
    container:
        CONTAINERS["train"]
    shell:
        "weakdriven merge-entropy --shards {input.shards} --data {input.data} --out {output} > {log} 2>&1"


rule wdds_select:
    input:
        unpack(get_wdds_entropies),
    output:
        paths.wdds_active(NAME, "{backbone}", "{domain}", "{seed}", "{weak}", "{strong}", "{selection}"),
    log:
        paths.log(NAME, "train/{backbone}/{domain}/seed{seed}/wdds_select_{selection}_{weak}--{strong}"),
    wildcard_constraints:
        selection=rf"{DEFAULT_SELECTION}|abg{SHARES_PATTERN}(?:_r(?:[2-9]|\d\d+))?|r(?:[2-9]|\d\d+)",
    priority: 3  # as entropy_shard
    conda:
        CONDA_ENVS["train"]
    container:
        CONTAINERS["train"]
    params:
        settings=lambda wildcards: stages.WddsStage.build(EXP, wildcards.selection).to_json(),
    shell:
        "weakdriven wdds-select --settings {params.settings:q} --weak {input.weak} --strong {input.strong}"
        " --out {output} > {log} 2>&1"


rule train:
    input:
        unpack(train_inputs),
    output:
        final=directory(paths.final_model(NAME, "{backbone}", "{domain}", "{seed}", "{run}")),
        snapshots=directory(paths.snapshots(NAME, "{backbone}", "{domain}", "{seed}", "{run}")),
    log:
        paths.log(NAME, "train/{backbone}/{domain}/seed{seed}/{run}"),
    benchmark:
        paths.train_timing(NAME, "{backbone}", "{domain}", "{seed}", "{run}")
    wildcard_constraints:
        run=f"(?!sft/){RUN_PATTERN}",
    priority: 2  # the longest jobs start before evaluations, which fill the gaps
    conda:
        CONDA_ENVS["train"]
    container:
        CONTAINERS["train"]
    resources:
        gpu=job_gpus(EXP, "train"),
        mem_mb=job_mem_mb("train"),
        nodes=train_nodes(EXP, "train"),
        runtime=job_runtime("train"),
    params:
        launch=launcher(EXP, "train"),
        settings=settings(stages.TrainStage.build, "backbone", "domain", "seed", "run"),
        models=train_args,
    shell:
        "{params.launch} train --settings {params.settings:q} {params.models} --data {input.data}"
        " --out {output.final} --snapshots-out {output.snapshots} > {log} 2>&1"


rule subsample:
    input:
        paths.train_data(NAME, "{domain}"),
    output:
        paths.subsample(NAME, "{domain}", "{rows}", "{seed}"),
    log:
        paths.log(NAME, "data/subsample/{domain}/n{rows}_seed{seed}"),
    conda:
        CONDA_ENVS["train"]
    container:
        CONTAINERS["train"]
    shell:
        "weakdriven subsample --data {input} --rows {wildcards.rows} --seed {wildcards.seed} --out {output}"
        " > {log} 2>&1"


rule method_data:
    input:
        unpack(method_data_inputs),
    output:
        paths.method_data(NAME, "{backbone}", "{domain}", "{seed}", "{run}", "{part}"),
    log:
        paths.log(NAME, "train/{backbone}/{domain}/seed{seed}/{run}_{part}"),
    benchmark:
        paths.method_data_timing(NAME, "{backbone}", "{domain}", "{seed}", "{run}", "{part}")
    priority: 2  # it unblocks a training run
    conda:
        CONDA_ENVS["eval"]
    container:
        CONTAINERS["eval"]
    resources:
        gpu=job_gpus(EXP, "method_data"),
        mem_mb=job_mem_mb("method_data"),
        runtime=job_runtime("method_data"),
    params:
        settings=settings(stages.MethodDataStage.build, "backbone", "domain", "seed", "run", "part"),
        models=method_data_args,
    shell:
        "weakdriven method-data --settings {params.settings:q} {params.models} --data {input.data} --out {output}"
        " > {log} 2>&1"
