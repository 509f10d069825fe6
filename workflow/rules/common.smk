# Config validation and the helpers that turn the config into file lists and rule settings.
import json
import sys
from pathlib import Path

from snakemake.utils import validate

sys.path.insert(0, str(Path(workflow.basedir) / "src"))

from weakdriven import paths
from weakdriven.benchmarks import BENCHMARKS
from weakdriven.config import Experiment
from weakdriven.methods import METHODS

validate(config, schema="../schemas/config.schema.yaml")
EXP = Experiment.from_dict(config)  # cross-reference checks; raises ConfigError naming the key
NAME = EXP.name
ROOT = paths.root(NAME)
PAPER_BENCHMARKS = [b for b, spec in BENCHMARKS.items() if spec.file is not None]
SYNTH_BENCHMARKS = [b for b, spec in BENCHMARKS.items() if spec.file is None]
CONTAINERS = {  # apptainer images built from containers/*.def (see README: "Containers")
    "train": "containers/train.sif",
    "eval": "containers/eval.sif",
    "tables": "containers/tables.sif",
}


wildcard_constraints:
    which=r"base|m1_seed\d+",
    shard=r"\d+",
    shards=r"\d+",
    backbone="|".join(b.name.replace(".", r"\.") for b in EXP.backbones),
    seed=r"\d+",
    benchmark="|".join(BENCHMARKS).replace("+", r"\+"),


def _json(**parts):
    return json.dumps(parts, sort_keys=True)


def _pick(section, keys):
    return {k: config[section][k] for k in keys}


# ---- what the tables need ------------------------------------------------------------------------------------
def table_runs(spec):
    """(backbone, seed, run) of every model a table evaluates."""
    runs = []
    for backbone in spec.backbones:
        for seed in EXP.seeds:
            for method in spec.methods:
                lambdas = spec.lambdas if METHODS[method].uses_lambda else (None,)
                runs.extend((backbone, seed, METHODS[method].run_name(lam)) for lam in lambdas)
    return runs


def get_score_files():
    files = set()
    for spec in EXP.tables.values():
        for backbone, seed, run in table_runs(spec):
            for bench in spec.benchmarks:
                files.add(paths.scores(NAME, backbone, seed, run, bench))
    return sorted(files)


def get_diagnostics_tables():
    """Tables 6/7 of each diagnostics backbone (first seed); the first backbone's enter the diff."""
    return [
        paths.diagnostics(NAME, backbone, EXP.seeds[0], f"{t}.csv")
        for backbone in EXP.diagnostics_backbones
        for t in ("table6", "table7")
    ]


def get_diff_diagnostics(wildcards, input):
    return " ".join(input.diagnostics[:2])


def get_table_outputs():
    return [paths.table(NAME, t) for t in EXP.tables] + [paths.diff(NAME, "csv"), paths.diff(NAME, "md")]


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


def get_eval_model(wildcards):
    return model_dir(wildcards.backbone, wildcards.seed, wildcards.run)


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
        return {}
    return {"corpus": paths.pretrain_corpus(NAME), "train": paths.train_data(NAME)}


def backbone_extra_args(wildcards, input):
    return f"--corpus {input.corpus} --train {input.train}" if "corpus" in input.keys() else ""


def sft_settings():
    return _json(training=config["training"], system_prompt=config["prompt"]["system_prompt"])


def get_entropy_model(wildcards):
    """M0 for ``which=base``, M1 of the seed for ``which=m1_seed<s>``."""
    if wildcards.which == "base":
        return paths.base_model(NAME, wildcards.backbone)
    return paths.m1(NAME, wildcards.backbone, wildcards.which.removeprefix("m1_seed"))


def get_entropy_shards(wildcards):
    n = EXP.wmss.entropy_shards
    return [paths.entropy_shard(NAME, wildcards.backbone, wildcards.which, i, n) for i in range(n)]


def entropy_settings():
    return _json(
        training=_pick("training", ["bf16"]),
        wmss=_pick("wmss", ["entropy_system_prompt", "entropy_max_length"]),
        system_prompt=config["prompt"]["system_prompt"],
    )


def wdds_settings():
    return _json(
        wmss=_pick("wmss", ["alpha", "beta", "gamma", "formula", "dedup", "sampling_seed"]),
        training=_pick("training", ["global_batch_size", "joint_epochs"]),
    )


def continue_settings():
    return _json(
        training=config["training"],
        wmss=_pick("wmss", ["freeze_weak", "joint_loss_mask", "joint_system_prompt"]),
        system_prompt=config["prompt"]["system_prompt"],
    )


def continue_inputs(wildcards):
    method = METHODS[wildcards.run.partition("_lam")[0]]
    inputs = {
        "weak": paths.base_model(NAME, wildcards.backbone),
        "strong": paths.m1(NAME, wildcards.backbone, wildcards.seed),
        "data": paths.train_data(NAME),
    }
    if method.data == "wdds":
        inputs["active"] = paths.wdds_active(NAME, wildcards.backbone, wildcards.seed)
    return inputs


def continue_extra_args(wildcards, input):
    return f"--active {input.active}" if "active" in input.keys() else ""


def diagnostics_settings():
    return _json(
        diagnostics=config["diagnostics"],
        system_prompt=config["prompt"]["system_prompt"],
        max_length=config["training"]["max_length"],
    )


def eval_settings():
    return _json(evaluation=config["evaluation"], system_prompt=config["prompt"]["system_prompt"])


def tables_settings():
    return _json(
        tables=config["tables"],
        lam=config["wmss"]["lam"],
        name=NAME,
        comparable_with_paper=config["comparable_with_paper"],
    )
