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
    conda:
        "../../envs/train.yaml"
    container:
        CONTAINERS["train"]
    resources:
        mem_mb=job_mem_mb("init_backbone"),
    params:
        settings=backbone_settings,
        extra=backbone_extra_args,
    shell:
        "weakdriven init-backbone --settings {params.settings:q} --out {output} {params.extra} > {log} 2>&1"


if EXP.training.m1_from == "sft_epoch1":

    rule sft:
        input:
            base=paths.base_model(NAME, "{backbone}"),
            data=paths.train_data(NAME),
        output:
            m1=directory(paths.m1(NAME, "{backbone}", "{seed}")),
            final=directory(paths.final_model(NAME, "{backbone}", "{seed}", "sft")),
            snapshots=directory(paths.snapshots(NAME, "{backbone}", "{seed}", "sft")),
        log:
            paths.log(NAME, "train/{backbone}/seed{seed}/sft"),
        benchmark:
            paths.timing(NAME, "{backbone}/seed{seed}/sft")
        conda:
            "../../envs/train.yaml"
        container:
            CONTAINERS["train"]
        resources:
            gpu=job_gpus("sft"),
            mem_mb=job_mem_mb("sft"),
            nodes=train_nodes("sft"),
            runtime=job_runtime("sft"),
        params:
            launch=launcher("sft"),
            settings=sft_settings,
            epochs=EXP.training.sft_epochs,
        shell:
            "{params.launch} train-sft --settings {params.settings:q} --base {input.base} --data {input.data}"
            " --epochs {params.epochs} --m1-out {output.m1} --out {output.final} --seed {wildcards.seed}"
            " --snapshots-out {output.snapshots} > {log} 2>&1"

else:

    rule sft:
        input:
            base=paths.base_model(NAME, "{backbone}"),
            data=paths.train_data(NAME),
        output:
            directory(paths.final_model(NAME, "{backbone}", "{seed}", "sft")),
        log:
            paths.log(NAME, "train/{backbone}/seed{seed}/sft"),
        benchmark:
            paths.timing(NAME, "{backbone}/seed{seed}/sft")
        conda:
            "../../envs/train.yaml"
        container:
            CONTAINERS["train"]
        resources:
            gpu=job_gpus("sft"),
            mem_mb=job_mem_mb("sft"),
            nodes=train_nodes("sft"),
            runtime=job_runtime("sft"),
        params:
            launch=launcher("sft"),
            settings=sft_settings,
            epochs=EXP.training.sft_epochs,
        shell:
            "{params.launch} train-sft --settings {params.settings:q} --base {input.base} --data {input.data}"
            " --epochs {params.epochs} --out {output} --seed {wildcards.seed} > {log} 2>&1"

    rule sft_m1:
        input:
            base=paths.base_model(NAME, "{backbone}"),
            data=paths.train_data(NAME),
        output:
            m1=directory(paths.m1(NAME, "{backbone}", "{seed}")),
            snapshots=directory(paths.snapshots(NAME, "{backbone}", "{seed}", "sft")),
        log:
            paths.log(NAME, "train/{backbone}/seed{seed}/sft_m1"),
        benchmark:
            paths.timing(NAME, "{backbone}/seed{seed}/sft_m1")
        conda:
            "../../envs/train.yaml"
        container:
            CONTAINERS["train"]
        resources:
            gpu=job_gpus("sft_m1"),
            mem_mb=job_mem_mb("sft_m1"),
            nodes=train_nodes("sft_m1"),
            runtime=job_runtime("sft_m1"),
        params:
            launch=launcher("sft_m1"),
            settings=sft_settings,
        shell:
            "{params.launch} train-sft --settings {params.settings:q} --base {input.base} --data {input.data}"
            " --epochs 1 --out {output.m1} --seed {wildcards.seed} --snapshots-out {output.snapshots} > {log} 2>&1"


rule entropy_shard:
    input:
        model=get_entropy_model,
        data=paths.train_data(NAME),
    output:
        paths.entropy_shard(NAME, "{backbone}", "{which}", "{shard}", "{shards}"),
    log:
        paths.log(NAME, "train/{backbone}/entropy_{which}.shard{shard}-of-{shards}"),
    benchmark:
        paths.timing(NAME, "{backbone}/entropy_{which}.shard{shard}-of-{shards}")
    conda:
        "../../envs/train.yaml"
    container:
        CONTAINERS["train"]
    resources:
        gpu=job_gpus("entropy_shard"),
        mem_mb=job_mem_mb("entropy_shard"),
        runtime=job_runtime("entropy_shard"),
    params:
        settings=entropy_settings,
        model=get_entropy_model_path,
    shell:
        "weakdriven entropy --settings {params.settings:q} --model {params.model} --data {input.data}"
        " --shard {wildcards.shard} --shards {wildcards.shards} --out {output} > {log} 2>&1"


rule merge_entropy:
    input:
        shards=get_entropy_shards,
        data=paths.train_data(NAME),
    output:
        paths.entropy(NAME, "{backbone}", "{which}"),
    log:
        paths.log(NAME, "train/{backbone}/merge_entropy_{which}"),
    conda:
        "../../envs/train.yaml"
    container:
        CONTAINERS["train"]
    shell:
        "weakdriven merge-entropy --shards {input.shards} --data {input.data} --out {output} > {log} 2>&1"


rule wdds_select:
    input:
        unpack(get_wdds_entropies),
    output:
        paths.wdds_active(NAME, "{backbone}", "{seed}", "{weak}", "{strong}"),
    log:
        paths.log(NAME, "train/{backbone}/seed{seed}/wdds_select_{weak}--{strong}"),
    conda:
        "../../envs/train.yaml"
    container:
        CONTAINERS["train"]
    params:
        settings=wdds_settings(),
    shell:
        "weakdriven wdds-select --settings {params.settings:q} --weak {input.weak} --strong {input.strong}"
        " --out {output} > {log} 2>&1"


rule train:
    input:
        unpack(train_inputs),
    output:
        final=directory(paths.final_model(NAME, "{backbone}", "{seed}", "{run}")),
        snapshots=directory(paths.snapshots(NAME, "{backbone}", "{seed}", "{run}")),
    log:
        paths.log(NAME, "train/{backbone}/seed{seed}/{run}"),
    benchmark:
        paths.timing(NAME, "{backbone}/seed{seed}/{run}")
    wildcard_constraints:
        run=f"(?!sft/){RUN_PATTERN}",
    conda:
        "../../envs/train.yaml"
    container:
        CONTAINERS["train"]
    resources:
        gpu=job_gpus("train"),
        mem_mb=job_mem_mb("train"),
        nodes=train_nodes("train"),
        runtime=job_runtime("train"),
    params:
        launch=launcher("train"),
        settings=train_settings,
        models=train_args,
    shell:
        "{params.launch} train --settings {params.settings:q} --run {wildcards.run} {params.models}"
        " --data {input.data} --seed {wildcards.seed} --out {output.final}"
        " --snapshots-out {output.snapshots} > {log} 2>&1"
