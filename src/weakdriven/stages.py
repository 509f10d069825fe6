"""One typed settings object per workflow stage.

Each is built from the :class:`~weakdriven.config.Experiment` and the job's wildcards by the rule (``build``), passed
as the rule's ``--settings`` JSON (``to_json``: exactly what the stage uses, so Snakemake's params trigger reruns
exactly what a change affects) and read back into the same type by the stage's command (``from_json``). Nothing here
imports torch: the workflow builds these on the submit host.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass, fields
from typing import Any

from . import paths
from .benchmarks import BENCHMARKS
from .cluster import job_gpus
from .config import MIX, CodeData, Evaluation, Experiment, LogicData
from .methods import BASE, DEFAULT_SELECTION, METHODS, Run, table_run, trajectory_run
from .settings import TrainSettings


def _typed(tp, value):
    """``value`` (parsed JSON) as type ``tp``: dataclasses, tuples and optionals rebuilt, the rest as is."""
    if value is None:
        return None
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(tp) if a is not type(None)]
        return _typed(inner[0], value) if len(inner) == 1 else value
    if dataclasses.is_dataclass(tp):
        hints = typing.get_type_hints(tp)
        return tp(**{f.name: _typed(hints[f.name], value[f.name]) for f in fields(tp) if f.name in value})
    if origin is tuple:
        args = typing.get_args(tp)
        return tuple(_typed(args[0], v) for v in value) if len(args) == 2 and args[1] is Ellipsis else tuple(value)
    if origin is dict:
        return {k: _typed(typing.get_args(tp)[1], v) for k, v in value.items()}
    return value


class Stage:
    """JSON round trip of a frozen stage dataclass."""

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str):
        return _typed(cls, json.loads(text))


@dataclass(frozen=True)
class Prompt:
    system_prompt: str
    family: str  # qwen or gemma: Gemma trains and is prompted without the <think>/<answer> tags (App. E.4)

    @classmethod
    def build(cls, exp: Experiment, backbone: str, domain: str) -> Prompt:
        """Qwen's tagged system prompt, or Gemma's tag-free one for the domain (math, logic, code; App. E.4): a
        benchmark's domain at evaluation, the training set's in training."""
        family = exp.backbone(backbone).family
        prompt = exp.raw["prompt"]
        return cls(prompt["gemma_system_prompt"][domain] if family == "gemma" else prompt["system_prompt"], family)


def snapshot_labels(exp: Experiment, backbone: str, domain: str, run: str) -> tuple[str, ...]:
    """Relative checkpoints a run keeps: Figure 5's SFT snapshots, every one for the trajectory tables' runs (of the
    training domain of the benchmarks they are scored on)."""
    if run == "sft":
        fig5 = exp.figure5
        if not fig5 or backbone not in fig5.backbones or domain != exp.run_domain(fig5.benchmarks[0]):
            return ()
        return tuple(w for w in fig5.weak if w != BASE)
    wanted = {(b, exp.run_domain(bench), trajectory_run(exp, m)) for spec in exp.trajectory_tables.values()
              for b in spec.backbones for m in spec.methods for bench in spec.benchmarks}
    return tuple(exp.trajectory.checkpoints) if (backbone, domain, run) in wanted else ()


def _training(exp: Experiment, rule: str, seed: int, epochs: float, **overrides) -> TrainSettings:
    return TrainSettings.from_dict(exp.raw["training"], gpus=job_gpus(exp, rule), seed=int(seed), epochs=epochs,
                                   **overrides)


@dataclass(frozen=True)
class DataStage(Stage):
    train_data: dict[str, Any]  # the config's train_data section

    @classmethod
    def build(cls, exp: Experiment) -> DataStage:
        return cls(exp.raw["train_data"])


AM_KEYS = ("source", "hub_id", "revision", "path", "subsets")


@dataclass(frozen=True)
class CodeDataStage(Stage):
    """The code training set's jobs: where the AM rows are (``train_data``'s files, or the embedded preset's own
    rows) and the ``code_data`` section."""

    rows: dict[str, Any]
    code: CodeData

    @classmethod
    def build(cls, exp: Experiment) -> CodeDataStage:
        td = exp.raw["train_data"]
        rows = ({"source": "local", "path": paths.embedded_code_rows(exp.name)} if td["source"] == "embedded"
                else {k: td[k] for k in AM_KEYS if k in td})
        return cls(rows, exp.code_data)


@dataclass(frozen=True)
class LogicDataStage(Stage):
    """The logic training set's jobs: where the raw splits are, the ``logic_data`` section, and the generation
    settings the teacher's answers share with the evaluation (backend, batch size, seed, precision)."""

    raw_dir: str
    logic: LogicData
    backend: str
    batch_size: int
    seed: int
    bf16: bool

    @classmethod
    def build(cls, exp: Experiment) -> LogicDataStage:
        logic, ev = exp.logic_data, exp.evaluation
        raw_dir = paths.embedded_logic_raw(exp.name) if logic.source == "embedded" else logic.path
        return cls(raw_dir, logic, ev.backend, ev.batch_size, exp.seeds[0], exp.training.bf16)


PRETRAIN_KEYS = ("lr_scheduler", "warmup_ratio", "weight_decay", "max_grad_norm", "max_length", "bf16",
                 "gradient_checkpointing", "logging_steps", "save_steps")


@dataclass(frozen=True)
class BackboneStage(Stage):
    backbone: dict[str, Any]            # the config's entry
    pretrain: TrainSettings | None = None  # the embedded model's pre-training; None for a hub or local checkpoint
    prompt: Prompt | None = None        # the embedded tokenizer also learns the training rows as prompted

    @classmethod
    def build(cls, exp: Experiment, backbone: str) -> BackboneStage:
        entry = next(b for b in exp.raw["backbones"] if b["name"] == backbone)
        if entry["source"] != "embedded":
            return cls(entry, None)
        p = entry["pretrain"]
        training = {k: exp.raw["training"][k] for k in PRETRAIN_KEYS}
        return cls(entry, TrainSettings.from_dict(
            training, epochs=p["epochs"], seed=p["seed"], learning_rate=p["learning_rate"],
            per_device_batch_size=p["batch_size"], global_batch_size=p["batch_size"]),
            Prompt.build(exp, backbone, "math"))


@dataclass(frozen=True)
class SftStage(Stage):
    training: TrainSettings
    prompt: Prompt
    snapshots: tuple[str, ...]   # relative checkpoint labels the run keeps (Figure 5's weak sides)
    reference_epoch_steps: int   # trajectory.reference_epoch_steps: what the labels count

    @classmethod
    def build(cls, exp: Experiment, backbone: str, domain: str, seed: int, *, rule: str, epochs: float) -> SftStage:
        return cls(_training(exp, rule, seed, epochs), Prompt.build(exp, backbone, domain),
                   snapshot_labels(exp, backbone, domain, "sft"), exp.trajectory.reference_epoch_steps)

    @classmethod
    def logic_teacher(cls, exp: Experiment, backbone: str) -> SftStage:
        """The embedded logic teacher: SFT of M0 on the preset's teacher set, ``logic_data.teacher.epochs`` epochs
        with the logic domain's prompt and the first seed; no checkpoint kept on the way."""
        return cls(_training(exp, "sft", exp.seeds[0], exp.logic_data.teacher.epochs),
                   Prompt.build(exp, backbone, "logic"), (), exp.trajectory.reference_epoch_steps)


@dataclass(frozen=True)
class TrainStage(Stage):
    """The generic training rule: one run of a method plug-in, its budget and trainer arguments."""

    run: str
    training: TrainSettings
    prompt: Prompt
    options: dict[str, Any]      # the method's own train-time options (Method.options: JSON values)
    snapshots: tuple[str, ...]
    reference_epoch_steps: int

    @classmethod
    def build(cls, exp: Experiment, backbone: str, domain: str, seed: int, run: str) -> TrainStage:
        parsed = Run.parse(run)
        method = parsed.method
        return cls(run, _training(exp, "train", parsed.seed(seed), method.epochs(exp),
                                  trainer_arguments=method.trainer_arguments(exp), **method.training_overrides(exp)),
                   Prompt.build(exp, backbone, domain), method.options(exp),
                   snapshot_labels(exp, backbone, domain, run), exp.trajectory.reference_epoch_steps)


@dataclass(frozen=True)
class MethodDataStage(Stage):
    """One data part a method makes before training (``Method.data_parts``): SPIN's generated answers."""

    run: str
    part: str
    domain: str                  # the training set's: it decides how an answer is graded (methods/sampling.py)
    seed: int
    prompt: Prompt
    options: dict[str, Any]      # the method's generation options (Method.data_options): temperature, length, ...
    backend: str                 # evaluation.backend: transformers (CPU) or vllm
    batch_size: int              # evaluation.batch_size (transformers backend)
    max_prompt_tokens: int       # evaluation.max_prompt_tokens: a longer prompt is an error, as in evaluation
    grader_workers: int          # evaluation.grader_workers: math-verify processes (DPO labels its rollouts)
    grader_timeout_s: int        # evaluation.grader_timeout_s
    gpus: int
    bf16: bool
    tensor_parallel: int
    gemma_multimodal_base: str | None  # vLLM generates with Gemma-3 wrapped with M0's vision tower (App. E.4)
    code: CodeData | None = None  # code_data: how a code row's answers are run against its tests (code, mix domains)

    @classmethod
    def build(cls, exp: Experiment, backbone: str, domain: str, seed: int, run: str, part: str) -> MethodDataStage:
        parsed = Run.parse(run)
        method = parsed.method
        if part not in {p.name for p in method.data_parts(parsed, exp)}:
            raise ValueError(f"run {run!r} makes no data part {part!r}")
        e = exp.evaluation
        vllm_gemma = exp.backbone(backbone).family == "gemma" and e.backend == "vllm"
        return cls(run, part, domain, parsed.seed(seed), Prompt.build(exp, backbone, domain),
                   method.data_options(exp, part),
                   e.backend,
                   e.batch_size, e.max_prompt_tokens, e.grader_workers, e.grader_timeout_s,
                   job_gpus(exp, "method_data"), exp.training.bf16, max(1, exp.raw["cluster"]["eval_gpus"]),
                   f"{paths.base_model(exp.name, backbone)}/multimodal" if vllm_gemma else None,
                   exp.code_data if domain in ("code", MIX) else None)


@dataclass(frozen=True)
class EntropyStage(Stage):
    """WD-DS entropies (Eq. 7) of one model on (a shard of) the training set."""

    gpus: int
    bf16: bool
    attn_implementation: str
    prompt: Prompt
    system_prompt: bool          # wmss.entropy_system_prompt
    max_length: int              # wmss.entropy_max_length

    @classmethod
    def build(cls, exp: Experiment, backbone: str, domain: str) -> EntropyStage:
        t, w = exp.training, exp.wmss
        return cls(job_gpus(exp, "entropy_shard"), t.bf16, t.attn_implementation, Prompt.build(exp, backbone, domain),
                   w.entropy_system_prompt, w.entropy_max_length)


@dataclass(frozen=True)
class WddsStage(Stage):
    """WD-DS selection (Eq. 9): the weights' shares and formula, the draw, and the budget it is counted in."""

    alpha: float
    beta: float
    gamma: float
    formula: str
    dedup: bool
    sampling_seed: int
    global_batch_size: int
    joint_epochs: float

    @classmethod
    def build(cls, exp: Experiment, selection: str = DEFAULT_SELECTION) -> WddsStage:
        """The config's selection, or a run's (``Run.selection``: its shares and its replicate's draw)."""
        w, t = exp.wmss, exp.training
        shares, seed = (w.alpha, w.beta, w.gamma), w.sampling_seed
        if selection != DEFAULT_SELECTION:
            run = Run.parse(f"wmss_lam0.5_{selection}")  # the coordinates of any WD-DS run with that selection
            shares, seed = run.mix or shares, run.seed(seed)
        return cls(*shares, w.formula, w.dedup, seed, t.global_batch_size, t.joint_epochs)


@dataclass(frozen=True)
class DiagnosticsStage(Stage):
    """Tables 6 and 7: logit statistics on a fixed sample of training rows."""

    gpus: int
    bf16: bool
    n_examples: int
    seed: int
    prompt: Prompt
    max_length: int
    table6_run: str = ""  # Table 6's WMSS model (diagnostics.table6_wmss), beside the SFT baseline
    table7_run: str = ""  # Table 7's strong branch after WD-JT (diagnostics.table7_update)

    @classmethod
    def build(cls, exp: Experiment, backbone: str, domain: str) -> DiagnosticsStage:
        d = exp.raw["diagnostics"]
        return cls(job_gpus(exp, "logit_stats"), exp.training.bf16, d["n_examples"], d["seed"],
                   Prompt.build(exp, backbone, domain), exp.training.max_length, *diagnostics_runs(exp))


def diagnostics_runs(exp: Experiment) -> tuple[str, str]:
    """The runs of Tables 6 and 7: Table 6's WMSS (``budget``: Table 1's, after the two-epoch budget; ``epoch3``:
    after two outer iterations, epoch 3 of Figure 3's extended schedule, as Table 6's caption says) and Table 7's
    strong branch after WD-JT (``joint``: Table 1's WMSS, both branches trained unless wmss.freeze_weak;
    ``strong_only``: WD-JT with the weak branch M0 frozen, Table 3's Frozen base, as Table 7's caption says)."""
    d, lam = exp.raw["diagnostics"], exp.wmss.lam
    table6 = table_run(exp, "wmss", lam) if d["table6_wmss"] == "budget" else Run(METHODS["wmss"], lam, 2).name
    table7 = table_run(exp, "wmss", lam) if d["table7_update"] == "joint" else Run(METHODS["wdjt_frozen"], lam).name
    return table6, table7


@dataclass(frozen=True)
class EvalStage(Stage):
    """Generation and grading of one model on one benchmark under one protocol."""

    evaluation: Evaluation       # the config's evaluation section, with the job's protocol (and only its definition)
    prompt: Prompt               # the benchmark's domain decides Gemma's prompt
    gpus: int
    bf16: bool
    tensor_parallel: int         # vLLM's, = cluster.eval_gpus
    gemma_multimodal_base: str | None  # vLLM evaluates Gemma-3 wrapped with M0's vision tower (App. E.4)

    @classmethod
    def build(cls, exp: Experiment, backbone: str, benchmark: str, protocol: str | None = None) -> EvalStage:
        vllm_gemma = exp.backbone(backbone).family == "gemma" and exp.evaluation.backend == "vllm"
        protocol = protocol or exp.evaluation.protocol
        # only the job's protocol: defining another in the config reruns nothing, changing this one reruns its jobs
        ev = dataclasses.replace(exp.evaluation, protocol=protocol,
                                 protocols={protocol: exp.evaluation.protocols[protocol]})
        return cls(ev,
                   Prompt.build(exp, backbone, BENCHMARKS[benchmark].domain), job_gpus(exp, "generate"),
                   exp.training.bf16, max(1, exp.raw["cluster"]["eval_gpus"]),
                   f"{paths.base_model(exp.name, backbone)}/multimodal" if vllm_gemma else None)


@dataclass(frozen=True)
class GenerateStage(Stage):
    """Generation of one model under one protocol on every benchmark the configured tables read of it
    (``tables.generation_plan``), in one job: the model, and on a cluster vLLM, loads once for all of them."""

    benchmarks: tuple[str, ...]  # in registry order
    evaluation: Evaluation       # the config's evaluation section, with the job's protocol
    prompts: dict[str, Prompt]   # by benchmark (the benchmark's domain decides Gemma's prompt)
    gpus: int
    bf16: bool
    tensor_parallel: int
    gemma_multimodal_base: str | None

    @classmethod
    def build(cls, exp: Experiment, backbone: str, protocol: str, benchmarks: tuple[str, ...]) -> GenerateStage:
        if not benchmarks:
            raise ValueError(f"no configured table reads backbone {backbone!r} under protocol {protocol!r}")
        each = [EvalStage.build(exp, backbone, b, protocol) for b in benchmarks]
        first = each[0]
        return cls(tuple(benchmarks), first.evaluation, {b: e.prompt for b, e in zip(benchmarks, each, strict=True)},
                   first.gpus, first.bf16, first.tensor_parallel, first.gemma_multimodal_base)

    def for_benchmark(self, benchmark: str) -> EvalStage:
        return EvalStage(self.evaluation, self.prompts[benchmark], self.gpus, self.bf16, self.tensor_parallel,
                         self.gemma_multimodal_base)


@dataclass(frozen=True)
class TableStage(Stage):
    table: str
    spec: dict[str, Any]    # what the table's builder reads (tables/<name>.py: spec)
    needs: dict[str, list]  # every cell it reads (tables.base.Needs)

    @classmethod
    def build(cls, exp: Experiment, table) -> TableStage:
        """``table``: the registry's plug-in (weakdriven.tables.TABLES[name])."""
        return cls(table.name, table.spec(exp), table.needs(exp).to_dict())


@dataclass(frozen=True)
class DiffStage(Stage):
    name: str
    comparable_with_paper: bool
    interval: str  # statistics.interval: a single run's interval (tables/verdicts.py)

    @classmethod
    def build(cls, exp: Experiment) -> DiffStage:
        return cls(exp.name, exp.comparable_with_paper, exp.statistics.interval)
