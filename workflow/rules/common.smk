# The config, wildcard constraints and input functions. What a job does and which settings it gets is in the package:
# stage settings in weakdriven.stages, methods and tables in their registries, resources in weakdriven.cluster/cost.
import json
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir) / "src"))

from weakdriven import paths
from weakdriven.benchmarks import BENCHMARKS
from weakdriven.cluster import job_gpus, job_memory_mb, launcher, score_code_memory_mb, train_nodes
from weakdriven.config import DOMAINS, MIX, Experiment, read_yaml
from weakdriven.cost import job_runtime_minutes
from weakdriven.envs import GROUPS, write_conda_env
from weakdriven.methods import BASE, DEFAULT_SELECTION, M1, METHODS, RUN_PATTERN, Run
from weakdriven.methods.base import SHARES_PATTERN, SUBSAMPLE
from weakdriven.prefetch import items as prefetch_items, prefetch_to
from weakdriven.provenance import export_workflow_state
from weakdriven import stages
from weakdriven.tables import TABLES, configured as configured_tables, generation_plan

export_workflow_state(workflow.basedir)  # every job records the checkout's commit and env files
for _configfile in workflow.configfiles:  # a key given twice: refused (Snakemake's YAML reader keeps the last)
    read_yaml(_configfile)
# the schema (names from the registries) and cross-reference checks; a ConfigError names the key
EXP = Experiment.from_dict(config)
NAME = EXP.name
ROOT = paths.root(NAME)
PAPER_BENCHMARKS = [b for b, spec in BENCHMARKS.items() if spec.file is not None]
SYNTH_BENCHMARKS = [b for b, spec in BENCHMARKS.items() if spec.file is None]
PROTOCOL = EXP.evaluation.protocol  # the default protocol; a score table may name its own
DIAGNOSTICS_RUNS = stages.diagnostics_runs(EXP)  # Table 6's WMSS run, Table 7's post-WD-JT run
TABLE_NAMES = [t.name for t in configured_tables(EXP)]
PLOT_NAMES = [t.name for t in configured_tables(EXP) if t.has_plot]  # tables with a figure in the report
GENERATIONS = generation_plan(EXP)  # (backbone, domain, seed, run, protocol) -> its benchmarks: one generate job each
CONTAINERS = {group: f"containers/{group}.sif" for group in GROUPS}  # built from containers/<group>.def (README)
# the same groups as conda environments (--sdm conda), written from pyproject.toml's extras
CONDA_ENVS = {group: str(write_conda_env(group, workflow.basedir, ".snakemake/weakdriven/envs")) for group in GROUPS}


def one_of(names):
    """A wildcard constraint matching exactly these names (benchmark names hold regex characters: "HumanEval+")."""
    return "|".join(re.escape(n) for n in names)


CODE_BENCHMARKS = one_of(b for b, spec in BENCHMARKS.items() if spec.kind == "code")
OTHER_BENCHMARKS = one_of(b for b, spec in BENCHMARKS.items() if spec.kind != "code")
PREFETCH = [vars(item) for item in prefetch_items(EXP)]  # none: the embedded preset


wildcard_constraints:
    which=rf"base|seed\d+/(?:m1|{RUN_PATTERN}(?:@ck\d+)?)",  # a model key (see model_input)
    weak=rf"base|m1|{RUN_PATTERN}(?:@ck\d+)?",
    strong=rf"m1|{RUN_PATTERN}",
    shard=r"\d+",
    shards=r"\d+",
    backbone="|".join(b.name.replace(".", r"\.") for b in EXP.backbones),
    domain=one_of((*DOMAINS, MIX)),
    seed=r"\d+",
    benchmark=one_of(BENCHMARKS),
    protocol="|".join(EXP.evaluation.protocols),
    part=r"[a-z_]+",
    rows=r"\d+",


# ---- settings: one typed object per stage (weakdriven.stages), as the rule's --settings JSON ---------------------
def settings(build, *keys, **fixed):
    """A params function: ``build(EXP, <the job's wildcards named by keys>, **fixed)`` as JSON."""

    def params(wildcards):
        return build(EXP, *(getattr(wildcards, k) for k in keys), **fixed).to_json()

    return params


# ---- resources: GPUs and nodes from config.cluster, memory by backbone size, run times from the cost model ----------
def job_mem_mb(rule):
    return lambda wildcards: job_memory_mb(rule, EXP.backbone(wildcards.backbone).params_b)


def job_runtime(rule):
    return lambda wildcards, attempt: job_runtime_minutes(EXP, rule, dict(wildcards.items()), attempt)


def generation_priority(wildcards, input=None, attempt=1):
    """Generation under a many-sample protocol (passk: 64 per problem) starts with the training jobs."""
    return 2 if EXP.evaluation.protocols[wildcards.protocol].n > 3 else 0


# ---- inputs --------------------------------------------------------------------------------------------------
def prefetch_input(wildcards):
    """Rules that read downloads wait for `prefetch` (it runs on the submit host, where there is internet)."""
    return {"prefetched": paths.prefetched(NAME)} if PREFETCH else {}


def code_rows_input(wildcards):
    """The AM rows the code set reads: the embedded preset's own, or the prefetched hub files."""
    if EXP.train_data.source == "embedded":
        return {"rows": paths.embedded_code_rows(NAME)}
    return prefetch_input(wildcards)


def logic_raw_input(wildcards):
    """The raw LogiQA 2.0 / ReClor splits (the embedded preset's own, or prefetched) and the evaluation's prepared
    test records (LogiQA2 and ReClor; the embedded preset's synth-logic), which no candidate may repeat."""
    if EXP.logic_data.source == "embedded":
        return {"raw": paths.embedded_logic_raw(NAME), "evaluation": [paths.benchmark(NAME, "synth-logic")]}
    return {**prefetch_input(wildcards), "evaluation": [paths.benchmark(NAME, b) for b in ("LogiQA2", "ReClor")]}


def logic_teacher_input(wildcards):
    """The teacher's checkpoint when it is a backbone's M0, M1 or the embedded preset's teacher (``base:<backbone>``,
    ``m1:<backbone>``, ``embedded:<backbone>``); a hub teacher is prefetched."""
    kind, _, backbone = EXP.logic_data.teacher.model.partition(":")
    if kind == "embedded":
        return {"teacher": paths.logic_teacher(NAME, backbone)}
    if kind == "base":
        return {"teacher": paths.base_model(NAME, backbone)}
    if kind == "m1":  # the math runs' M1: the logic set cannot depend on a model trained on it
        return {"teacher": model_input(backbone, "math", EXP.seeds[0], M1)}
    return prefetch_input(wildcards)


def logic_teacher_arg(wildcards, input):
    """--teacher: a checkpoint directory, or ``<hub id>@<revision>`` read from the HF cache."""
    teacher = EXP.logic_data.teacher
    return input.teacher if "teacher" in input.keys() else f"{teacher.model}@{teacher.revision}"


def model_input(backbone, domain, seed, key):
    """The output holding model ``key`` ("base" = M0, "m1", a run name, or "<run>@ck<step>" = a snapshot) of the
    domain's runs (M0 is every domain's)."""
    if key == BASE:
        return paths.base_model(NAME, backbone)
    if key == M1:
        return paths.m1(NAME, backbone, domain, seed)
    run, at, _ = key.partition("@")
    if at:
        return paths.snapshots(NAME, backbone, domain, seed, run)
    return paths.final_model(NAME, backbone, domain, seed, run)


def model_path(backbone, domain, seed, key):
    """The checkpoint directory of model ``key`` (inside its rule output for a snapshot)."""
    run, at, label = key.partition("@")
    found = model_input(backbone, domain, seed, key)
    return f"{found}/{label}" if at else found


def get_eval_model(wildcards):
    return model_input(wildcards.backbone, wildcards.domain, wildcards.seed, wildcards.run)


def generation_benchmarks(wildcards):
    key = (wildcards.backbone, wildcards.domain, wildcards.seed, wildcards.run, wildcards.protocol)
    if key not in GENERATIONS:  # a score file asked for by hand, of a model/protocol no configured table reads
        raise ValueError(
            f"no configured table reads {'/'.join(key)}: the generation job of a model covers the "
            "benchmarks its tables read (weakdriven.tables.generation_plan)"
        )
    return GENERATIONS[key]


def get_generation_benchmark_files(wildcards):
    return [paths.benchmark(NAME, b) for b in generation_benchmarks(wildcards)]


def generate_settings(wildcards):
    return stages.GenerateStage.build(
        EXP, wildcards.backbone, wildcards.protocol, generation_benchmarks(wildcards)
    ).to_json()


def backbone_inputs(wildcards):
    if EXP.backbone(wildcards.backbone).source != "embedded":
        return prefetch_input(wildcards)
    return {"corpus": paths.pretrain_corpus(NAME), "train": paths.train_data(NAME, "math")}


def backbone_extra_args(wildcards, input):
    return f"--corpus {input.corpus} --train {input.train}" if "corpus" in input.keys() else ""


def _which_model(wildcards):
    """(seed, model key) of an entropy file's ``which`` ("base" or "seed<s>/<key>")."""
    if wildcards.which == BASE:
        return EXP.seeds[0], BASE
    seed, key = wildcards.which.split("/")
    return seed.removeprefix("seed"), key


def get_entropy_model(wildcards):
    return model_input(wildcards.backbone, wildcards.domain, *_which_model(wildcards))


def get_entropy_model_path(wildcards):
    return model_path(wildcards.backbone, wildcards.domain, *_which_model(wildcards))


def get_entropy_shards(wildcards):
    n = EXP.wmss.entropy_shards
    b, d = wildcards.backbone, wildcards.domain
    return [paths.entropy_shard(NAME, b, d, wildcards.which, i, n) for i in range(n)]


def get_wdds_entropies(wildcards):
    which = {k: paths.entropy_which(wildcards.seed, getattr(wildcards, k)) for k in ("weak", "strong")}
    return {k: paths.entropy(NAME, wildcards.backbone, wildcards.domain, w) for k, w in which.items()}


def get_gap_entropies(wildcards):
    weak = BASE if wildcards.weak == BASE else f"sft@{wildcards.weak}"
    b, d = wildcards.backbone, wildcards.domain
    return {
        "weak": paths.entropy(NAME, b, d, paths.entropy_which(wildcards.seed, weak)),
        "strong": paths.entropy(NAME, b, d, paths.entropy_which(wildcards.seed, M1)),
    }


def train_inputs(wildcards):
    """The method's start models (Algorithm 1 line 13 for the WMSS family: (weak, strong) = (M_{t-1}, M_t)), the
    training set and, for a method that trains on it, the WD-DS active set of its very weak/strong pair."""
    run = Run.parse(wildcards.run)
    b, d, s = wildcards.backbone, wildcards.domain, wildcards.seed
    keys = run.method.models(run, EXP)
    inputs = {side: model_input(b, d, s, key) for side, key in keys.items()}
    inputs["data"] = paths.train_data(NAME, d)
    if run.method.data == "wdds":
        inputs["active"] = paths.wdds_active(NAME, b, d, s, keys["weak"], keys["strong"], run.selection)
    inputs.update(data_part_files(wildcards))
    return inputs


def data_part_files(wildcards):
    """A run's data parts (Method.data_parts) by name, and the subsample they were generated on (SUBSAMPLE)."""
    run = Run.parse(wildcards.run)
    files = {}
    b, d, s = wildcards.backbone, wildcards.domain, wildcards.seed
    for part in run.method.data_parts(run, EXP):
        files[part.name] = paths.method_data(NAME, b, d, s, wildcards.run, part.name)
        if part.subsample:
            files[SUBSAMPLE] = paths.subsample(NAME, d, part.subsample, s)
    return files


def train_args(wildcards, input):
    """--weak (if any), --strong, --active (if any) and --parts (if any) of the `train` command."""
    run = Run.parse(wildcards.run)
    keys = run.method.models(run, EXP)
    args = [
        f"--{side} {model_path(wildcards.backbone, wildcards.domain, wildcards.seed, key)}"
        for side, key in keys.items()
    ]
    if "active" in input.keys():
        args.append(f"--active {input.active}")
    parts = data_part_files(wildcards)
    if parts:
        args.append("--parts " + " ".join(f"{name}={path}" for name, path in parts.items()))
    return " ".join(args)


def data_part(wildcards):
    run = Run.parse(wildcards.run)
    found = [p for p in run.method.data_parts(run, EXP) if p.name == wildcards.part]
    if not found:
        raise ValueError(f"run {wildcards.run} makes no data part {wildcards.part!r}")
    return found[0]


def method_data_inputs(wildcards):
    """The model a data part is generated from, the training set and the subsample whose prompts it answers."""
    part = data_part(wildcards)
    b, d, s = wildcards.backbone, wildcards.domain, wildcards.seed
    inputs = {"model": model_input(b, d, s, part.model), "data": paths.train_data(NAME, d)}
    if part.subsample:
        inputs["subsample"] = paths.subsample(NAME, d, part.subsample, s)
    inputs.update(earlier_parts(wildcards, part))
    inputs.update(gemma_base_input(wildcards))
    return inputs


def earlier_parts(wildcards, part):
    """The run's data parts a part reads (DataPart.after: SSB's teacher answers read its rollouts)."""
    b, d, s = wildcards.backbone, wildcards.domain, wildcards.seed
    return {name: paths.method_data(NAME, b, d, s, wildcards.run, name) for name in part.after}


def method_data_args(wildcards, input):
    part = data_part(wildcards)
    args = f"--model {model_path(wildcards.backbone, wildcards.domain, wildcards.seed, part.model)}"
    if part.subsample:
        args += f" --subsample {input.subsample}"
    if part.after:
        args += " --parts " + " ".join(f"{name}={path}" for name, path in earlier_parts(wildcards, part).items())
    return args


def gemma_base_input(wildcards):
    """vLLM evaluates a Gemma-3 checkpoint wrapped with M0's vision tower (App. E.4): M0 is an input then."""
    if EXP.backbone(wildcards.backbone).family == "gemma" and EXP.evaluation.backend == "vllm":
        return {"gemma_base": paths.base_model(NAME, wildcards.backbone)}
    return {}


def table_inputs(wildcards):
    """Exactly the files the table declares it reads (tables/<name>.py: needs)."""
    return TABLES[wildcards.table].needs(EXP).paths(EXP)


def table_args(wildcards, input):
    return " ".join(
        f"--{kind} {' '.join(input[kind])}" for kind in ("scores", "snapshots", "gaps", "files") if kind in input.keys()
    )


def get_table_outputs():
    return (
        [paths.table(NAME, t) for t in TABLE_NAMES]
        + [paths.table_diff(NAME, t) for t in TABLE_NAMES]
        + [paths.diff(NAME, "csv"), paths.diff(NAME, "md")]
        + [paths.report_part(NAME, f"{t}.html") for t in TABLE_NAMES]
        + [paths.report_part(NAME, f"{t}.svg") for t in PLOT_NAMES]
        + [paths.report_part(NAME, "scatter.svg")]
    )


# ---- params derived from outputs (no hard-coded prefixes: works without a shared filesystem) -----------------
def output_parent(key):
    return lambda wildcards, output: str(Path(output[key]).parent)


def results_root(wildcards, output):
    return str(Path(output.train).parents[2])  # <root>/data/math/train.jsonl
