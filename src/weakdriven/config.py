"""Typed experiment config: JSON-schema validation plus cross-reference checks, with errors that name the key.

The Snakefile and the CLI both go through :func:`load_config` / :meth:`Experiment.from_dict`, so a bad config stops
the run before any job starts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .benchmarks import BENCHMARKS
from .cluster import LAUNCHERS
from .eval.generation import Protocol
from .methods import METHODS
from .methods.base import REPLICATE_SEED_STRIDE
from .tables import TABLES

REPO_ROOT = Path(__file__).resolve().parents[2]
SCHEMA_PATH = REPO_ROOT / "workflow" / "schemas" / "config.schema.yaml"


class ConfigError(ValueError):
    """A config value is wrong; the message names the key."""


def _key(path) -> str:
    return ".".join(str(p) for p in path) or "<top level>"


def schema() -> dict[str, Any]:
    """The config schema with its name enums filled from the registries (the file lists no names itself)."""
    schema = yaml.safe_load(SCHEMA_PATH.read_text())
    defs = schema["$defs"]
    defs["method"] = {"enum": list(METHODS)}
    defs["mixed_method"] = {"enum": [name for name, m in METHODS.items() if m.loss == "mixed"]}
    defs["benchmark"] = {"enum": list(BENCHMARKS)}
    defs["launcher"] = {"enum": list(LAUNCHERS)}
    # the tables a config may name: every registered table with a config section, in the form its plug-in declares
    schema["properties"]["tables"]["properties"] = {name: {"$ref": f"#/$defs/{t.schema}"}
                                                    for name, t in TABLES.items() if t.schema}
    return schema


def validate_schema(raw: dict[str, Any]) -> None:
    import jsonschema  # only where a config is validated (the workflow, not every job)

    validator = jsonschema.Draft202012Validator(schema())
    errors = sorted(validator.iter_errors(raw), key=lambda e: list(e.absolute_path))
    if errors:
        lines = [f"config key '{_key(e.absolute_path)}': {e.message}" for e in errors]
        raise ConfigError("invalid config:\n  " + "\n  ".join(lines))


@dataclass(frozen=True)
class Backbone:
    name: str
    source: str
    family: str
    params_b: float
    hub_id: str | None = None
    revision: str | None = None
    path: str | None = None
    architecture: dict[str, int] | None = None
    pretrain: dict[str, Any] | None = None


@dataclass(frozen=True)
class TrainData:
    source: str
    domain: str
    max_rows: int | None
    hub_id: str | None = None
    revision: str | None = None
    path: str | None = None
    expected_rows: int | None = None
    subsets: tuple[str, ...] = ("am_0.5M", "am_0.9M")  # files of the hub dataset (its card's configs)
    n_train: int | None = None
    n_test: int | None = None
    n_pretrain: int | None = None
    seed: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "subsets", tuple(self.subsets))


@dataclass(frozen=True)
class CodeData:
    """``code_data`` (App. E.2): the AM corpus's code rows (read from ``train_data``'s files, or the embedded
    preset's own), each final program run against its tests in the sandbox (``data/am_code.py``)."""

    sources: tuple[str, ...] = ("codeio", "OpenCoder", "OpenCoderStage2", "prime")
    program: str = "join"       # join | last: the answer's fenced blocks joined (the authors) or the last one
    timeout_s: float = 10.0     # per program (per test for stdin/stdout tests)
    memory_mb: int = 2048
    isolation: str = "auto"     # the sandbox (evaluation.code.isolation's choices)
    shards: int = 1             # jobs the verification is split into
    workers: int = 8            # sandboxes at a time per job
    expected_rows: int | None = None  # the paper's 19,457; another count stops the merge job (null: accept)
    min_rows: int = 1           # fewer kept rows fail the merge job, whatever expected_rows says

    def __post_init__(self) -> None:
        object.__setattr__(self, "sources", tuple(self.sources))


LOCAL_TEACHERS = ("base", "m1", "embedded")  # teachers made by the workflow, not prefetched


@dataclass(frozen=True)
class LogicTeacher:
    """The distillation teacher: a hub model at a pinned revision, ``base:<backbone>`` (that backbone's M0),
    ``m1:<backbone>`` (its math M1 of the first seed) or ``embedded:<backbone>`` (the embedded preset's stand-in for
    a strong teacher: M0 fine-tuned for ``epochs`` epochs on the preset's teacher set, ``logic_teacher`` rule)."""

    model: str
    revision: str | None = None
    epochs: int | None = None   # embedded:<backbone> only
    tensor_parallel: int = 1
    gpus: int = 0
    params_b: float = 32.8      # its size, for the job's host memory (Qwen3-32B: 32.8B)


@dataclass(frozen=True)
class LogicData:
    """``logic_data`` (App. E.3): LogiQA 2.0 and ReClor raw splits merged, held-out items removed by content,
    answered by the teacher, kept on the gold option (``data/logic.py``)."""

    source: str                 # url (the pinned releases, fetched by prefetch) | local | embedded
    teacher: LogicTeacher
    path: str | None = None     # the raw files: <path>/logiqa2/{train,dev,test}.txt, <path>/reclor/{train,val}.json
    splits: tuple[str, ...] = ("logiqa2/train", "logiqa2/dev", "reclor/train")
    prompt_template: str | None = None  # None: data.logic.PROMPT_TEMPLATE
    system_prompt: str | None = None
    temperature: float = 0.6
    top_p: float = 0.95
    top_k: int = 20
    max_new_tokens: int = 16384
    max_prompt_tokens: int = 4096  # a longer teacher prompt is an error naming its item, before any generation
    min_kept: int | None = None    # fewer kept answers fail the merge job, naming each reason's count
    require_thinking: bool = True
    shards: int = 1
    expected: dict[str, int] | None = None  # e.g. {candidates: 15133, kept: 14882}; another count stops the job

    def __post_init__(self) -> None:
        object.__setattr__(self, "splits", tuple(self.splits))
        if isinstance(self.teacher, dict):
            object.__setattr__(self, "teacher", LogicTeacher(**self.teacher))


@dataclass(frozen=True)
class Training:
    learning_rate: float
    lr_scheduler: str
    warmup_ratio: float
    weight_decay: float
    max_grad_norm: float
    max_length: int
    per_device_batch_size: int
    global_batch_size: int
    sft_epochs: int
    m1_from: str
    joint_epochs: float
    bf16: bool
    gradient_checkpointing: bool
    logging_steps: int
    save_steps: int
    deepspeed: str | None
    attn_implementation: str

    def __post_init__(self) -> None:
        if self.global_batch_size % self.per_device_batch_size:
            raise ConfigError(
                f"config key 'training.global_batch_size' ({self.global_batch_size}) must be a multiple of "
                f"'training.per_device_batch_size' ({self.per_device_batch_size})"
            )


@dataclass(frozen=True)
class Wmss:
    lam: float
    alpha: float
    beta: float
    gamma: float
    formula: str
    dedup: bool
    freeze_weak: bool
    joint_loss_mask: str
    joint_system_prompt: bool
    entropy_system_prompt: bool
    iterations: int  # K of Algorithm 1: the wmss cells of the tables use M_{K+1}
    entropy_shards: int
    entropy_max_length: int
    sampling_seed: int

    def __post_init__(self) -> None:
        # alpha, beta, gamma are the mass shares of WD-DS's three terms (official code; Eq. 9's mixture)
        total = self.alpha + self.beta + self.gamma
        if min(self.alpha, self.beta, self.gamma) < 0 or abs(total - 1.0) > 1e-6:
            raise ConfigError(f"config keys 'wmss.alpha', 'wmss.beta', 'wmss.gamma' ({self.alpha}, {self.beta}, "
                              f"{self.gamma}) must be non-negative and sum to 1 (a mixture of WD-DS's three terms); "
                              f"they sum to {total:g}")


@dataclass(frozen=True)
class CodeJudging:
    """Code benchmarks: each sample's judge runs in the sandbox (eval/code.py)."""

    workers: int
    timeout_s: float
    test_timeout_s: float
    memory_mb: int
    isolation: str


@dataclass(frozen=True)
class Evaluation:
    backend: str
    protocol: str                   # the default protocol's name (a table may name another)
    protocols: dict[str, Protocol]  # evaluation.protocols: name -> sampling (a generate job carries only its own)
    max_new_tokens: int
    long_max_new_tokens: int
    long_benchmarks: tuple[str, ...]
    max_prompt_tokens: int
    batch_size: int
    grader_workers: int
    grader_timeout_s: int
    max_grader_errors: int  # samples without a verdict (crashed grader or judge) a score job tolerates
    code: CodeJudging

    @property
    def sampling(self) -> Protocol:
        """The definition of ``protocol``."""
        return self.protocols[self.protocol]


@dataclass(frozen=True)
class Statistics:
    """The diff's verdicts (tables/verdicts.py)."""

    interval: str  # a single run's 95 % interval of a proportion: wilson (score) or beta (Clopper-Pearson)


@dataclass(frozen=True)
class TableSpec:
    backbones: tuple[str, ...]
    methods: tuple[str, ...]
    benchmarks: tuple[str, ...]
    lambdas: tuple[float, ...]  # the lam grid of its lam-using methods (default: wmss.lam)
    protocol: str = "paper-greedy"  # its evaluation protocol (default: evaluation.protocol)


@dataclass(frozen=True)
class TrajectorySpec:
    """Table 3 / Figure 4: the methods' relative checkpoints and final models on ``benchmarks``."""

    backbones: tuple[str, ...]
    methods: tuple[str, ...]
    benchmarks: tuple[str, ...]


@dataclass(frozen=True)
class Figure5Spec:
    """Figure 5: ``method`` with strong = M1 and each weak side in ``weak`` ("base" = M0, "ck<step>" = SFT snapshot)."""

    backbones: tuple[str, ...]
    method: str
    weak: tuple[str, ...]
    benchmarks: tuple[str, ...]


@dataclass(frozen=True)
class Figure3Spec:
    """Figure 3: WMSS for ``epochs`` epochs in all (M1, then epochs - 1 outer iterations of Algorithm 1)."""

    backbones: tuple[str, ...]
    epochs: int
    benchmarks: tuple[str, ...]


@dataclass(frozen=True)
class Trajectory:
    checkpoints: tuple[str, ...]  # relative checkpoint labels kept by the runs that need them
    reference_epoch_steps: int    # steps of the paper's full-data epoch the labels count in (Fig. 4: 218)


DOMAINS = ("math", "code", "logic")  # the training sets, and the benchmarks' domains
MIX = "mix"                          # the training domain of train_domains: mixture (the three sets together)


def check_protocols(raw: dict[str, Any]) -> None:
    """Every protocol a config names (``evaluation.protocol``, ``tables.<table>.protocol``) is defined in
    ``evaluation.protocols``, and a greedy one (temperature 0) draws one sample: more would be copies."""
    defined = raw["evaluation"]["protocols"]
    for name, spec in defined.items():
        if spec["temperature"] == 0 and spec["n"] != 1:
            raise ConfigError(f"config key 'evaluation.protocols.{name}.n': a greedy protocol (temperature 0) draws "
                              f"one sample per problem, not {spec['n']}")
    named = {"evaluation.protocol": raw["evaluation"]["protocol"]}
    named |= {f"tables.{t}.protocol": spec["protocol"] for t, spec in raw["tables"].items() if "protocol" in spec}
    for key, name in named.items():
        if name not in defined:
            raise ConfigError(f"config key '{key}': unknown protocol {name!r}; evaluation.protocols defines "
                              f"{sorted(defined)}")


def check_replicate_seeds(raw: dict[str, Any]) -> None:
    """Replicate r of seed s trains (and draws its WD-DS selection) with seed s + 1000 (r - 1): no configured seed may
    be another's replicate seed, or two "independent" training runs would share every random draw."""
    replicates = max([spec.get("replicates", 1) for spec in raw["tables"].values()], default=1)
    for a in raw["seeds"]:
        for b in raw["seeds"]:
            k, rest = divmod(b - a, REPLICATE_SEED_STRIDE)
            if b > a and rest == 0 and k < replicates:
                raise ConfigError(f"config key 'seeds': replicate {k + 1} of seed {a} trains with seed {b}, as seed "
                                  f"{b}'s own run does (replicates: {replicates}); the runs would not be independent")


@dataclass(frozen=True)
class Experiment:
    name: str
    comparable_with_paper: bool
    backbones: tuple[Backbone, ...]
    train_data: TrainData
    train_domains: str  # per_domain | mixture
    system_prompt: str
    training: Training
    wmss: Wmss
    evaluation: Evaluation
    seeds: tuple[int, ...]
    statistics: Statistics
    tables: dict[str, TableSpec]
    benchmark_dir: str
    trajectory: Trajectory
    trajectory_tables: dict[str, TrajectorySpec] = field(default_factory=dict)
    figure5: Figure5Spec | None = None
    figure3: Figure3Spec | None = None
    diagnostics_backbones: tuple[str, ...] = ()
    methods: dict[str, Any] = field(default_factory=dict)  # typed ``methods.<name>`` sections (method plug-ins)
    code_data: CodeData | None = None    # None: no code training set is prepared
    logic_data: LogicData | None = None  # None: no logic training set is prepared
    raw: dict[str, Any] = field(repr=False, compare=False, default_factory=dict)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Experiment:
        validate_schema(raw)
        backbones = tuple(Backbone(**b) for b in raw["backbones"])
        names = [b.name for b in backbones]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise ConfigError(f"config key 'backbones': names {duplicated} appear more than once")
        for i, b in enumerate(backbones):
            if b.source == "local" and not (Path(b.path) / "config.json").is_file():
                raise ConfigError(f"config key 'backbones.{i}.path': {b.path} is not a checkpoint (no config.json)")
        td = raw["train_data"]
        if td["source"] == "local" and not Path(td["path"]).exists():
            raise ConfigError(f"config key 'train_data.path': {td['path']} does not exist (a JSONL file, or a "
                              "directory in the hub dataset's layout)")
        check_protocols(raw)
        check_replicate_seeds(raw)
        tables, trajectory_tables, figure5, figure3 = {}, {}, None, None
        trajectory = Trajectory(tuple(raw["trajectory"]["checkpoints"]), raw["trajectory"]["reference_epoch_steps"])
        for table, spec in raw["tables"].items():
            plugin = TABLES[table]
            if (problem := plugin.check(raw)) is not None:
                raise ConfigError(problem)
            if plugin.schema == "data_table":  # counts of the training sets: no runs
                continue
            named = {f"backbones.{i}": b for i, b in enumerate(spec.get("backbones", []))}
            if "backbone" in spec:
                named["backbone"] = spec["backbone"]
            for key, backbone in named.items():
                if backbone not in names:
                    raise ConfigError(
                        f"config key 'tables.{table}.{key}': unknown backbone {backbone!r}; "
                        f"defined backbones are {names}"
                    )
            if plugin.schema == "score_table":
                tables[table] = TableSpec(*(tuple(spec[k]) for k in ("backbones", "methods", "benchmarks")),
                                          lambdas=tuple(spec.get("lambdas", [raw["wmss"]["lam"]])),
                                          protocol=spec.get("protocol", raw["evaluation"]["protocol"]))
            elif plugin.schema == "trajectory_table":
                trajectory_tables[table] = TrajectorySpec(*(tuple(spec[k])
                                                            for k in ("backbones", "methods", "benchmarks")))
            elif plugin.schema == "figure3_table":
                figure3 = Figure3Spec(tuple(spec["backbones"]), spec["epochs"], tuple(spec["benchmarks"]))
            elif plugin.schema == "figure5_table":
                figure5 = Figure5Spec(tuple(spec["backbones"]), spec["method"], tuple(spec["weak"]),
                                      tuple(spec["benchmarks"]))
            # any other form: the plug-in reads its own (schema-validated) section (tables/table8.py: mix_sweep)
        for i, backbone in enumerate(raw["diagnostics"]["backbones"]):
            if backbone not in names:
                raise ConfigError(f"config key 'diagnostics.backbones.{i}': unknown backbone {backbone!r}")
        cl = raw["cluster"]
        if cl["train_nodes"] > 1 and cl["launcher"] != "srun-torchrun":
            raise ConfigError(f"config key 'cluster.train_nodes': {cl['train_nodes']} nodes need 'cluster.launcher: "
                              f"srun-torchrun' (one torchrun per node), not {cl['launcher']!r}")
        if raw["evaluation"]["backend"] == "vllm" and cl["eval_gpus"] == 0:
            raise ConfigError("config key 'evaluation.backend': vllm needs GPUs, but 'cluster.eval_gpus' is 0; "
                              "give generation jobs GPUs or use the transformers backend")
        logic = LogicData(**raw["logic_data"]) if "logic_data" in raw else None
        if logic is not None:
            if logic.source == "local" and not Path(logic.path or "").is_dir():
                raise ConfigError(f"config key 'logic_data.path': {logic.path} is not a directory (it holds "
                                  "logiqa2/ and reclor/ as released)")
            kind, _, backbone = logic.teacher.model.partition(":")
            if kind in LOCAL_TEACHERS and backbone not in names:
                raise ConfigError(f"config key 'logic_data.teacher.model': {backbone!r} is not a backbone ({names})")
            if (kind == "embedded") != (logic.teacher.epochs is not None):
                raise ConfigError("config key 'logic_data.teacher.epochs': set for an embedded:<backbone> teacher "
                                  "(its fine-tuning epochs), and only for it")
            if kind == "embedded" and logic.source != "embedded":
                raise ConfigError("config key 'logic_data.teacher.model': an embedded:<backbone> teacher is trained "
                                  "on the embedded preset's teacher set; it needs logic_data.source: embedded")
            if kind not in LOCAL_TEACHERS and not logic.teacher.revision:
                raise ConfigError("config key 'logic_data.teacher.revision': a hub teacher needs its pinned commit")
            if logic.source == "embedded" and raw["train_data"]["source"] != "embedded":
                raise ConfigError("config key 'logic_data.source': embedded items are written by the embedded "
                                  "preset's data rule; use url or local with train_data.source "
                                  f"{raw['train_data']['source']!r}")
            if raw["evaluation"]["backend"] == "vllm" and logic.teacher.gpus == 0:
                raise ConfigError("config key 'logic_data.teacher.gpus': vllm (evaluation.backend) needs GPUs")
        check_domains(raw)
        ev = dict(raw["evaluation"], long_benchmarks=tuple(raw["evaluation"]["long_benchmarks"]),
                  code=CodeJudging(**raw["evaluation"]["code"]),
                  protocols={name: Protocol(name, **spec) for name, spec in raw["evaluation"]["protocols"].items()})
        return cls(
            name=raw["name"],
            comparable_with_paper=raw["comparable_with_paper"],
            backbones=backbones,
            train_data=TrainData(**raw["train_data"]),
            train_domains=raw["train_domains"],
            system_prompt=raw["prompt"]["system_prompt"],
            training=Training(**raw["training"]),
            wmss=Wmss(**raw["wmss"]),
            evaluation=Evaluation(**ev),
            seeds=tuple(raw["seeds"]),
            statistics=Statistics(**raw["statistics"]),
            tables=tables,
            benchmark_dir=raw["benchmark_dir"],
            trajectory=trajectory,
            trajectory_tables=trajectory_tables,
            figure5=figure5,
            figure3=figure3,
            diagnostics_backbones=tuple(raw["diagnostics"]["backbones"]),
            methods={name: m.settings_type(**raw["methods"].get(name, {}))
                     for name, m in METHODS.items() if m.settings_type is not None},
            code_data=CodeData(**raw["code_data"]) if "code_data" in raw else None,
            logic_data=logic,
            raw=raw,
        )

    def run_domain(self, benchmark: str) -> str:
        """The training domain of the runs scored on ``benchmark``: the benchmark's own (``train_domains:
        per_domain``: math columns <- math runs, code <- code runs, logic <- logic runs), or ``mix``."""
        return MIX if self.train_domains == "mixture" else BENCHMARKS[benchmark].domain

    @property
    def primary_domain(self) -> str:
        """The domain of the paper's analyses of one training run (Tables 6/7's logit statistics): math, or mix."""
        return MIX if self.train_domains == "mixture" else "math"

    def backbone(self, name: str) -> Backbone:
        for b in self.backbones:
            if b.name == name:
                return b
        raise ConfigError(f"unknown backbone {name!r}; defined backbones are {[b.name for b in self.backbones]}")


def _table_benchmarks(raw: dict[str, Any]):
    for table, spec in raw["tables"].items():
        for i, bench in enumerate(spec.get("benchmarks", [])):
            yield table, i, bench


def check_domains(raw: dict[str, Any]) -> None:
    """Every benchmark a table reads is scored on runs of a training set the config prepares: the code set
    (``code_data``) for code benchmarks and the logic set (``logic_data``) for logic ones under per-domain runs; all
    three sets for the mixture, which one prompt serves (refused for Gemma, prompted per domain: App. E.4)."""
    prepared = {"math", *(d for d in ("code", "logic") if f"{d}_data" in raw)}
    if raw["train_domains"] == "mixture":
        missing = [f"{d}_data" for d in ("code", "logic") if d not in prepared]
        if missing:
            raise ConfigError(f"config key 'train_domains': mixture trains on the math, code and logic sets together; "
                              f"configure {missing}")
        gemma = sorted({b["name"] for b in raw["backbones"] if b["family"] == "gemma"}
                       & {b for spec in raw["tables"].values() for b in spec.get("backbones", [])})
        if gemma:
            raise ConfigError(f"config key 'train_domains': mixture with Gemma backbones {gemma}: Gemma is trained and "
                              "prompted with one tag-free system prompt per domain (App. E.4); use per_domain")
        return
    for table, i, bench in _table_benchmarks(raw):
        domain = BENCHMARKS[bench].domain
        if domain not in prepared:
            raise ConfigError(f"config key 'tables.{table}.benchmarks.{i}': {bench} is scored on runs trained on the "
                              f"{domain} set (train_domains: per_domain); configure '{domain}_data' or leave it out")
    if "figure5" in raw["tables"]:
        found = sorted({BENCHMARKS[b].domain for b in raw["tables"]["figure5"]["benchmarks"]})
        if len(found) > 1:
            raise ConfigError(f"config key 'tables.figure5.benchmarks': the entropy gaps are of one domain's SFT "
                              f"snapshots; its benchmarks span {found}")


class _StrictLoader(yaml.SafeLoader):
    """YAML loader that refuses a key given twice in one mapping (PyYAML silently keeps the last)."""

    def construct_mapping(self, node, deep=False):
        seen = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise ConfigError(f"{self.name}: config key {key!r} is given twice (lines {seen[key] + 1} and "
                                  f"{key_node.start_mark.line + 1}); keep one")
            seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


def read_yaml(path: str | Path) -> Any:
    """A YAML file (a config) read strictly: a key given twice is an error naming both lines."""
    path = Path(path)
    loader = _StrictLoader(path.read_text())
    loader.name = str(path)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def load_config(path: str | Path) -> Experiment:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    raw = read_yaml(path)
    if not isinstance(raw, dict):
        raise ConfigError(f"config file {path} must hold a mapping at the top level")
    return Experiment.from_dict(raw)

