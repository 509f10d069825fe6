# Config validation and the helpers that turn the config into file lists and rule settings.
import hashlib
import json
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir) / "src"))

from weakdriven import paths
from weakdriven.benchmarks import BENCHMARKS
from weakdriven.cluster import job_memory_mb, launch_prefix, score_code_memory_mb
from weakdriven.config import Experiment, read_yaml
from weakdriven.cost import Job, job_gpu_hours
from weakdriven.eval.generation import PROTOCOLS
from weakdriven.methods import BASE, M1, METHODS, RUN_PATTERN, Run
from weakdriven.prefetch import items as prefetch_items, prefetch_to
from weakdriven.tables import TABLES, configured as configured_tables
from weakdriven.tables.base import trajectory_run

# Provenance: jobs (also inside containers, which see no .git) record the workflow checkout's commit.
_git = Path(workflow.basedir)
_commit = (
    subprocess.run(["git", "rev-parse", "HEAD"], cwd=_git, capture_output=True, text=True)
    if shutil.which("git")
    else None
)
if _commit is not None and _commit.returncode == 0:
    os.environ.setdefault("WEAKDRIVEN_GIT_COMMIT", _commit.stdout.strip())
    _dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"],
        cwd=_git,
        capture_output=True,
    )
    os.environ.setdefault("WEAKDRIVEN_GIT_DIRTY", "1" if _dirty.stdout.strip() else "0")
# ... and the sha256 of the env and container definition files their software was built from
os.environ.setdefault(
    "WEAKDRIVEN_ENV_FILES",
    json.dumps(
        {
            str(p.relative_to(_git)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted([*_git.glob("envs/*"), *_git.glob("containers/*.def")])
            if p.is_file()
        }
    ),
)
for _configfile in workflow.configfiles:  # a key given twice: refused (Snakemake's YAML reader keeps the last)
    read_yaml(_configfile)
# the schema (names from the registries) and cross-reference checks; a ConfigError names the key
EXP = Experiment.from_dict(config)
NAME = EXP.name
ROOT = paths.root(NAME)
PAPER_BENCHMARKS = [b for b, spec in BENCHMARKS.items() if spec.file is not None]
SYNTH_BENCHMARKS = [b for b, spec in BENCHMARKS.items() if spec.file is None]
PROTOCOL = EXP.evaluation.protocol  # the default protocol; a score table may name its own


def one_of(names):
    """A wildcard constraint matching exactly these names (benchmark names hold regex characters: "HumanEval+")."""
    return "|".join(re.escape(n) for n in names)


_downloads = [vars(item) for item in prefetch_items(EXP)]
PREFETCH = json.dumps(_downloads, sort_keys=True) if _downloads else ""  # none: the embedded preset


def prefetch_input(wildcards):
    """Rules that read downloads wait for `prefetch` (it runs on the submit host, where there is internet)."""
    return {"prefetched": paths.prefetched(NAME)} if PREFETCH else {}


CODE_BENCHMARKS = one_of(b for b, spec in BENCHMARKS.items() if spec.kind == "code")
OTHER_BENCHMARKS = one_of(b for b, spec in BENCHMARKS.items() if spec.kind != "code")
CONTAINERS = {  # apptainer images built from containers/*.def (see README: "Containers")
    "train": "containers/train.sif",
    "eval": "containers/eval.sif",
    "code": "containers/code.sif",
    "tables": "containers/tables.sif",
}


wildcard_constraints:
    which=rf"base|seed\d+/(?:m1|{RUN_PATTERN}(?:@ck\d+)?)",  # a model key (see model_input)
    weak=rf"base|m1|{RUN_PATTERN}(?:@ck\d+)?",
    strong=rf"m1|{RUN_PATTERN}",
    shard=r"\d+",
    shards=r"\d+",
    backbone="|".join(b.name.replace(".", r"\.") for b in EXP.backbones),
    seed=r"\d+",
    benchmark=one_of(BENCHMARKS),
    protocol="|".join(PROTOCOLS),


def _json(**parts):
    return json.dumps(parts, sort_keys=True)


def _pick(section, keys):
    return {k: config[section][k] for k in keys}


# ---- the tables (plug-ins: weakdriven.tables) ----------------------------------------------------------------------
TABLE_NAMES = [t.name for t in configured_tables(EXP)]


def table_inputs(wildcards):
    """Exactly the files the table declares it reads (tables/<name>.py: needs)."""
    return TABLES[wildcards.table].needs(EXP).paths(NAME)


def table_settings(wildcards):
    table = TABLES[wildcards.table]
    return _json(spec=table.spec(EXP), needs=table.needs(EXP).to_dict())


def table_args(wildcards, input):
    return " ".join(
        f"--{kind} {' '.join(input[kind])}" for kind in ("scores", "snapshots", "gaps", "files") if kind in input.keys()
    )


def get_table_outputs():
    return (
        [paths.table(NAME, t) for t in TABLE_NAMES]
        + [paths.table_diff(NAME, t) for t in TABLE_NAMES]
        + [paths.diff(NAME, "csv"), paths.diff(NAME, "md")]
    )


def snapshot_labels(backbone, run):
    """Relative checkpoints a run keeps: Figure 5's SFT snapshots, every one for the trajectory tables' runs."""
    if run == "sft":
        fig5 = EXP.figure5
        return [w for w in fig5.weak if w != BASE] if fig5 and backbone in fig5.backbones else []
    wanted = {
        (b, trajectory_run(EXP, m))
        for spec in EXP.trajectory_tables.values()
        for b in spec.backbones
        for m in spec.methods
    }
    return list(EXP.trajectory.checkpoints) if (backbone, run) in wanted else []


# ---- params derived from outputs (no hard-coded prefixes: works without a shared filesystem) -----------------
def output_parent(key):
    def parent(wildcards, output):
        return str(Path(output[key]).parent)

    return parent


def results_root(wildcards, output):
    return str(Path(output.train).parents[1])


# ---- model paths ---------------------------------------------------------------------------------------------
def model_dir(backbone, seed, run):
    return paths.final_model(NAME, backbone, seed, run)


def model_input(backbone, seed, key):
    """The output holding model ``key`` ("base" = M0, "m1", a run name, or "<run>@ck<step>" = a snapshot)."""
    if key == BASE:
        return paths.base_model(NAME, backbone)
    if key == M1:
        return paths.m1(NAME, backbone, seed)
    run, at, _ = key.partition("@")
    return paths.snapshots(NAME, backbone, seed, run) if at else model_dir(backbone, seed, run)


def model_path(backbone, seed, key):
    """The checkpoint directory of model ``key`` (inside its rule output for a snapshot)."""
    run, at, label = key.partition("@")
    return f"{model_input(backbone, seed, key)}/{label}" if at else model_input(backbone, seed, key)


def get_eval_model(wildcards):
    return model_input(wildcards.backbone, wildcards.seed, wildcards.run)


# ---- per-rule settings (each rule gets only what it uses, so a change reruns only what it affects) -----------
PRETRAIN_TRAINING_KEYS = [
    "lr_scheduler",
    "warmup_ratio",
    "weight_decay",
    "max_grad_norm",
    "max_length",
    "bf16",
    "gradient_checkpointing",
    "logging_steps",
    "save_steps",
]


def backbone_settings(wildcards):
    b = next(b for b in config["backbones"] if b["name"] == wildcards.backbone)
    if b["source"] != "embedded":
        return _json(backbone=b)
    return _json(backbone=b, training=_pick("training", PRETRAIN_TRAINING_KEYS))


def backbone_inputs(wildcards):
    if EXP.backbone(wildcards.backbone).source != "embedded":
        return prefetch_input(wildcards)
    return {"corpus": paths.pretrain_corpus(NAME), "train": paths.train_data(NAME)}


def backbone_extra_args(wildcards, input):
    return f"--corpus {input.corpus} --train {input.train}" if "corpus" in input.keys() else ""


def prompting(backbone, domain="math"):
    """The system prompt and family of a backbone: Qwen's tagged prompt, or Gemma's tag-free one for the domain
    (math, logic, code; App. E.4; its training completions lose their tags too). Training data is math.
    """
    family = EXP.backbone(backbone).family
    prompt = config["prompt"]["gemma_system_prompt"][domain] if family == "gemma" else config["prompt"]["system_prompt"]
    return {"system_prompt": prompt, "family": family}


def sft_settings(wildcards):
    return _json(
        training=dict(config["training"], gpus=job_gpus("sft")),
        **prompting(wildcards.backbone),
        trajectory=_pick("trajectory", ["reference_epoch_steps"]),
        snapshots=snapshot_labels(wildcards.backbone, "sft"),
    )


def _which_model(wildcards):
    """(seed, model key) of an entropy file's ``which`` ("base" or "seed<s>/<key>")."""
    if wildcards.which == BASE:
        return EXP.seeds[0], BASE
    seed, key = wildcards.which.split("/")
    return seed.removeprefix("seed"), key


def get_entropy_model(wildcards):
    return model_input(wildcards.backbone, *_which_model(wildcards))


def get_entropy_model_path(wildcards):
    return model_path(wildcards.backbone, *_which_model(wildcards))


def get_entropy_shards(wildcards):
    n = EXP.wmss.entropy_shards
    return [paths.entropy_shard(NAME, wildcards.backbone, wildcards.which, i, n) for i in range(n)]


def get_wdds_entropies(wildcards):
    which = {k: paths.entropy_which(wildcards.seed, getattr(wildcards, k)) for k in ("weak", "strong")}
    return {k: paths.entropy(NAME, wildcards.backbone, w) for k, w in which.items()}


def get_gap_entropies(wildcards):
    weak = BASE if wildcards.weak == BASE else f"sft@{wildcards.weak}"
    return {
        "weak": paths.entropy(NAME, wildcards.backbone, paths.entropy_which(wildcards.seed, weak)),
        "strong": paths.entropy(NAME, wildcards.backbone, paths.entropy_which(wildcards.seed, M1)),
    }


def entropy_settings(wildcards):
    return _json(
        gpus=job_gpus("entropy_shard"),
        training=_pick("training", ["bf16", "attn_implementation"]),
        wmss=_pick("wmss", ["entropy_system_prompt", "entropy_max_length"]),
        **prompting(wildcards.backbone),
    )


def wdds_settings():
    return _json(
        wmss=_pick("wmss", ["alpha", "beta", "gamma", "formula", "dedup", "sampling_seed"]),
        training=_pick("training", ["global_batch_size", "joint_epochs"]),
    )


def train_settings(wildcards):
    """The generic training rule: the method's budget and trainer arguments, the WMSS family's options."""
    method = Run.parse(wildcards.run).method
    return _json(
        training=dict(
            config["training"],
            gpus=job_gpus("train"),
            epochs=method.epochs(EXP),
            trainer_arguments=method.trainer_arguments(EXP),
        ),
        wmss=_pick("wmss", ["freeze_weak", "joint_loss_mask", "joint_system_prompt"]),
        **prompting(wildcards.backbone),
        trajectory=_pick("trajectory", ["reference_epoch_steps"]),
        snapshots=snapshot_labels(wildcards.backbone, wildcards.run),
    )


def train_inputs(wildcards):
    """The method's start models (Algorithm 1 line 13 for the WMSS family: (weak, strong) = (M_{t-1}, M_t)), the
    training set and, for a method that trains on it, the WD-DS active set of its very weak/strong pair."""
    run = Run.parse(wildcards.run)
    b, s = wildcards.backbone, wildcards.seed
    keys = run.method.models(run, EXP)
    inputs = {side: model_input(b, s, key) for side, key in keys.items()}
    inputs["data"] = paths.train_data(NAME)
    if run.method.data == "wdds":
        inputs["active"] = paths.wdds_active(NAME, b, s, keys["weak"], keys["strong"])
    return inputs


def train_args(wildcards, input):
    """--strong, --weak (if any) and --active (if any) of the `train` command."""
    run = Run.parse(wildcards.run)
    b, s = wildcards.backbone, wildcards.seed
    keys = run.method.models(run, EXP)
    args = [f"--{side} {model_path(b, s, key)}" for side, key in keys.items()]
    if "active" in input.keys():
        args.append(f"--active {input.active}")
    return " ".join(args)


def diagnostics_settings(wildcards):
    return _json(
        gpus=job_gpus("logit_stats"),
        bf16=config["training"]["bf16"],
        diagnostics=config["diagnostics"],
        **prompting(wildcards.backbone),
        max_length=config["training"]["max_length"],
    )


# ---- cluster resources: GPUs from config.cluster, runtimes from the cost model (src/weakdriven/cost.py) -----------
TRAIN_RULES = ("sft", "sft_m1", "train")


def job_gpus(rule):
    return config["cluster"]["train_gpus"] if rule in TRAIN_RULES else config["cluster"]["eval_gpus"]


def job_mem_mb(rule):
    """Host memory (MB) of a job: scaled by the backbone's size (weakdriven.cluster)."""

    def mem(wildcards):
        return job_memory_mb(rule, EXP.backbone(wildcards.backbone).params_b)

    return mem


def launcher(rule):
    """How a training job starts its processes (weakdriven.cluster): one per GPU through torchrun, on one node or,
    with srun-torchrun, on cluster.train_nodes nodes."""
    return launch_prefix(config["cluster"]["launcher"], train_nodes(rule), job_gpus(rule))


def train_nodes(rule):
    return config["cluster"]["train_nodes"] if rule in TRAIN_RULES else 1


def job_runtime(rule):
    """Minutes to request: the job's estimated GPU-hours over its GPUs, times cluster.runtime_safety and the attempt
    (a retried job asks for more); at least 30."""

    def runtime(wildcards, attempt):
        hours = job_gpu_hours(Job(rule, dict(wildcards.items())), EXP) / max(1, job_gpus(rule) * train_nodes(rule))
        return max(30, math.ceil(hours * 60 * config["cluster"]["runtime_safety"] * attempt))

    return runtime


def eval_settings(wildcards):
    extra = {}
    if EXP.backbone(wildcards.backbone).family == "gemma" and EXP.evaluation.backend == "vllm":
        extra["gemma_multimodal_base"] = f"{paths.base_model(NAME, wildcards.backbone)}/multimodal"
    domain = BENCHMARKS[wildcards.benchmark].domain
    evaluation = dict(config["evaluation"], protocol=wildcards.get("protocol", PROTOCOL))
    tensor_parallel = max(1, config["cluster"]["eval_gpus"])
    return _json(
        evaluation=evaluation,
        tensor_parallel=tensor_parallel,
        gpus=job_gpus("generate"),
        bf16=config["training"]["bf16"],
        **prompting(wildcards.backbone, domain),
        **extra,
    )


def gemma_base_input(wildcards):
    """vLLM evaluates a Gemma-3 checkpoint wrapped with M0's vision tower (App. E.4): M0 is an input then."""
    if EXP.backbone(wildcards.backbone).family == "gemma" and EXP.evaluation.backend == "vllm":
        return {"gemma_base": paths.base_model(NAME, wildcards.backbone)}
    return {}


def diff_settings():
    return _json(name=NAME, comparable_with_paper=config["comparable_with_paper"])
