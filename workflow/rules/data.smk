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
            train=paths.train_data(NAME),
            corpus=paths.pretrain_corpus(NAME),
            benchmarks=expand(paths.benchmark(NAME, "{b}"), b=SYNTH_BENCHMARKS),
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
            paths.train_data(NAME),
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
            "weakdriven prepare-train --settings {params.settings:q} --out {output} > {log} 2>&1"


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
